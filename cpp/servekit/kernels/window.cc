#include "servekit/kernels/window.h"

#include <algorithm>

namespace servekit {
namespace {

// Far above any real kernel, stride, dilation or pad; keeps products in range.
constexpr int64_t kMaxWindowValue = int64_t{1} << 20;

StatusOr<std::vector<int64_t>> Pair(const Attributes& attrs, const char* name, int64_t fallback) {
  ASSIGN_OR_RETURN(std::vector<int64_t> v, attrs.GetInts(name, {fallback, fallback}));
  if (v.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must have 2 values for a 2-D window; got ", v.size()));
  }
  for (int64_t x : v) {
    if (x < 1 || x > kMaxWindowValue) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must be in [1, ", kMaxWindowValue, "]; got ", x));
    }
  }
  return v;
}

}  // namespace

StatusOr<Window2D> ResolveWindow2D(const Attributes& attrs, int64_t in_h, int64_t in_w,
                                   int64_t kernel_h, int64_t kernel_w, bool allow_ceil_mode) {
  Window2D w;
  if (attrs.Has("kernel_shape") || kernel_h <= 0) {
    ASSIGN_OR_RETURN(std::vector<int64_t> k, attrs.GetInts("kernel_shape", {}));
    if (k.size() != 2 || k[0] < 1 || k[1] < 1 || k[0] > kMaxWindowValue || k[1] > kMaxWindowValue) {
      return absl::InvalidArgumentError(
          absl::StrCat("kernel_shape must have 2 values in [1, ", kMaxWindowValue, "]"));
    }
    if (kernel_h > 0 && (k[0] != kernel_h || k[1] != kernel_w)) {
      return absl::InvalidArgumentError("kernel_shape does not match the weights");
    }
    kernel_h = k[0];
    kernel_w = k[1];
  }
  w.kernel_h = kernel_h;
  w.kernel_w = kernel_w;
  ASSIGN_OR_RETURN(std::vector<int64_t> strides, Pair(attrs, "strides", 1));
  ASSIGN_OR_RETURN(std::vector<int64_t> dilations, Pair(attrs, "dilations", 1));
  w.stride_h = strides[0];
  w.stride_w = strides[1];
  w.dilation_h = dilations[0];
  w.dilation_w = dilations[1];
  ASSIGN_OR_RETURN(int64_t ceil_mode, attrs.GetInt("ceil_mode", 0));
  if (ceil_mode && !allow_ceil_mode)
    return absl::InvalidArgumentError("ceil_mode is not accepted here");
  ASSIGN_OR_RETURN(std::string auto_pad, attrs.GetString("auto_pad", "NOTSET"));
  const int64_t extent_h = w.dilation_h * (w.kernel_h - 1) + 1;
  const int64_t extent_w = w.dilation_w * (w.kernel_w - 1) + 1;
  if (auto_pad == "NOTSET") {
    ASSIGN_OR_RETURN(std::vector<int64_t> pads, attrs.GetInts("pads", {0, 0, 0, 0}));
    if (pads.size() != 4)
      return absl::InvalidArgumentError("pads must have 4 values for a 2-D window");
    for (int64_t p : pads) {
      if (p < 0 || p > kMaxWindowValue) {
        return absl::InvalidArgumentError(
            absl::StrCat("pads must be in [0, ", kMaxWindowValue, "]; got ", p));
      }
    }
    w.pad_top = pads[0];
    w.pad_left = pads[1];
    w.pad_bottom = pads[2];
    w.pad_right = pads[3];
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    // Output size ceil(in / stride); the odd pad goes at the end for SAME_UPPER.
    const int64_t out_h = (in_h + w.stride_h - 1) / w.stride_h;
    const int64_t out_w = (in_w + w.stride_w - 1) / w.stride_w;
    const int64_t total_h = std::max<int64_t>(0, (out_h - 1) * w.stride_h + extent_h - in_h);
    const int64_t total_w = std::max<int64_t>(0, (out_w - 1) * w.stride_w + extent_w - in_w);
    const bool upper = auto_pad == "SAME_UPPER";
    w.pad_top = upper ? total_h / 2 : total_h - total_h / 2;
    w.pad_bottom = total_h - w.pad_top;
    w.pad_left = upper ? total_w / 2 : total_w - total_w / 2;
    w.pad_right = total_w - w.pad_left;
  } else if (auto_pad != "VALID") {
    return absl::InvalidArgumentError(absl::StrCat("auto_pad '", auto_pad, "' is not valid"));
  }
  const int64_t span_h = in_h + w.pad_top + w.pad_bottom - extent_h;
  const int64_t span_w = in_w + w.pad_left + w.pad_right - extent_w;
  if (span_h < 0 || span_w < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the window (", extent_h, "x", extent_w,
                     " with dilation) is larger than the padded input (", in_h, "x", in_w, ")"));
  }
  if (ceil_mode) {
    w.out_h = (span_h + w.stride_h - 1) / w.stride_h + 1;
    w.out_w = (span_w + w.stride_w - 1) / w.stride_w + 1;
    // A last window that starts inside the right padding is dropped.
    if ((w.out_h - 1) * w.stride_h >= in_h + w.pad_top) --w.out_h;
    if ((w.out_w - 1) * w.stride_w >= in_w + w.pad_left) --w.out_w;
  } else {
    w.out_h = span_h / w.stride_h + 1;
    w.out_w = span_w / w.stride_w + 1;
  }
  return w;
}

}  // namespace servekit
