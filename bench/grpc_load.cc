// grpc_load: a native gRPC load generator for TF Serving's Predict.
//
// `concurrency` calls in flight, each on its own channel (its own HTTP/2
// connection), send the same Predict request back to back for `seconds` and
// record each call's latency; prints requests/s, p50 and p99 (ms) and the
// number of failed calls as one line of JSON.
//
//   grpc_load <host:port> <model> <input name> <shape, e.g. 1x784> <concurrency> <seconds>
//   grpc_load --frame <path> <model> <input name> <shape>
// The second form writes the same request as a gRPC length-prefixed message
// body, for HTTP/2 load generators such as h2load.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "servekit/proto/tfs/prediction_service.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

tensorflow::serving::PredictRequest MakeRequest(const std::string& model, const std::string& input,
                                                const std::vector<int64_t>& shape) {
  tensorflow::serving::PredictRequest request;
  request.mutable_model_spec()->set_name(model);
  tensorflow::TensorProto& tensor = (*request.mutable_inputs())[input];
  tensor.set_dtype(tensorflow::DT_FLOAT);
  int64_t count = 1;
  for (int64_t d : shape) {
    tensor.mutable_tensor_shape()->add_dim()->set_size(d);
    count *= d;
  }
  std::vector<float> values(count);
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> uniform(0, 1);
  for (float& v : values) v = uniform(rng);
  tensor.set_tensor_content(
      std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return request;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 6 && std::string(argv[1]) == "--frame") {
    std::vector<int64_t> shape;
    for (absl::string_view dim : absl::StrSplit(argv[5], 'x')) {
      int64_t d;
      if (!absl::SimpleAtoi(dim, &d)) return 2;
      shape.push_back(d);
    }
    const std::string message = MakeRequest(argv[3], argv[4], shape).SerializeAsString();
    const uint32_t size = static_cast<uint32_t>(message.size());
    const char prefix[5] = {0, static_cast<char>(size >> 24), static_cast<char>(size >> 16),
                            static_cast<char>(size >> 8), static_cast<char>(size)};
    std::ofstream out(argv[2], std::ios::binary);
    out.write(prefix, sizeof(prefix));
    out.write(message.data(), message.size());
    return out ? 0 : 1;
  }
  if (argc != 7) {
    std::fprintf(stderr,
                 "usage: %s <host:port> <model> <input> <shape 1x784> <concurrency> <seconds>\n",
                 argv[0]);
    return 2;
  }
  std::vector<int64_t> shape;
  for (absl::string_view dim : absl::StrSplit(argv[4], 'x')) {
    int64_t d;
    if (!absl::SimpleAtoi(dim, &d)) return 2;
    shape.push_back(d);
  }
  int concurrency;
  double seconds;
  if (!absl::SimpleAtoi(argv[5], &concurrency) || !absl::SimpleAtod(argv[6], &seconds)) return 2;
  const tensorflow::serving::PredictRequest request = MakeRequest(argv[2], argv[3], shape);
  absl::SetMutexDeadlockDetectionMode(
      absl::OnDeadlockCycle::kIgnore);  // as the server does: not a debug build

  // Closed loop on gRPC's callback API: each of `concurrency` slots has its own
  // channel (HTTP/2 connection) and one call in flight, issuing the next call
  // from the completion of the last. gRPC's own threads run the callbacks, so
  // the generator costs far less CPU than a thread blocked per call would.
  struct Slot {
    std::unique_ptr<tensorflow::serving::PredictionService::Stub> stub;
    std::unique_ptr<grpc::ClientContext> context;
    tensorflow::serving::PredictResponse response;
    Clock::time_point started;
    std::vector<double> latencies;
    int64_t failures = 0;
  };
  std::vector<Slot> slots(concurrency);
  std::mutex done_mu;
  std::condition_variable done_cv;
  int done = 0;
  const Clock::time_point end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(seconds));
  std::function<void(Slot*)> issue = [&](Slot* slot) {
    slot->context = std::make_unique<grpc::ClientContext>();
    slot->response.Clear();
    slot->started = Clock::now();
    slot->stub->async()->Predict(
        slot->context.get(), &request, &slot->response, [&, slot](grpc::Status status) {
          slot->latencies.push_back(
              std::chrono::duration<double, std::milli>(Clock::now() - slot->started).count());
          if (!status.ok()) ++slot->failures;
          if (Clock::now() < end) return issue(slot);
          std::lock_guard<std::mutex> lock(done_mu);
          ++done;
          done_cv.notify_all();
        });
  };
  for (Slot& slot : slots) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);  // one connection per slot
    args.SetMaxReceiveMessageSize(256 << 20);
    slot.stub = tensorflow::serving::PredictionService::NewStub(
        grpc::CreateCustomChannel(argv[1], grpc::InsecureChannelCredentials(), args));
  }
  for (Slot& slot : slots) issue(&slot);
  {
    std::unique_lock<std::mutex> lock(done_mu);
    done_cv.wait(lock, [&] { return done == concurrency; });
  }
  int64_t failures = 0;
  for (const Slot& slot : slots) failures += slot.failures;
  std::vector<double> all;
  for (const Slot& slot : slots)
    all.insert(all.end(), slot.latencies.begin(), slot.latencies.end());
  std::sort(all.begin(), all.end());
  const auto percentile = [&](double p) {
    return all.empty() ? 0.0 : all[static_cast<size_t>(p * (all.size() - 1))];
  };
  std::printf("{\"rps\": %.1f, \"p50\": %.3f, \"p99\": %.3f, \"failed\": %lld}\n",
              all.size() / seconds, percentile(0.5), percentile(0.99),
              static_cast<long long>(failures));
  return 0;
}
