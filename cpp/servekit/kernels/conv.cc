// Conv (2-D, NCHW): groups (depthwise included), strides, dilations, pads and
// auto_pad, with the bias, a residual and an activation fused into the output
// pass. The residual is a fourth input the optimiser adds (FuseConvResidual:
// ONNX's Conv has three): a tensor of the output's shape added before the
// activation, a residual block's skip connection.
//
// General case: im2col into scratch memory, then one Sgemm per image and group.
// A 1x1 stride-1 unpadded conv skips im2col (the input already is the matrix).
// Depthwise convs (one input channel per group) use a direct loop: im2col would
// turn them into many tiny GEMMs.
//
// When built with oneDNN, convolutions with constant weights run there instead
// (kernels/onednn/onednn_conv.h says why); the internal attribute
// `_conv_algorithm` ("im2col" or "onednn") overrides the choice, for tests and
// benchmarks.
#include <Eigen/Core>
#include <algorithm>
#include <cstring>

#include "servekit/engine/image_layout.h"
#include "servekit/kernels/activation.h"
#include "servekit/kernels/gemm.h"
#include "servekit/kernels/kernel_util.h"
#include "servekit/kernels/window.h"

#ifdef SERVEKIT_WITH_ONEDNN
#include "servekit/kernels/onednn/onednn_conv.h"
#endif

namespace servekit {
namespace {

Status InferConv(InferenceContext& ctx) {
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (ctx.has_input(i)) RETURN_IF_ERROR(ctx.ExpectDType(i, {DType::kFloat32}));
  }
  auto layout = ReadImageLayout(ctx.attributes());
  if (!layout.ok()) return ctx.Error(layout.status().message());
  const SymShape x = ToNCHW(ctx.input(0).shape, *layout);  // the checks read NCHW
  const SymShape& w = ctx.input(1).shape;
  if (x.size() != 4) {
    return ctx.Error(
        absl::StrCat("only 2-D convolution (rank-4 NCHW input) is supported; input has shape ",
                     SymShapeToString(x)));
  }
  RETURN_IF_ERROR(ctx.ExpectRank(1, 4));
  for (int d = 1; d < 4; ++d) {
    if (!x[d].is_fixed()) return ctx.Error("channel and spatial dims must be fixed");
  }
  if (!IsFixed(w)) return ctx.Error("weights must have fixed dims");
  ASSIGN_OR_RETURN(int64_t group, ctx.attributes().GetInt("group", 1));
  const int64_t channels = x[1].value(), filters = w[0].value();
  if (group < 1 || channels % group != 0 || filters % group != 0) {
    return ctx.Error(absl::StrCat("group ", group, " does not divide ", channels,
                                  " input channels and ", filters, " filters"));
  }
  if (w[1].value() != channels / group) {
    return ctx.Error(absl::StrCat("weights ", SymShapeToString(w), " expect ", w[1].value() * group,
                                  " input channels; the input has ", channels));
  }
  if (ctx.has_input(2) && ctx.input(2).shape != SymShape{Dim::Fixed(filters)}) {
    return ctx.Error(absl::StrCat("bias must have shape [", filters, "]"));
  }
  auto window = ResolveWindow2D(ctx.attributes(), x[2].value(), x[3].value(), w[2].value(),
                                w[3].value(), /*allow_ceil_mode=*/false);
  if (!window.ok()) return ctx.Error(window.status().message());
  const SymShape y = FromNCHW(
      SymShape{x[0], Dim::Fixed(filters), Dim::Fixed(window->out_h), Dim::Fixed(window->out_w)},
      *layout);
  if (ctx.has_input(3) && ctx.input(3).shape != y) {
    return ctx.Error(absl::StrCat("a fourth input (a fused residual) must have the output's shape ",
                                  SymShapeToString(y), "; got ",
                                  SymShapeToString(ctx.input(3).shape)));
  }
  ctx.SetOutput(0, DType::kFloat32, y);
  return absl::OkStatus();
}

// Each of `batch` row-major [rows, cols] matrices, transposed: with rows =
// pixels and cols = channels, NHWC images to NCHW; the other way round, back.
void TransposeImages(const float* src, int64_t batch, int64_t rows, int64_t cols, float* dst) {
  for (int64_t n = 0; n < batch; ++n) {
    const float* in = src + n * rows * cols;
    float* out = dst + n * rows * cols;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
    }
  }
}

