// util/short_decimal.h: the grammar it takes and refuses, and that every value
// it gives is the correctly rounded one (std::from_chars agrees, bit for bit).
#include "servekit/util/short_decimal.h"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace servekit {
namespace {

// The value the fast reader gives, or nullopt-like false when it refuses.
bool FastValue(std::string_view token, double* value) {
  ShortDecimal d;
  if (!ParseShortDecimal(token, &d)) return false;
  if (d.fraction_digits == 0) {
    *value = d.negative ? -static_cast<double>(d.digits) : static_cast<double>(d.digits);
    return true;
  }
  return ShortDecimalFractionValue(d, value);
}

double Reference(const std::string& token) {
  double value = 0;
  std::string trimmed = token;
  while (!trimmed.empty() && (trimmed.back() == ' ' || trimmed.back() == '\n')) trimmed.pop_back();
  const auto [ptr, ec] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), value);
  EXPECT_TRUE(ec == std::errc() && ptr == trimmed.data() + trimmed.size()) << token;
  return value;
}

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(ShortDecimalTest, ReadsShortDecimalsAndIntegers) {
  ShortDecimal d;
  ASSERT_TRUE(ParseShortDecimal("-12.034", &d));
  EXPECT_EQ(d.digits, 12034u);
  EXPECT_EQ(d.fraction_digits, 3);
  EXPECT_TRUE(d.negative);
  ASSERT_TRUE(ParseShortDecimal("0 \n", &d));
  EXPECT_EQ(d.digits, 0u);
  EXPECT_EQ(d.fraction_digits, 0);
  ASSERT_TRUE(ParseShortDecimal("9999999999999999999", &d)) << "19 digits fit";
  EXPECT_EQ(d.digits, 9999999999999999999u);
  for (const char* token : {"0.1", "0.7", "1.1", "0.3333333", "3.4028235", "123.456", "-0.0001",
                            "0.000000000000000000001", "900719925474099.2", "0.8999999999999999"}) {
    double value;
    ASSERT_TRUE(FastValue(token, &value)) << token;
    EXPECT_TRUE(SameBits(value, Reference(token))) << token;
  }
}

TEST(ShortDecimalTest, RefusesWhatItCannotReadExactlyOrIsNotJson) {
  ShortDecimal d;
  for (const char* token :
       {"", "-", "01", "-01.5", "00", "1.", ".5", "-.5", "+1", "1e5", "1E-2", "1.5e3", "1.2.3",
        "1x", "1 2", " 1", "NaN", "Infinity", "0x10", "12345678901234567890",
        "0.12345678901234567890",
        // 20 digits whose value wraps 64 bits to exactly 0 (fuzzer).
        "18446744073709551616", "-1844674407370955161.6", "0.0000018446744073709551616"}) {
    EXPECT_FALSE(ParseShortDecimal(token, &d)) << '"' << token << '"';
  }
  // Parsed, but outside the bounds where one division is exact.
  double value;
  ASSERT_TRUE(ParseShortDecimal("9007199254740993.5", &d));
  EXPECT_FALSE(ShortDecimalFractionValue(d, &value)) << "more than 2^53";
  ASSERT_TRUE(ParseShortDecimal("0.00000000000000000000001", &d));
  EXPECT_EQ(d.fraction_digits, 23);
  EXPECT_FALSE(ShortDecimalFractionValue(d, &value)) << "10^23 is not exact";
}

// Random tokens of every length and point position: each value the fast
// reader gives is from_chars' value, bit for bit.
TEST(ShortDecimalTest, AgreesWithFromCharsOnRandomTokens) {
  std::mt19937_64 random(20261130);
  int read = 0;
  for (int trial = 0; trial < 2000000; ++trial) {
    const int digits = 1 + static_cast<int>(random() % 19);
    std::string token = random() % 2 ? "-" : "";
    std::string number;
    for (int i = 0; i < digits; ++i) number.push_back(static_cast<char>('0' + random() % 10));
    if (number.size() > 1 && number[0] == '0') number[0] = '1' + random() % 9;
    const int point = static_cast<int>(random() % (digits + 1));  // digits = no point
    if (point > 0 && point < digits) {
      number.insert(static_cast<size_t>(point), ".");
    } else if (point == 0) {
      number = "0." + number;
      if (number.size() - 2 + 1 > 19) number.pop_back();
    }
    token += number;
    double fast;
    if (!FastValue(token, &fast)) continue;
    ++read;
    ASSERT_TRUE(SameBits(fast, Reference(token))) << token;
  }
  EXPECT_GT(read, 1000000) << "most tokens of these shapes are within the exact bounds";
}

// The value ShortDecimalTokenQuotient gives for a token (its quotient
// divided), or false when it refuses.
bool TokenValue(const std::string& token, double* value) {
  ShortDecimal d;
  double numerator, divisor;
  if (!ParseShortDecimal(token, &d) || !ShortDecimalTokenQuotient(token, d, &numerator, &divisor))
    return false;
  *value = numerator / divisor;
  return true;
}

