// The REST codec of the request path (serving/request_path.h): a :predict,
// :classify or :regress JSON body in, TF Serving's JSON answer out
// (json_request.h and json_response.h hold the formats).
//
// One codec per request; not thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "servekit/serving/request_path.h"

namespace servekit {

class JsonInferenceCodec : public InferenceCodec {
 public:
  // Parses `body` (a request of `kind`) when the request path asks; appends
  // the answer to `*out`. A body with more than `max_request_values` values,
  // or an answer that could exceed `max_response_bytes`, is ResourceExhausted
  // before it is allocated.
  JsonInferenceCodec(RequestKind kind, absl::string_view body, int64_t max_request_values,
                     size_t max_response_bytes, std::string* out)
      : kind_(kind),
        body_(body),
        max_request_values_(max_request_values),
        max_response_bytes_(max_response_bytes),
        out_(out) {}

  Status DecodeInputs(const ModelSignature& signature, InferenceInputs* inputs) override;
  std::string SignatureNameInBody() override;
  Status EncodeOutputs(const ModelSignature& signature, int64_t version,
                       NamedTensors outputs) override;

 private:
  const RequestKind kind_;
  const absl::string_view body_;
  const int64_t max_request_values_;
  const size_t max_response_bytes_;
  std::string* const out_;
  bool row_format_ = true;  // the request's format, which the answer keeps
};

}  // namespace servekit
