// BatchNormalization in inference mode: y = (x - mean) / sqrt(var + eps) * scale + B,
// per channel (axis 1). Usually folded into the preceding Conv or Gemm by the
// optimiser; this kernel runs when nothing precedes it that can absorb it.
#include <Eigen/Core>
#include <cmath>

#include "servekit/kernels/kernel_util.h"

namespace servekit {
namespace {

Status InferBatchNorm(InferenceContext& ctx) {
  RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32}));
  const SymShape& x = ctx.input(0).shape;
  if (x.size() < 2) return ctx.Error("input must have rank >= 2 (N, C, ...)");
  ASSIGN_OR_RETURN(int64_t training, ctx.attributes().GetInt("training_mode", 0));
  if (training != 0) return ctx.Error("training_mode=1 is not supported for inference");
  if (ctx.num_outputs() > 1)
    return ctx.Error("running mean/var outputs exist only in training mode");
  if (!x[1].is_fixed()) return ctx.Error("the channel dimension must be fixed");
  for (int i = 1; i < 5; ++i) {
    const Value& p = ctx.input(i);
    if (p.dtype != DType::kFloat32 || p.shape != SymShape{x[1]}) {
      return ctx.Error(absl::StrCat("parameter '", p.name, "' must be float32 of shape [",
                                    x[1].ToString(), "]; got ", DTypeName(p.dtype), " ",
                                    SymShapeToString(p.shape)));
    }
    if (!p.constant) return ctx.Error(absl::StrCat("parameter '", p.name, "' must be a constant"));
  }
  return InferSameAsInput(ctx);
}

StatusOr<std::unique_ptr<OpKernel>> CreateBatchNorm(const Node& node, const Graph& graph) {
  ASSIGN_OR_RETURN(float epsilon, node.attributes.GetFloat("epsilon", 1e-5f));
  const Tensor* params[4];
  for (int i = 0; i < 4; ++i) {
    ASSIGN_OR_RETURN(params[i], ConstantInput(node, graph, i + 1));
  }
  const int64_t channels = params[0]->num_elements();
  // Precomputed per-channel affine map y = a * x + b.
  std::vector<float> a(channels), b(channels);
  for (int64_t c = 0; c < channels; ++c) {
    a[c] = params[0]->data<float>()[c] / std::sqrt(params[3]->data<float>()[c] + epsilon);
    b[c] = params[1]->data<float>()[c] - params[2]->data<float>()[c] * a[c];
  }
  return MakeKernel([a, b](const KernelContext& ctx) -> Status {
    const Tensor& x = *ctx.inputs[0];
    const int64_t n = x.dim(0), c = x.dim(1);
    const int64_t inner = n * c == 0 ? 0 : x.num_elements() / (n * c);
    const float* src = x.data<float>();
    float* dst = ctx.outputs[0]->data<float>();
    for (int64_t i = 0; i < n * c; ++i) {
      const int64_t ch = i % c;
      Eigen::Map<const Eigen::ArrayXf> in(src + i * inner, inner);
      Eigen::Map<Eigen::ArrayXf> out(dst + i * inner, inner);
      out = in * a[ch] + b[ch];
    }
    return absl::OkStatus();
  });
}

void RegisterNormOps(OpRegistry& registry) {
  OpSchema bn = OpSchema::Make("BatchNormalization", 5, 5,
                               {"epsilon", "momentum", "training_mode", "spatial"}, InferBatchNorm,
                               CreateBatchNorm);
  bn.max_outputs = 3;
  registry.Register(bn);
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kNormOps(RegisterNormOps);

}  // namespace
}  // namespace servekit
