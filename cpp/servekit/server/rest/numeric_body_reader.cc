#include "servekit/server/rest/numeric_body_reader.h"

#include <simdjson.h>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "servekit/server/rest/plain_body_scanner.h"
#include "servekit/util/short_decimal.h"

namespace servekit {
namespace {

namespace od = simdjson::ondemand;

// The general path refuses float32 values at or beyond this magnitude
// (json_request.cc); here they leave the fast path.
constexpr double kFloat32Overflow = 0x1.ffffffp+127;

// simdjson 3.0.1 (Debian 12) converts some numbers of more than 19 digits
// wrongly (simdjson issues #2093 and #2099, fixed in later releases): only
// shorter tokens, which cannot reach that code, are left to it; longer ones
// convert with std::from_chars, as the general path converts them.
constexpr size_t kLongestTrustedToken = 19;

// Bodies up to this size reuse a per-thread parser and buffers (no allocation
// per request); larger ones get their own, freed with them, and bodies beyond
// kLargestBody go the general way (simdjson's index would be ~4 bytes per byte).
constexpr size_t kReusedBytes = size_t{256} << 10;
constexpr size_t kLargestBody = size_t{16} << 20;

// What ReadNumber needs to know of a number token, in one pass: whether it
// is an integer (digits after an optional minus) and how many digits its
// exponent has.
struct TokenShape {
  bool integer = true;
  int exponent_digits = 0;
};
TokenShape ShapeOf(std::string_view token) {
  TokenShape shape;
  size_t i = !token.empty() && token[0] == '-' ? 1 : 0;
  if (i == token.size()) shape.integer = false;
  for (; i < token.size(); ++i) {
    const char c = token[i];
    if (c >= '0' && c <= '9') continue;
    shape.integer = false;
    if (c == 'e' || c == 'E') {
      size_t digits = token.size() - i - 1;
      if (digits > 0 && (token[i + 1] == '+' || token[i + 1] == '-')) --digits;
      shape.exponent_digits = static_cast<int>(digits);
      break;
    }
  }
  return shape;
}

// The number's value as the general path reads it (json_document.cc: integer
// tokens that fit 64 bits as integers, then as double; others correctly
// rounded), as a quotient, or false to leave the fast path. simdjson reads
// every number that is not a short decimal, which checks its JSON grammar,
// before std::from_chars (used for the tokens simdjson 3.0.1 cannot be
// trusted with) sees it: from_chars accepts more.
bool ReadNumber(od::value value, NumberQuotient* out) {
  std::string_view token = value.raw_json_token();
  // Most tokens are short decimals, read exactly in one pass. The token lies
  // in the padded copy of the body (ReadNumericPredictBody): the
  // kShortDecimalPadding bytes after it are readable.
  // Long ones (over 2^53) convert as the plain scanner converts them.
  ShortDecimal decimal;
  if (ParseShortDecimalPadded(token, &decimal) &&
      ShortDecimalTokenQuotient(token, decimal, &out->numerator, &out->divisor)) {
    return true;
  }
  // Otherwise the value itself, over 1 (x / 1 is x).
  out->divisor = 1.0;
  double* const result = &out->numerator;
  token = TrimTrailingJsonSpace(token);
  const TokenShape shape = ShapeOf(token);
  if (token.size() > kLongestFastNumberToken || shape.exponent_digits > kMostFastExponentDigits) {
    return false;
  }
  if (shape.integer) {
    int64_t i;
    if (value.get_int64().get(i) == simdjson::SUCCESS) {
      *result = static_cast<double>(i);
      return true;
    }
    uint64_t u;
    if (value.get_uint64().get(u) == simdjson::SUCCESS) {
      *result = static_cast<double>(u);
      return true;
    }
  }
  // simdjson checks the token's grammar (no leading zeros, no "nan"), which
  // std::from_chars below would not.
  double read;
  if (value.get_double().get(read) != simdjson::SUCCESS) return false;
  if (!shape.integer && token.size() <= kLongestTrustedToken) {
    *result = read;
    return true;
  }
  // Long or huge: as the general path converts (out of range leaves).
  const char* const end = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(token.data(), end, *result);
  return ec == std::errc() && ptr == end;
}

// Reads the tensor's value: lists nested as deep as the input's rank, each
// inner one as long as its dimension; numbers only at the innermost level.
class TensorReader {
 public:
  TensorReader(const TensorSpec& spec, int64_t max_elements, NumberQuotients* values)
      : spec_(spec), max_elements_(max_elements), values_(*values) {}

