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
// Weights are packed once per weight layout, on the first call that needs it.
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
  bool channels_last = false;  // x and y are NHWC (otherwise NCHW)
  Window2D window;
};

class OneDnnConv {
 public:
  // Null when oneDNN cannot run this convolution (the caller keeps its own).
  static std::unique_ptr<OneDnnConv> Create(const ConvGeometry& geometry,
                                            const Activation& activation);
  ~OneDnnConv();

  // Whether `activation` runs inside oneDNN; when not, the caller applies it.
  bool fuses_activation() const { return fuses_activation_; }

  // Scratch bytes Run needs for `batch` images on a pool of `num_threads`, or
  // nullopt when oneDNN cannot run that batch (the caller falls back).
  std::optional<size_t> ScratchBytes(int64_t batch, int num_threads) const;

  // y[batch, filters, out_h, out_w] = conv(x[batch, channels, height, width],
  // weights) + bias (bias may be null only when !has_bias). Always passes the
  // same weights (the node's constant). Fails when ScratchBytes would be nullopt.
  Status Run(const float* x, int64_t batch, const float* weights, const float* bias, float* y,
             void* scratch, const IntraOpPool& pool) const;

 private:
  struct Impl;
  OneDnnConv(std::unique_ptr<Impl> impl, bool fuses_activation);

  std::unique_ptr<Impl> impl_;
  bool fuses_activation_;
};

}  // namespace servekit
