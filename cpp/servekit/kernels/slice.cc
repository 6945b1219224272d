// Slice (opset 13 form): data, starts, ends, axes?, steps?, with every input but
// data known when the model loads. Any dtype.
//
// Each sliced axis is resolved as ONNX specifies: negative starts and ends count
// from the end (dim is added once), then for step > 0 both are clamped to
// [0, dim], for step < 0 start to [0, dim - 1] and end to [-1, dim - 1]; the
// axis keeps the elements start, start + step, ... short of end. A step of 0 is
// an error, as is an axis named twice. Axes default to 0..len(starts)-1, steps
// to 1.
//
// The spec's text is followed where others differ from it. A backward slice
// whose start lies before the beginning (x[-10:-20:-1] on 5 elements) keeps
// element 0, as onnxruntime computes it; numpy, ONNX's Python reference and
// TF's strided slices keep nothing. A backward slice ending at INT_MAX keeps
// nothing (end clamps to dim - 1); onnxruntime reads that INT_MAX as "to the
// beginning". Translators should pass INT_MIN for an open backward end.
//
// On the batch dimension only whole-axis slices are accepted, forward (step 1,
// start 0 or <= -INT32_MAX, end >= INT32_MAX) or reversed (step -1, start -1 or
// >= INT32_MAX, end <= -INT32_MAX): any other result would depend on the batch size, which
// the shape (a Dim, dim.h) cannot express. Slicing a shape value on axis 0
// (TF's strided slices of tf.shape) gives a shape value.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "servekit/kernels/kernel_util.h"

namespace servekit {
namespace {

// Starts and ends at or past this magnitude mean "to the end" for an axis of
// unknown size (exporters use INT32_MAX or INT64_MAX and their negatives).
constexpr int64_t kToTheEnd = std::numeric_limits<int32_t>::max();

struct SliceSpec {
  std::vector<int64_t> starts, ends, steps;
  std::vector<int> axes;  // normalised, distinct
};

// Where one axis's slice begins and how many elements it keeps.
struct AxisSlice {
  int64_t start = 0;
  int64_t step = 1;
  int64_t count = 0;
};

AxisSlice ResolveAxis(int64_t start, int64_t end, int64_t step, int64_t dim) {
  AxisSlice s;
  if (dim == 0) return s;  // nothing to keep (and [0, dim - 1] would be empty)
  // dim >= 0, so adding it cannot overflow a negative value.
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  // |step|, which for INT64_MIN only fits unsigned.
  const uint64_t magnitude =
      step > 0 ? static_cast<uint64_t>(step) : 0 - static_cast<uint64_t>(step);
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    if (end > start)
      s.count = static_cast<int64_t>(static_cast<uint64_t>(end - start - 1) / magnitude + 1);
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
    if (start > end)
      s.count = static_cast<int64_t>(static_cast<uint64_t>(start - end - 1) / magnitude + 1);
  }
  s.start = start;
  s.step = step;
  // One element needs no step; a huge one would overflow the kernel's offsets.
  if (s.count <= 1) s.step = 1;
  return s;
}

// Reads starts, ends, axes and steps (inputs 1 to 4) through `ints`, which
// returns input i's integers.
template <typename IntsFn>
StatusOr<SliceSpec> ReadSliceSpec(int rank, bool has_axes, bool has_steps, IntsFn ints) {
  SliceSpec spec;
  ASSIGN_OR_RETURN(spec.starts, ints(1));
  ASSIGN_OR_RETURN(spec.ends, ints(2));
  const size_t n = spec.starts.size();
  if (spec.ends.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("starts has ", n, " elements and ends ", spec.ends.size()));
  }
  std::vector<int64_t> axes(n);
  for (size_t i = 0; i < n; ++i) axes[i] = static_cast<int64_t>(i);
  if (has_axes) {
    ASSIGN_OR_RETURN(axes, ints(3));
    if (axes.size() != n) {
      return absl::InvalidArgumentError(
          absl::StrCat("axes has ", axes.size(), " elements and starts ", n));
    }
  }
  ASSIGN_OR_RETURN(spec.axes, NormalizeAxes(axes, rank));
  spec.steps.assign(n, 1);
  if (has_steps) {
    ASSIGN_OR_RETURN(spec.steps, ints(4));
    if (spec.steps.size() != n) {
      return absl::InvalidArgumentError(
          absl::StrCat("steps has ", spec.steps.size(), " elements and starts ", n));
    }
  }
  for (int64_t step : spec.steps) {
    if (step == 0) return absl::InvalidArgumentError("a step is 0");
  }
  return spec;
}

// Every axis's slice for an input of this shape (unsliced axes keep everything).
std::vector<AxisSlice> ResolveSlices(const SliceSpec& spec, const Shape& shape) {
  std::vector<AxisSlice> slices(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) slices[d] = AxisSlice{0, 1, shape[d]};
  for (size_t i = 0; i < spec.axes.size(); ++i) {
    const int a = spec.axes[i];
    slices[a] = ResolveAxis(spec.starts[i], spec.ends[i], spec.steps[i], shape[a]);
  }
  return slices;
}

// Whether the slice keeps a whole axis of any size, in order or reversed.
bool KeepsWholeAxis(int64_t start, int64_t end, int64_t step) {
  if (step == 1) return (start == 0 || start <= -kToTheEnd) && end >= kToTheEnd;
  if (step == -1) return (start == -1 || start >= kToTheEnd) && end <= -kToTheEnd;
  return false;
}

