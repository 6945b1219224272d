// Activation operators: Relu, LeakyRelu, Sigmoid, Tanh, Erf, Gelu, Clip, Softmax,
// LogSoftmax. float32 only; Eigen's vectorised array functions do the math.
#include "servekit/kernels/activation.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <unsupported/Eigen/SpecialFunctions>

#include "servekit/kernels/kernel_util.h"

namespace servekit {
namespace {

using FloatArray = Eigen::Map<Eigen::ArrayXf>;

}  // namespace

void ApplyActivation(const Activation& activation, float* data, int64_t n) {
  using Kind = Activation::Kind;
  const float alpha = activation.alpha, beta = activation.beta;
  FloatArray x(data, n);
  switch (activation.kind) {
    case Kind::kNone:
      return;
    case Kind::kRelu:
      x = x.max(0.0f);
      return;
    case Kind::kLeakyRelu:
      x = (x >= 0.0f).select(x, x * alpha);
      return;
    case Kind::kSigmoid:
      x = x.logistic();
      return;
    case Kind::kTanh:
      x = x.tanh();
      return;
    case Kind::kClip:
      x = x.max(alpha).min(beta);
      return;
    case Kind::kErf:
      x = x.erf();
      return;
    case Kind::kGelu:
      x = 0.5f * x * (1.0f + (x * static_cast<float>(M_SQRT1_2)).erf());
      return;
  }
}

namespace {

Status InferFloatUnary(InferenceContext& ctx) {
  RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32}));
  return InferSameAsInput(ctx);
}

StatusOr<Activation> ActivationOfNode(const Node& node, const Graph& graph) {
  float alpha = 0, beta = 0;
  if (node.op_type == "LeakyRelu") {
    ASSIGN_OR_RETURN(alpha, node.attributes.GetFloat("alpha", 0.01f));
  } else if (node.op_type == "Clip") {
    alpha = -std::numeric_limits<float>::infinity();
    beta = std::numeric_limits<float>::infinity();
    ASSIGN_OR_RETURN(const Tensor* min, ConstantInput(node, graph, 1));
    ASSIGN_OR_RETURN(const Tensor* max, ConstantInput(node, graph, 2));
    if (min) alpha = *min->data<float>();
    if (max) beta = *max->data<float>();
  } else if (node.op_type == "Gelu") {
    ASSIGN_OR_RETURN(std::string approximate, node.attributes.GetString("approximate", "none"));
    if (approximate != "none") {
      return absl::InvalidArgumentError(
          absl::StrCat(node.Describe(), ": approximate='", approximate, "' is not supported"));
    }
  }
  return Activation::ForOpType(node.op_type, alpha, beta);
}

StatusOr<std::unique_ptr<OpKernel>> CreateActivationKernel(const Node& node, const Graph& graph) {
  ASSIGN_OR_RETURN(Activation activation, ActivationOfNode(node, graph));
  return MakeKernel([activation](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = *ctx.outputs[0];
    const int64_t n = in.num_elements();
    std::copy_n(in.data<float>(), n, out.data<float>());
    ApplyActivation(activation, out.data<float>(), n);
    return absl::OkStatus();
  });
}

Status InferClip(InferenceContext& ctx) {
  RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32}));
  for (int i = 1; i < 3; ++i) {
    if (!ctx.has_input(i)) continue;
    if (!ctx.input(i).constant || ctx.input(i).constant->num_elements() != 1 ||
        ctx.input(i).dtype != DType::kFloat32) {
      return ctx.Error("min and max must be float32 scalar constants");
    }
  }
  return InferSameAsInput(ctx);
}

// Softmax and LogSoftmax along one axis (opset 13 semantics).
Status InferSoftmax(InferenceContext& ctx) {
  RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32}));
  ASSIGN_OR_RETURN(int64_t axis, ctx.attributes().GetInt("axis", -1));
  auto normalized = NormalizeAxis(axis, static_cast<int>(ctx.input(0).shape.size()));
  if (!normalized.ok()) return ctx.Error(normalized.status().message());
  return InferSameAsInput(ctx);
}

