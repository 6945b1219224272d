// Shape operators: Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Concat,
// Shape, Gather.
//
// Ops that only re-view data (Reshape, Flatten, Squeeze, Unsqueeze) copy bytes;
// their output shape comes from inference. Shape, Gather, Concat, Unsqueeze and
// Squeeze also propagate `shape_value`s, which is how PyTorch's
// Shape->Gather->Unsqueeze->Concat->Reshape pattern resolves at load time with
// a symbolic batch size.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "servekit/kernels/kernel_util.h"

namespace servekit {
namespace {

// --- Flatten, Reshape ------------------------------------------------------------------

Status InferFlatten(InferenceContext& ctx) {
  const SymShape& in = ctx.input(0).shape;
  const int rank = static_cast<int>(in.size());
  ASSIGN_OR_RETURN(int64_t axis, ctx.attributes().GetInt("axis", 1));
  if (axis < -rank || axis > rank)
    return ctx.Error(absl::StrCat("axis ", axis, " is out of range"));
  if (axis < 0) axis += rank;
  auto outer = SymProduct(in, 0, static_cast<int>(axis));
  auto inner = SymProduct(in, static_cast<int>(axis), rank);
  if (!outer.ok()) return ctx.Error(outer.status().message());
  if (!inner.ok()) return ctx.Error(inner.status().message());
  ctx.SetOutput(0, ctx.input(0).dtype, {*outer, *inner});
  return absl::OkStatus();
}

Status InferReshape(InferenceContext& ctx) {
  const SymShape& in = ctx.input(0).shape;
  ASSIGN_OR_RETURN(SymShape target, ctx.ShapeValue(1));
  ASSIGN_OR_RETURN(int64_t allow_zero, ctx.attributes().GetInt("allowzero", 0));
  int inferred = -1;
  Dim known = Dim::Fixed(1);
  for (size_t i = 0; i < target.size(); ++i) {
    Dim& d = target[i];
    if (d.is_fixed() && d.value() == 0 && !allow_zero) {
      if (i >= in.size()) return ctx.Error("a 0 in the shape refers past the input's rank");
      d = in[i];
    } else if (d.is_fixed() && d.value() == -1) {
      if (inferred >= 0) return ctx.Error("the shape has more than one -1");
      inferred = static_cast<int>(i);
      continue;
    } else if (d.is_fixed() && d.value() < 0) {
      return ctx.Error(absl::StrCat("invalid dimension ", d.value(), " in the target shape"));
    }
    auto product = MulDims(known, d);
    if (!product.ok()) return ctx.Error(product.status().message());
    known = *product;
  }
  auto total = SymNumElements(in);
  if (!total.ok()) return ctx.Error(total.status().message());
  if (inferred >= 0) {
    auto rest = DivDims(*total, known);
    if (!rest.ok()) {
      return ctx.Error(absl::StrCat("cannot reshape ", SymShapeToString(in), " to ",
                                    SymShapeToString(target), " (-1 is not a whole number)"));
    }
    target[inferred] = *rest;
  } else if (known != *total) {
    return ctx.Error(absl::StrCat("cannot reshape ", SymShapeToString(in), " (", total->ToString(),
                                  " elements) to ", SymShapeToString(target)));
  }
  ctx.SetOutput(0, ctx.input(0).dtype, target);
  return absl::OkStatus();
}

// --- Squeeze, Unsqueeze ----------------------------------------------------------------

// Axes come from the `axes` attribute (opset < 13) or input 1 (opset >= 13).
StatusOr<std::vector<int64_t>> AxesOf(InferenceContext& ctx, bool* present) {
  *present = true;
  if (ctx.has_input(1)) return ctx.ConstantInts(1);
  if (ctx.attributes().Has("axes")) return ctx.attributes().GetInts("axes", {});
  *present = false;
  return std::vector<int64_t>{};
}

Status InferSqueeze(InferenceContext& ctx) {
  const SymShape& in = ctx.input(0).shape;
  const int rank = static_cast<int>(in.size());
  bool present;
  ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesOf(ctx, &present));
  std::vector<bool> drop(rank, false);
  if (!present) {
    for (int i = 0; i < rank; ++i) {
      if (!in[i].is_fixed()) {
        // Whether it is squeezed would depend on the batch size (N = 1).
        return ctx.Error(
            "Squeeze without axes on an input with a batch dimension is ambiguous; give axes");
      }
      drop[i] = in[i] == Dim::Fixed(1);
    }
  }
  auto normalized = NormalizeAxes(axes, rank);
  if (!normalized.ok()) return ctx.Error(normalized.status().message());
  for (size_t i = 0; i < axes.size(); ++i) {
    const int a = (*normalized)[i];
    if (in[a] != Dim::Fixed(1)) {
      return ctx.Error(
          absl::StrCat("cannot squeeze axis ", axes[i], " of size ", in[a].ToString()));
    }
    drop[a] = true;
  }
  SymShape out;
  for (int i = 0; i < rank; ++i) {
    if (!drop[i]) out.push_back(in[i]);
  }
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  if (ctx.input(0).shape_value) ctx.output(0).shape_value = ctx.input(0).shape_value;
  return absl::OkStatus();
}

Status InferUnsqueeze(InferenceContext& ctx) {
  const SymShape& in = ctx.input(0).shape;
  bool present;
  ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesOf(ctx, &present));
  if (!present) return ctx.Error("axes are required");
  const int out_rank = static_cast<int>(in.size() + axes.size());
  auto normalized = NormalizeAxes(axes, out_rank);
  if (!normalized.ok()) return ctx.Error(normalized.status().message());
  std::vector<bool> inserted(out_rank, false);
  for (int a : *normalized) inserted[a] = true;
  SymShape out;
  size_t next = 0;
  for (int i = 0; i < out_rank; ++i) out.push_back(inserted[i] ? Dim::Fixed(1) : in[next++]);
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  if (ctx.input(0).shape_value) ctx.output(0).shape_value = ctx.input(0).shape_value;
  return absl::OkStatus();
}

