#include "servekit/kernels/broadcast.h"

namespace servekit {

Shape BroadcastStrides(const Shape& shape, const Shape& out) {
  const size_t rank = out.size();
  Shape strides(rank, 0);
  int64_t stride = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    const size_t axis = rank - 1 - i;
    const int64_t dim = shape[shape.size() - 1 - i];
    strides[axis] = dim == 1 && out[axis] != 1 ? 0 : stride;
    stride *= dim;
  }
  return strides;
}

int UniformBlockStart(const Shape& strides, const Shape& out) {
  const int rank = static_cast<int>(out.size());
  int k = rank;
  bool contiguous = true, repeated = true;
  int64_t expected = 1;
  for (int d = rank - 1; d >= 0; --d) {
    if (out[d] != 1) {
      contiguous = contiguous && strides[d] == expected;
      repeated = repeated && strides[d] == 0;
      if (!contiguous && !repeated) break;
      expected *= out[d];
    }
    k = d;
  }
  return k;
}

bool BlockIsRepeated(const Shape& strides, const Shape& out, int k) {
  for (int d = k; d < static_cast<int>(out.size()); ++d) {
    if (out[d] != 1 && strides[d] != 0) return false;
  }
  return true;
}

}  // namespace servekit