// Softmax (or LogSoftmax) of one contiguous run or strided column `xs` into `ys`.
template <bool kLog, typename In, typename Out>
void SoftmaxOf(const In& xs, Out& ys) {
  const float max = xs.size() ? xs.maxCoeff() : 0.0f;
  ys = (xs - max).exp();
  const float sum = ys.sum();
  if (kLog) {
    ys = xs - max - std::log(sum);
  } else {
    ys *= 1.0f / sum;
  }
}

// Elements per parallel chunk (~20 µs of work): a transformer's attention at
// batch 8 (131k elements) took 106 µs on two threads against 165 µs on one.
constexpr int64_t kSoftmaxMinChunkElements = 1 << 15;

template <bool kLog>
StatusOr<std::unique_ptr<OpKernel>> CreateSoftmaxKernel(const Node& node, const Graph&) {
  ASSIGN_OR_RETURN(int64_t axis, node.attributes.GetInt("axis", -1));
  return MakeKernel([axis](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    const int a = static_cast<int>(axis < 0 ? axis + in.rank() : axis);
    const int64_t outer = NumElements(Shape(in.shape().begin(), in.shape().begin() + a));
    const int64_t extent = in.dim(a);
    const int64_t inner = NumElements(Shape(in.shape().begin() + a + 1, in.shape().end()));
    const float* x = in.data<float>();
    float* y = ctx.outputs[0]->data<float>();
    const int64_t min_chunk =
        std::max<int64_t>(1, kSoftmaxMinChunkElements / std::max<int64_t>(1, extent * inner));
    ctx.pool->ParallelFor(outer, min_chunk, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        if (inner == 1) {
          // The usual case (the last axis): contiguous rows, so Eigen vectorises exp.
          Eigen::Map<const Eigen::ArrayXf> xs(x + o * extent, extent);
          Eigen::Map<Eigen::ArrayXf> ys(y + o * extent, extent);
          SoftmaxOf<kLog>(xs, ys);
          continue;
        }
        using Strided = Eigen::Map<const Eigen::ArrayXf, 0, Eigen::InnerStride<>>;
        using StridedOut = Eigen::Map<Eigen::ArrayXf, 0, Eigen::InnerStride<>>;
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t base = o * extent * inner + i;
          Strided xs(x + base, extent, Eigen::InnerStride<>(inner));
          StridedOut ys(y + base, extent, Eigen::InnerStride<>(inner));
          SoftmaxOf<kLog>(xs, ys);
        }
      }
    });
    return absl::OkStatus();
  });
}

OpSchema Unary(const char* op_type, std::vector<std::string> attributes = {}) {
  return OpSchema::Make(op_type, 1, 1, std::move(attributes), InferFloatUnary,
                        CreateActivationKernel);
}

void RegisterActivationOps(OpRegistry& registry) {
  registry.Register(Unary("Relu"));
  registry.Register(Unary("LeakyRelu", {"alpha"}));
  registry.Register(Unary("Sigmoid"));
  registry.Register(Unary("Tanh"));
  registry.Register(Unary("Erf"));
  registry.Register(Unary("Gelu", {"approximate"}));
  OpSchema clip = Unary("Clip");
  clip.max_inputs = 3;
  clip.load_time_inputs = {1, 2};
  clip.infer = InferClip;
  registry.Register(clip);
  OpSchema softmax =
      OpSchema::Make("Softmax", 1, 1, {"axis"}, InferSoftmax, CreateSoftmaxKernel<false>);
  registry.Register(softmax);
  OpSchema log_softmax = softmax;
  log_softmax.op_type = "LogSoftmax";
  log_softmax.create = CreateSoftmaxKernel<true>;
  registry.Register(log_softmax);
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kActivationOps(RegisterActivationOps);

}  // namespace
}  // namespace servekit