size_t AlignedBytes(int64_t floats) { return (sizeof(float) * floats + 63) / 64 * 64; }

// Fills the columns of col [channels * kh * kw, out_h * out_w] (rows `row_stride`
// floats apart) from one image's channels.
void Im2Col(const float* image, int64_t channels, int64_t height, int64_t width, const Window2D& w,
            int64_t row_stride, float* col) {
  for (int64_t c = 0; c < channels; ++c) {
    const float* plane = image + c * height * width;
    for (int64_t ki = 0; ki < w.kernel_h; ++ki) {
      for (int64_t kj = 0; kj < w.kernel_w; ++kj) {
        float* row = col + ((c * w.kernel_h + ki) * w.kernel_w + kj) * row_stride;
        // The output columns whose input column lies inside the image depend on
        // kj only: computed once here, not per output row (divisions are slow).
        const int64_t offset = kj * w.dilation_w - w.pad_left;
        const int64_t first =
            std::clamp<int64_t>((-offset + w.stride_w - 1) / w.stride_w, 0, w.out_w);
        const int64_t last =
            std::clamp<int64_t>((width - offset + w.stride_w - 1) / w.stride_w, first, w.out_w);
        for (int64_t oh = 0; oh < w.out_h; ++oh) {
          const int64_t ih = oh * w.stride_h - w.pad_top + ki * w.dilation_h;
          float* out = row + oh * w.out_w;
          if (ih < 0 || ih >= height) {
            for (int64_t ow = 0; ow < w.out_w; ++ow) out[ow] = 0.0f;
            continue;
          }
          const float* in_row = plane + ih * width;
          // Rows are short (often < 32 floats): plain loops beat memcpy/fill calls.
          for (int64_t ow = 0; ow < first; ++ow) out[ow] = 0.0f;
          if (w.stride_w == 1) {
            const float* src = in_row + offset;
            for (int64_t ow = first; ow < last; ++ow) out[ow] = src[ow];
          } else {
            for (int64_t ow = first; ow < last; ++ow) out[ow] = in_row[ow * w.stride_w + offset];
          }
          for (int64_t ow = last; ow < w.out_w; ++ow) out[ow] = 0.0f;
        }
      }
    }
  }
}

class ConvKernel : public OpKernel {
 public:
  ConvKernel(Window2D window, int64_t group, Activation activation, ImageLayout layout,
             Shape weight_shape)
      : w_(window),
        group_(group),
        activation_(activation),
        layout_(layout),
        weight_shape_(std::move(weight_shape)) {}

#ifdef SERVEKIT_WITH_ONEDNN
  void UseOneDnn(std::unique_ptr<OneDnnConv> conv) { onednn_ = std::move(conv); }
  bool UsesOneDnn() const { return onednn_ != nullptr; }
  // oneDNN packed the weights when it was set up: the node's constant is not read.
  bool ReadsInputAtRunTime(int i) const override { return i != 1 || onednn_ == nullptr; }
#endif

