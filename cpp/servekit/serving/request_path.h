// The request path: the one implementation of an inference request behind
// every transport (REST, gRPC, the Python bindings).
//
// RunInference resolves the request's spec (model name; latest, version
// number or label; signature name) to a ModelHandle, hands the version's
// signature to the transport's codec to decode the inputs, checks the
// signature and the inputs by name, runs the version's Session, hands the
// outputs back to the codec, and records the request (count by outcome,
// latency) in the core's metrics. A transport is a codec: wire format in,
// named tensors out, and back; nothing else about a request happens there.
//
// Thread-safe: any number of requests run at once, each on its caller's
// thread (no hand-off); the handle keeps the version alive until the codec
// has encoded the answer.
#pragma once

#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "servekit/serving/server_core.h"
#include "servekit/serving/signature.h"
#include "servekit/util/tensor.h"

namespace servekit {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};
// A request's inputs or outputs: models mostly have one or two, held inline
// so that a request allocates no list for them.
using NamedTensors = absl::InlinedVector<NamedTensor, 2>;

enum class RequestKind { kPredict, kClassify, kRegress };

// What a codec decoded from a request.
struct InferenceInputs {
  NamedTensors tensors;  // one per signature input, any order
  // The signature the body names (REST carries it in the body); checked like
  // InferenceSpec::signature_name. Empty: the spec's.
  std::string signature_name;
  // Outputs to return, by name (gRPC's output_filter); empty: all of them.
  std::vector<std::string> output_filter;
};

// A transport's half of one request.
class InferenceCodec {
 public:
  virtual ~InferenceCodec() = default;
  // Decodes the request's inputs for `signature`, the signature of the version
  // that will run them. A codec bounds what it allocates for the request.
  virtual Status DecodeInputs(const ModelSignature& signature, InferenceInputs* inputs) = 0;
  // The signature the request's body names, for transports that carry the
  // name there (REST); "" for none. The request path picks the signature by
  // it before decoding, since the inputs' types depend on the signature.
  virtual std::string SignatureNameInBody() { return std::string(); }
  // Encodes the answer: `outputs` are the signature's outputs the request
  // asked for, in signature order; `version` is the version that ran. A codec
  // refuses (ResourceExhausted) an answer it cannot send before building it.
  virtual Status EncodeOutputs(const ModelSignature& signature, int64_t version,
                               NamedTensors outputs) = 0;
};

struct InferenceSpec {
  ModelSpec model;
  std::string signature_name;  // "" = serving_default
  RequestKind kind = RequestKind::kPredict;
  // The request's label in the metrics' api dimension ("predict",
  // "grpc_predict", "python", ...).
  std::string api;
};

// Runs one inference request (above). Errors: those of spec resolution
// (NotFound, InvalidArgument for a bad signature name), of the codec, of the
// name checks (InvalidArgument naming the unknown or missing tensor), of the
// session; the transport writes them in its format.
Status RunInference(const ServerCore& core, const InferenceSpec& spec, InferenceCodec& codec);

// What GetModelMetadata answers: the version a spec selects and its signatures.
// The handle keeps the signatures' views valid.
struct ModelMetadata {
  ModelHandle handle;
  std::vector<ModelSignature> signatures;
};

// The metadata of the version `spec` selects. With a non-empty `api` the
// request is recorded in the metrics like an inference request.
StatusOr<ModelMetadata> GetModelMetadata(const ServerCore& core, const ModelSpec& spec,
                                         const std::string& api);

}  // namespace servekit
