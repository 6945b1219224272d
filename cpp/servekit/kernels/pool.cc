// Pooling: MaxPool, AveragePool (2-D windows, pads, auto_pad, ceil_mode,
// dilations for MaxPool), GlobalAveragePool and GlobalMaxPool, over NCHW
// planes or, for nodes the channels-last pass rewrote (`_layout` = "NHWC",
// engine/image_layout.h), over NHWC images, vectorised across channels.
#include <Eigen/Core>
#include <algorithm>
#ifdef __AVX2__
#include <immintrin.h>
#endif
#include <limits>

#include "servekit/engine/image_layout.h"
#include "servekit/kernels/kernel_util.h"
#include "servekit/kernels/window.h"

namespace servekit {
namespace {

template <bool kMax>
Status InferPool(InferenceContext& ctx) {
  RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32}));
  auto layout = ReadImageLayout(ctx.attributes());
  if (!layout.ok()) return ctx.Error(layout.status().message());
  const SymShape x = ToNCHW(ctx.input(0).shape, *layout);
  if (x.size() != 4) {
    return ctx.Error(
        absl::StrCat("only 2-D pooling (rank-4 NCHW input) is supported; input has shape ",
                     SymShapeToString(x)));
  }
  if (!x[2].is_fixed() || !x[3].is_fixed()) return ctx.Error("spatial dims must be fixed");
  if (ctx.num_outputs() > 1) return ctx.Error("the Indices output is not supported");
  if (!kMax && ctx.attributes().Has("dilations")) {
    ASSIGN_OR_RETURN(std::vector<int64_t> d, ctx.attributes().GetInts("dilations", {}));
    if (d != std::vector<int64_t>{1, 1})
      return ctx.Error("AveragePool dilations are not supported");
  }
  ASSIGN_OR_RETURN(int64_t storage_order, ctx.attributes().GetInt("storage_order", 0));
  if (storage_order != 0) return ctx.Error("storage_order=1 is not supported");
  auto w =
      ResolveWindow2D(ctx.attributes(), x[2].value(), x[3].value(), 0, 0, /*allow_ceil_mode=*/true);
  if (!w.ok()) return ctx.Error(w.status().message());
  ctx.SetOutput(
      0, DType::kFloat32,
      FromNCHW(SymShape{x[0], x[1], Dim::Fixed(w->out_h), Dim::Fixed(w->out_w)}, *layout));
  return absl::OkStatus();
}

// An average window's divisor: the taps it covered, or with count_include_pad
// also the explicit pads it covers (not the ceil_mode overhang past them), as
// onnxruntime does.
int64_t AverageDivisor(const Window2D& w, bool include_pad, int64_t count, int64_t h0, int64_t w0,
                       int64_t height, int64_t width) {
  if (!include_pad) return count;
  const int64_t h_end = std::min(h0 + w.kernel_h, height + w.pad_bottom);
  const int64_t w_end = std::min(w0 + w.kernel_w, width + w.pad_right);
  return (h_end - h0) * (w_end - w0);
}

// One output pixel of the window at (h0, w0), which may cross the padding:
// taps outside the image are skipped. Pixels hold `channels` interleaved
// values (NHWC; 1 for an NCHW plane), reduced a channel vector at a time.
template <bool kMax>
void PoolWindow(const Window2D& w, bool include_pad, const float* src, int64_t height,
                int64_t width, int64_t channels, int64_t h0, int64_t w0, float* out) {
  std::fill_n(out, channels, kMax ? -std::numeric_limits<float>::infinity() : 0.0f);
  int64_t count = 0;
  for (int64_t ki = 0; ki < w.kernel_h; ++ki) {
    const int64_t ih = h0 + ki * w.dilation_h;
    if (ih < 0 || ih >= height) continue;
    for (int64_t kj = 0; kj < w.kernel_w; ++kj) {
      const int64_t iw = w0 + kj * w.dilation_w;
      if (iw < 0 || iw >= width) continue;
      const float* pixel = src + (ih * width + iw) * channels;
      for (int64_t c = 0; c < channels; ++c) {
        out[c] = kMax ? std::max(out[c], pixel[c]) : out[c] + pixel[c];
      }
      ++count;
    }
  }
  if (kMax) return;
  const int64_t divisor = AverageDivisor(w, include_pad, count, h0, w0, height, width);
  for (int64_t c = 0; c < channels; ++c) {
    out[c] = divisor > 0 ? out[c] / static_cast<float>(divisor) : 0.0f;
  }
}

