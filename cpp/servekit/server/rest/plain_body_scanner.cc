#include "servekit/server/rest/plain_body_scanner.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "servekit/util/short_decimal.h"

namespace servekit {
namespace {

static_assert(kPlainBodyPadding >= kShortDecimalPadding, "numbers are read past their ends");

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A JSON number with an exponent of one or two digits ("1e-05", as Python
// writes a value below 1e-4; "6.02E+23") and at most kLongestFastNumberToken
// characters, followed by JSON whitespace at most: its value, converted by
// std::from_chars as the general path converts it (two exponent digits cannot
// reach a double's range limits). False for anything else.
bool ExponentNumber(std::string_view token, double* value) {
  token = TrimTrailingJsonSpace(token);
  if (token.size() > kLongestFastNumberToken) return false;
  const char* p = token.data();
  const char* const end = p + token.size();
  if (p != end && *p == '-') ++p;
  // JSON: "0" alone or a non-zero digit first.
  if (p == end || !IsDigit(*p)) return false;
  if (*p == '0') {
    ++p;
  } else {
    while (p != end && IsDigit(*p)) ++p;
  }
  if (p != end && *p == '.') {
    const char* const fraction = ++p;
    while (p != end && IsDigit(*p)) ++p;
    if (p == fraction) return false;
  }
  if (p == end || (*p != 'e' && *p != 'E')) return false;
  ++p;
  if (p != end && (*p == '+' || *p == '-')) ++p;
  const char* const exponent = p;
  while (p != end && IsDigit(*p)) ++p;
  if (p != end || p == exponent || p - exponent > kMostFastExponentDigits) return false;
  const auto [ptr, ec] = std::from_chars(token.data(), end, *value);
  return ec == std::errc() && ptr == end;
}

// Bit i set where p[i] is ',' or ']', for the 64 bytes from p: the ends of
// a list's number tokens, found for many numbers at once. Where one number
// ends is then not read from the number before, and the CPU reads numbers
// side by side: a scanner that walked each token to find the next was no
// faster than simdjson (13 µs for 784 numbers); this one takes 9.3 µs.
uint64_t SeparatorMask(const char* p) {
#if defined(__SSE2__)
  uint64_t mask = 0;
  for (int i = 0; i < 4; ++i) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    const __m128i separator = _mm_or_si128(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(',')),
                                           _mm_cmpeq_epi8(bytes, _mm_set1_epi8(']')));
    mask |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(separator))) << (16 * i);
  }
  return mask;
#else
  uint64_t mask = 0;
  for (int i = 0; i < 64; ++i) mask |= uint64_t{p[i] == ',' || p[i] == ']'} << i;
  return mask;
#endif
}

class Scanner {
 public:
  Scanner(std::string_view body, const TensorSpec& spec, int64_t max_elements,
          NumberQuotients* values)
      : begin_(body.data()),
        p_(body.data()),
        end_(body.data() + body.size()),
        spec_(spec),
        max_elements_(static_cast<size_t>(max_elements)),
        values_(*values) {}

