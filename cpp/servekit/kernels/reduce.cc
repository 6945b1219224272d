// Reductions: ReduceMean and ArgMax.
#include <algorithm>
#include <limits>

#include "servekit/kernels/kernel_util.h"

namespace servekit {
namespace {

// Which axes a ReduceMean node reduces: the `axes` attribute (opset < 18) or
// input 1 (opset >= 18); all axes when absent (unless noop_with_empty_axes).
StatusOr<std::vector<bool>> ReducedAxes(const Attributes& attrs,
                                        const std::vector<int64_t>* axes_input, int rank) {
  std::vector<int64_t> axes;
  if (axes_input != nullptr) {
    axes = *axes_input;
  } else {
    ASSIGN_OR_RETURN(axes, attrs.GetInts("axes", {}));
  }
  ASSIGN_OR_RETURN(int64_t noop, attrs.GetInt("noop_with_empty_axes", 0));
  std::vector<bool> reduced(rank, axes.empty() && !noop);
  ASSIGN_OR_RETURN(std::vector<int> normalized, NormalizeAxes(axes, rank));
  for (int a : normalized) reduced[a] = true;
  return reduced;
}

Status InferReduceMean(InferenceContext& ctx) {
  RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32}));
  const SymShape& in = ctx.input(0).shape;
  std::vector<int64_t> axes_input;
  if (ctx.has_input(1)) {
    ASSIGN_OR_RETURN(axes_input, ctx.ConstantInts(1));
  }
  auto reduced = ReducedAxes(ctx.attributes(), ctx.has_input(1) ? &axes_input : nullptr,
                             static_cast<int>(in.size()));
  if (!reduced.ok()) return ctx.Error(reduced.status().message());
  ASSIGN_OR_RETURN(int64_t keepdims, ctx.attributes().GetInt("keepdims", 1));
  SymShape out;
  for (size_t d = 0; d < in.size(); ++d) {
    if (!(*reduced)[d]) {
      out.push_back(in[d]);
    } else if (keepdims) {
      out.push_back(Dim::Fixed(1));
    }
  }
  ctx.SetOutput(0, DType::kFloat32, out);
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<OpKernel>> CreateReduceMean(const Node& node, const Graph& graph) {
  const int rank = static_cast<int>(graph.values[node.inputs[0]].shape.size());
  std::vector<int64_t> axes_input;
  const bool has_axes_input = HasInput(node, 1);
  if (has_axes_input) {
    ASSIGN_OR_RETURN(axes_input, ConstantInputInts(node, graph, 1));
  }
  ASSIGN_OR_RETURN(std::vector<bool> reduced,
                   ReducedAxes(node.attributes, has_axes_input ? &axes_input : nullptr, rank));
  return MakeKernel([reduced, rank](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = *ctx.outputs[0];
    // Output strides indexed by input axis (0 for reduced axes).
    Shape out_strides(rank, 0);
    int64_t stride = 1;
    for (int d = rank - 1; d >= 0; --d) {
      if (reduced[d]) continue;
      out_strides[d] = stride;
      stride *= in.dim(d);
    }
    float* dst = out.data<float>();
    std::fill_n(dst, out.num_elements(), 0.0f);
    const int64_t total = in.num_elements();
    int64_t count = 1;  // elements averaged into each output
    for (int d = 0; d < rank; ++d) {
      if (reduced[d]) count *= in.dim(d);
    }
    const float* src = in.data<float>();
    const int64_t inner = rank ? in.dim(rank - 1) : 1;
    const int64_t inner_stride = rank ? out_strides[rank - 1] : 0;
    Shape index(rank, 0);
    int64_t offset = 0;
    for (int64_t i = 0; i < total; i += inner) {
      float* row = dst + offset;
      if (inner_stride == 0) {
        float sum = 0;
        for (int64_t j = 0; j < inner; ++j) sum += src[i + j];
        *row += sum;
      } else {
        for (int64_t j = 0; j < inner; ++j) row[j] += src[i + j];
      }
      for (int d = rank - 2; d >= 0; --d) {
        offset += out_strides[d];
        if (++index[d] < in.dim(d)) break;
        offset -= out_strides[d] * in.dim(d);
        index[d] = 0;
      }
    }
    // The mean of nothing is 0, as onnxruntime computes it (numpy would say NaN).
    const float scale = count > 0 ? 1.0f / static_cast<float>(count) : 0.0f;
    for (int64_t i = 0; i < out.num_elements(); ++i) dst[i] *= scale;
    return absl::OkStatus();
  });
}

