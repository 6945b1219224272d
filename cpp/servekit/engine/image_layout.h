// ImageLayout: the axis order of a 4-D image activation.
//
// ONNX's image ops (Conv, the pools) read and write NCHW. The channels-last
// pass (engine/passes/channels_last.cc) rewrites chains of them to NHWC, the
// layout oneDNN's convolutions compute in, marking each rewritten node with
// the internal attribute `_layout` = "NHWC" (a description only: the kernels
// that accept the attribute compute in it).
#pragma once

#include <utility>

#include "servekit/engine/attributes.h"
#include "servekit/util/status.h"

namespace servekit {

enum class ImageLayout { kNCHW, kNHWC };

inline constexpr const char* kImageLayoutAttribute = "_layout";

// `_layout`: absent or "NCHW", or "NHWC"; anything else is an error.
StatusOr<ImageLayout> ReadImageLayout(const Attributes& attributes);

// A 4-D shape in `layout`, reordered to N, C, H, W.
template <typename ShapeT>
ShapeT ToNCHW(ShapeT shape, ImageLayout layout) {
  if (layout == ImageLayout::kNHWC && shape.size() == 4) {
    shape = ShapeT{shape[0], shape[3], shape[1], shape[2]};
  }
  return shape;
}

// An N, C, H, W shape, reordered to `layout`.
template <typename ShapeT>
ShapeT FromNCHW(ShapeT shape, ImageLayout layout) {
  if (layout == ImageLayout::kNHWC && shape.size() == 4) {
    shape = ShapeT{shape[0], shape[2], shape[3], shape[1]};
  }
  return shape;
}

}  // namespace servekit
