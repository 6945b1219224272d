#include "servekit/kernels/onednn/onednn_matmul.h"

#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "servekit/kernels/onednn/onednn_util.h"

namespace servekit {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using namespace onednn;  // NOLINT: this file is oneDNN glue

struct MatMulPlan {
  dnnl::matmul matmul;
  memory::desc src, dst, bias, scratchpad;
  std::shared_ptr<PackedWeights> weights;
  size_t scratchpad_bytes = 0;
  int threads = 1;  // OpenMP threads it was built for and runs with
  enum Binding { kSrc, kDst, kBias, kScratchpad };
  mutable std::unique_ptr<BindingsPool> bindings;  // in Binding order
};

}  // namespace

struct OneDnnMatMul::Impl {
  MatMulGeometry g;
  dnnl::primitive_attr attr;  // post-ops, user-managed scratchpad
  memory::desc user_weights;  // K x N, strided when B is stored transposed
  mutable PackedWeightsSet packed;
  PlanCache<MatMulPlan> plans;
  // beta * bias, made by the first call when beta != 1.
  mutable std::once_flag bias_once;
  mutable std::vector<float> scaled_bias;

  // The plan for `rows` rows on a pool of `pool_threads`.
  StatusOr<std::shared_ptr<const MatMulPlan>> PlanFor(int64_t rows, int pool_threads) const {
    const int threads = TeamSize(2 * rows * g.k * g.n, pool_threads);
    return plans.Get(PlanKey(rows, threads),
                     [this, rows, threads](int64_t) { return Build(rows, threads); });
  }
  // Built for `threads` OpenMP threads.
  StatusOr<std::shared_ptr<MatMulPlan>> Build(int64_t rows, int threads) const;
  // oneDNN's choice of product for `rows` rows; fails when it has only its
  // reference code. Cheap next to Build, which also generates code.
  StatusOr<dnnl::matmul::primitive_desc> Describe(int64_t rows) const;
  Status RunPlan(const MatMulPlan& plan, const float* a, const float* b, const float* bias,
                 float* y, char* scratch) const;
};

StatusOr<dnnl::matmul::primitive_desc> OneDnnMatMul::Impl::Describe(int64_t rows) const {
  try {
    const auto f32 = memory::data_type::f32;
    dnnl::matmul::desc desc(memory::desc({rows, g.k}, f32, Tag::ab),
                            memory::desc({g.k, g.n}, f32, Tag::any),
                            g.has_bias ? memory::desc({1, g.n}, f32, Tag::ab) : memory::desc(),
                            memory::desc({rows, g.n}, f32, Tag::ab));
    dnnl::matmul::primitive_desc pd(desc, attr, CpuEngine());
    // oneDNN's reference code is far slower than Sgemm.
    if (absl::string_view(pd.impl_info_str()).substr(0, 3) == "ref") {
      return absl::UnimplementedError(
          absl::StrCat("oneDNN has only its reference matmul (", pd.impl_info_str(), ")"));
    }
    return pd;
  } catch (const dnnl::error& e) {
    return FromDnnl(e, absl::StrCat("has no matrix product for ", rows, " rows"));
  }
}

StatusOr<std::shared_ptr<MatMulPlan>> OneDnnMatMul::Impl::Build(int64_t rows, int threads) const {
  ThreadsPerCall(threads);  // oneDNN sizes its work split when it builds
  ASSIGN_OR_RETURN(dnnl::matmul::primitive_desc pd, Describe(rows));
  try {
    auto plan = std::make_shared<MatMulPlan>();
    plan->src = pd.src_desc();
    plan->dst = pd.dst_desc();
    plan->bias = pd.bias_desc();
    plan->matmul = dnnl::matmul(pd);
    plan->scratchpad = pd.scratchpad_desc();
    plan->scratchpad_bytes = RoundUpScratch(plan->scratchpad.get_size());
    plan->threads = threads;
    plan->weights = packed.ForLayout(pd.weights_desc());
    plan->bindings = std::make_unique<BindingsPool>(
        std::vector<memory::desc>{plan->src, plan->dst, plan->bias, plan->scratchpad});
    return plan;
  } catch (const dnnl::error& e) {
    return FromDnnl(e, absl::StrCat("has no matrix product for ", rows, " rows"));
  }
}

