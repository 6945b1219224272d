// Expand and Tile: copies that repeat the input. Any dtype.
//
// Expand(input, shape) broadcasts input and `shape` against each other (ONNX's
// bidirectional broadcast: a 1 on either side takes the other's size), so the
// output may be larger than `shape` says but never smaller than the input.
// `shape` is a 1-D integer tensor known at load time: a constant, or a shape
// value (Shape -> ... -> Expand, which may carry the batch size).
//
// Tile(input, repeats) repeats the input repeats[d] times along each axis d;
// repeats is a constant with one non-negative entry per axis.
#include <cstring>

#include "servekit/kernels/broadcast.h"
#include "servekit/kernels/kernel_util.h"

namespace servekit {
namespace {

// --- Expand ----------------------------------------------------------------------------

Status InferExpand(InferenceContext& ctx) {
  RETURN_IF_ERROR(ctx.ExpectDType(1, {DType::kInt64, DType::kInt32}));
  RETURN_IF_ERROR(ctx.ExpectRank(1, 1));
  ASSIGN_OR_RETURN(SymShape shape, ctx.ShapeValue(1));
  for (const Dim& d : shape) {
    if (d.value() < 0)
      return ctx.Error(absl::StrCat("the shape has a negative dim ", d.ToString()));
  }
  auto out = BroadcastShapes(ctx.input(0).shape, shape);
  if (!out.ok()) return ctx.Error(out.status().message());
  ctx.SetOutput(0, ctx.input(0).dtype, *out);
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<OpKernel>> CreateExpand(const Node&, const Graph&) {
  return MakeKernel([](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = *ctx.outputs[0];
    const size_t element = DTypeSize(in.dtype());
    const char* src = static_cast<const char*>(in.raw_data());
    char* dst = static_cast<char*>(out.raw_data());
    ForEachBroadcastRun<1>({&in.shape()}, out.shape(),
                           [&](const auto& offsets, const auto& steps, int64_t o, int64_t n) {
                             const char* from = src + offsets[0] * element;
                             char* to = dst + o * element;
                             if (steps[0] == 1) {
                               std::memcpy(to, from, n * element);
                               return;
                             }
                             for (int64_t i = 0; i < n; ++i) {
                               std::memcpy(to + i * element, from, element);
                             }
                           });
    return absl::OkStatus();
  });
}

// --- Tile ------------------------------------------------------------------------------

StatusOr<std::vector<int64_t>> RepeatsOf(std::vector<int64_t> repeats, int rank) {
  if (static_cast<int>(repeats.size()) != rank) {
    return absl::InvalidArgumentError(
        absl::StrCat("repeats has ", repeats.size(), " entries for an input of rank ", rank));
  }
  for (int64_t r : repeats) {
    if (r < 0) return absl::InvalidArgumentError(absl::StrCat("repeats has a negative entry ", r));
  }
  return repeats;
}

Status InferTile(InferenceContext& ctx) {
  const SymShape& in = ctx.input(0).shape;
  ASSIGN_OR_RETURN(std::vector<int64_t> ints, ctx.ConstantInts(1));
  auto repeats = RepeatsOf(std::move(ints), static_cast<int>(in.size()));
  if (!repeats.ok()) return ctx.Error(repeats.status().message());
  SymShape out;
  for (size_t d = 0; d < in.size(); ++d) {
    if ((*repeats)[d] == 0) {
      out.push_back(Dim::Fixed(0));
      continue;
    }
    auto dim = MulDims(in[d], Dim::Fixed((*repeats)[d]));
    if (!dim.ok()) return ctx.Error(dim.status().message());
    out.push_back(*dim);
  }
  ctx.SetOutput(0, ctx.input(0).dtype, out);
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<OpKernel>> CreateTile(const Node&, const Graph&) {
  // The repeats are implied by the input and output shapes (out = in * repeats).
  return MakeKernel([](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = *ctx.outputs[0];
    const size_t element = DTypeSize(in.dtype());
    if (out.num_elements() == 0) return absl::OkStatus();
    const int rank = in.rank();
    if (rank == 0) {
      std::memcpy(out.raw_data(), in.raw_data(), element);
      return absl::OkStatus();
    }
    // Each output row (along the last axis) is an input row repeated; the
    // odometer walks output rows and tracks the input row they copy.
    const int64_t in_row = in.dim(rank - 1) * element;
    const int64_t row_repeats = out.dim(rank - 1) / in.dim(rank - 1);
    const int64_t rows = out.num_elements() / out.dim(rank - 1);
    Shape in_strides(rank, 1);
    for (int d = rank - 2; d >= 0; --d) in_strides[d] = in_strides[d + 1] * in.dim(d + 1);
    Shape out_index(rank, 0), in_index(rank, 0);
    int64_t offset = 0;  // of the input row, in elements
    const char* src = static_cast<const char*>(in.raw_data());
    char* dst = static_cast<char*>(out.raw_data());
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t k = 0; k < row_repeats; ++k, dst += in_row) {
        std::memcpy(dst, src + offset * element, in_row);
      }
      for (int d = rank - 2; d >= 0; --d) {
        ++out_index[d];
        offset += in_strides[d];
        if (++in_index[d] == in.dim(d)) {
          offset -= in_strides[d] * in.dim(d);
          in_index[d] = 0;
        }
        if (out_index[d] < out.dim(d)) break;
        out_index[d] = 0;
        // The input index wrapped with it: out.dim(d) is a multiple of in.dim(d).
      }
    }
    return absl::OkStatus();
  });
}

void RegisterExpandOps(OpRegistry& registry) {
  OpSchema expand = OpSchema::Make("Expand", 2, 2, {}, InferExpand, CreateExpand);
  expand.load_time_inputs = {1};
  registry.Register(expand);
  OpSchema tile = OpSchema::Make("Tile", 2, 2, {}, InferTile, CreateTile);
  tile.load_time_inputs = {1};
  registry.Register(tile);
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kExpandOps(RegisterExpandOps);

}  // namespace
}  // namespace servekit
