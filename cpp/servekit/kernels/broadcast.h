// Walking an output shape under ONNX (numpy) multidirectional broadcasting, for
// the kernels whose inputs broadcast: the binary arithmetic and comparisons,
// Where, Expand.
//
// The output is visited in runs: the longest innermost block of dims over which
// every input is either contiguous or one repeated element. The caller's inner
// loop then sees plain strides of 1 or 0 and vectorises; the odometer over the
// outer dims runs once per run, not once per element. Shapes must already be
// known to broadcast (shape inference checked them at load time).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "servekit/util/tensor.h"

namespace servekit {

// Strides of `shape` aligned right to `out`'s rank, 0 where it broadcasts.
Shape BroadcastStrides(const Shape& shape, const Shape& out);

// The smallest k such that, over dims [k, rank), an input with these broadcast
// strides is either contiguous or a single repeated element.
int UniformBlockStart(const Shape& strides, const Shape& out);

// Whether the input is one repeated element over dims [k, rank).
bool BlockIsRepeated(const Shape& strides, const Shape& out, int k);

// Calls fn(offsets, steps, out_offset, n) for consecutive runs covering `out`
// in row-major order: in the run, input i's j-th element is at
// offsets[i] + j * steps[i] (steps are 0 or 1) and the output's at out_offset + j,
// for j in [0, n). Offsets count elements, not bytes. Nothing is called for an
// empty output.
template <size_t kInputs, typename Fn>
void ForEachBroadcastRun(const std::array<const Shape*, kInputs>& inputs, const Shape& out,
                         Fn&& fn) {
  if (NumElements(out) == 0) return;
  const int rank = static_cast<int>(out.size());
  std::array<Shape, kInputs> strides;
  int k = 0;
  for (size_t i = 0; i < kInputs; ++i) {
    strides[i] = BroadcastStrides(*inputs[i], out);
    k = std::max(k, UniformBlockStart(strides[i], out));
  }
  int64_t inner = 1;
  for (int d = k; d < rank; ++d) inner *= out[d];
  std::array<int64_t, kInputs> steps, offsets;
  for (size_t i = 0; i < kInputs; ++i) {
    steps[i] = BlockIsRepeated(strides[i], out, k) ? 0 : 1;
    offsets[i] = 0;
  }
  const int64_t outer = NumElements(Shape(out.begin(), out.begin() + k));
  Shape index(k, 0);
  for (int64_t o = 0; o < outer; ++o) {
    fn(static_cast<const std::array<int64_t, kInputs>&>(offsets),
       static_cast<const std::array<int64_t, kInputs>&>(steps), o * inner, inner);
    for (int d = k - 1; d >= 0; --d) {  // odometer over the outer dims
      for (size_t i = 0; i < kInputs; ++i) offsets[i] += strides[i][d];
      if (++index[d] < out[d]) break;
      for (size_t i = 0; i < kInputs; ++i) offsets[i] -= strides[i][d] * out[d];
      index[d] = 0;
    }
  }
}

}  // namespace servekit
