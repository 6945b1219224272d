#include "servekit/kernels/onednn/onednn_util.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "servekit/util/openmp_team.h"

namespace servekit::onednn {

namespace {
// A call smaller than this stays on one thread: the hand-off costs more
// (onednn_util.h: TeamSize).
constexpr int64_t kMinFlopsForTeam = int64_t{1} << 20;
// Teams beyond this many threads are not used (PlanKey's range).
constexpr int kMaxTeam = 64;
}  // namespace

const dnnl::engine& CpuEngine() {
  // Never destroyed: kernels may be released during static destruction.
  static const dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

dnnl::stream& ThreadStream() {
  thread_local dnnl::stream stream(CpuEngine());
  return stream;
}

void OneThreadPerCall() { SetOpenMpThreads(1); }

void ThreadsPerCall(int threads) { SetOpenMpThreads(threads); }

bool TeamsAllowed() { return OpenMpTeamsAvailable(); }

Status FromDnnl(const dnnl::error& e, absl::string_view what) {
  return absl::InternalError(absl::StrCat("oneDNN ", what, ": ", e.what()));
}

bool AppendActivation(const Activation& a, dnnl::post_ops& ops) {
  using K = Activation::Kind;
  using dnnl::algorithm;
  switch (a.kind) {
    case K::kNone:
      return true;
    case K::kRelu:
      ops.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
      return true;
    case K::kLeakyRelu:
      ops.append_eltwise(1.0f, algorithm::eltwise_relu, a.alpha, 0.0f);
      return true;
    case K::kSigmoid:
      ops.append_eltwise(1.0f, algorithm::eltwise_logistic, 0.0f, 0.0f);
      return true;
    case K::kTanh:
      ops.append_eltwise(1.0f, algorithm::eltwise_tanh, 0.0f, 0.0f);
      return true;
    case K::kClip:
      // ONNX's Clip with min > max yields max everywhere; oneDNN's clip does not.
      if (a.alpha > a.beta) return false;
      ops.append_eltwise(1.0f, algorithm::eltwise_clip, a.alpha, a.beta);
      return true;
    default:
      // Gelu, Erf: the kernel applies them. Measured slower as oneDNN 2.6's
      // gelu_erf post-op: a 512x128 by 128x512 product with Gelu took 550 µs
      // against 485 µs with Eigen's erf afterwards.
      return false;
  }
}

size_t RoundUpScratch(size_t bytes) { return (bytes + 63) / 64 * 64; }

StatusOr<dnnl::memory> PackedWeights::Get(const dnnl::memory::desc& user, const float* data,
                                          float scale) {
  std::call_once(once_, [&] {
    try {
      OneThreadPerCall();
      packed_ = dnnl::memory(desc_, CpuEngine());
      dnnl::memory source(user, CpuEngine(), const_cast<float*>(data));
      dnnl::stream& stream = ThreadStream();
      dnnl::primitive_attr attr;
      if (scale != 1.0f) attr.set_output_scales(0, {scale});
      dnnl::reorder(source, packed_, attr).execute(stream, source, packed_);
      stream.wait();
    } catch (const dnnl::error& e) {
      status_ = FromDnnl(e, "could not pack the weights");
    }
  });
  if (!status_.ok()) return status_;
  return packed_;
}

std::shared_ptr<PackedWeights> PackedWeightsSet::ForLayout(const dnnl::memory::desc& desc) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& p : layouts_) {
    if (p->desc() == desc) return p;
  }
  layouts_.push_back(std::make_shared<PackedWeights>(desc));
  return layouts_.back();
}

MemoryBindings::MemoryBindings(const std::vector<dnnl::memory::desc>& descs) {
  for (const dnnl::memory::desc& desc : descs) {
    memories_.emplace_back(desc, CpuEngine(), static_cast<void*>(DNNL_MEMORY_NONE));
  }
}

const dnnl::memory& MemoryBindings::Bind(size_t i, const void* data) {
  memories_[i].set_data_handle(const_cast<void*>(data));
  return memories_[i];
}

BindingsPool::Lease::~Lease() {
  std::lock_guard<std::mutex> lock(pool_.mu_);
  pool_.idle_.push_back(std::move(bindings_));
}

BindingsPool::Lease BindingsPool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<MemoryBindings> bindings = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(bindings));
    }
  }
  return Lease(*this, std::make_unique<MemoryBindings>(descs_));
}

void Execute(const dnnl::primitive& primitive,
             std::initializer_list<std::pair<int, const dnnl::memory*>> args) {
  // The C interface: the C++ one wants an unordered_map, allocated per call.
  dnnl_exec_arg_t c_args[8];
  int count = 0;
  for (const auto& [arg, memory] : args) {
    if (memory == nullptr) continue;
    c_args[count++] = {arg, memory->get()};
  }
  dnnl::stream& stream = ThreadStream();
  dnnl::error::wrap_c_api(dnnl_primitive_execute(primitive.get(), stream.get(), count, c_args),
                          "could not execute a primitive");
  stream.wait();
}

int TeamSize(int64_t flops, int pool_threads) {
  if (pool_threads < 2 || flops < kMinFlopsForTeam || !TeamsAllowed()) return 1;
  return std::min(pool_threads, kMaxTeam);
}

int64_t PlanKey(int64_t rows, int threads) { return rows * (kMaxTeam + 1) + threads; }

}  // namespace servekit::onednn
