// Fuzzes the REST API's request bodies (untrusted JSON): the guarded JSON
// parser, the :predict and :classify/:regress body decoders against a few
// model signatures (and the response writer on what they decode), the
// predict fast path against the general path (they must read the same
// tensor), and the model management bodies through RestApi::Handle.
//
// The management routes run against a ServerCore whose load function refuses
// every version without touching the file, so a body that names a real
// directory as base_path costs one directory listing, never a model load;
// the model an :add creates is removed again so that every input starts from
// the same empty core.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "rapidjson/document.h"
#include "servekit/server/rest/json_request.h"
#include "servekit/server/rest/json_response.h"
#include "servekit/server/rest/numeric_body_reader.h"
#include "servekit/server/rest/rest_api.h"
#include "servekit/serving/server_core.h"
#include "servekit/util/json_document.h"

namespace {

using servekit::Dim;
using servekit::DType;
using servekit::TensorSpec;

// Small enough that no accepted body allocates much.
constexpr int64_t kMaxElements = int64_t{1} << 16;

const std::vector<std::vector<TensorSpec>>& Signatures() {
  const Dim n = Dim::Batch();
  static const auto* signatures = new std::vector<std::vector<TensorSpec>>{
      {{"x", DType::kFloat32, {n, Dim::Fixed(3)}}},
      {{"ids", DType::kInt64, {n}}},
      {{"mask", DType::kBool, {n, Dim::Fixed(2)}}},
      {{"image", DType::kUInt8, {n, Dim::Fixed(2), Dim::Fixed(2)}}},
      {{"a", DType::kFloat32, {n, Dim::Fixed(2)}}, {"b", DType::kInt32, {n}}},
      // The fast path's (numeric_body_reader.h) beside those above.
      {{"y", DType::kFloat64, {n}}},
      {{"z", DType::kFloat32, {n, Dim::Fixed(2), Dim::Fixed(1)}}},
      {{"w", DType::kFloat32, {n, Dim::Fixed(8)}}},  // read four numbers at a time
      {{"e", DType::kFloat32, {n, Dim::Fixed(0)}}},  // no values per row
  };
  return *signatures;
}

struct Management {
  Management() {
    servekit::ServerCoreOptions options;
    options.num_load_threads = 1;
    options.max_num_load_retries = 0;
    options.file_system_poll_wait = absl::ZeroDuration();  // list the base path once per change
    options.load_wait = absl::ZeroDuration();
    options.load =
        [](const std::string&,
           const std::string&) -> servekit::StatusOr<std::shared_ptr<const servekit::LoadedModel>> {
      return absl::UnavailableError("the fuzzer loads no model");
    };
    core = std::make_unique<servekit::ServerCore>(options);
    servekit::RestApiOptions api_options;
    api_options.enable_model_management = true;
    api_options.max_request_elements = kMaxElements;
    api = std::make_unique<servekit::RestApi>(core.get(), api_options, [] { return int64_t{0}; });
  }
  std::unique_ptr<servekit::ServerCore> core;
  std::unique_ptr<servekit::RestApi> api;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view body(reinterpret_cast<const char*>(data), size);

  rapidjson::Document doc;
  (void)servekit::ParseJsonDocument(body, &doc);

  for (const std::vector<TensorSpec>& inputs : Signatures()) {
    // Where the fast path reads a body, the general path must read the same tensor.
    if (std::optional<servekit::JsonPredictRequest> fast =
            servekit::ReadNumericPredictBody(body, inputs, kMaxElements)) {
      servekit::StatusOr<servekit::JsonPredictRequest> general =
          servekit::ParsePredictDocument(body, inputs, kMaxElements);
      if (!general.ok() || general->row_format != fast->row_format ||
          general->signature_name != fast->signature_name ||
          general->inputs.size() != fast->inputs.size() ||
          general->inputs[0].shape() != fast->inputs[0].shape() ||
          general->inputs[0].num_bytes() != fast->inputs[0].num_bytes() ||
          std::memcmp(general->inputs[0].raw_data(), fast->inputs[0].raw_data(),
                      fast->inputs[0].num_bytes()) != 0) {
        __builtin_trap();
      }
    }
    for (bool examples : {false, true}) {
      servekit::StatusOr<servekit::JsonPredictRequest> request =
          examples ? servekit::ParseExamplesRequest(body, inputs, kMaxElements)
                   : servekit::ParsePredictRequest(body, inputs, kMaxElements);
      if (!request.ok()) continue;
      // Echo the inputs as outputs: the writer sees every value the parser produced.
      std::string out;
      const size_t bound = servekit::JsonAnswerBytesBound(std::nullopt, inputs, request->inputs);
      servekit::AppendPredictResponse(request->row_format, inputs, request->inputs, &out);
      if (out.size() > bound)
        __builtin_trap();  // the bound the server refuses large answers by must hold
    }
  }

  static Management* management = new Management;
  for (absl::string_view target : {"/v1/models/m:add", "/v1/models/m/labels/l:assign"}) {
    servekit::HttpResponse response;
    management->api->Handle(servekit::HttpRequest{"POST", target, body}, &response);
    if (response.status == 200 && target == "/v1/models/m:add")
      (void)management->core->RemoveModel("m");
  }
  return 0;
}