  size_t ScratchBytes(absl::Span<const Shape* const> in, absl::Span<const Shape* const> out,
                      int num_threads) const override {
#ifdef SERVEKIT_WITH_ONEDNN
    if (onednn_ != nullptr) {
      std::optional<size_t> bytes = onednn_->ScratchBytes((*in[0])[0], num_threads);
      if (bytes.has_value()) return *bytes;
    }
#endif
    const Shape x = ToNCHW(*in[0], layout_);
    const size_t nchw_scratch = NCHWScratchBytes(x, weight_shape_);
    if (layout_ == ImageLayout::kNCHW) return nchw_scratch;
    // NHWC without oneDNN: NCHW copies of the input and output around the NCHW path.
    return AlignedBytes(NumElements(x)) + AlignedBytes(NumElements(*out[0])) + nchw_scratch;
  }

  Status Compute(const KernelContext& ctx) const override {
    const Tensor& x = *ctx.inputs[0];
    const Tensor* bias = ctx.inputs.size() > 2 ? ctx.inputs[2] : nullptr;
    const Tensor* residual = ctx.inputs.size() > 3 ? ctx.inputs[3] : nullptr;
    Tensor& y = *ctx.outputs[0];
    Tensor weights;
    if (ctx.inputs[1] != nullptr) weights = *ctx.inputs[1];
#ifdef SERVEKIT_WITH_ONEDNN
    if (onednn_ != nullptr) {
      // Taken exactly when ScratchBytes sized the scratch for it.
      const int64_t batch = x.dim(0);
      if (onednn_->ScratchBytes(batch, ctx.pool->num_threads()).has_value()) {
        return onednn_->Run(x.data<float>(), batch, bias != nullptr ? bias->data<float>() : nullptr,
                            residual != nullptr ? residual->data<float>() : nullptr,
                            y.data<float>(), ctx.scratch, *ctx.pool);
      }
      // A batch size oneDNN has no convolution for: servekit's own path, on
      // the weights unpacked from oneDNN's copy.
      ASSIGN_OR_RETURN(const float* original, onednn_->OriginalWeights());
      weights = Tensor::View(DType::kFloat32, weight_shape_, const_cast<float*>(original));
    }
#endif
    if (layout_ == ImageLayout::kNCHW) {
      ComputeNCHW(x, weights, bias, residual, activation_, y, static_cast<float*>(ctx.scratch),
                  *ctx.pool);
      return absl::OkStatus();
    }
    const Shape x_shape = ToNCHW(x.shape(), layout_), y_shape = ToNCHW(y.shape(), layout_);
    char* scratch = static_cast<char*>(ctx.scratch);
    Tensor x_nchw = Tensor::View(DType::kFloat32, x_shape, scratch);
    scratch += AlignedBytes(x.num_elements());
    Tensor y_nchw = Tensor::View(DType::kFloat32, y_shape, scratch);
    scratch += AlignedBytes(y.num_elements());
    TransposeImages(x.data<float>(), x_shape[0], x_shape[2] * x_shape[3], x_shape[1],
                    x_nchw.data<float>());
    ComputeNCHW(x_nchw, weights, bias, nullptr, Activation{}, y_nchw,
                reinterpret_cast<float*>(scratch), *ctx.pool);
    TransposeImages(y_nchw.data<float>(), y_shape[0], y_shape[1], y_shape[2] * y_shape[3],
                    y.data<float>());
    // The epilogue's rest in NHWC, where the residual is.
    if (residual != nullptr) {
      Eigen::Map<Eigen::ArrayXf>(y.data<float>(), y.num_elements()) +=
          Eigen::Map<const Eigen::ArrayXf>(residual->data<float>(), y.num_elements());
    }
    ApplyActivation(activation_, y.data<float>(), y.num_elements());
    return absl::OkStatus();
  }

 private:
  // Scratch of the NCHW path (ComputeNCHW) for input x and these weights.
  size_t NCHWScratchBytes(const Shape& x, const Shape& weights) const {
    if (w_.IsPointwise() || UseDirect(x, weights)) return 0;
    const int64_t patch = weights[1] * weights[2] * weights[3];
    const int64_t images = ImagesPerGemm(x[0], patch);
    // im2col columns for `images` images, plus the GEMM result when it must be
    // scattered back to NCHW.
    const int64_t col = patch * images * w_.out_h * w_.out_w;
    const int64_t result = images > 1 ? weights[0] * images * w_.out_h * w_.out_w : 0;
    return sizeof(float) * (col + result);
  }

