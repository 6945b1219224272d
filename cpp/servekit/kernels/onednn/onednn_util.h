// What every oneDNN-backed kernel shares (kernels/onednn/): the CPU engine and
// per-thread stream, the threading rule, error conversion, activation post-ops,
// weights packed once per layout, and primitives cached per row count.
//
// A oneDNN primitive is built for fixed dims, while a model's batch dimension
// varies per request: kernels build one plan (primitives + scratch sizes) per
// batch size on first use and keep a bounded number of them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "servekit/engine/activation.h"
#include "servekit/util/status.h"
#include "servekit/util/thread_pool.h"

namespace servekit::onednn {

const dnnl::engine& CpuEngine();
dnnl::stream& ThreadStream();

// oneDNN splits a primitive's work across omp_get_max_threads() threads, read
// per calling thread when the primitive is built and when it runs. servekit
// chooses the count for each call (TeamSize below): left alone, every request
// thread would start an OpenMP team of one thread per core. Call one of these
// before building or running a primitive.
void OneThreadPerCall();
void ThreadsPerCall(int threads);
// Whether calls may use more than one OpenMP thread: not in a process forked
// after OpenMP started its threads (GNU OpenMP's threads do not survive fork,
// and a child asking for them again hangs), where every call gets one.
bool TeamsAllowed();

Status FromDnnl(const dnnl::error& e, absl::string_view what);

// Adds `activation` as a post-op when oneDNN computes exactly the same
// function; false when it does not (the kernel applies it afterwards).
bool AppendActivation(const Activation& activation, dnnl::post_ops& ops);

// Rounds a scratch region up to 64 bytes, so the next one stays aligned.
size_t RoundUpScratch(size_t bytes);

// Constant weights in one oneDNN layout, packed by the first call that needs
// them (the weights arrive with the call: kernels see tensors only then).
class PackedWeights {
 public:
  explicit PackedWeights(dnnl::memory::desc desc) : desc_(std::move(desc)) {}
  const dnnl::memory::desc& desc() const { return desc_; }
  // Packs `scale` * `data` (laid out as `user`) on the first call; later
  // calls return the packed memory without reading `data`.
  StatusOr<dnnl::memory> Get(const dnnl::memory::desc& user, const float* data, float scale = 1.0f);

 private:
  dnnl::memory::desc desc_;
  std::once_flag once_;
  dnnl::memory packed_;
  Status status_;
};

// One PackedWeights per layout a kernel's plans ask for (usually one).
class PackedWeightsSet {
 public:
  std::shared_ptr<PackedWeights> ForLayout(const dnnl::memory::desc& desc);

 private:
  std::mutex mu_;
  std::vector<std::shared_ptr<PackedWeights>> layouts_;  // guarded by mu_
};

// The memory objects one call of a primitive binds, each pointed at the
// call's data with Bind. Creating them per call costs more than a small
// product itself (allocations), so a plan keeps idle ones in a BindingsPool.
class MemoryBindings {
 public:
  explicit MemoryBindings(const std::vector<dnnl::memory::desc>& descs);
  // Binding i, now pointing at `data`.
  const dnnl::memory& Bind(size_t i, const void* data);

 private:
  std::vector<dnnl::memory> memories_;
};

class BindingsPool {
 public:
  // The descs of the bindings, in the order Bind numbers them.
  explicit BindingsPool(std::vector<dnnl::memory::desc> descs) : descs_(std::move(descs)) {}

  // An idle MemoryBindings (or a new one); returned to the pool when released.
  class Lease {
   public:
    Lease(BindingsPool& pool, std::unique_ptr<MemoryBindings> bindings)
        : pool_(pool), bindings_(std::move(bindings)) {}
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    MemoryBindings& operator*() { return *bindings_; }
    MemoryBindings* operator->() { return bindings_.get(); }

   private:
    BindingsPool& pool_;
    std::unique_ptr<MemoryBindings> bindings_;
  };
  Lease Acquire();

 private:
  std::vector<dnnl::memory::desc> descs_;
  std::mutex mu_;
  std::vector<std::unique_ptr<MemoryBindings>> idle_;  // guarded by mu_
};

// Runs `primitive` on this thread's stream and waits. Arguments whose memory
// is null are left out (an absent bias, an empty scratchpad).
void Execute(const dnnl::primitive& primitive,
             std::initializer_list<std::pair<int, const dnnl::memory*>> args);

// Plans keyed by row count (batch size) and threads, built on first use, at most
// kMaxEntries kept (the oldest goes): a client sending every batch size must
// not grow a kernel's memory without bound. Failures are cached too.
template <typename Plan>
class PlanCache {
 public:
  using Builder = std::function<StatusOr<std::shared_ptr<Plan>>(int64_t rows)>;
  static constexpr size_t kMaxEntries = 32;

  StatusOr<std::shared_ptr<const Plan>> Get(int64_t rows, const Builder& build) const {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const Entry& e : entries_) {
        if (e.rows != rows) continue;
        if (e.plan == nullptr) return e.failure;
        return e.plan;
      }
    }
    // Built outside the lock (JIT compilation takes a while): calls for cached
    // sizes go on meanwhile. Two threads may build the same plan; one wins.
    StatusOr<std::shared_ptr<Plan>> built = build(rows);
    std::lock_guard<std::mutex> lock(mu_);
    for (const Entry& e : entries_) {
      if (e.rows == rows && e.plan != nullptr) return e.plan;
    }
    if (entries_.size() >= kMaxEntries) entries_.erase(entries_.begin());
    entries_.push_back({rows, built.ok() ? *built : nullptr, built.status()});
    if (!built.ok()) return built.status();
    return std::shared_ptr<const Plan>(*built);
  }

 private:
  struct Entry {
    int64_t rows;
    std::shared_ptr<const Plan> plan;  // null: building failed
    Status failure;
  };
  mutable std::mutex mu_;
  mutable std::vector<Entry> entries_;  // guarded by mu_
};

// How many OpenMP threads one call of `flops` gets on a pool of `pool_threads`:
// all of them when the work is large enough to share (1 MFLOP: libgomp's
// spinning threads take work in a few µs; 4 MFLOP left MobileNetV2 at batch 1
// 12% slower on 2 threads), unless TeamsAllowed() says no. Measured against
// splitting the batch over servekit's own pool instead: Keras CNN batch 64 on
// 2 threads 1725 µs against 2862 µs; ResNet-50 batch 8 244 ms against 271 ms.
int TeamSize(int64_t flops, int pool_threads);

// Plans are cached per (rows, threads): a key for PlanCache.
int64_t PlanKey(int64_t rows, int threads);

}  // namespace servekit::onednn