// One output of an NCHW plane's window that may cross the padding.
template <bool kMax>
float PoolAtBorder(const Window2D& w, bool include_pad, const float* src, int64_t height,
                   int64_t width, int64_t h0, int64_t w0) {
  float out;
  PoolWindow<kMax>(w, include_pad, src, height, width, 1, h0, w0, &out);
  return out;
}

// out[i] = max (or mean) of the 2x2 block at columns 2i, 2i+1 of rows r0, r1,
// for i in [0, n): the common 2x2 stride-2 pool's interior. Max skips a NaN
// tap, as PoolWindow does.
template <bool kMax>
void Pool2x2Row(const float* r0, const float* r1, int64_t n, float* out) {
  int64_t i = 0;
#ifdef __AVX2__
  // 8 outputs from 16 columns of each row: combine the rows, then the even and
  // odd columns (shuffles keep each 128-bit lane's order; the permute fixes it).
  // _mm256_max_ps returns its second operand when either is NaN: each tap goes
  // first against what is kept so far, starting from -inf.
  const __m256 quarter = _mm256_set1_ps(0.25f);
  const __m256 lowest = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  auto rows = [&](const float* a, const float* b) {
    const __m256 va = _mm256_loadu_ps(a), vb = _mm256_loadu_ps(b);
    return kMax ? _mm256_max_ps(vb, _mm256_max_ps(va, lowest)) : _mm256_add_ps(va, vb);
  };
  for (; i + 8 <= n; i += 8) {
    const __m256 lo = rows(r0 + 2 * i, r1 + 2 * i);
    const __m256 hi = rows(r0 + 2 * i + 8, r1 + 2 * i + 8);
    const __m256 even = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    const __m256 odd = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
    __m256 v = kMax ? _mm256_max_ps(even, odd) : _mm256_mul_ps(_mm256_add_ps(even, odd), quarter);
    v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), _MM_SHUFFLE(3, 1, 2, 0)));
    _mm256_storeu_ps(out + i, v);
  }
#endif
  for (; i < n; ++i) {
    const float a = r0[2 * i], b = r0[2 * i + 1], c = r1[2 * i], d = r1[2 * i + 1];
    if (kMax) {
      float kept = -std::numeric_limits<float>::infinity();
      for (float tap : {a, b, c, d}) kept = std::max(kept, tap);  // keeps `kept` on a NaN tap
      out[i] = kept;
    } else {
      out[i] = (a + b + c + d) * 0.25f;
    }
  }
}

// One NCHW plane. Outputs whose window lies inside the image (almost all of
// them) take a branch-free path; only the border pays for bounds checks.
template <bool kMax>
void PoolPlane(const Window2D& w, bool include_pad, const float* src, int64_t height, int64_t width,
               float* dst) {
  const int64_t extent_h = w.dilation_h * (w.kernel_h - 1) + 1;
  const int64_t extent_w = w.dilation_w * (w.kernel_w - 1) + 1;
  const float inv_area = 1.0f / static_cast<float>(w.kernel_h * w.kernel_w);
  for (int64_t oh = 0; oh < w.out_h; ++oh) {
    const int64_t h0 = oh * w.stride_h - w.pad_top;
    const bool rows_inside = h0 >= 0 && h0 + extent_h <= height;
    float* out_row = dst + oh * w.out_w;
    if (rows_inside && w.kernel_h == 2 && w.kernel_w == 2 && w.stride_w == 2 && w.dilation_h == 1 &&
        w.dilation_w == 1 && w.pad_left == 0) {
      // The common 2x2 stride-2 pool: a vectorised loop over the interior columns.
      const float* r0 = src + h0 * width;
      const int64_t interior = std::min(w.out_w, width / 2);
      Pool2x2Row<kMax>(r0, r0 + width, interior, out_row);
      for (int64_t ow = interior; ow < w.out_w; ++ow) {
        out_row[ow] = PoolAtBorder<kMax>(w, include_pad, src, height, width, h0, ow * w.stride_w);
      }
      continue;
    }
    for (int64_t ow = 0; ow < w.out_w; ++ow) {
      const int64_t w0 = ow * w.stride_w - w.pad_left;
      if (!rows_inside || w0 < 0 || w0 + extent_w > width) {
        out_row[ow] = PoolAtBorder<kMax>(w, include_pad, src, height, width, h0, w0);
        continue;
      }
      const float* base = src + h0 * width + w0;
      // From -inf, as PoolWindow: std::max(acc, tap) then skips a NaN tap.
      float acc = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
      for (int64_t ki = 0; ki < w.kernel_h; ++ki) {
        const float* row = base + ki * w.dilation_h * width;
        for (int64_t kj = 0; kj < w.kernel_w; ++kj) {
          const float v = row[kj * w.dilation_w];
          acc = kMax ? std::max(acc, v) : acc + v;
        }
      }
      out_row[ow] = kMax ? acc : acc * inv_area;
    }
  }
}

