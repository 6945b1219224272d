// Pad (constant, reflect and edge modes; negative pads crop; optional axes input).
#include <algorithm>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "servekit/kernels/kernel_util.h"

namespace servekit {
namespace {

// Negative pads crop first and positive pads then pad what is left, as
// onnxruntime does, so edge and reflect repeat or mirror the cropped input. The
// kernel below indexes the uncropped input and stays inside it (and inside the
// cropped part) only because ResolvePads has checked, for every padded axis:
//  - it is not the batch axis, whose size is known only per request;
//  - negative pads crop at most the whole axis;
//  - reflect pads are smaller than what is left after cropping (numpy's and
//    onnxruntime's rule: the mirror index leaves the axis otherwise), so reflect
//    cannot grow an empty axis;
//  - edge padding has at least one element left to repeat. (onnxruntime instead
//    leaves an empty axis empty, against the output shape ONNX defines, and
//    numpy refuses: so does servekit.)
//  - the padded size fits in int64.
//
// `pads` holds begins then ends for `axes` (every axis when null). Returns the
// begins then ends for every axis of `in`, and sets `out` to the padded shape.
StatusOr<std::vector<int64_t>> ResolvePads(const std::string& mode,
                                           const std::vector<int64_t>& pads,
                                           const std::vector<int64_t>* axes, const SymShape& in,
                                           SymShape* out) {
  if (mode != "constant" && mode != "reflect" && mode != "edge") {
    return absl::InvalidArgumentError(absl::StrCat("mode '", mode, "' is not supported"));
  }
  const int rank = static_cast<int>(in.size());
  std::vector<int> padded_axes(rank);
  std::iota(padded_axes.begin(), padded_axes.end(), 0);
  if (axes != nullptr) {
    ASSIGN_OR_RETURN(padded_axes, NormalizeAxes(*axes, rank));
  }
  const size_t count = padded_axes.size();
  if (pads.size() != 2 * count) {
    return absl::InvalidArgumentError(
        absl::StrCat("pads has ", pads.size(), " values; expected ", 2 * count));
  }
  std::vector<int64_t> all(2 * rank, 0);
  *out = in;
  for (size_t i = 0; i < count; ++i) {
    const int axis = padded_axes[i];
    const int64_t begin = pads[i], end = pads[i + count];
    all[axis] = begin;
    all[axis + rank] = end;
    if (begin == 0 && end == 0) continue;
    // Even pads that cancel out (-1 and 1) move the batch axis's rows.
    if (!in[axis].is_fixed())
      return absl::InvalidArgumentError("padding the batch dimension is not supported");
    auto overflow = [&] {
      return absl::InvalidArgumentError(
          absl::StrCat("pads ", begin, " and ", end, " of axis ", axis, " overflow int64"));
    };
    // -INT64_MIN does not exist.
    if (begin == std::numeric_limits<int64_t>::min() || end == std::numeric_limits<int64_t>::min())
      return overflow();
    const int64_t size = in[axis].value();
    const int64_t crop_begin = std::max<int64_t>(-begin, 0), crop_end = std::max<int64_t>(-end, 0);
    const int64_t grow_begin = std::max<int64_t>(begin, 0), grow_end = std::max<int64_t>(end, 0);
    int64_t crop, padded;
    if (__builtin_add_overflow(crop_begin, crop_end, &crop)) return overflow();
    if (crop > size) {
      return absl::InvalidArgumentError(
          absl::StrCat("pads remove more than the whole axis: they crop ", crop,
                       " elements from axis ", axis, " of size ", size));
    }
    const int64_t kept = size - crop;
    if (__builtin_add_overflow(kept, grow_begin, &padded) ||
        __builtin_add_overflow(padded, grow_end, &padded)) {
      return overflow();
    }
    if (mode == "reflect" &&
        ((grow_begin > 0 && grow_begin >= kept) || (grow_end > 0 && grow_end >= kept))) {
      return absl::InvalidArgumentError(
          absl::StrCat("reflect pads must be smaller than the axis: axis ", axis, " has ", kept,
                       " elements after cropping; pads are ", begin, " and ", end));
    }
    if (mode == "edge" && kept == 0 && (grow_begin > 0 || grow_end > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "edge padding of axis ", axis, " needs an element to repeat, but nothing is left of its ",
          size, " after cropping"));
    }
    (*out)[axis] = Dim::Fixed(padded);
  }
  return all;
}

struct PadParams {
  std::string mode;
  std::vector<int64_t> pads;  // begins for every axis, then ends
  float value = 0;
};

StatusOr<PadParams> ReadPad(const Node& node, const Graph& graph) {
  auto invalid = [&node](absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat(node.Describe(), ": ", message));
  };
  PadParams p;
  ASSIGN_OR_RETURN(p.mode, node.attributes.GetString("mode", "constant"));
  ASSIGN_OR_RETURN(std::vector<int64_t> pads, ConstantInputInts(node, graph, 1));
  std::vector<int64_t> axes;
  if (HasInput(node, 3)) {
    ASSIGN_OR_RETURN(axes, ConstantInputInts(node, graph, 3));
  }
  SymShape padded;
  auto all = ResolvePads(p.mode, pads, HasInput(node, 3) ? &axes : nullptr,
                         graph.values[node.inputs[0]].shape, &padded);
  if (!all.ok()) return invalid(all.status().message());
  p.pads = *std::move(all);
  ASSIGN_OR_RETURN(const Tensor* value, ConstantInput(node, graph, 2));
  if (value != nullptr && value->num_elements() > 0) {
    if (value->dtype() != DType::kFloat32) return invalid("constant_value must be float32");
    p.value = *value->data<float>();
  }
  return p;
}

