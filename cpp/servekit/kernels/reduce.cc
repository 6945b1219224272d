// Reductions: ReduceSum, ReduceMean, ReduceProd, ReduceMax, ReduceMin, and ArgMax.
//
// The Reduce ops reduce the axes given by the `axes` attribute (opset < 18) or
// input 1 (opset >= 18; ReduceSum from 13), all axes when there are none
// (unless noop_with_empty_axes), keeping them as 1s when keepdims (default 1).
// ReduceMean is float32; the others also take int32 and int64, whose sums and
// products wrap (two's complement) instead of overflowing.
//
// Reducing an empty set of values gives the identity ONNX specifies: 0 for
// ReduceSum, 1 for ReduceProd, -inf (float) or the lowest value (integers) for
// ReduceMax, +inf or the highest value for ReduceMin. ReduceMean's is undefined
// in ONNX; it is 0 here, as onnxruntime computes it. ReduceMax and ReduceMin
// propagate NaN, as ONNX's reference (numpy) does.
#include <algorithm>
#include <limits>
#include <type_traits>

#include "servekit/kernels/kernel_util.h"

namespace servekit {
namespace {

enum class ReduceKind { kSum, kMean, kProd, kMax, kMin };

// Which axes a Reduce node reduces: the `axes` attribute (opset < 18) or
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

template <ReduceKind kKind>
Status InferReduce(InferenceContext& ctx) {
  if (kKind == ReduceKind::kMean) {
    RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32}));
  } else {
    RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32, DType::kInt32, DType::kInt64}));
  }
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
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  // The product of a shape vector's dims (TensorFlow's Tensordot reshapes a
  // [N, T, D] tensor to [N * T, D] with Prod over Shape): a shape value too.
  const Value& v = ctx.input(0);
  if (kKind == ReduceKind::kProd && v.shape_value && in.size() == 1 && (*reduced)[0]) {
    Dim product = Dim::Fixed(1);
    bool known = true;
    for (const Dim& d : *v.shape_value) {
      auto next = MulDims(product, d);
      if (!next.ok()) {
        known = false;
        break;
      }
      product = *next;
    }
    if (known) ctx.output(0).shape_value = SymShape{product};
  }
  return absl::OkStatus();
}

// The value a reduction of nothing gives.
template <ReduceKind kKind, typename T>
constexpr T Identity() {
  if constexpr (kKind == ReduceKind::kProd) {
    return T(1);
  } else if constexpr (kKind == ReduceKind::kMax) {
    return std::is_floating_point_v<T> ? -std::numeric_limits<T>::infinity()
                                       : std::numeric_limits<T>::lowest();
  } else if constexpr (kKind == ReduceKind::kMin) {
    return std::is_floating_point_v<T> ? std::numeric_limits<T>::infinity()
                                       : std::numeric_limits<T>::max();
  } else {
    return T(0);
  }
}

template <ReduceKind kKind, typename T>
T Combine(T acc, T v) {
  using U = std::make_unsigned_t<std::conditional_t<std::is_integral_v<T>, T, int>>;
  if constexpr (kKind == ReduceKind::kSum || kKind == ReduceKind::kMean) {
    if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(static_cast<U>(acc) + static_cast<U>(v));
    } else {
      return acc + v;
    }
  } else if constexpr (kKind == ReduceKind::kProd) {
    if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(static_cast<U>(acc) * static_cast<U>(v));
    } else {
      return acc * v;
    }
  } else if constexpr (kKind == ReduceKind::kMax) {
    return v > acc || v != v ? v : acc;  // v != v: NaN, which then stays
  } else {
    return v < acc || v != v ? v : acc;
  }
}

