// Window2D: the sliding-window geometry shared by Conv and the pooling ops
// (kernel size, strides, dilations, pads), resolved from ONNX attributes for a
// known input height and width, including auto_pad and ceil_mode.
#pragma once

#include <cstdint>

#include "servekit/engine/attributes.h"
#include "servekit/util/status.h"

namespace servekit {

struct Window2D {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t out_h = 0, out_w = 0;

  // True for a 1x1 window with stride 1 and no padding: the input is its own im2col.
  bool IsPointwise() const {
    return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && pad_top == 0 &&
           pad_left == 0 && pad_bottom == 0 && pad_right == 0;
  }
};

// Reads kernel_shape (or uses `kernel_h/kernel_w` when given, as Conv does from
// its weights), strides, dilations, pads, auto_pad and ceil_mode.
StatusOr<Window2D> ResolveWindow2D(const Attributes& attributes, int64_t in_h, int64_t in_w,
                                   int64_t kernel_h, int64_t kernel_w, bool allow_ceil_mode);

}  // namespace servekit
