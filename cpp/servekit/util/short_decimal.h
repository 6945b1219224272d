// The JSON number tokens that request bodies are mostly made of ("0.1234",
// "-17", "3.25"), read in one pass and exactly: a token that is a JSON number
// without an exponent, with at most 19 significant digits, optionally followed by
// whitespace. Anything else (an exponent, more digits, bad grammar such as
// leading zeros or a lone "-") is refused, and the caller's slower, general
// reader decides.
//
// Why it is exact: a fraction is read as m / 10^k with m < 2^53 and k <= 22,
// both exactly representable as doubles, so the one IEEE division rounds the
// true value correctly, as strtod and std::from_chars do (Clinger's fast
// path). Fractions outside those bounds are refused, not approximated.
#pragma once

#include <cstdint>
#include <string_view>

namespace servekit {

struct ShortDecimal {
  uint64_t digits = 0;      // the token's digits without its sign and point
  int fraction_digits = 0;  // how many of them follow the point; 0 for an integer
  bool negative = false;
};

// Splits `token` into digits, point position and sign, checking JSON's number
// grammar; false for anything outside this header's contract.
inline bool ParseShortDecimal(std::string_view token, ShortDecimal* out) {
  const char* p = token.data();
  const char* end = p + token.size();
  // Trailing whitespace belongs to the token as some tokenizers cut it.
  while (end != p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r')) {
    --end;
  }
  ShortDecimal d;
  if (p != end && *p == '-') {
    d.negative = true;
    ++p;
  }
  if (p == end || *p < '0' || *p > '9') return false;
  // JSON: "0" alone or a non-zero digit first; "01" is not a number.
  if (*p == '0' && end - p > 1 && p[1] >= '0' && p[1] <= '9') return false;
  // Digits from the first non-zero one: only they can overflow. Counted from
  // the characters, not from `digits`, which wraps to 0 at 2^64 (the fuzzer
  // found "18446744073709551616" read as 0).
  int significant = 0;
  for (; p != end && *p >= '0' && *p <= '9'; ++p) {
    d.digits = d.digits * 10 + static_cast<uint64_t>(*p - '0');
    significant += significant != 0 || *p != '0';
  }
  if (p != end) {
    if (*p != '.') return false;
    ++p;
    const char* const fraction = p;
    for (; p != end && *p >= '0' && *p <= '9'; ++p) {
      d.digits = d.digits * 10 + static_cast<uint64_t>(*p - '0');
      significant += significant != 0 || *p != '0';
    }
    d.fraction_digits = static_cast<int>(p - fraction);
    if (d.fraction_digits == 0 || p != end) return false;  // "1." or an exponent or junk
  }
  if (significant > 19) return false;  // 19 digits cannot overflow 64 bits
  *out = d;
  return true;
}

// The value of a fraction (fraction_digits > 0), correctly rounded, or false
// when it is outside the bounds that make one division exact.
inline bool ShortDecimalFractionValue(const ShortDecimal& d, double* out) {
  static constexpr double kPowersOfTen[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                            1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  if (d.digits > (uint64_t{1} << 53) || d.fraction_digits > 22) return false;
  const double value = static_cast<double>(d.digits) / kPowersOfTen[d.fraction_digits];
  *out = d.negative ? -value : value;
  return true;
}

}  // namespace servekit