  bool Read(PlainPredictBody* out) {
    if (!Eat('{')) return false;
    bool seen_signature = false;
    out->rows = -1;
    while (true) {
      std::string_view key;
      if (!PlainString(&key) || !Eat(':')) return false;
      if (key == "signature_name" && !seen_signature) {
        seen_signature = true;
        if (!PlainString(&out->signature_name)) return false;
      } else if ((key == "instances" || key == "inputs") && out->rows < 0) {
        out->row_format = key == "instances";
        out->rows = List(0);
        if (out->rows <= 0) return false;
      } else {
        return false;  // another key, a key twice, both formats
      }
      SkipSpace();
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != '}') return false;
      ++p_;
      break;
    }
    SkipSpace();
    // Nothing but whitespace after the object (a NUL in the body stops here).
    return out->rows > 0 && p_ == end_;
  }

 private:
  // Stops at the NUL after the body at the latest.
  void SkipSpace() {
    while (IsJsonSpace(*p_)) ++p_;
  }

  bool Eat(char c) {
    SkipSpace();
    if (*p_ != c) return false;
    ++p_;
    return true;
  }

  // A string of printable ASCII without escapes (the NUL after the body is
  // not printable: a string cut short is declined).
  bool PlainString(std::string_view* out) {
    if (!Eat('"')) return false;
    const char* const start = p_;
    for (; *p_ != '"'; ++p_) {
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c < 0x20 || c > 0x7e || c == '\\') return false;
    }
    *out = std::string_view(start, static_cast<size_t>(p_ - start));
    ++p_;
    return true;
  }

  // The entries of one list at `depth` (numbers at the innermost level), or -1.
  int64_t List(size_t depth) {
    if (!Eat('[')) return -1;
    SkipSpace();
    int64_t count = 0;
    if (*p_ == ']') {
      ++p_;
    } else if (depth + 1 == spec_.shape.size()) {
      count = Numbers();
    } else {
      while (true) {
        if (List(depth + 1) < 0) return -1;
        ++count;
        SkipSpace();
        if (*p_ == ',') {
          ++p_;
          continue;
        }
        if (*p_ != ']') return -1;
        ++p_;
        break;
      }
    }
    if (count < 0 || (depth > 0 && count != spec_.shape[depth].value())) return -1;
    return count;
  }

  // A non-empty list of numbers from p_ (after its '[') to its ']', appended
  // to the values; their count, or -1. Each token between separators must be
  // a number (Number()) with whitespace around it: anything else ("1 2", "",
  // "[1]", "\"1\"") is not one, so only ',' and ']' need finding.
  int64_t Numbers() {
    // Sized for the most numbers the rest of the body could hold (each takes
    // a character and a separator) within the element limit, filled through
    // `slots_` and shrunk to what was read: no size check or growth per number.
    // The allocator writes nothing on resize, so the bound costs address
    // space, not memory: only the slots filled are ever touched (a 16 MiB
    // body whose list holds one number reserves 128 MiB and touches a page).
    const size_t base = values_.size();
    const size_t room = max_elements_ > base ? max_elements_ - base : 0;
    const int64_t most =
        static_cast<int64_t>(std::min(room, static_cast<size_t>(end_ - p_) / 2 + 1));
    values_.resize(base + static_cast<size_t>(most));
    slots_ = values_.data();
    stored_ = base;
    int64_t count = 0;
    const char* token = p_;
    // Tokens are read kBatch at a time: their bounds wait here.
    const char* starts[kBatch];
    const char* ends[kBatch];
    size_t pending = 0;
    for (const char* window = p_;; window += 64) {
      // Past the body lie NULs (no separators): a list cut short ends here.
      if (window >= end_) return -1;
      for (uint64_t separators = SeparatorMask(window); separators != 0;
           separators &= separators - 1) {
        const char* const separator = window + __builtin_ctzll(separators);
        // Over the limit (or the bound, which only empty tokens could pass).
        if (count >= most) return -1;
        starts[pending] = token;
        ends[pending] = separator;
        ++count;
        token = separator + 1;
        if (++pending == kBatch) {
          if (!NumberBatch(starts, ends)) return -1;
          pending = 0;
        }
        if (*separator == ']') {
          for (size_t i = 0; i < pending; ++i) {
            if (!Number(starts[i], ends[i])) return -1;
          }
          values_.resize(stored_);
          p_ = token;
          return count;
        }
      }
    }
  }

