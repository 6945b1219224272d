// Dim and SymShape: tensor shapes known at load time up to the batch size N.
//
// A Dim is either a fixed size or `factor * N`, which covers what real models do
// with a batch dimension: carry it (N), flatten it with other dims (N*C*H*W is
// 64*N after Flatten(axis=0)), or split it. Arithmetic that would need anything
// else (N*N, N+3) fails with a clear error at load time. Concrete shapes for a
// request come from Evaluate(shape, batch), so no per-request shape inference runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/types/span.h"
#include "servekit/util/status.h"
#include "servekit/util/tensor.h"

namespace servekit {

class Dim {
 public:
  constexpr Dim() = default;
  static constexpr Dim Fixed(int64_t value) { return Dim(value, false); }
  static constexpr Dim Batch(int64_t factor = 1) { return Dim(factor, true); }

  bool is_fixed() const { return !batch_; }
  // The size of a fixed dim, or the factor of a batch dim.
  int64_t value() const { return value_; }
  int64_t Evaluate(int64_t batch) const { return batch_ ? value_ * batch : value_; }
  bool operator==(const Dim& other) const {
    return value_ == other.value_ && batch_ == other.batch_;
  }
  bool operator!=(const Dim& other) const { return !(*this == other); }
  // "7", "N", "64*N".
  std::string ToString() const;

 private:
  constexpr Dim(int64_t value, bool batch) : value_(value), batch_(batch) {}
  int64_t value_ = 0;
  bool batch_ = false;
};

// Shape arithmetic. Each fails (InvalidArgument) rather than wrap when the result
// does not fit in int64: dims come from model files, so they can be anything.
StatusOr<Dim> MulDims(Dim a, Dim b);
// a / b; fails unless the division is exact and b is fixed (or b == a's batch part).
StatusOr<Dim> DivDims(Dim a, Dim b);
StatusOr<Dim> AddDims(Dim a, Dim b);
// a - b; b must be fixed (subtracting the batch size is not expressible).
StatusOr<Dim> SubDims(Dim a, Dim b);

using SymShape = absl::InlinedVector<Dim, 6>;

bool IsFixed(const SymShape& shape);
Shape Evaluate(const SymShape& shape, int64_t batch);
SymShape FixedShape(const Shape& shape);
std::string SymShapeToString(const SymShape& shape);
// Product of all dims.
StatusOr<Dim> SymNumElements(const SymShape& shape);
// Product of dims [begin, end).
StatusOr<Dim> SymProduct(const SymShape& shape, int begin, int end);

// ONNX multidirectional (numpy) broadcasting of two shapes.
StatusOr<SymShape> BroadcastShapes(const SymShape& a, const SymShape& b);
// Whether `param`, right-aligned to `x`, varies only along x's axes from `axis`
// on: each of its dims there is x's or 1, and 1 before (a layer norm's scale).
bool BroadcastsAlongTrailingAxes(const SymShape& param, const SymShape& x, int axis);

// Normalises an axis in [-rank, rank) to [0, rank); error otherwise (so a scalar
// has no axis at all).
StatusOr<int> NormalizeAxis(int64_t axis, int rank);
// Normalises each of an op's `axes` (Squeeze, Unsqueeze, ReduceMean, Pad) as
// NormalizeAxis does, and refuses an axis named twice (as 1 and -1, say): ops
// define no meaning for a repeat, and shape inference and a kernel that each
// picked one would disagree about the output.
StatusOr<std::vector<int>> NormalizeAxes(absl::Span<const int64_t> axes, int rank);

}  // namespace servekit