  // The convolution over NCHW tensors, then bias, residual (may be null) and
  // `activation`.
  void ComputeNCHW(const Tensor& x, const Tensor& weights, const Tensor* bias,
                   const Tensor* residual, const Activation& activation, Tensor& y, float* scratch,
                   const IntraOpPool& pool) const {
    const int64_t batch = x.dim(0), channels = x.dim(1), height = x.dim(2), width = x.dim(3);
    const int64_t filters = y.dim(1);
    const int64_t out_size = w_.out_h * w_.out_w;
    if (UseDirect(x.shape(), weights.shape())) {
      DirectConv(x, weights, y);
    } else if (group_ == 1 && !w_.IsPointwise()) {
      BatchedIm2ColGemm(x, weights, y, scratch, pool);
    } else {
      const int64_t group_channels = channels / group_;
      const int64_t group_filters = filters / group_;
      const int64_t patch = group_channels * w_.kernel_h * w_.kernel_w;
      float* col = scratch;
      for (int64_t n = 0; n < batch; ++n) {
        for (int64_t g = 0; g < group_; ++g) {
          const float* image =
              x.data<float>() + (n * channels + g * group_channels) * height * width;
          const float* matrix = image;
          if (!w_.IsPointwise()) {
            Im2Col(image, group_channels, height, width, w_, out_size, col);
            matrix = col;
          }
          GemmShape s{group_filters, out_size, patch};
          Sgemm(s, 1.0f, weights.data<float>() + g * group_filters * patch, matrix, 0.0f,
                y.data<float>() + (n * filters + g * group_filters) * out_size, pool);
        }
      }
    }
    // Epilogue: bias, residual and activation, one channel plane at a time (cache-hot).
    float* out = y.data<float>();
    for (int64_t i = 0; i < batch * filters; ++i) {
      float* plane = out + i * out_size;
      if (bias != nullptr) {
        const float b = bias->data<float>()[i % filters];
        for (int64_t j = 0; j < out_size; ++j) plane[j] += b;
      }
      if (residual != nullptr) {
        const float* r = residual->data<float>() + i * out_size;
        for (int64_t j = 0; j < out_size; ++j) plane[j] += r[j];
      }
      ApplyActivation(activation, plane, out_size);
    }
  }
  // Small images make skinny GEMMs (N = out_h * out_w columns), which BLAS runs
  // far below peak; several images side by side make one wide GEMM. Bounded so
  // the im2col buffer stays around a few MB.
  int64_t ImagesPerGemm(int64_t batch, int64_t patch) const {
    constexpr int64_t kColumnBudget = int64_t{1} << 20;  // floats: 4 MB
    constexpr int64_t kWideEnough = 2048;                // columns
    const int64_t out_size = std::max<int64_t>(w_.out_h * w_.out_w, 1);
    if (group_ != 1 || out_size >= kWideEnough) return 1;
    const int64_t by_width = (kWideEnough + out_size - 1) / out_size;
    const int64_t by_memory =
        std::max<int64_t>(1, kColumnBudget / std::max<int64_t>(patch * out_size, 1));
    return std::max<int64_t>(1, std::min({batch, by_width, by_memory}));
  }

