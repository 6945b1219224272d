// util/short_decimal.h: the grammar it takes and refuses, and that every value
// it gives is the correctly rounded one (std::from_chars agrees, bit for bit).
#include "servekit/util/short_decimal.h"

#include <gtest/gtest.h>

#include <charconv>
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

// The word reader answers exactly as the loop does, on tokens good and bad
// (random characters of the number grammar, signs, points, exponents,
// spaces), short and long (up to 28 characters: past its three words), in a
// buffer with only the kShortDecimalPadding bytes after them; and so does
// the one-register reader of long tokens (AVX2 builds), given the start of
// a buffer that holds kShortDecimalLookBehind bytes or more up to the
// token's end (random bytes before the token: they must not matter).
TEST(ShortDecimalTest, PaddedReaderAgreesWithTheLoopOnEveryToken) {
  std::mt19937_64 random(20261201);
  // Bytes with the high bit set too: 0xae is '.' | 0x80, 0xb0 is '0' | 0x80.
  const std::string alphabet = "0123456789000.-.e+ x\n\xae\xb0\x80";
  int taken = 0, long_taken = 0;
  for (int trial = 0; trial < 2000000; ++trial) {
    // Half up to 12 characters (one word), half up to 28 (three, and past).
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
  // The shapes at the words' edges, read with and without the bytes before.
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