  // The number of rows (entries of the outer list), or -1.
  int64_t Read(od::value value) { return ReadList(value, 0); }

 private:
  int64_t ReadList(od::value value, size_t depth) {
    od::array list;
    if (value.get_array().get(list) != simdjson::SUCCESS) return -1;
    const bool innermost = depth + 1 == spec_.shape.size();
    int64_t count = 0;
    for (simdjson::simdjson_result<od::value> item : list) {
      od::value entry;
      if (std::move(item).get(entry) != simdjson::SUCCESS) return -1;
      ++count;
      if (innermost) {
        NumberQuotient q;
        if (static_cast<int64_t>(values_.size()) >= max_elements_ || !ReadNumber(entry, &q))
          return -1;
        values_.push_back(q);
      } else if (ReadList(entry, depth + 1) < 0) {
        return -1;
      }
    }
    if (depth > 0 && count != spec_.shape[depth].value()) return -1;
    return count;
  }

  const TensorSpec& spec_;
  const int64_t max_elements_;
  NumberQuotients& values_;
};

// The inputs this path takes: one float input [N, d1, ...] with fixed, non-zero inner dims.
bool Takes(absl::Span<const TensorSpec> inputs) {
  if (inputs.size() != 1) return false;
  const TensorSpec& spec = inputs[0];
  if (spec.dtype != DType::kFloat32 && spec.dtype != DType::kFloat64) return false;
  if (spec.shape.empty() || spec.shape.size() > 8) return false;
  if (spec.shape[0].is_fixed() || spec.shape[0].value() != 1) return false;  // exactly N
  for (size_t d = 1; d < spec.shape.size(); ++d) {
    // A 0: the general path's element limit, which multiplies the dimensions
    // as it goes, may refuse such a body before it reaches the 0.
    if (!spec.shape[d].is_fixed() || spec.shape[d].value() == 0) return false;
  }
  return true;
}

struct Scratch {
  od::parser parser;
  std::string text;  // the body and simdjson's padding
  NumberQuotients values;
};

// The quotients' values into `out`, in vector divisions (one number's
// division does not wait for the last): the compiler's for double, by hand
// for float32. Float32: false for a finite value the general path refuses
// (at or beyond kFloat32Overflow in magnitude).
bool Quotients(const NumberQuotients& values, double* out) {
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i].numerator / values[i].divisor;
  return true;
}
bool Quotients(const NumberQuotients& values, float* out) {
  const size_t n = values.size();
  size_t i = 0;
  bool refused = false;
#if defined(__AVX2__)
  // Four at a time by hand: GCC leaves the loop below scalar (one vdivsd per
  // number, ~0.9 µs of a 784-number predict). A value is refused when
  // kFloat32Overflow <= |value| <= DBL_MAX (finite and too large).
  const __m256d overflow = _mm256_set1_pd(kFloat32Overflow);
  const __m256d largest = _mm256_set1_pd(std::numeric_limits<double>::max());
  const __m256d magnitude_bits = _mm256_castsi256_pd(_mm256_set1_epi64x(INT64_MAX));
  __m256d too_large = _mm256_setzero_pd();
  for (; i + 4 <= n; i += 4) {
    const double* pairs = &values[i].numerator;
    const __m256d first = _mm256_loadu_pd(pairs);                                // n0 d0 n1 d1
    const __m256d second = _mm256_loadu_pd(pairs + 4);                           // n2 d2 n3 d3
    const __m256d quotients = _mm256_div_pd(_mm256_unpacklo_pd(first, second),   // n0 n2 n1 n3
                                            _mm256_unpackhi_pd(first, second));  // d0 d2 d1 d3
    const __m256d ordered = _mm256_permute4x64_pd(quotients, 0xD8);              // q0 q1 q2 q3
    const __m256d magnitude = _mm256_and_pd(ordered, magnitude_bits);
    too_large =
        _mm256_or_pd(too_large, _mm256_and_pd(_mm256_cmp_pd(magnitude, overflow, _CMP_GE_OQ),
                                              _mm256_cmp_pd(magnitude, largest, _CMP_LE_OQ)));
    _mm_storeu_ps(out + i, _mm256_cvtpd_ps(ordered));
  }
  refused = _mm256_movemask_pd(too_large) != 0;
#endif
  for (; i < n; ++i) {
    const double value = values[i].numerator / values[i].divisor;
    refused |= std::isfinite(value) & !(std::fabs(value) < kFloat32Overflow);
    out[i] = static_cast<float>(value);
  }
  return !refused;
}

// The body in scratch->text (padded) read by simdjson into scratch->values;
// the request's format and signature into `request`. The number of rows, or -1.
int64_t ReadWithSimdjson(Scratch* scratch, size_t size, const TensorSpec& spec,
                         int64_t max_elements, JsonPredictRequest* request) {
  int64_t rows = -1;
  bool seen_signature = false;
  od::document doc;
  od::object object;
  if (scratch->parser.iterate(scratch->text.data(), size, scratch->text.size()).get(doc) !=
          simdjson::SUCCESS ||
      doc.get_object().get(object) != simdjson::SUCCESS) {
    return -1;
  }
  for (simdjson::simdjson_result<od::field> item : object) {
    od::field field;
    std::string_view key;
    if (std::move(item).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      return -1;
    }
    if (key == "signature_name" && !seen_signature) {
      seen_signature = true;
      std::string_view name;
      if (field.value().get_string().get(name) != simdjson::SUCCESS) return -1;
      request->signature_name.assign(name.data(), name.size());
    } else if ((key == "instances" || key == "inputs") && rows < 0) {
      request->row_format = key == "instances";
      rows = TensorReader(spec, max_elements, &scratch->values).Read(field.value());
      if (rows <= 0) return -1;
    } else {
      return -1;  // another key, a key twice, both formats
    }
  }
  // Nothing may follow the object: at the end, simdjson has no location left.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return -1;
  return rows;
}

}  // namespace