  // group == 1: im2col a chunk of images side by side, one GEMM, then scatter
  // the [filters, images, pixels] result to NCHW.
  void BatchedIm2ColGemm(const Tensor& x, const Tensor& weights, Tensor& y, float* scratch,
                         const IntraOpPool& pool) const {
    const int64_t batch = x.dim(0), channels = x.dim(1), height = x.dim(2), width = x.dim(3);
    const int64_t filters = y.dim(1);
    const int64_t out_size = w_.out_h * w_.out_w;
    const int64_t patch = channels * w_.kernel_h * w_.kernel_w;
    const int64_t images = ImagesPerGemm(batch, patch);
    float* col = scratch;
    float* result = scratch + patch * images * out_size;
    for (int64_t n0 = 0; n0 < batch; n0 += images) {
      const int64_t count = std::min(images, batch - n0);
      const int64_t columns = count * out_size;
      for (int64_t i = 0; i < count; ++i) {
        Im2Col(x.data<float>() + (n0 + i) * channels * height * width, channels, height, width, w_,
               columns, col + i * out_size);
      }
      float* target = count == 1 ? y.data<float>() + n0 * filters * out_size : result;
      GemmShape s{filters, columns, patch};
      s.ldb = columns;
      Sgemm(s, 1.0f, weights.data<float>(), col, 0.0f, target, pool);
      if (count == 1) continue;
      for (int64_t f = 0; f < filters; ++f) {
        for (int64_t i = 0; i < count; ++i) {
          std::memcpy(y.data<float>() + ((n0 + i) * filters + f) * out_size,
                      result + f * columns + i * out_size, out_size * sizeof(float));
        }
      }
    }
  }

  // One input channel per group: im2col would make one tiny GEMM per channel.
  // (A direct loop for other small patches was measured slower than im2col +
  // GEMM: with short rows, the per-row overhead dominates.)
  bool UseDirect(const Shape& x, const Shape& weights) const {
    return group_ > 1 && group_ == x[1] && weights[1] == 1;
  }

  // Direct convolution: each output plane accumulates kernel-tap-weighted,
  // shifted copies of its group's input planes, vectorised along output rows.
  // Used for depthwise convs (see UseDirect).
  void DirectConv(const Tensor& x, const Tensor& weights, Tensor& y) const {
    const int64_t batch = x.dim(0), channels = x.dim(1), height = x.dim(2), width = x.dim(3);
    const int64_t filters = y.dim(1);
    const int64_t group_channels = channels / group_;
    const int64_t group_filters = filters / group_;
    const int64_t taps = w_.kernel_h * w_.kernel_w;
    for (int64_t n = 0; n < batch; ++n) {
      for (int64_t f = 0; f < filters; ++f) {
        float* out = y.data<float>() + (n * filters + f) * w_.out_h * w_.out_w;
        std::fill_n(out, w_.out_h * w_.out_w, 0.0f);
        const int64_t first_channel = (f / group_filters) * group_channels;
        for (int64_t c = 0; c < group_channels; ++c) {
          const float* plane =
              x.data<float>() + (n * channels + first_channel + c) * height * width;
          const float* kernel = weights.data<float>() + (f * group_channels + c) * taps;
          AccumulateTaps(plane, height, width, kernel, out);
        }
      }
    }
  }

  // out += correlation of one input plane with one kh x kw kernel.
  void AccumulateTaps(const float* plane, int64_t height, int64_t width, const float* kernel,
                      float* out) const {
    for (int64_t ki = 0; ki < w_.kernel_h; ++ki) {
      for (int64_t kj = 0; kj < w_.kernel_w; ++kj) {
        const float k = kernel[ki * w_.kernel_w + kj];
        const int64_t offset = kj * w_.dilation_w - w_.pad_left;
        const int64_t first =
            std::clamp<int64_t>((-offset + w_.stride_w - 1) / w_.stride_w, 0, w_.out_w);
        const int64_t last =
            std::clamp<int64_t>((width - offset + w_.stride_w - 1) / w_.stride_w, first, w_.out_w);
        for (int64_t oh = 0; oh < w_.out_h; ++oh) {
          const int64_t ih = oh * w_.stride_h - w_.pad_top + ki * w_.dilation_h;
          if (ih < 0 || ih >= height) continue;
          const float* in_row = plane + ih * width + offset;
          float* out_row = out + oh * w_.out_w;
          if (w_.stride_w == 1) {
            // Eigen maps promise no aliasing, so this vectorises.
            Eigen::Map<Eigen::ArrayXf>(out_row + first, last - first) +=
                k * Eigen::Map<const Eigen::ArrayXf>(in_row + first, last - first);
          } else {
            for (int64_t ow = first; ow < last; ++ow) out_row[ow] += k * in_row[ow * w_.stride_w];
          }
        }
      }
    }
  }

