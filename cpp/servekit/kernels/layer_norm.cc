// LayerNormalization (ONNX opset 17): each row of X (the dims from `axis` to the
// end) is standardised to zero mean and unit variance, then scaled and shifted:
//   Y = (X - mean) / sqrt(var + epsilon) * Scale + B
// Optional outputs Mean and InvStdDev have X's leading dims and 1 for each
// normalised dim. Scale and B must be constants broadcastable to the normalised
// dims (the same for every row), which is how transformers carry them; they are
// expanded to one value per normalised element when the kernel is built.
#include <Eigen/Core>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "servekit/engine/dim.h"
#include "servekit/kernels/kernel_util.h"

namespace servekit {
namespace {

// Elements per parallel chunk (~40 µs of work): a transformer's 64x128-float
// rows at batch 8 (65k elements, 19 µs in all) gained nothing split in two.
constexpr int64_t kMinElementsPerChunk = 1 << 17;

StatusOr<int> Axis(const Attributes& attributes, int rank) {
  ASSIGN_OR_RETURN(int64_t axis, attributes.GetInt("axis", -1));
  return NormalizeAxis(axis, rank);
}

Status InferLayerNorm(InferenceContext& ctx) {
  RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32}));
  const SymShape& x = ctx.input(0).shape;
  auto axis = Axis(ctx.attributes(), static_cast<int>(x.size()));
  if (!axis.ok()) return ctx.Error(axis.status().message());
  ASSIGN_OR_RETURN(int64_t stash_type, ctx.attributes().GetInt("stash_type", 1));
  if (stash_type != 1) return ctx.Error("only stash_type=1 (float32 statistics) is supported");
  for (int i = 1; i < 3; ++i) {
    if (!ctx.has_input(i)) continue;
    const Value& p = ctx.input(i);
    if (p.dtype != DType::kFloat32) {
      return ctx.Error(absl::StrCat("'", p.name, "' must be float32; got ", DTypeName(p.dtype)));
    }
    if (!p.constant) return ctx.Error(absl::StrCat("'", p.name, "' must be a constant"));
    if (!BroadcastsAlongTrailingAxes(p.shape, x, *axis)) {
      return ctx.Error(absl::StrCat("'", p.name, "' of shape ", SymShapeToString(p.shape),
                                    " does not broadcast to the normalised dims of ",
                                    SymShapeToString(x), " from axis ", *axis));
    }
  }
  for (int d = *axis; d < static_cast<int>(x.size()); ++d) {
    if (!x[d].is_fixed()) return ctx.Error("the normalised dims must be fixed");
  }
  RETURN_IF_ERROR(InferSameAsInput(ctx));
  SymShape stats(x.begin(), x.begin() + *axis);
  stats.resize(x.size(), Dim::Fixed(1));
  for (int i = 1; i < ctx.num_outputs(); ++i) ctx.SetOutput(i, DType::kFloat32, stats);
  return absl::OkStatus();
}

// `param` (broadcastable over the trailing dims `row_shape`) as one value per
// row element; `fill` where the input is omitted.
StatusOr<std::vector<float>> ExpandToRow(const Node& node, const Graph& graph, int input,
                                         const Shape& row_shape, float fill) {
  const int64_t row = NumElements(row_shape);
  if (!HasInput(node, input)) return std::vector<float>(row, fill);
  ASSIGN_OR_RETURN(const Tensor* param, ConstantInput(node, graph, input));
  std::vector<float> out(row);
  // Strides of `param` right-aligned to the row; 0 along its broadcast dims.
  const Shape& p = param->shape();
  const int rank = static_cast<int>(row_shape.size());
  std::vector<int64_t> strides(rank, 0);
  int64_t stride = 1;
  for (int i = static_cast<int>(p.size()) - 1, d = rank - 1; i >= 0 && d >= 0; --i, --d) {
    if (p[i] != 1) strides[d] = stride;
    stride *= p[i];
  }
  for (int64_t flat = 0; flat < row; ++flat) {
    int64_t rest = flat, offset = 0;
    for (int d = rank - 1; d >= 0; --d) {
      offset += (rest % row_shape[d]) * strides[d];
      rest /= row_shape[d];
    }
    out[flat] = param->data<float>()[offset];
  }
  return out;
}

StatusOr<std::unique_ptr<OpKernel>> CreateLayerNorm(const Node& node, const Graph& graph) {
  const SymShape& x = graph.values[node.inputs[0]].shape;
  ASSIGN_OR_RETURN(int axis, Axis(node.attributes, static_cast<int>(x.size())));
  ASSIGN_OR_RETURN(float epsilon, node.attributes.GetFloat("epsilon", 1e-5f));
  Shape row_shape;
  for (int d = axis; d < static_cast<int>(x.size()); ++d) row_shape.push_back(x[d].value());
  ASSIGN_OR_RETURN(std::vector<float> scale, ExpandToRow(node, graph, 1, row_shape, 1.0f));
  ASSIGN_OR_RETURN(std::vector<float> bias, ExpandToRow(node, graph, 2, row_shape, 0.0f));
  return MakeKernel([scale = std::move(scale), bias = std::move(bias),
                     epsilon](const KernelContext& ctx) -> Status {
    using Row = Eigen::Map<const Eigen::ArrayXf>;
    const Tensor& in = *ctx.inputs[0];
    const int64_t cols = static_cast<int64_t>(scale.size());
    const int64_t rows = cols == 0 ? 0 : in.num_elements() / cols;
    const Row gamma(scale.data(), cols), beta(bias.data(), cols);
    const float* src = in.data<float>();
    float* dst = ctx.outputs[0]->data<float>();
    float* mean_out =
        ctx.outputs.size() > 1 && ctx.outputs[1] ? ctx.outputs[1]->data<float>() : nullptr;
    float* inv_out =
        ctx.outputs.size() > 2 && ctx.outputs[2] ? ctx.outputs[2]->data<float>() : nullptr;
    const int64_t min_rows =
        std::max<int64_t>(1, kMinElementsPerChunk / std::max<int64_t>(cols, 1));
    ctx.pool->ParallelFor(rows, min_rows, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const Row xs(src + r * cols, cols);
        Eigen::Map<Eigen::ArrayXf> ys(dst + r * cols, cols);
        // Two passes (mean, then squared deviations): one-pass E[x^2] - E[x]^2
        // loses the variance to cancellation when the mean is large.
        const float mean = xs.sum() / static_cast<float>(cols);
        ys = xs - mean;
        const float variance = ys.square().sum() / static_cast<float>(cols);
        const float inv_std = 1.0f / std::sqrt(variance + epsilon);
        ys = ys * (gamma * inv_std) + beta;
        if (mean_out) mean_out[r] = mean;
        if (inv_out) inv_out[r] = inv_std;
      }
    });
    return absl::OkStatus();
  });
}

void RegisterLayerNormOps(OpRegistry& registry) {
  OpSchema schema = OpSchema::Make("LayerNormalization", 2, 3, {"axis", "epsilon", "stash_type"},
                                   InferLayerNorm, CreateLayerNorm);
  schema.max_outputs = 3;
  registry.Register(schema);
}

// Adds the schema above to OpRegistry::Global() when the program starts.
const OpRegistration kLayerNormOps(RegisterLayerNormOps);

}  // namespace
}  // namespace servekit