template <ReduceKind kKind, typename T>
void ReduceElements(const Tensor& in, const std::vector<bool>& reduced, Tensor& out) {
  const int rank = in.rank();
  // Output strides indexed by input axis (0 for reduced axes).
  Shape out_strides(rank, 0);
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    if (reduced[d]) continue;
    out_strides[d] = stride;
    stride *= in.dim(d);
  }
  T* dst = out.data<T>();
  std::fill_n(dst, out.num_elements(), Identity<kKind, T>());
  const int64_t total = in.num_elements();
  const T* src = in.data<T>();
  const int64_t inner = rank ? in.dim(rank - 1) : 1;
  const int64_t inner_stride = rank ? out_strides[rank - 1] : 0;
  Shape index(rank, 0);
  int64_t offset = 0;
  for (int64_t i = 0; i < total; i += inner) {
    T* row = dst + offset;
    if (inner_stride == 0) {
      T acc = *row;
      for (int64_t j = 0; j < inner; ++j) acc = Combine<kKind>(acc, src[i + j]);
      *row = acc;
    } else {
      for (int64_t j = 0; j < inner; ++j) row[j] = Combine<kKind>(row[j], src[i + j]);
    }
    for (int d = rank - 2; d >= 0; --d) {
      offset += out_strides[d];
      if (++index[d] < in.dim(d)) break;
      offset -= out_strides[d] * in.dim(d);
      index[d] = 0;
    }
  }
  if constexpr (kKind == ReduceKind::kMean) {
    int64_t count = 1;  // elements averaged into each output
    for (int d = 0; d < rank; ++d) {
      if (reduced[d]) count *= in.dim(d);
    }
    const T scale = count > 0 ? T(1) / static_cast<T>(count) : T(0);
    for (int64_t i = 0; i < out.num_elements(); ++i) dst[i] *= scale;
  }
}

template <ReduceKind kKind>
StatusOr<std::unique_ptr<OpKernel>> CreateReduce(const Node& node, const Graph& graph) {
  const int rank = static_cast<int>(graph.values[node.inputs[0]].shape.size());
  std::vector<int64_t> axes_input;
  const bool has_axes_input = HasInput(node, 1);
  if (has_axes_input) {
    ASSIGN_OR_RETURN(axes_input, ConstantInputInts(node, graph, 1));
  }
  ASSIGN_OR_RETURN(std::vector<bool> reduced,
                   ReducedAxes(node.attributes, has_axes_input ? &axes_input : nullptr, rank));
  return MakeKernel([reduced](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = *ctx.outputs[0];
    switch (in.dtype()) {
      case DType::kFloat32:
        ReduceElements<kKind, float>(in, reduced, out);
        return absl::OkStatus();
      case DType::kInt32:
        if constexpr (kKind != ReduceKind::kMean) {
          ReduceElements<kKind, int32_t>(in, reduced, out);
          return absl::OkStatus();
        }
        break;
      case DType::kInt64:
        if constexpr (kKind != ReduceKind::kMean) {
          ReduceElements<kKind, int64_t>(in, reduced, out);
          return absl::OkStatus();
        }
        break;
      default:
        break;
    }
    return absl::InternalError("unsupported dtype");
  });
}

template <ReduceKind kKind>
OpSchema Reduce(const char* op_type) {
  OpSchema schema = OpSchema::Make(op_type, 1, 2, {"axes", "keepdims", "noop_with_empty_axes"},
                                   InferReduce<kKind>, CreateReduce<kKind>);
  schema.load_time_inputs = {1};
  return schema;
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
  registry.Register(Reduce<ReduceKind::kSum>("ReduceSum"));
  registry.Register(Reduce<ReduceKind::kMean>("ReduceMean"));
  registry.Register(Reduce<ReduceKind::kProd>("ReduceProd"));
  registry.Register(Reduce<ReduceKind::kMax>("ReduceMax"));
  registry.Register(Reduce<ReduceKind::kMin>("ReduceMin"));
  registry.Register(OpSchema::Make("ArgMax", 1, 1, {"axis", "keepdims", "select_last_index"},
                                   InferArgMax, CreateArgMax));
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kReduceOps(RegisterReduceOps);

}  // namespace
}  // namespace servekit
