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
#include <cstring>
#include <string_view>

namespace servekit {

struct ShortDecimal {
  uint64_t digits = 0;      // the token's digits without its sign and point
  int fraction_digits = 0;  // how many of them follow the point; 0 for an integer
  bool negative = false;
};

// `token` without the JSON whitespace at its end, which belongs to a token as
// some tokenizers (simdjson's raw_json_token) cut it.
inline std::string_view TrimTrailingJsonSpace(std::string_view token) {
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t' || token.back() == '\n' ||
                            token.back() == '\r')) {
    token.remove_suffix(1);
  }
  return token;
}

// Splits `token` into digits, point position and sign, checking JSON's number
// grammar; false for anything outside this header's contract.
inline bool ParseShortDecimal(std::string_view token, ShortDecimal* out) {
  token = TrimTrailingJsonSpace(token);
  const char* p = token.data();
  const char* end = p + token.size();
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

// ParseShortDecimal for a token in a buffer that has 8 readable bytes after
// its sign, whatever the token's length (simdjson's padding gives them): a
// token of at most 8 characters after the sign is read as one 64-bit word,
// with no loop over its characters (whose varying lengths cost the loops a
// mispredicted branch or two per number); a longer one, by ParseShortDecimal.
// Gives exactly what ParseShortDecimal gives.
inline bool ParseShortDecimalPadded(std::string_view token, ShortDecimal* out) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the word below is read little-endian");
  token = TrimTrailingJsonSpace(token);
  const char* p = token.data();
  const char* end = p + token.size();
  const bool negative = p != end && *p == '-';
  p += negative;
  const size_t n = static_cast<size_t>(end - p);
  if (n == 0 || n > 8) return ParseShortDecimal(token, out);
  constexpr uint64_t kOnes = 0x0101010101010101u, kHigh = 0x8080808080808080u;
  constexpr uint64_t kZeros = 0x3030303030303030u;  // '0' in every byte
  uint64_t word;
  std::memcpy(&word, p, 8);  // little-endian: the first character is the low byte
  const uint64_t token_bytes = n == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * n)) - 1;
  word &= token_bytes;
  // The point: the first byte equal to '.', found without false positives.
  const uint64_t x = word ^ (kOnes * '.');
  const uint64_t low7 = ~kHigh;
  const uint64_t points = ~(((x & low7) + low7) | x | low7) & token_bytes;
  size_t integer_digits = n;
  uint64_t digits = word;
  if (points != 0) {
    integer_digits = static_cast<size_t>(__builtin_ctzll(points)) / 8;
    // "1." and ".5" are not JSON numbers (ParseShortDecimal refuses them too).
    if (integer_digits == 0 || integer_digits == n - 1) return false;
    const uint64_t before = word & ((uint64_t{1} << (8 * integer_digits)) - 1);
    digits = before | ((word >> (8 * (integer_digits + 1))) << (8 * integer_digits));
  }
  const size_t count = points != 0 ? n - 1 : n;
  // Right-aligned in 8 characters, with '0's before: then all 8 must be digits.
  const uint64_t aligned =
      count == 8 ? digits : (digits << (8 * (8 - count))) | (kZeros >> (8 * count));
  if (((aligned & 0xF0F0F0F0F0F0F0F0u) |
       (((aligned + 0x0606060606060606u) & 0xF0F0F0F0F0F0F0F0u) >> 4)) != 0x3333333333333333u) {
    return false;  // a byte that is not a digit: a second point, a sign, an 'e', ...
  }
  // JSON: "0" alone or a non-zero digit first; "01" is not a number.
  if (integer_digits > 1 && (word & 0xff) == '0') return false;
  // Eight digits to an integer in three multiplications (as fast_float does).
  uint64_t value = aligned - kZeros;
  value = value * 10 + (value >> 8);
  value = (((value & 0x000000FF000000FFu) * (100 + (uint64_t{1000000} << 32))) +
           (((value >> 16) & 0x000000FF000000FFu) * (1 + (uint64_t{10000} << 32)))) >>
          32;
  out->digits = static_cast<uint32_t>(value);
  out->fraction_digits = static_cast<int>(count - integer_digits);
  out->negative = negative;
  return true;
}

// 10^0 .. 10^22: every power of ten a double holds exactly, the divisors of
// the quotients below.
inline constexpr double kExactPowersOfTen[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

// A fraction (fraction_digits > 0) as the two exact doubles whose IEEE
// quotient is its correctly rounded value, or false when it is outside the
// bounds that make them exact. For callers that divide many at once (one
// vector division instead of one whose latency each number waits for).
inline bool ShortDecimalFractionQuotient(const ShortDecimal& d, double* numerator,
                                         double* divisor) {
  if (d.digits > (uint64_t{1} << 53) || d.fraction_digits > 22) return false;
  // The sign on the numerator: rounding to nearest is symmetric, so
  // (-m) / 10^k is -(m / 10^k), and "-0.0" stays -0.0.
  const double magnitude = static_cast<double>(d.digits);
  *numerator = d.negative ? -magnitude : magnitude;
  *divisor = kExactPowersOfTen[d.fraction_digits];
  return true;
}

// Any short decimal as a quotient (ShortDecimalFractionQuotient for a
// fraction). An integer is read as JSON readers that keep integers read it
// (json_document.h): as an integer, so "-0" is +0.0, over 1.
inline bool ShortDecimalQuotient(const ShortDecimal& d, double* numerator, double* divisor) {
  if (d.fraction_digits > 0) return ShortDecimalFractionQuotient(d, numerator, divisor);
  const double magnitude = static_cast<double>(d.digits);
  *numerator = d.digits == 0 ? 0.0 : d.negative ? -magnitude : magnitude;
  *divisor = 1.0;
  return true;
}

// The value of a fraction (fraction_digits > 0), correctly rounded, or false
// when it is outside the bounds that make one division exact.
inline bool ShortDecimalFractionValue(const ShortDecimal& d, double* out) {
  double numerator, divisor;
  if (!ShortDecimalFractionQuotient(d, &numerator, &divisor)) return false;
  *out = numerator / divisor;
  return true;
}

}  // namespace servekit