// out[ow] for ow in [0, n): the 2x2 window at columns 2ow, 2ow+1 of rows r0
// and r1, of pixels of `channels` values (NHWC's common 2x2 stride-2 pool),
// eight channels at a time. Computed as PoolWindow does, so the results are
// the same bits: from -inf (max) or 0 (mean), the taps in the same order,
// and a NaN tap skipped by max (_mm256_max_ps returns its second operand
// when either is NaN, so the tap goes first).
template <bool kMax>
void Pool2x2RowNHWC(const float* r0, const float* r1, int64_t n, int64_t channels, float* out) {
  constexpr float kStart = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
  for (int64_t ow = 0; ow < n; ++ow) {
    const float* taps[4] = {r0 + 2 * ow * channels, r0 + (2 * ow + 1) * channels,
                            r1 + 2 * ow * channels, r1 + (2 * ow + 1) * channels};
    float* o = out + ow * channels;
    int64_t i = 0;
#ifdef __AVX2__
    for (; i + 8 <= channels; i += 8) {
      __m256 acc = _mm256_set1_ps(kStart);
      for (const float* tap : taps) {
        const __m256 v = _mm256_loadu_ps(tap + i);
        acc = kMax ? _mm256_max_ps(v, acc) : _mm256_add_ps(acc, v);
      }
      _mm256_storeu_ps(o + i, kMax ? acc : _mm256_div_ps(acc, _mm256_set1_ps(4.0f)));
    }
#endif
    for (; i < channels; ++i) {
      float acc = kStart;
      for (const float* tap : taps) acc = kMax ? std::max(acc, tap[i]) : acc + tap[i];
      o[i] = kMax ? acc : acc / 4.0f;
    }
  }
}

// One output pixel whose window lies inside the image: PoolWindow without
// its bounds checks (the same operations in the same order).
template <bool kMax>
void PoolInteriorNHWC(const Window2D& w, bool include_pad, const float* src, int64_t height,
                      int64_t width, int64_t channels, int64_t h0, int64_t w0, float* out) {
  std::fill_n(out, channels, kMax ? -std::numeric_limits<float>::infinity() : 0.0f);
  for (int64_t ki = 0; ki < w.kernel_h; ++ki) {
    const float* row = src + ((h0 + ki * w.dilation_h) * width + w0) * channels;
    for (int64_t kj = 0; kj < w.kernel_w; ++kj) {
      const float* pixel = row + kj * w.dilation_w * channels;
      for (int64_t c = 0; c < channels; ++c) {
        out[c] = kMax ? std::max(out[c], pixel[c]) : out[c] + pixel[c];
      }
    }
  }
  if (kMax) return;
  const float divisor = static_cast<float>(
      AverageDivisor(w, include_pad, w.kernel_h * w.kernel_w, h0, w0, height, width));
  for (int64_t c = 0; c < channels; ++c) out[c] /= divisor;
}