Status OneDnnMatMul::Impl::RunPlan(const MatMulPlan& plan, const float* a, const float* b,
                                   const float* bias, float* y, char* scratch) const {
  try {
    ThreadsPerCall(plan.threads);
    ASSIGN_OR_RETURN(memory weights, plan.weights->Get(user_weights, b, g.alpha));
    BindingsPool::Lease call = plan.bindings->Acquire();
    using P = MatMulPlan;
    Execute(plan.matmul,
            {{DNNL_ARG_SRC, &call->Bind(P::kSrc, a)},
             {DNNL_ARG_WEIGHTS, &weights},
             {DNNL_ARG_BIAS, g.has_bias ? &call->Bind(P::kBias, bias) : nullptr},
             {DNNL_ARG_DST, &call->Bind(P::kDst, y)},
             {DNNL_ARG_SCRATCHPAD,
              plan.scratchpad_bytes > 0 ? &call->Bind(P::kScratchpad, scratch) : nullptr}});
    return absl::OkStatus();
  } catch (const dnnl::error& e) {
    return FromDnnl(e, "matrix product failed");
  }
}

OneDnnMatMul::OneDnnMatMul(std::unique_ptr<Impl> impl, bool fuses_activation)
    : impl_(std::move(impl)), fuses_activation_(fuses_activation) {}

OneDnnMatMul::~OneDnnMatMul() = default;

std::unique_ptr<OneDnnMatMul> OneDnnMatMul::Create(const MatMulGeometry& geometry,
                                                   const Activation& activation) {
  if (geometry.k < 1 || geometry.n < 1) return nullptr;
  auto impl = std::make_unique<Impl>();
  impl->g = geometry;
  const auto f32 = memory::data_type::f32;
  impl->user_weights =
      geometry.trans_b ? memory::desc({geometry.k, geometry.n}, f32, memory::dims{1, geometry.k})
                       : memory::desc({geometry.k, geometry.n}, f32, Tag::ab);
  dnnl::post_ops ops;
  const bool fuses = AppendActivation(activation, ops);
  try {
    impl->attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    impl->attr.set_post_ops(ops);
  } catch (const dnnl::error&) {
    return nullptr;
  }
  auto matmul = std::unique_ptr<OneDnnMatMul>(new OneDnnMatMul(std::move(impl), fuses));
  // Checked with one row; the code is generated on first use.
  if (!matmul->impl_->Describe(1).ok()) return nullptr;
  return matmul;
}

std::optional<size_t> OneDnnMatMul::ScratchBytes(int64_t rows, int num_threads) const {
  if (rows <= 0) return size_t{0};
  auto plan = impl_->PlanFor(rows, num_threads);
  if (!plan.ok()) return std::nullopt;
  return (*plan)->scratchpad_bytes;
}

Status OneDnnMatMul::Run(const float* a, int64_t rows, const float* b, const float* bias, float* y,
                         void* scratch, const IntraOpPool& pool) const {
  if (rows <= 0) return absl::OkStatus();
  const MatMulGeometry& g = impl_->g;
  if (g.has_bias && g.beta != 1.0f) {
    std::call_once(impl_->bias_once, [&] {
      impl_->scaled_bias.resize(g.n);
      for (int64_t j = 0; j < g.n; ++j) impl_->scaled_bias[j] = g.beta * bias[j];
    });
    bias = impl_->scaled_bias.data();
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const MatMulPlan> plan,
                   impl_->PlanFor(rows, pool.num_threads()));
  return impl_->RunPlan(*plan, a, b, bias, y, static_cast<char*>(scratch));
}

}  // namespace servekit
