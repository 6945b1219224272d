// TF Serving's tensorflow.serving.PredictionService over a ServerCore:
// Predict, GetModelMetadata, Classify and Regress; MultiInference answers
// UNIMPLEMENTED. A codec over the request path (serving/request_path.h):
// protos to named tensors and back; model selection, checks and metrics are
// the request path's, the same as REST's.
//
// Plain handlers: grpc_server.cc serves them; they run on a server thread,
// concurrently with other calls.
#pragma once

#include <cstdint>

#include "servekit/proto/tfs/prediction_service.pb.h"
#include "servekit/serving/server_core.h"

namespace servekit {

class PredictionServiceImpl {
 public:
  // A request with more than `max_request_elements` values in all, or whose
  // outputs hold more than `max_response_bytes`, is RESOURCE_EXHAUSTED before
  // anything that size is allocated for it.
  PredictionServiceImpl(ServerCore* core, int64_t max_request_elements, size_t max_response_bytes)
      : core_(core),
        max_request_elements_(max_request_elements),
        max_response_bytes_(max_response_bytes) {}

  Status Predict(const tensorflow::serving::PredictRequest& request,
                 tensorflow::serving::PredictResponse* response) const;
  Status GetModelMetadata(const tensorflow::serving::GetModelMetadataRequest& request,
                          tensorflow::serving::GetModelMetadataResponse* response) const;
  Status Classify(const tensorflow::serving::ClassificationRequest& request,
                  tensorflow::serving::ClassificationResponse* response) const;
  Status Regress(const tensorflow::serving::RegressionRequest& request,
                 tensorflow::serving::RegressionResponse* response) const;
  Status MultiInference(const tensorflow::serving::MultiInferenceRequest& request,
                        tensorflow::serving::MultiInferenceResponse* response) const;

 private:
  ServerCore* const core_;
  const int64_t max_request_elements_;
  const size_t max_response_bytes_;
};

}  // namespace servekit
