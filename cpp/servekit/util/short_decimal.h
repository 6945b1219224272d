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
// path). Fractions outside those bounds are refused, not approximated; or,
// given their token, converted by std::from_chars (ShortDecimalTokenQuotient).
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

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

#if defined(__AVX2__)
namespace short_decimal_internal {

// ParseShortDecimal's answer for the n characters before `end` (9..20,
// after the sign; `negative` is the sign), in one 32-byte register, when the
// 33 bytes before `end` are readable: 1 with the answer in *out, 0 for a
// token that is not a number, -1 for one to leave to the loop (more than 19
// digits, which leading zeros may still make a short decimal). Loaded so
// that the token's last character is the register's last byte, the
// fraction's digits are already in place and a second load one byte earlier
// holds the integer digits moved up over the point; the digits then convert
// eight to a 64-bit lane, as the plain scanner's batches of short numbers do.
inline int LongTokenAvx2(const char* end, size_t n, bool negative, ShortDecimal* out) {
  const __m256i text = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(end - 32));
  const __m256i earlier = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(end - 33));
  const __m256i index =
      _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                       22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
  const uint32_t token = ~uint32_t{0} << (32 - n);  // the token's bytes
  const __m256i values = _mm256_sub_epi8(text, _mm256_set1_epi8('0'));
  const __m256i nine = _mm256_set1_epi8(9);
  const uint32_t digits = static_cast<uint32_t>(_mm256_movemask_epi8(
                              _mm256_cmpeq_epi8(_mm256_max_epu8(values, nine), nine))) &
                          token;
  const uint32_t points =
      static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(text, _mm256_set1_epi8('.')))) &
      token;
  const char first = end[-static_cast<ptrdiff_t>(n)];
  __m256i number = values;  // digit values, the point taken out
  size_t count = n, fraction_digits = 0;
  if (points == 0) {
    if (digits != token) return 0;
  } else {
    const unsigned point = static_cast<unsigned>(__builtin_ctz(points));
    fraction_digits = 31 - point;
    const size_t integer_digits = n - 1 - fraction_digits;
    // A second point, a sign, an 'e'; "1." and ".5" (no digit on one side).
    if ((digits | points) != token || (points & (points - 1)) != 0 || integer_digits == 0 ||
        fraction_digits == 0) {
      return 0;
    }
    // Below the point: the byte before, from the earlier load.
    const __m256i fraction = _mm256_cmpgt_epi8(index, _mm256_set1_epi8(static_cast<char>(point)));
    number = _mm256_blendv_epi8(_mm256_sub_epi8(earlier, _mm256_set1_epi8('0')), values, fraction);
    count = n - 1;
  }
  if (count > 19) return -1;
  // JSON: "0" alone or a non-zero digit first; "01" is not a number.
  if (first == '0' && count - fraction_digits > 1) return 0;
  // Only the number's own digits (the last `count` bytes).
  number = _mm256_and_si256(
      number, _mm256_cmpgt_epi8(index, _mm256_set1_epi8(static_cast<char>(31 - count))));
  const __m256i pairs = _mm256_maddubs_epi16(number, _mm256_set1_epi16(0x010A));
  const __m256i fours = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x00010064));
  const __m256i eights = _mm256_add_epi64(_mm256_mul_epu32(fours, _mm256_set1_epi64x(10000)),
                                          _mm256_srli_epi64(fours, 32));
  // At most 19 digits: the first lane is 0, the second below 1000.
  const __m128i high = _mm256_extracti128_si256(eights, 1);
  const uint64_t top = static_cast<uint64_t>(_mm_extract_epi64(_mm256_castsi256_si128(eights), 1));
  const uint64_t middle = static_cast<uint64_t>(_mm_cvtsi128_si64(high));
  const uint64_t bottom = static_cast<uint64_t>(_mm_extract_epi64(high, 1));
  out->digits = (top * 100000000 + middle) * 100000000 + bottom;
  out->fraction_digits = static_cast<int>(fraction_digits);
  out->negative = negative;
  return 1;
}

}  // namespace short_decimal_internal
#endif

// The readable bytes ParseShortDecimalPadded needs after a token.
inline constexpr size_t kShortDecimalPadding = 8;

// Where a token ends at least this far into its buffer, ParseShortDecimalPadded
// reads a long one in one 32-byte register (given the buffer's start).
inline constexpr size_t kShortDecimalLookBehind = 33;

// ParseShortDecimal for a token in a buffer that has kShortDecimalPadding
// readable bytes after its end, whatever they hold (simdjson's padding and the
// plain scanner's give them), with no loop over its characters (whose varying
// lengths cost the loop a mispredicted branch or two per number):
//   - at most 8 characters after the sign ("0.1234", "-17"): one 64-bit word;
//   - with AVX2, and `buffer` (the start of the buffer) at least
//     kShortDecimalLookBehind bytes before the token's end, 9 to 20
//     characters ("0.4731886386871338", as numpy's tolist() through
//     json.dumps writes a float32): one 32-byte register (LongTokenAvx2).
// Other tokens go to ParseShortDecimal. Gives exactly what ParseShortDecimal
// gives.
inline bool ParseShortDecimalPadded(std::string_view token, ShortDecimal* out,
                                    [[maybe_unused]] const char* buffer = nullptr) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the word below is read little-endian");
  token = TrimTrailingJsonSpace(token);
  const char* p = token.data();
  const char* end = p + token.size();
  const bool negative = p != end && *p == '-';
  p += negative;
  const size_t n = static_cast<size_t>(end - p);