// --- Transpose -------------------------------------------------------------------------

StatusOr<std::vector<int64_t>> PermOf(const Attributes& attributes, int rank) {
  std::vector<int64_t> identity_reversed(rank);
  std::iota(identity_reversed.rbegin(), identity_reversed.rend(), 0);
  ASSIGN_OR_RETURN(std::vector<int64_t> perm, attributes.GetInts("perm", identity_reversed));
  std::vector<bool> seen(rank, false);
  if (static_cast<int>(perm.size()) != rank) {
    return absl::InvalidArgumentError(
        absl::StrCat("perm has ", perm.size(), " entries for rank ", rank));
  }
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p])
      return absl::InvalidArgumentError("perm is not a permutation");
    seen[p] = true;
  }
  return perm;
}

Status InferTranspose(InferenceContext& ctx) {
  const SymShape& in = ctx.input(0).shape;
  auto perm = PermOf(ctx.attributes(), static_cast<int>(in.size()));
  if (!perm.ok()) return ctx.Error(perm.status().message());
  SymShape out;
  for (int64_t p : *perm) out.push_back(in[p]);
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  return absl::OkStatus();
}

template <typename T>
void TransposeElements(const T* in, const Shape& in_shape, const std::vector<int64_t>& perm, T* out,
                       const Shape& out_shape) {
  const int rank = static_cast<int>(perm.size());
  if (NumElements(out_shape) == 0) return;
  Shape in_strides(rank, 1);
  for (int d = rank - 2; d >= 0; --d) in_strides[d] = in_strides[d + 1] * in_shape[d + 1];
  Shape strides(rank);  // input stride of each output axis
  for (int d = 0; d < rank; ++d) strides[d] = in_strides[perm[d]];
  const int64_t inner = rank ? out_shape[rank - 1] : 1;
  const int64_t inner_stride = rank ? strides[rank - 1] : 1;
  const int64_t outer = NumElements(out_shape) / std::max<int64_t>(inner, 1);
  Shape index(rank, 0);
  int64_t offset = 0;
  for (int64_t o = 0; o < outer; ++o) {
    const T* src = in + offset;
    for (int64_t i = 0; i < inner; ++i) out[i] = src[i * inner_stride];
    out += inner;
    for (int d = rank - 2; d >= 0; --d) {
      offset += strides[d];
      if (++index[d] < out_shape[d]) break;
      offset -= strides[d] * out_shape[d];
      index[d] = 0;
    }
  }
}

