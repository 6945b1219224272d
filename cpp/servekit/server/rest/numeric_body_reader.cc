#include "servekit/server/rest/numeric_body_reader.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "rapidjson/reader.h"

namespace servekit {
namespace {

// As ParseJsonDocument parses (json_document.cc): NaN and Infinity tokens,
// numbers handed over as text, in place.
constexpr unsigned kParseFlags = rapidjson::kParseNanAndInfFlag |
                                 rapidjson::kParseNumbersAsStringsFlag |
                                 rapidjson::kParseInsituFlag;

// The general path refuses float32 values at or beyond this magnitude
// (json_request.cc); here they leave the fast path.
constexpr double kFloat32Overflow = 0x1.ffffffp+127;

// SAX events of {"signature_name"?: s, "instances" | "inputs": value}. Any
// event outside that shape, or a value whose lists do not have the input's
// depth and inner lengths, stops the reader (the body leaves the fast path).
class NumericBodyHandler {
 public:
  NumericBodyHandler(const TensorSpec& spec, int64_t max_elements, std::vector<double>* values)
      : spec_(spec), max_elements_(max_elements), values_(*values) {}

  bool row_format() const { return row_format_; }
  std::string& signature_name() { return signature_name_; }
  int64_t rows() const { return rows_; }
  // The whole object was read and held the tensor.
  bool complete() const { return state_ == State::kDone && rows_ > 0; }

  bool StartObject() {
    if (state_ != State::kStart) return false;
    state_ = State::kKey;
    return true;
  }
  bool Key(const char* text, rapidjson::SizeType length, bool) {
    if (state_ != State::kKey) return false;
    const absl::string_view key(text, length);
    if (key == "signature_name" && !seen_signature_) {
      seen_signature_ = true;
      state_ = State::kSignature;
      return true;
    }
    if ((key == "instances" || key == "inputs") && !seen_tensor_) {
      seen_tensor_ = true;
      row_format_ = key == "instances";
      state_ = State::kTensor;
      return true;
    }
    return false;
  }
  bool String(const char* text, rapidjson::SizeType length, bool) {
    if (state_ != State::kSignature) return false;
    signature_name_.assign(text, length);
    state_ = State::kKey;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    if (state_ != State::kKey || !seen_tensor_) return false;
    state_ = State::kDone;
    return true;
  }

  // The tensor: depth 1 is the batch, depth d > 1 must hold spec.shape[d - 1]
  // entries, numbers only at depth == rank.
  bool StartArray() {
    if (state_ != State::kTensor || depth_ >= rank()) return false;
    ++depth_;
    return true;
  }
  bool EndArray(rapidjson::SizeType count) {
    if (state_ != State::kTensor || depth_ == 0) return false;
    --depth_;
    if (depth_ == 0) {  // the batch
      rows_ = count;
      state_ = State::kKey;
      return true;
    }
    return count == spec_.shape[depth_].value();
  }
  bool RawNumber(const char* text, rapidjson::SizeType length, bool) {
    if (state_ != State::kTensor || depth_ != rank()) return false;
    double d;
    const char* const end = text + length;
    const auto [ptr, ec] = std::from_chars(text, end, d);
    if (ec != std::errc() || ptr != end) return false;  // out of range: the general path decides
    if (spec_.dtype == DType::kFloat32 && std::isfinite(d) && !(std::fabs(d) < kFloat32Overflow)) {
      return false;
    }
    if (static_cast<int64_t>(values_.size()) >= max_elements_) return false;
    values_.push_back(d);
    return true;
  }
  // Anything else leaves the fast path.
  bool Null() { return false; }
  bool Bool(bool) { return false; }
  bool Int(int) { return false; }
  bool Uint(unsigned) { return false; }
  bool Int64(int64_t) { return false; }
  bool Uint64(uint64_t) { return false; }
  bool Double(double) { return false; }

 private:
  enum class State { kStart, kKey, kSignature, kTensor, kDone };
  int rank() const { return static_cast<int>(spec_.shape.size()); }

  const TensorSpec& spec_;
  const int64_t max_elements_;
  std::vector<double>& values_;
  State state_ = State::kStart;
  bool seen_signature_ = false, seen_tensor_ = false, row_format_ = true;
  std::string signature_name_;
  int depth_ = 0;  // lists open in the tensor's value
  int64_t rows_ = 0;
};

// The inputs this path takes: one float input [N, d1, ...] with fixed inner dims.
bool Takes(absl::Span<const TensorSpec> inputs) {
  if (inputs.size() != 1) return false;
  const TensorSpec& spec = inputs[0];
  if (spec.dtype != DType::kFloat32 && spec.dtype != DType::kFloat64) return false;
  if (spec.shape.empty() || spec.shape.size() > 8) return false;
  if (spec.shape[0].is_fixed() || spec.shape[0].value() != 1) return false;  // exactly N
  for (size_t d = 1; d < spec.shape.size(); ++d) {
    if (!spec.shape[d].is_fixed()) return false;
  }
  return true;
}

}  // namespace

std::optional<JsonPredictRequest> ReadNumericPredictBody(absl::string_view body,
                                                         absl::Span<const TensorSpec> inputs,
                                                         int64_t max_elements) {
  if (!Takes(inputs) || body.empty() || std::memchr(body.data(), '\0', body.size()) != nullptr) {
    return std::nullopt;
  }
  // The text to parse in place and the numbers read: per thread and reused
  // for the bodies most requests send, so that they cost no allocation; a
  // large body gets buffers of its own, freed with it.
  constexpr size_t kReusedBytes = size_t{256} << 10;
  thread_local std::string reused_text;
  thread_local std::vector<double> reused_values;
  std::string own_text;
  std::vector<double> own_values;
  const bool reuse = body.size() <= kReusedBytes;
  std::string& text = reuse ? reused_text : own_text;
  std::vector<double>& values = reuse ? reused_values : own_values;
  text.assign(body.data(), body.size());
  values.clear();
  const TensorSpec& spec = inputs[0];
  NumericBodyHandler handler(spec, max_elements, &values);
  rapidjson::InsituStringStream stream(text.data());
  rapidjson::Reader reader;
  // The handler refuses lists deeper than the input's rank (at most 8), so
  // the reader's recursion stays shallow whatever the body's nesting.
  if (reader.Parse<kParseFlags>(stream, handler).IsError() || !handler.complete()) {
    return std::nullopt;
  }
  Shape shape;
  shape.push_back(handler.rows());
  for (size_t d = 1; d < spec.shape.size(); ++d) shape.push_back(spec.shape[d].value());
  StatusOr<Tensor> tensor = Tensor::Allocate(spec.dtype, std::move(shape));
  if (!tensor.ok() || tensor->num_elements() != static_cast<int64_t>(values.size())) {
    return std::nullopt;
  }
  if (spec.dtype == DType::kFloat32) {
    float* out = tensor->data<float>();
    for (size_t i = 0; i < values.size(); ++i) out[i] = static_cast<float>(values[i]);
  } else {
    std::memcpy(tensor->data<double>(), values.data(), values.size() * sizeof(double));
  }
  JsonPredictRequest request;
  request.signature_name = std::move(handler.signature_name());
  request.row_format = handler.row_format();
  request.inputs.push_back(*std::move(tensor));
  return request;
}

}  // namespace servekit
