// util/short_decimal.h: the grammar it takes and refuses, and that every value
// it gives is the correctly rounded one (std::from_chars agrees, bit for bit).
#include "servekit/util/short_decimal.h"

#include <gtest/gtest.h>

#include <charconv>
#include <cstring>
#include <random>
#include <string>

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

}  // namespace
}  // namespace servekit