StatusOr<std::unique_ptr<OpKernel>> CreateTranspose(const Node& node, const Graph& graph) {
  const int rank = static_cast<int>(graph.values[node.inputs[0]].shape.size());
  ASSIGN_OR_RETURN(std::vector<int64_t> perm, PermOf(node.attributes, rank));
  return MakeKernel([perm](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = *ctx.outputs[0];
    switch (DTypeSize(in.dtype())) {
      case 1:
        TransposeElements(in.data<uint8_t>(), in.shape(), perm, out.data<uint8_t>(), out.shape());
        break;
      case 4:
        TransposeElements(in.data<uint32_t>(), in.shape(), perm, out.data<uint32_t>(), out.shape());
        break;
      case 8:
        TransposeElements(in.data<uint64_t>(), in.shape(), perm, out.data<uint64_t>(), out.shape());
        break;
      default:
        return absl::InternalError("unsupported element size");
    }
    return absl::OkStatus();
  });
}

// --- Concat ----------------------------------------------------------------------------

Status InferConcat(InferenceContext& ctx) {
  const SymShape& first = ctx.input(0).shape;
  const int rank = static_cast<int>(first.size());
  ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attributes().GetInt("axis", 0));
  auto axis = NormalizeAxis(axis_attr, rank);
  if (!axis.ok() || rank == 0)
    return ctx.Error(absl::StrCat("axis ", axis_attr, " is out of range"));
  SymShape out = first;
  bool all_shape_values = true;
  SymShape value;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    const Value& v = ctx.input(i);
    if (v.dtype != ctx.input(0).dtype) return ctx.Error("inputs have different dtypes");
    if (static_cast<int>(v.shape.size()) != rank) return ctx.Error("inputs have different ranks");
    for (int d = 0; d < rank; ++d) {
      if (d != *axis && v.shape[d] != first[d]) {
        return ctx.Error(absl::StrCat("input ", i, " has shape ", SymShapeToString(v.shape),
                                      ", which differs from ", SymShapeToString(first),
                                      " outside axis ", *axis));
      }
    }
    if (i > 0) {
      auto sum = AddDims(out[*axis], v.shape[*axis]);
      if (!sum.ok()) return ctx.Error(sum.status().message());
      out[*axis] = *sum;
    }
    // int32 too: TensorFlow's shape arithmetic (Shape, Pack) is int32.
    const bool integer = v.dtype == DType::kInt64 || v.dtype == DType::kInt32;
    auto sv = integer && rank == 1 ? ctx.ShapeValue(i) : StatusOr<SymShape>(absl::UnknownError(""));
    if (sv.ok()) {
      value.insert(value.end(), sv->begin(), sv->end());
    } else {
      all_shape_values = false;
    }
  }
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  if (all_shape_values) ctx.output(0).shape_value = value;
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<OpKernel>> CreateConcat(const Node& node, const Graph& graph) {
  const int rank = static_cast<int>(graph.values[node.inputs[0]].shape.size());
  ASSIGN_OR_RETURN(int64_t axis_attr, node.attributes.GetInt("axis", 0));
  const int axis = static_cast<int>(axis_attr < 0 ? axis_attr + rank : axis_attr);
  return MakeKernel([axis](const KernelContext& ctx) -> Status {
    Tensor& out = *ctx.outputs[0];
    const size_t element = DTypeSize(out.dtype());
    const int64_t outer = NumElements(Shape(out.shape().begin(), out.shape().begin() + axis));
    const int64_t inner =
        NumElements(Shape(out.shape().begin() + axis + 1, out.shape().end())) * element;
    const int64_t out_row = out.dim(axis) * inner;
    char* dst = static_cast<char*>(out.raw_data());
    int64_t column = 0;
    for (const Tensor* in : ctx.inputs) {
      const int64_t row = in->dim(axis) * inner;
      const char* src = static_cast<const char*>(in->raw_data());
      for (int64_t o = 0; o < outer && row > 0; ++o) {
        std::memcpy(dst + o * out_row + column, src + o * row, row);
      }
      column += row;
    }
    return absl::OkStatus();
  });
}