Status InferPad(InferenceContext& ctx) {
  RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32}));
  for (int i = 1; i < 4; ++i) {
    if (ctx.has_input(i) && !ctx.input(i).constant)
      return ctx.Error("pads, constant_value and axes must be constants");
  }
  RETURN_IF_ERROR(ctx.ExpectDType(1, {DType::kInt64}));
  ASSIGN_OR_RETURN(std::string mode, ctx.attributes().GetString("mode", "constant"));
  ASSIGN_OR_RETURN(std::vector<int64_t> pads, ctx.ConstantInts(1));
  std::vector<int64_t> axes;
  if (ctx.has_input(3)) {
    ASSIGN_OR_RETURN(axes, ctx.ConstantInts(3));
  }
  SymShape out;
  auto all = ResolvePads(mode, pads, ctx.has_input(3) ? &axes : nullptr, ctx.input(0).shape, &out);
  if (!all.ok()) return ctx.Error(all.status().message());
  ctx.SetOutput(0, DType::kFloat32, out);
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<OpKernel>> CreatePad(const Node& node, const Graph& graph) {
  const int rank = static_cast<int>(graph.values[node.inputs[0]].shape.size());
  ASSIGN_OR_RETURN(PadParams p, ReadPad(node, graph));
  return MakeKernel([p, rank](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = *ctx.outputs[0];
    const int64_t total = out.num_elements();
    Shape in_strides(rank, 1);
    for (int d = rank - 2; d >= 0; --d) in_strides[d] = in_strides[d + 1] * in.dim(d + 1);
    Shape index(rank, 0);
    const float* src = in.data<float>();
    float* dst = out.data<float>();
    for (int64_t o = 0; o < total; ++o) {
      int64_t offset = 0;
      bool inside = true;
      for (int d = 0; d < rank && inside; ++d) {
        int64_t i = index[d] - p.pads[d];
        const int64_t n = in.dim(d);
        if (i < 0 || i >= n) {
          if (p.mode == "constant") {
            inside = false;
          } else if (p.mode == "edge") {
            i = std::clamp<int64_t>(i, 0, n - 1);
          } else {  // reflect
            i = i < 0 ? -i : 2 * (n - 1) - i;
          }
        }
        offset += i * in_strides[d];
      }
      dst[o] = inside ? src[offset] : p.value;
      for (int d = rank - 1; d >= 0; --d) {
        if (++index[d] < out.dim(d)) break;
        index[d] = 0;
      }
    }
    return absl::OkStatus();
  });
}

void RegisterPadOps(OpRegistry& registry) {
  OpSchema pad = OpSchema::Make("Pad", 2, 4, {"mode"}, InferPad, CreatePad);
  pad.load_time_inputs = {1, 2, 3};
  registry.Register(pad);
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kPadOps(RegisterPadOps);

}  // namespace
}  // namespace servekit