// Output rows [oh_begin, oh_end) of one NHWC image: each output pixel reduces
// its window's pixels. As for NCHW planes, windows inside the image (almost
// all) skip the bounds checks, and the 2x2 stride-2 pool has a loop of its
// own; only the border goes through PoolWindow.
template <bool kMax>
void PoolRowsNHWC(const Window2D& w, bool include_pad, const float* src, int64_t height,
                  int64_t width, int64_t channels, float* dst, int64_t oh_begin, int64_t oh_end) {
  const int64_t extent_h = w.dilation_h * (w.kernel_h - 1) + 1;
  const int64_t extent_w = w.dilation_w * (w.kernel_w - 1) + 1;
  for (int64_t oh = oh_begin; oh < oh_end; ++oh) {
    const int64_t h0 = oh * w.stride_h - w.pad_top;
    const bool rows_inside = h0 >= 0 && h0 + extent_h <= height;
    float* out_row = dst + oh * w.out_w * channels;
    int64_t ow = 0;
    if (rows_inside && w.kernel_h == 2 && w.kernel_w == 2 && w.stride_w == 2 && w.dilation_h == 1 &&
        w.dilation_w == 1 && w.pad_left == 0) {
      const float* r0 = src + h0 * width * channels;
      ow = std::min(w.out_w, width / 2);
      Pool2x2RowNHWC<kMax>(r0, r0 + width * channels, ow, channels, out_row);
    }
    for (; ow < w.out_w; ++ow) {
      const int64_t w0 = ow * w.stride_w - w.pad_left;
      float* out = out_row + ow * channels;
      if (rows_inside && w0 >= 0 && w0 + extent_w <= width) {
        PoolInteriorNHWC<kMax>(w, include_pad, src, height, width, channels, h0, w0, out);
      } else {
        PoolWindow<kMax>(w, include_pad, src, height, width, channels, h0, w0, out);
      }
    }
  }
}

// Units of work (rows or planes of `taps` window taps each) per parallel
// chunk: ~2^17 taps, ~40 µs. The Keras CNN's first MaxPool at batch 64 (1.4M
// taps) took 165 µs on two threads against 270 µs on one.
int64_t MinChunk(int64_t taps) {
  return std::max<int64_t>(1, (int64_t{1} << 17) / std::max<int64_t>(taps, 1));
}

template <bool kMax>
StatusOr<std::unique_ptr<OpKernel>> CreatePool(const Node& node, const Graph& graph) {
  ASSIGN_OR_RETURN(ImageLayout layout, ReadImageLayout(node.attributes));
  const SymShape x = ToNCHW(graph.values[node.inputs[0]].shape, layout);
  ASSIGN_OR_RETURN(Window2D w,
                   ResolveWindow2D(node.attributes, x[2].value(), x[3].value(), 0, 0, true));
  ASSIGN_OR_RETURN(int64_t include_pad, node.attributes.GetInt("count_include_pad", 0));
  if (layout == ImageLayout::kNHWC) {
    return MakeKernel([w, include_pad](const KernelContext& ctx) -> Status {
      const Tensor& in = *ctx.inputs[0];
      Tensor& out = *ctx.outputs[0];
      const int64_t height = in.dim(1), width = in.dim(2), channels = in.dim(3);
      // Rows of output pixels, across the batch.
      const int64_t taps_per_row = w.out_w * channels * w.kernel_h * w.kernel_w;
      ctx.pool->ParallelFor(in.dim(0) * w.out_h, MinChunk(taps_per_row), [&](int64_t b, int64_t e) {
        for (int64_t row = b; row < e;) {
          const int64_t n = row / w.out_h, oh = row % w.out_h;
          const int64_t oh_end = std::min(w.out_h, oh + (e - row));
          PoolRowsNHWC<kMax>(w, include_pad != 0, in.data<float>() + n * height * width * channels,
                             height, width, channels,
                             out.data<float>() + n * w.out_h * w.out_w * channels, oh, oh_end);
          row += oh_end - oh;
        }
      });
      return absl::OkStatus();
    });
  }
  return MakeKernel([w, include_pad](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = *ctx.outputs[0];
    const int64_t planes = in.dim(0) * in.dim(1), height = in.dim(2), width = in.dim(3);
    const int64_t taps_per_plane = w.out_h * w.out_w * w.kernel_h * w.kernel_w;
    ctx.pool->ParallelFor(planes, MinChunk(taps_per_plane), [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        PoolPlane<kMax>(w, include_pad != 0, in.data<float>() + p * height * width, height, width,
                        out.data<float>() + p * w.out_h * w.out_w);
      }
    });
    return absl::OkStatus();
  });
}