// --- Shape, Gather ---------------------------------------------------------------------

Status InferShape(InferenceContext& ctx) {
  const SymShape& in = ctx.input(0).shape;
  const int rank = static_cast<int>(in.size());
  ASSIGN_OR_RETURN(int64_t start, ctx.attributes().GetInt("start", 0));
  ASSIGN_OR_RETURN(int64_t end, ctx.attributes().GetInt("end", rank));
  auto clamp = [rank](int64_t x) { return std::clamp<int64_t>(x < 0 ? x + rank : x, 0, rank); };
  start = clamp(start);
  end = std::max(start, clamp(end));
  ctx.SetOutput(0, DType::kInt64, {Dim::Fixed(end - start)});
  ctx.output(0).shape_value = SymShape(in.begin() + start, in.begin() + end);
  return absl::OkStatus();
}

// Usually folded at load time; runs only when its result feeds a runtime input.
StatusOr<std::unique_ptr<OpKernel>> CreateShape(const Node& node, const Graph& graph) {
  const int rank = static_cast<int>(graph.values[node.inputs[0]].shape.size());
  ASSIGN_OR_RETURN(int64_t start, node.attributes.GetInt("start", 0));
  auto clamp = [rank](int64_t x) { return std::clamp<int64_t>(x < 0 ? x + rank : x, 0, rank); };
  start = clamp(start);
  return MakeKernel([start](const KernelContext& ctx) -> Status {
    Tensor& out = *ctx.outputs[0];
    for (int64_t i = 0; i < out.num_elements(); ++i)
      out.data<int64_t>()[i] = ctx.inputs[0]->dim(start + i);
    return absl::OkStatus();
  });
}

