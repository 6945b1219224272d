// OneDnnConv: a 2-D NCHW convolution with constant weights, run by oneDNN
// (linked when servekit is built with SERVEKIT_WITH_ONEDNN).
//
// Why: oneDNN's convolutions read activations in blocked or channels-last
// layouts and weights packed for their JIT micro-kernels. Measured on this
// project's machine they beat im2col + OpenBLAS 2-2.5x on 3x3 convolutions with
// 16-64 channels, even when this class converts NCHW to their layout and back
// on every call. With NHWC tensors (engine/passes/channels_last.cc) there is
// nothing to convert on AVX-512, where oneDNN's convolutions compute in NHWC.
//
// Weights are packed when the convolution is created, into the layout oneDNN
// picks for one image; the caller may then drop its copy. A batch size whose
// convolution wants another layout gets it from that packed copy, once.
// A oneDNN primitive exists for one batch size, so they are built per batch
// size (and thread count) on first use and cached (a bounded number). A call
// runs on the pool's thread count of OpenMP threads when it is large enough to
// share, otherwise on the calling thread alone (onednn_util.h: TeamSize).
//
// Thread-safe: Run may be called concurrently, each call with its own scratch.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "servekit/engine/activation.h"
#include "servekit/kernels/window.h"
#include "servekit/util/status.h"
#include "servekit/util/thread_pool.h"

namespace servekit {

struct ConvGeometry {
  int64_t channels = 0, height = 0, width = 0;  // of one input image
  int64_t filters = 0, group = 1;
  bool has_bias = false;
  // y += residual (y's shape and layout) before the activation: a residual
  // block's skip connection, fused by the optimiser (FuseConvResidual).
  bool has_residual = false;
  bool channels_last = false;  // x and y are NHWC (otherwise NCHW)
  Window2D window;
};

class OneDnnConv {
 public:
  // Null when oneDNN cannot run this convolution (the caller keeps its own).
  // `weights` (OIHW) are read only during the call.
  static std::unique_ptr<OneDnnConv> Create(const ConvGeometry& geometry,
                                            const Activation& activation, const float* weights);
  ~OneDnnConv();

  // Scratch bytes Run needs for `batch` images on a pool of `num_threads`, or
  // nullopt when oneDNN cannot run that batch (the caller falls back).
  std::optional<size_t> ScratchBytes(int64_t batch, int num_threads) const;

  // y[batch, filters, out_h, out_w] = activation(conv(x[batch, channels,
  // height, width], weights) + bias + residual); bias and residual may be null
  // only when the geometry has none. Whatever oneDNN cannot fuse for this
  // batch size is applied afterwards. Fails when ScratchBytes would be nullopt.
  Status Run(const float* x, int64_t batch, const float* bias, const float* residual, float* y,
             void* scratch, const IntraOpPool& pool) const;

  // The weights in their original layout (OIHW), unpacked on the first call:
  // for the caller's own path, on batch sizes oneDNN has no convolution for.
  StatusOr<const float*> OriginalWeights() const;

 private:
  struct Impl;
  explicit OneDnnConv(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace servekit