#if defined(__AVX2__)
  if (n > 8 && n <= 20 && buffer != nullptr && end - buffer >= ptrdiff_t{kShortDecimalLookBehind}) {
    const int read = short_decimal_internal::LongTokenAvx2(end, n, negative, out);
    return read >= 0 ? read == 1 : ParseShortDecimal(token, out);
  }
#endif
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

namespace short_decimal_internal {

// 5^0 .. 5^22: with 2^k, the exact powers of ten of kExactPowersOfTen.
inline constexpr uint64_t kPowersOfFive[] = {1u,
                                             5u,
                                             25u,
                                             125u,
                                             625u,
                                             3125u,
                                             15625u,
                                             78125u,
                                             390625u,
                                             1953125u,
                                             9765625u,
                                             48828125u,
                                             244140625u,
                                             1220703125u,
                                             6103515625u,
                                             30517578125u,
                                             152587890625u,
                                             762939453125u,
                                             3814697265625u,
                                             19073486328125u,
                                             95367431640625u,
                                             476837158203125u,
                                             2384185791015625u};

// The sign of m / 10^f - k * 2^g, exactly: of m - k * 5^f * 2^(f + g), in
// 128-bit integers. For m >= 2^53 and k >= 2^53 (a double's mantissa,
// doubled, plus or minus one), which bound the shifts.
inline int CompareWithBinary(uint64_t m, int f, uint64_t k, int g) {
  unsigned __int128 left = m;
  unsigned __int128 right = static_cast<unsigned __int128>(k) * kPowersOfFive[f];  // < 2^107
  const int shift = f + g;
  if (shift > 20) return -1;  // right >= 2^53 * 2^21 > m
  if (shift < -63) return 1;  // left >= 2^53 * 2^64 > right
  if (shift >= 0) {
    right <<= shift;
  } else {
    left <<= -shift;
  }
  return left < right ? -1 : left > right ? 1 : 0;
}

// m / 10^f correctly rounded (to nearest, ties to even), for 2^53 < m < 2^64
// and f <= 22, where one division is not exact (m is not a double): the
// division's result is at most an ulp or two off, and is moved to the right
// double by comparing it exactly with the midpoints to its neighbours.
// False if that took more than four steps (never seen; the caller then
// converts another way rather than trust it).
inline bool LongFractionValue(uint64_t m, int f, double* out) {
  double value = static_cast<double>(m) / kExactPowersOfTen[f];
  for (int step = 0; step < 4; ++step) {  // two at most in practice
    uint64_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    // value = mantissa * 2^exponent (a normal number: at least 2^53 / 10^22).
    const uint64_t mantissa = (bits & ((uint64_t{1} << 52) - 1)) | (uint64_t{1} << 52);
    const int exponent = static_cast<int>(bits >> 52) - 1075;
    const bool odd = (mantissa & 1) != 0;
    // Above the midpoint to the next double up (or on it, from an odd one).
    const int above = CompareWithBinary(m, f, 2 * mantissa + 1, exponent - 1);
    if (above > 0 || (above == 0 && odd)) {
      ++bits;
      std::memcpy(&value, &bits, sizeof(bits));
      continue;
    }
    // Below the midpoint to the next double down, which lies half as far
    // below a power of two.
    const int below = mantissa == (uint64_t{1} << 52)
                          ? CompareWithBinary(m, f, 4 * mantissa - 1, exponent - 2)
                          : CompareWithBinary(m, f, 2 * mantissa - 1, exponent - 1);
    if (below < 0 || (below == 0 && odd)) {
      --bits;
      std::memcpy(&value, &bits, sizeof(bits));
      continue;
    }
    *out = value;
    return true;
  }
  return false;
}

}  // namespace short_decimal_internal

// ShortDecimalQuotient for the short decimal parsed from `token`, and where
// that is not exact, the token's value over 1, correctly rounded as the
// general JSON reader converts (json_document.h): a fraction with more than
// 53 bits of digits and at most 22 after the point by LongFractionValue,
// anything else by std::from_chars. The first is how a float32 reads once
// widened to a double and written shortest: numpy's tolist() through
// json.dumps gives "0.4731886386871338" (16 digits) and, for about a
// quarter of values, 17 digits ("0.03485250473022461", over 2^53). False
// only where from_chars reports a value out of range (hundreds of zeros after
// the point), which the general reader treats apart.
inline bool ShortDecimalTokenQuotient(std::string_view token, const ShortDecimal& d,
                                      double* numerator, double* divisor) {
  if (ShortDecimalQuotient(d, numerator, divisor)) return true;
  *divisor = 1.0;
  double magnitude;
  if (d.fraction_digits > 0 && d.fraction_digits <= 22 && d.digits > (uint64_t{1} << 53) &&
      short_decimal_internal::LongFractionValue(d.digits, d.fraction_digits, &magnitude)) {
    *numerator = d.negative ? -magnitude : magnitude;
    return true;
  }
  token = TrimTrailingJsonSpace(token);
  const char* const end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, *numerator);
  return ec == std::errc() && ptr == end;
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