std::optional<JsonPredictRequest> ReadNumericPredictBody(absl::string_view body,
                                                         absl::Span<const TensorSpec> inputs,
                                                         int64_t max_elements) {
  if (!Takes(inputs) || body.empty() || body.size() > kLargestBody) return std::nullopt;
  thread_local Scratch reused;
  std::unique_ptr<Scratch> own;
  Scratch* scratch = &reused;
  if (body.size() > kReusedBytes) {
    own = std::make_unique<Scratch>();
    scratch = own.get();
  }
  static_assert(simdjson::SIMDJSON_PADDING >= kPlainBodyPadding);
  static_assert(simdjson::SIMDJSON_PADDING >= kShortDecimalPadding);
  scratch->text.assign(body.data(), body.size());
  scratch->text.append(simdjson::SIMDJSON_PADDING, '\0');
  scratch->values.clear();

  const TensorSpec& spec = inputs[0];
  JsonPredictRequest request;
  // Most bodies are plain (plain_body_scanner.h), read by hand at a fraction
  // of simdjson's cost; the rest, and every malformed one, go to simdjson.
  PlainPredictBody plain;
  plain.values = &scratch->values;
  int64_t rows = -1;
  if (ScanPlainPredictBody(std::string_view(scratch->text.data(), body.size()), spec, max_elements,
                           &plain)) {
    rows = plain.rows;
    request.row_format = plain.row_format;
    request.signature_name.assign(plain.signature_name.data(), plain.signature_name.size());
  } else {
    scratch->values.clear();
    rows = ReadWithSimdjson(scratch, body.size(), spec, max_elements, &request);
  }
  if (rows <= 0) return std::nullopt;

  Shape shape;
  shape.push_back(rows);
  for (size_t d = 1; d < spec.shape.size(); ++d) shape.push_back(spec.shape[d].value());
  StatusOr<Tensor> tensor = Tensor::Allocate(spec.dtype, std::move(shape));
  const NumberQuotients& values = scratch->values;
  if (!tensor.ok() || tensor->num_elements() != static_cast<int64_t>(values.size())) {
    return std::nullopt;
  }
  const bool taken = spec.dtype == DType::kFloat32 ? Quotients(values, tensor->data<float>())
                                                   : Quotients(values, tensor->data<double>());
  if (!taken) return std::nullopt;
  request.inputs.push_back(*std::move(tensor));
  return request;
}

}  // namespace servekit
