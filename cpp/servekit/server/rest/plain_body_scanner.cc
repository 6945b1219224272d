#include "servekit/server/rest/plain_body_scanner.h"

#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "servekit/util/short_decimal.h"

namespace servekit {
namespace {

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

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
          std::vector<NumberQuotient>* values)
      : p_(body.data()),
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
  // a short decimal with whitespace around it: anything else ("1 2", "",
  // "1e5", "[1]", "\"1\"") is not one, so only ',' and ']' need finding.
  int64_t Numbers() {
    int64_t count = 0;
    const char* token = p_;
    for (const char* window = p_;; window += 64) {
      // Past the body lie NULs (no separators): a list cut short ends here.
      if (window >= end_) return -1;
      for (uint64_t separators = SeparatorMask(window); separators != 0;
           separators &= separators - 1) {
        const char* const separator = window + __builtin_ctzll(separators);
        if (values_.size() >= max_elements_ || !Number(token, separator)) return -1;
        ++count;
        token = separator + 1;
        if (*separator == ']') {
          p_ = token;
          return count;
        }
      }
    }
  }

  // The short decimal in [token, end), with JSON whitespace around it,
  // appended to the values.
  bool Number(const char* token, const char* end) {
    while (IsJsonSpace(*token)) ++token;
    ShortDecimal decimal;
    double numerator, divisor;
    // ParseShortDecimalPadded reads 8 bytes after the sign: the separator
    // lies in the body, so they end at most 7 bytes into the padding. It
    // trims the trailing whitespace.
    if (!ParseShortDecimalPadded(std::string_view(token, static_cast<size_t>(end - token)),
                                 &decimal) ||
        !ShortDecimalQuotient(decimal, &numerator, &divisor)) {
      return false;
    }
    // Stored field by field: a NumberQuotient built on the stack and copied
    // whole is read back as one 16-byte load of two 8-byte stores, which the
    // store buffer cannot forward (a stall that took a fifth of the scan).
    NumberQuotient& slot = values_.emplace_back();
    slot.numerator = numerator;
    slot.divisor = divisor;
    return true;
  }

  const char* p_;
  const char* const end_;
  const TensorSpec& spec_;
  const size_t max_elements_;
  std::vector<NumberQuotient>& values_;
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