Status InferGather(InferenceContext& ctx) {
  const SymShape& data = ctx.input(0).shape;
  const SymShape& indices = ctx.input(1).shape;
  RETURN_IF_ERROR(ctx.ExpectDType(1, {DType::kInt64, DType::kInt32}));
  ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attributes().GetInt("axis", 0));
  auto axis = NormalizeAxis(axis_attr, static_cast<int>(data.size()));
  if (!axis.ok() || data.empty()) return ctx.Error("axis is out of range");
  SymShape out(data.begin(), data.begin() + *axis);
  out.insert(out.end(), indices.begin(), indices.end());
  out.insert(out.end(), data.begin() + *axis + 1, data.end());
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  if (ctx.input(1).constant && data[*axis].is_fixed()) {
    ASSIGN_OR_RETURN(std::vector<int64_t> indices, ctx.ConstantInts(1));
    const int64_t extent = data[*axis].value();
    for (int64_t i : indices) {
      if (i < -extent || i >= extent) {
        return ctx.Error(
            absl::StrCat("index ", i, " is out of range for axis ", *axis, " of size ", extent));
      }
    }
  }
  const Value& d = ctx.input(0);
  if (d.shape_value && *axis == 0 && ctx.input(1).constant) {
    ASSIGN_OR_RETURN(std::vector<int64_t> idx, ctx.ConstantInts(1));
    SymShape value;
    const int64_t n = static_cast<int64_t>(d.shape_value->size());
    for (int64_t i : idx) {
      if (i < -n || i >= n) return ctx.Error(absl::StrCat("index ", i, " is out of range"));
      value.push_back((*d.shape_value)[i < 0 ? i + n : i]);
    }
    ctx.output(0).shape_value = value;
  }
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<OpKernel>> CreateGather(const Node& node, const Graph& graph) {
  const int rank = static_cast<int>(graph.values[node.inputs[0]].shape.size());
  ASSIGN_OR_RETURN(int64_t axis_attr, node.attributes.GetInt("axis", 0));
  const int axis = static_cast<int>(axis_attr < 0 ? axis_attr + rank : axis_attr);
  return MakeKernel([axis](const KernelContext& ctx) -> Status {
    const Tensor& data = *ctx.inputs[0];
    const Tensor& indices = *ctx.inputs[1];
    Tensor& out = *ctx.outputs[0];
    const size_t element = DTypeSize(data.dtype());
    const int64_t outer = NumElements(Shape(data.shape().begin(), data.shape().begin() + axis));
    const int64_t extent = data.dim(axis);
    const int64_t inner =
        NumElements(Shape(data.shape().begin() + axis + 1, data.shape().end())) * element;
    const int64_t count = indices.num_elements();
    const char* src = static_cast<const char*>(data.raw_data());
    char* dst = static_cast<char*>(out.raw_data());
    for (int64_t j = 0; j < count; ++j) {
      int64_t index = indices.dtype() == DType::kInt64 ? indices.data<int64_t>()[j]
                                                       : indices.data<int32_t>()[j];
      if (index < -extent || index >= extent) {
        return absl::InvalidArgumentError(
            absl::StrCat("Gather index ", index, " is out of range for a dimension of ", extent));
      }
      if (index < 0) index += extent;
      for (int64_t o = 0; o < outer; ++o) {
        std::memcpy(dst + (o * count + j) * inner, src + (o * extent + index) * inner, inner);
      }
    }
    return absl::OkStatus();
  });
}

void RegisterShapeOps(OpRegistry& registry) {
  OpSchema flatten = OpSchema::Make("Flatten", 1, 1, {"axis"}, InferFlatten, CreateCopyKernel);
  flatten.output_is_input_view = true;
  registry.Register(flatten);
  OpSchema reshape = OpSchema::Make("Reshape", 2, 2, {"allowzero"}, InferReshape, CreateCopyKernel);
  reshape.load_time_inputs = {1};
  reshape.output_is_input_view = true;
  registry.Register(reshape);
  OpSchema squeeze = OpSchema::Make("Squeeze", 1, 2, {"axes"}, InferSqueeze, CreateCopyKernel);
  squeeze.load_time_inputs = {1};
  squeeze.output_is_input_view = true;
  registry.Register(squeeze);
  OpSchema unsqueeze =
      OpSchema::Make("Unsqueeze", 1, 2, {"axes"}, InferUnsqueeze, CreateCopyKernel);
  unsqueeze.load_time_inputs = {1};
  unsqueeze.output_is_input_view = true;
  registry.Register(unsqueeze);
  registry.Register(OpSchema::Make("Transpose", 1, 1, {"perm"}, InferTranspose, CreateTranspose));
  registry.Register(OpSchema::Make("Concat", 1, 1 << 16, {"axis"}, InferConcat, CreateConcat));
  registry.Register(OpSchema::Make("Shape", 1, 1, {"start", "end"}, InferShape, CreateShape));
  registry.Register(OpSchema::Make("Gather", 2, 2, {"axis"}, InferGather, CreateGather));
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kShapeOps(RegisterShapeOps);

}  // namespace
}  // namespace servekit