#if defined(__AVX2__)
  static constexpr size_t kBatch = 4;

  // The kBatch tokens [starts[i], ends[i]) appended to the values, as
  // Number() appends them. Four of the tokens that bodies are mostly made of
  // (at most one space before, none after, at most 8 characters after the
  // sign: "0.1234", " -17") are read side by side, one 64-bit lane each, with
  // no loop or branch per number; a batch with any other token is read by
  // Number(). Number() alone spends ~140 instructions per token, mostly on
  // its generality; with this the scan takes ~75, and rest_bench.py's 784
  // numbers take 2.5 µs instead of 5.1 (Zen 5, AVX2 build; json_bench.cc).
  bool NumberBatch(const char* const starts[kBatch], const char* const ends[kBatch]) {
    // Built in registers: four 8-byte stores read back as one 32-byte load
    // cannot be forwarded from the store buffer (a stall per batch).
    int64_t words[kBatch], lengths[kBatch];  // lengths: the sign in the top bit
    bool common = true;
    for (size_t i = 0; i < kBatch; ++i) {
      const char* p = starts[i] + (*starts[i] == ' ');
      const bool negative = *p == '-';
      p += negative;
      const size_t n = static_cast<size_t>(ends[i] - p);
      common &= n - 1 < 8;  // not empty (n - 1 wraps), at most 8 characters
      // The separator lies in the body: the 8 bytes end in the padding at most.
      std::memcpy(&words[i], p, 8);
      lengths[i] = static_cast<int64_t>((uint64_t{negative} << 63) | (n & 15));
    }
    if (!common) return NumbersOneByOne(starts, ends);

    const __m256i zero = _mm256_setzero_si256();
    const __m256i word = _mm256_set_epi64x(words[3], words[2], words[1], words[0]);
    const __m256i length_and_sign =
        _mm256_set_epi64x(lengths[3], lengths[2], lengths[1], lengths[0]);
    const __m256i length = _mm256_and_si256(length_and_sign, _mm256_set1_epi64x(15));
    const __m256i shift = _mm256_slli_epi64(
        _mm256_and_si256(_mm256_sub_epi64(_mm256_set1_epi64x(8), length), _mm256_set1_epi64x(7)),
        3);
    // Digit values, the point as 0xFE. Shifted so that the token's last
    // character is its lane's top byte (little-endian: the most significant
    // digit comes first, in the lowest byte), with 0s (leading zeros) below
    // and the bytes after the token shifted out.
    const __m256i values = _mm256_sub_epi8(word, _mm256_set1_epi8('0'));
    const __m256i aligned = _mm256_sllv_epi64(values, shift);
    // The first point's lowest bit; the bytes below it (integer digits) and
    // the point's own byte. No point: both masks empty.
    const __m256i points = _mm256_cmpeq_epi8(aligned, _mm256_set1_epi8(static_cast<char>(0xFE)));
    const __m256i first_point_bit = _mm256_and_si256(points, _mm256_sub_epi64(zero, points));
    const __m256i no_point = _mm256_cmpeq_epi64(first_point_bit, zero);
    const __m256i below =
        _mm256_andnot_si256(no_point, _mm256_sub_epi64(first_point_bit, _mm256_set1_epi64x(1)));
    const __m256i point_byte =
        _mm256_sub_epi64(_mm256_slli_epi64(first_point_bit, 8), first_point_bit);
    // The point taken out: the integer digits move up one byte onto it.
    const __m256i digits =
        _mm256_or_si256(_mm256_slli_epi64(_mm256_and_si256(aligned, below), 8),
                        _mm256_andnot_si256(_mm256_or_si256(below, point_byte), aligned));

    // Every byte a digit: a second point, a sign, an 'e', a space after fail here.
    const __m256i nine = _mm256_set1_epi8(9);
    const bool all_digits =
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_max_epu8(digits, nine), nine)) == -1;
    // Not JSON: "1." (the point last), ".5" (first), "01" (a 0 before a digit).
    const __m256i low_byte = _mm256_set1_epi64x(0xff);
    const __m256i point_last =
        _mm256_cmpeq_epi64(first_point_bit, _mm256_set1_epi64x(int64_t{1} << 56));
    const __m256i point_first =
        _mm256_cmpeq_epi64(_mm256_and_si256(word, low_byte), _mm256_set1_epi64x('.'));
    const __m256i leading_zero =
        _mm256_and_si256(_mm256_cmpeq_epi64(_mm256_and_si256(values, low_byte), zero),
                         _mm256_cmpgt_epi64(_mm256_set1_epi64x(0x0A00),
                                            _mm256_and_si256(values, _mm256_set1_epi64x(0xffff))));
    const __m256i bad = _mm256_or_si256(_mm256_or_si256(point_last, point_first), leading_zero);
    if (!all_digits || !_mm256_testz_si256(bad, bad)) return NumbersOneByOne(starts, ends);

    // Eight digits to an integer: pairs, fours, then the two fours.
    const __m256i pairs = _mm256_maddubs_epi16(digits, _mm256_set1_epi16(0x010A));
    const __m256i fours = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x00010064));
    const __m256i integer = _mm256_add_epi64(_mm256_mul_epu32(fours, _mm256_set1_epi64x(10000)),
                                             _mm256_srli_epi64(fours, 32));
    // Exactly as a double (under 2^52): in the mantissa of 2^52, minus 2^52.
    const __m256d two52 = _mm256_set1_pd(4503599627370496.0);
    const __m256d magnitude = _mm256_sub_pd(
        _mm256_castsi256_pd(_mm256_or_si256(integer, _mm256_castpd_si256(two52))), two52);
    // As ShortDecimalQuotient: an integer's "-0" is +0.0, a fraction's -0.0.
    const __m256i integer_zero = _mm256_and_si256(_mm256_cmpeq_epi64(integer, zero), no_point);
    const __m256i sign = _mm256_andnot_si256(
        integer_zero, _mm256_and_si256(length_and_sign, _mm256_set1_epi64x(INT64_MIN)));
    const __m256d numerator = _mm256_xor_pd(magnitude, _mm256_castsi256_pd(sign));
    // 10 to the number of digits after the point (the bytes above it).
    const __m256i fraction_bytes = _mm256_andnot_si256(
        _mm256_or_si256(_mm256_or_si256(below, point_byte), no_point), _mm256_set1_epi8(1));
    const __m256i fraction_digits = _mm256_sad_epu8(fraction_bytes, zero);
    // At most 6 (8 characters, the point neither first nor last): looked up
    // in a register of floats, which hold 10^0..10^7 exactly, rather than
    // gathered from memory (a gather is a dozen micro-ops on AMD's cores).
    const __m256 powers = _mm256_setr_ps(1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f);
    const __m256i packed =  // each lane's count in the low four 32-bit slots
        _mm256_permutevar8x32_epi32(fraction_digits, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
    const __m256d divisor =
        _mm256_cvtps_pd(_mm256_castps256_ps128(_mm256_permutevar8x32_ps(powers, packed)));

    // Stored as {numerator, divisor} pairs, in the tokens' order.
    double* const out = &slots_[stored_].numerator;
    stored_ += kBatch;
    static_assert(sizeof(NumberQuotient) == 2 * sizeof(double), "pairs of doubles");
    const __m256d even = _mm256_unpacklo_pd(numerator, divisor);  // n0 d0 n2 d2
    const __m256d odd = _mm256_unpackhi_pd(numerator, divisor);   // n1 d1 n3 d3
    _mm256_storeu_pd(out, _mm256_permute2f128_pd(even, odd, 0x20));
    _mm256_storeu_pd(out + 4, _mm256_permute2f128_pd(even, odd, 0x31));
    return true;
  }