Status InferArgMax(InferenceContext& ctx) {
  RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32, DType::kInt64, DType::kInt32}));
  const SymShape& in = ctx.input(0).shape;
  ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attributes().GetInt("axis", 0));
  ASSIGN_OR_RETURN(int64_t keepdims, ctx.attributes().GetInt("keepdims", 1));
  auto axis = NormalizeAxis(axis_attr, static_cast<int>(in.size()));
  if (!axis.ok() || in.empty())
    return ctx.Error(absl::StrCat("axis ", axis_attr, " is out of range"));
  if (in[*axis] == Dim::Fixed(0)) return ctx.Error("ArgMax over an empty axis");
  SymShape out = in;
  if (keepdims) {
    out[*axis] = Dim::Fixed(1);
  } else {
    out.erase(out.begin() + *axis);
  }
  ctx.SetOutput(0, DType::kInt64, out);
  return absl::OkStatus();
}

template <typename T>
void ArgMaxElements(const T* src, int64_t outer, int64_t extent, int64_t inner, bool last,
                    int64_t* dst) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const T* p = src + o * extent * inner + i;
      int64_t best = 0;
      for (int64_t k = 1; k < extent; ++k) {
        const T v = p[k * inner], b = p[best * inner];
        if (v > b || (last && v == b)) best = k;
      }
      dst[o * inner + i] = best;
    }
  }
}

StatusOr<std::unique_ptr<OpKernel>> CreateArgMax(const Node& node, const Graph& graph) {
  const int rank = static_cast<int>(graph.values[node.inputs[0]].shape.size());
  ASSIGN_OR_RETURN(int64_t axis_attr, node.attributes.GetInt("axis", 0));
  ASSIGN_OR_RETURN(int64_t last, node.attributes.GetInt("select_last_index", 0));
  const int axis = static_cast<int>(axis_attr < 0 ? axis_attr + rank : axis_attr);
  return MakeKernel([axis, last](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    const int64_t outer = NumElements(Shape(in.shape().begin(), in.shape().begin() + axis));
    const int64_t extent = in.dim(axis);
    if (extent == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("ArgMax over axis ", axis, ", which is empty in this request"));
    }
    const int64_t inner = NumElements(Shape(in.shape().begin() + axis + 1, in.shape().end()));
    int64_t* dst = ctx.outputs[0]->data<int64_t>();
    switch (in.dtype()) {
      case DType::kFloat32:
        ArgMaxElements(in.data<float>(), outer, extent, inner, last, dst);
        break;
      case DType::kInt64:
        ArgMaxElements(in.data<int64_t>(), outer, extent, inner, last, dst);
        break;
      case DType::kInt32:
        ArgMaxElements(in.data<int32_t>(), outer, extent, inner, last, dst);
        break;
      default:
        return absl::InternalError("unsupported dtype");
    }
    return absl::OkStatus();
  });
}

void RegisterReduceOps(OpRegistry& registry) {
  OpSchema mean = OpSchema::Make("ReduceMean", 1, 2, {"axes", "keepdims", "noop_with_empty_axes"},
                                 InferReduceMean, CreateReduceMean);
  mean.load_time_inputs = {1};
  registry.Register(mean);
  registry.Register(OpSchema::Make("ArgMax", 1, 1, {"axis", "keepdims", "select_last_index"},
                                   InferArgMax, CreateArgMax));
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kReduceOps(RegisterReduceOps);

}  // namespace
}  // namespace servekit