// Fractions beyond one exact division (more than 2^53 in their digits) are
// converted by comparing with the midpoints between doubles: random ones,
// and ones that lie exactly on a midpoint (ties go to the even mantissa),
// agree with std::from_chars bit for bit.
TEST(ShortDecimalTest, LongFractionsAgreeWithFromChars) {
  std::mt19937_64 random(20261203);
  int long_ones = 0;
  for (int trial = 0; trial < 1000000; ++trial) {
    // 16 to 19 digits, the point anywhere inside or before them.
    const int digits = 16 + static_cast<int>(random() % 4);
    std::string number;
    for (int i = 0; i < digits; ++i) number.push_back(static_cast<char>('0' + random() % 10));
    if (number[0] == '0') number[0] = static_cast<char>('1' + random() % 9);
    const int point = static_cast<int>(random() % digits);
    number = point == 0 ? "0." + number.substr(0, 18) : number.insert(point, ".");
    const std::string token = (random() % 2 ? "-" : "") + number;
    ShortDecimal d;
    ASSERT_TRUE(ParseShortDecimal(token, &d)) << token;
    long_ones += d.digits > (uint64_t{1} << 53);
    double value;
    ASSERT_TRUE(TokenValue(token, &value)) << token;
    ASSERT_TRUE(SameBits(value, Reference(token))) << token;
  }
  EXPECT_GT(long_ones, 500000);
  // Midpoints: M + 1/2 for M in [2^52, 2^53) (doubles 1 apart), M + 1/4 and
  // M + 3/4 in [2^51, 2^52), M + 1/8 in [2^50, 2^51); with M odd and even.
  const struct {
    int bits;
    std::vector<const char*> halves;
  } ranges[] = {{52, {".5"}}, {51, {".25", ".75"}}, {50, {".125", ".375", ".625", ".875"}}};
  for (const auto& range : ranges) {
    for (int trial = 0; trial < 20000; ++trial) {
      const uint64_t m = (uint64_t{1} << range.bits) + random() % (uint64_t{1} << range.bits);
      for (const char* half : range.halves) {
        const std::string token = std::to_string(m) + half;
        double value;
        ASSERT_TRUE(TokenValue(token, &value)) << token;
        ASSERT_TRUE(SameBits(value, Reference(token))) << token;
      }
    }
  }
  // Just below and above powers of two, where the double below is half as
  // far as the one above: 2^k (1 + t 2^-56) for t in -12..12, written with
  // 19 significant digits.
  for (int k = -20; k <= 59; ++k) {
    for (int t = -12; t <= 12; ++t) {
      const double value = std::ldexp(1.0 + std::ldexp(static_cast<double>(t), -56), k);
      const long double exact = std::ldexp(1.0L + std::ldexp(static_cast<long double>(t), -56), k);
      // Integer digits (at least 1), or the zeros after the point below 1.
      const int integer_digits = k >= 0 ? static_cast<int>(std::floor(k * std::log10(2.0))) + 1 : 0;
      const int zeros = k < 0 ? static_cast<int>(std::floor(-k * std::log10(2.0) - 1e-9)) : 0;
      const int decimals = k >= 0 ? 19 - integer_digits : 19 + zeros;
      if (decimals <= 0 || decimals > 22) continue;
      char text[64];
      std::snprintf(text, sizeof(text), "%.*Lf", decimals, exact);
      const std::string token = text;
      ShortDecimal d;
      if (!ParseShortDecimal(token, &d)) continue;
      double read;
      ASSERT_TRUE(TokenValue(token, &read)) << token;
      ASSERT_TRUE(SameBits(read, Reference(token))) << token << " (near " << value << ")";
    }
  }
  // The edges of the binades and of the range.
  for (const char* token :
       {"9007199254740993.5", "4503599627370496.5", "4503599627370497.5", "9007199254740991.5",
        "0.9999999999999999999", "1.000000000000000001", "0.1000000000000000055511151231257827",
        "0.10000000000000000555", "999999999999.9999999", "0.00000000000000000012345678901234567",
        "18446744073709551.615", "0.18446744073709551615", "0.99999999999999994",
        "0.99999999999999995", "1.9999999999999998889", "0.49999999999999997224"}) {
    ShortDecimal d;
    if (!ParseShortDecimal(token, &d)) continue;  // over 19 digits: not this reader's
    double value;
    ASSERT_TRUE(TokenValue(token, &value)) << token;
    EXPECT_TRUE(SameBits(value, Reference(token))) << token;
  }
}