#else
  static constexpr size_t kBatch = 1;
  bool NumberBatch(const char* const starts[kBatch], const char* const ends[kBatch]) {
    return NumbersOneByOne(starts, ends);
  }
#endif

  bool NumbersOneByOne(const char* const starts[kBatch], const char* const ends[kBatch]) {
    for (size_t i = 0; i < kBatch; ++i) {
      if (!Number(starts[i], ends[i])) return false;
    }
    return true;
  }

  // The short decimal in [token, end), with JSON whitespace around it,
  // appended to the values.
  bool Number(const char* token, const char* end) {
    while (IsJsonSpace(*token)) ++token;
    const std::string_view text(token, static_cast<size_t>(end - token));
    ShortDecimal decimal;
    double numerator, divisor;
    // ParseShortDecimalPadded reads up to 8 bytes after the token: the
    // separator lies in the body, so they end at most 7 bytes into the
    // padding. Given the body's start, it may read before the token (in the
    // body). It trims the trailing whitespace.
    if (ParseShortDecimalPadded(text, &decimal, begin_)) {
      if (!ShortDecimalTokenQuotient(text, decimal, &numerator, &divisor)) return false;
    } else if (ExponentNumber(text, &numerator)) {
      divisor = 1.0;
    } else {
      return false;
    }
    // Stored field by field: a NumberQuotient built on the stack and copied
    // whole is read back as one 16-byte load of two 8-byte stores, which the
    // store buffer cannot forward (a stall that took a fifth of the scan).
    NumberQuotient& slot = slots_[stored_++];
    slot.numerator = numerator;
    slot.divisor = divisor;
    return true;
  }

  const char* const begin_;
  const char* p_;
  const char* const end_;
  const TensorSpec& spec_;
  const size_t max_elements_;
  NumberQuotients& values_;
  NumberQuotient* slots_ = nullptr;  // values_.data() while a list of numbers is read
  size_t stored_ = 0;                // the numbers in values_ so far
};

}  // namespace

bool ScanPlainPredictBody(std::string_view body, const TensorSpec& spec, int64_t max_elements,
                          PlainPredictBody* out) {
  if (spec.shape.empty() || max_elements < 0) return false;
  // An inner dimension of 0: the general path's element limit multiplies the
  // dimensions as it goes and may refuse before it reaches the 0; declined.
  for (size_t d = 1; d < spec.shape.size(); ++d) {
    if (!spec.shape[d].is_fixed() || spec.shape[d].value() == 0) return false;
  }
  return Scanner(body, spec, max_elements, out->values).Read(out);
}

}  // namespace servekit