Status InferSlice(InferenceContext& ctx) {
  const SymShape& in = ctx.input(0).shape;
  const int rank = static_cast<int>(in.size());
  auto spec = ReadSliceSpec(rank, ctx.has_input(3), ctx.has_input(4),
                            [&ctx](int i) { return ctx.ConstantInts(i); });
  if (!spec.ok()) return ctx.Error(spec.status().message());
  SymShape out = in;
  for (size_t i = 0; i < spec->axes.size(); ++i) {
    const int a = spec->axes[i];
    if (in[a].is_fixed()) {
      out[a] = Dim::Fixed(
          ResolveAxis(spec->starts[i], spec->ends[i], spec->steps[i], in[a].value()).count);
    } else if (!KeepsWholeAxis(spec->starts[i], spec->ends[i], spec->steps[i])) {
      return ctx.Error(absl::StrCat("slicing axis ", a, " (", in[a].ToString(), ") from ",
                                    spec->starts[i], " to ", spec->ends[i], " by ", spec->steps[i],
                                    " gives a size that depends on the batch size"));
    }
  }
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  const Value& data = ctx.input(0);
  // int32 too: tf2onnx and TensorFlow cut int32 shapes (Flatten's batch size).
  const bool integer = data.dtype == DType::kInt64 || data.dtype == DType::kInt32;
  if (data.shape_value && rank == 1 && integer) {
    const SymShape& value = *data.shape_value;
    const std::vector<AxisSlice> slices =
        ResolveSlices(*spec, Shape{static_cast<int64_t>(value.size())});
    SymShape sliced;
    for (int64_t k = 0; k < slices[0].count; ++k)
      sliced.push_back(value[slices[0].start + k * slices[0].step]);
    ctx.output(0).shape_value = sliced;
  }
  return absl::OkStatus();
}

// Copies the slice: rows along the last axis, an odometer over the others.
template <typename T>
void SliceElements(const T* in, const Shape& in_shape, const std::vector<AxisSlice>& slices,
                   T* out) {
  const int rank = static_cast<int>(in_shape.size());
  Shape counts(rank);
  for (int d = 0; d < rank; ++d) counts[d] = slices[d].count;
  if (NumElements(counts) == 0) return;
  if (rank == 0) {
    *out = *in;
    return;
  }
  // Per axis, how far one output step moves in the input (elements, signed).
  Shape deltas(rank);
  int64_t stride = 1, offset = 0;
  for (int d = rank - 1; d >= 0; --d) {
    deltas[d] = slices[d].step * stride;
    offset += slices[d].start * stride;
    stride *= in_shape[d];
  }
  const int64_t inner = counts[rank - 1], inner_delta = deltas[rank - 1];
  const int64_t outer = NumElements(counts) / inner;
  Shape index(rank, 0);
  for (int64_t o = 0; o < outer; ++o) {
    const T* src = in + offset;
    if (inner_delta == 1) {
      std::memcpy(out, src, inner * sizeof(T));
    } else {
      for (int64_t i = 0; i < inner; ++i) out[i] = src[i * inner_delta];
    }
    out += inner;
    for (int d = rank - 2; d >= 0; --d) {
      offset += deltas[d];
      if (++index[d] < counts[d]) break;
      offset -= deltas[d] * counts[d];
      index[d] = 0;
    }
  }
}

StatusOr<std::unique_ptr<OpKernel>> CreateSlice(const Node& node, const Graph& graph) {
  const int rank = static_cast<int>(graph.values[node.inputs[0]].shape.size());
  auto spec = ReadSliceSpec(rank, HasInput(node, 3), HasInput(node, 4),
                            [&](int i) { return ConstantInputInts(node, graph, i); });
  if (!spec.ok())
    return absl::InvalidArgumentError(absl::StrCat(node.Describe(), ": ", spec.status().message()));
  return MakeKernel([spec = *std::move(spec)](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = *ctx.outputs[0];
    // Resolved per call: the batch size is known only now.
    const std::vector<AxisSlice> slices = ResolveSlices(spec, in.shape());
    for (int d = 0; d < in.rank(); ++d) {
      if (slices[d].count != out.dim(d)) {
        return absl::InvalidArgumentError(absl::StrCat("Slice of ", ShapeToString(in.shape()),
                                                       " does not fit its planned output ",
                                                       ShapeToString(out.shape())));
      }
    }
    switch (DTypeSize(in.dtype())) {
      case 1:
        SliceElements(in.data<uint8_t>(), in.shape(), slices, out.data<uint8_t>());
        break;
      case 4:
        SliceElements(in.data<uint32_t>(), in.shape(), slices, out.data<uint32_t>());
        break;
      case 8:
        SliceElements(in.data<uint64_t>(), in.shape(), slices, out.data<uint64_t>());
        break;
      default:
        return absl::InternalError("unsupported element size");
    }
    return absl::OkStatus();
  });
}

void RegisterSliceOps(OpRegistry& registry) {
  OpSchema slice = OpSchema::Make("Slice", 3, 5, {}, InferSlice, CreateSlice);
  slice.load_time_inputs = {1, 2, 3, 4};
  registry.Register(slice);
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kSliceOps(RegisterSliceOps);

}  // namespace
}  // namespace servekit