// The padded reader answers exactly as the loop does, on tokens good and bad
// (random characters of the number grammar, signs, points, exponents,
// spaces), short and long (up to 28 characters), in a buffer with only the
// kShortDecimalPadding bytes after them: without the buffer's start (one
// word for short tokens) and with it (long tokens in one register in AVX2
// builds; random bytes before the token, which must not matter).
TEST(ShortDecimalTest, PaddedReaderAgreesWithTheLoopOnEveryToken) {
  std::mt19937_64 random(20261201);
  // Bytes with the high bit set too: 0xae is '.' | 0x80, 0xb0 is '0' | 0x80.
  const std::string alphabet = "0123456789000.-.e+ x\n\xae\xb0\x80";
  int taken = 0, long_taken = 0;
  for (int trial = 0; trial < 2000000; ++trial) {
    // Half up to 12 characters (one word and past), half up to 28 (the register and past).
    const size_t length = random() % (trial % 4 < 2 ? 12 : 29);
    std::string token;
    for (size_t i = 0; i < length; ++i) token.push_back(alphabet[random() % alphabet.size()]);
    if (trial % 2 == 0 && !token.empty()) {  // half of them mostly digits with a point
      for (char& c : token) c = c == '.' || c == '-' ? c : static_cast<char>('0' + random() % 10);
    }
    // Whatever follows the token in the buffer must not change the answer.
    std::string buffer = token + std::string(kShortDecimalPadding, "9.,]"[random() % 4]);
    const std::string_view view(buffer.data(), token.size());
    std::string before(kShortDecimalLookBehind, ' ');
    for (char& c : before) c = alphabet[random() % alphabet.size()];
    const std::string behind = before + buffer;
    ShortDecimal loop, word, reg;
    const bool by_loop = ParseShortDecimal(view, &loop);
    const bool by_word = ParseShortDecimalPadded(view, &word);
    const bool by_register = ParseShortDecimalPadded(
        std::string_view(behind.data() + before.size(), token.size()), &reg, behind.data());
    ASSERT_EQ(by_loop, by_word) << '"' << token << '"';
    ASSERT_EQ(by_loop, by_register) << '"' << token << '"';
    if (!by_loop) continue;
    ++taken;
    long_taken += token.size() > 9;
    EXPECT_EQ(loop.digits, word.digits) << token;
    EXPECT_EQ(loop.fraction_digits, word.fraction_digits) << token;
    EXPECT_EQ(loop.negative, word.negative) << token;
    EXPECT_EQ(loop.digits, reg.digits) << token;
    EXPECT_EQ(loop.fraction_digits, reg.fraction_digits) << token;
    EXPECT_EQ(loop.negative, reg.negative) << token;
  }
  EXPECT_GT(taken, 100000);
  EXPECT_GT(long_taken, 20000);
  // The shapes at the word's and the register's edges, with and without the bytes before.
  const std::vector<std::string> numbers = {"0",
                                            "-0",
                                            "1",
                                            "12345678",
                                            "-12345678",
                                            "1234567.8",
                                            "1.2345678",
                                            "0.000001",
                                            "-0.5",
                                            "99999999",
                                            "0.1234 ",
                                            "7\t",
                                            "123456789",
                                            "0.4731886386871338",
                                            "0.03485250473022461",
                                            "-0.9504636526107788",
                                            "1234567.123456789012",
                                            "12345678.9",
                                            "1.234567890123456789",
                                            "9999999999999999999",
                                            "0.000000000000000000001",
                                            "123456789012345678.9"};
  const std::vector<std::string> not_numbers = {"00",
                                                "01.5",
                                                "1.",
                                                ".5",
                                                "-",
                                                "1.2.3",
                                                "1-2",
                                                "12345678.",
                                                "1e5",
                                                "0123456789.5",
                                                "0.12345678901234567.8",
                                                "0.1234567890123456e7",
                                                "12345678901234567890",
                                                "1.23456789012345 6",
                                                "1234567890123456789.0",
                                                "-01234567890",
                                                "123456789012.-5"};
  const std::string before(kShortDecimalLookBehind, '9');
  for (const std::string& token : numbers) {
    const std::string buffer = before + token + std::string(kShortDecimalPadding, 'x');
    const std::string_view view(buffer.data() + before.size(), token.size());
    ShortDecimal loop;
    ASSERT_TRUE(ParseShortDecimal(token, &loop)) << token;
    for (const char* start : {static_cast<const char*>(nullptr), buffer.data()}) {
      ShortDecimal word;
      ASSERT_TRUE(ParseShortDecimalPadded(view, &word, start)) << token;
      EXPECT_EQ(loop.digits, word.digits) << token;
      EXPECT_EQ(loop.fraction_digits, word.fraction_digits) << token;
      EXPECT_EQ(loop.negative, word.negative) << token;
    }
  }
  for (const std::string& token : not_numbers) {
    const std::string buffer = before + token + std::string(kShortDecimalPadding, '0');
    const std::string_view view(buffer.data() + before.size(), token.size());
    ShortDecimal word;
    EXPECT_FALSE(ParseShortDecimalPadded(view, &word)) << token;
    EXPECT_FALSE(ParseShortDecimalPadded(view, &word, buffer.data())) << token;
  }
}

}  // namespace
}  // namespace servekit