Status InferGlobalPool(InferenceContext& ctx) {
  RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32}));
  auto layout = ReadImageLayout(ctx.attributes());
  if (!layout.ok()) return ctx.Error(layout.status().message());
  const SymShape& x = ctx.input(0).shape;
  if (x.size() < 3) return ctx.Error("input must have rank >= 3 (N, C, spatial...)");
  if (*layout == ImageLayout::kNHWC && x.size() != 4) {
    return ctx.Error("an NHWC input must have rank 4");
  }
  SymShape out = ToNCHW(x, *layout);
  for (size_t d = 2; d < out.size(); ++d) {
    if (!out[d].is_fixed()) return ctx.Error("spatial dims must be fixed");
    out[d] = Dim::Fixed(1);
  }
  ctx.SetOutput(0, DType::kFloat32, FromNCHW(out, *layout));
  return absl::OkStatus();
}

template <bool kMax>
StatusOr<std::unique_ptr<OpKernel>> CreateGlobalPool(const Node& node, const Graph&) {
  ASSIGN_OR_RETURN(ImageLayout layout, ReadImageLayout(node.attributes));
  if (layout == ImageLayout::kNHWC) {
    // [N, H, W, C] -> [N, 1, 1, C]: channel vectors reduced over the pixels.
    return MakeKernel([](const KernelContext& ctx) -> Status {
      const Tensor& in = *ctx.inputs[0];
      const int64_t pixels = in.dim(1) * in.dim(2), channels = in.dim(3);
      for (int64_t n = 0; n < in.dim(0); ++n) {
        const float* image = in.data<float>() + n * pixels * channels;
        float* out = ctx.outputs[0]->data<float>() + n * channels;
        if (kMax && pixels > 0) {
          std::copy_n(image, channels, out);  // the first pixel
        } else {
          std::fill_n(out, channels, 0.0f);
        }
        for (int64_t p = 0; p < pixels; ++p) {
          for (int64_t c = 0; c < channels; ++c) {
            out[c] =
                kMax ? std::max(out[c], image[p * channels + c]) : out[c] + image[p * channels + c];
          }
        }
        if (!kMax && pixels > 0) {
          for (int64_t c = 0; c < channels; ++c) out[c] /= static_cast<float>(pixels);
        }
      }
      return absl::OkStatus();
    });
  }
  return MakeKernel([](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    const int64_t planes = in.dim(0) * in.dim(1);
    const int64_t size = planes == 0 ? 0 : in.num_elements() / planes;
    float* dst = ctx.outputs[0]->data<float>();
    for (int64_t p = 0; p < planes; ++p) {
      Eigen::Map<const Eigen::ArrayXf> plane(in.data<float>() + p * size, size);
      dst[p] = kMax ? (size ? plane.maxCoeff() : 0.0f) : (size ? plane.mean() : 0.0f);
    }
    return absl::OkStatus();
  });
}

// Pooling ops declare the optional Indices output so inference can refuse it clearly.
OpSchema Pool(const char* op_type, std::vector<std::string> attributes, InferFn infer,
              CreateKernelFn create) {
  OpSchema s = OpSchema::Make(op_type, 1, 1, std::move(attributes), infer, create);
  s.max_outputs = 2;
  return s;
}

void RegisterPoolOps(OpRegistry& registry) {
  registry.Register(Pool("MaxPool",
                         {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads",
                          "storage_order", "strides", kImageLayoutAttribute},
                         InferPool<true>, CreatePool<true>));
  registry.Register(Pool("AveragePool",
                         {"auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape",
                          "pads", "strides", kImageLayoutAttribute},
                         InferPool<false>, CreatePool<false>));
  registry.Register(
      Pool("GlobalAveragePool", {kImageLayoutAttribute}, InferGlobalPool, CreateGlobalPool<false>));
  registry.Register(
      Pool("GlobalMaxPool", {kImageLayoutAttribute}, InferGlobalPool, CreateGlobalPool<true>));
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kPoolOps(RegisterPoolOps);

}  // namespace
}  // namespace servekit