  Window2D w_;
  int64_t group_;
  Activation activation_;
  ImageLayout layout_;
  Shape weight_shape_;
#ifdef SERVEKIT_WITH_ONEDNN
  std::unique_ptr<OneDnnConv> onednn_;  // null: im2col or the direct loop
#endif
};

StatusOr<std::unique_ptr<OpKernel>> CreateConv(const Node& node, const Graph& graph) {
  ASSIGN_OR_RETURN(ImageLayout layout, ReadImageLayout(node.attributes));
  const SymShape x = ToNCHW(graph.values[node.inputs[0]].shape, layout);
  const SymShape& w = graph.values[node.inputs[1]].shape;
  ASSIGN_OR_RETURN(Window2D window, ResolveWindow2D(node.attributes, x[2].value(), x[3].value(),
                                                    w[2].value(), w[3].value(), false));
  ASSIGN_OR_RETURN(int64_t group, node.attributes.GetInt("group", 1));
  ASSIGN_OR_RETURN(Activation activation, Activation::ReadFused(node.attributes));
  ASSIGN_OR_RETURN(std::string algorithm, node.attributes.GetString("_conv_algorithm", ""));
  if (algorithm != "" && algorithm != "im2col" && algorithm != "onednn") {
    return absl::InvalidArgumentError(
        absl::StrCat("_conv_algorithm must be \"im2col\" or \"onednn\", not \"", algorithm, "\""));
  }
  auto kernel = std::make_unique<ConvKernel>(window, group, activation, layout, Evaluate(w, 0));
#ifdef SERVEKIT_WITH_ONEDNN
  // oneDNN packs the weights once, so they must be constant.
  const bool constant_weights = graph.values[node.inputs[1]].constant.has_value();
  if (algorithm != "im2col" && constant_weights) {
    ConvGeometry geometry{.channels = x[1].value(),
                          .height = x[2].value(),
                          .width = x[3].value(),
                          .filters = w[0].value(),
                          .group = group,
                          .has_bias = HasInput(node, 2),
                          .has_residual = HasInput(node, 3),
                          .channels_last = layout == ImageLayout::kNHWC,
                          .window = window};
    kernel->UseOneDnn(OneDnnConv::Create(geometry, activation,
                                         graph.values[node.inputs[1]].constant->data<float>()));
  }
  if (algorithm == "onednn" && !kernel->UsesOneDnn()) {
    return absl::InvalidArgumentError(constant_weights
                                          ? "oneDNN has no convolution for this node"
                                          : "_conv_algorithm \"onednn\" needs constant weights");
  }
#else
  if (algorithm == "onednn") {
    return absl::UnimplementedError("servekit was built without oneDNN (SERVEKIT_WITH_ONEDNN)");
  }
#endif
  return std::unique_ptr<OpKernel>(std::move(kernel));
}

void RegisterConvOps(OpRegistry& registry) {
  OpSchema conv = OpSchema::Make(
      "Conv", 2, 4,
      {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides", "_activation",
       "_activation_alpha", "_activation_beta", "_conv_algorithm", kImageLayoutAttribute},
      InferConv, CreateConv);
#ifdef SERVEKIT_WITH_ONEDNN
  // oneDNN computes in NHWC without reorders (NCHW costs one each way per call).
  conv.prefers_channels_last = true;
#endif
  registry.Register(conv);
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kConvOps(RegisterConvOps);

}  // namespace
}  // namespace servekit
