// OneDnnMatMul: Y[rows, N] = activation(alpha * A[rows, K] · B + beta * bias)
// with B a constant K x N matrix (or N x K, transposed), run by oneDNN
// (linked when servekit is built with SERVEKIT_WITH_ONEDNN). Serves Gemm and
// MatMul nodes whose second operand is a weight matrix: Dense layers.
//
// Why: oneDNN packs B once, at the first call, into the layout its micro-kernel
// reads, where OpenBLAS's sgemm re-packs B on every call, strided through the
// whole matrix. Measured on this project's machine, one thread, warm caches:
// 1.4-2.1x faster than OpenBLAS for batches of 1-64 rows; in a model, where B
// has left the caches between calls, the gap is wider (bench/engine_bench.py).
//
// Primitives are built per row count on first use and cached (a bounded
// number); a large enough call runs on an OpenMP team of the pool's threads.
// Thread-safe: Run may be called concurrently, each call with its own scratch.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "servekit/engine/activation.h"
#include "servekit/util/status.h"
#include "servekit/util/thread_pool.h"

namespace servekit {

struct MatMulGeometry {
  int64_t k = 0, n = 0;
  bool trans_b = false;  // B is stored N x K
  float alpha = 1.0f;
  bool has_bias = false;  // bias: N floats, scaled by beta
  float beta = 1.0f;
};

class OneDnnMatMul {
 public:
  // Null when oneDNN cannot run this product (the caller keeps its own).
  static std::unique_ptr<OneDnnMatMul> Create(const MatMulGeometry& geometry,
                                              const Activation& activation);
  ~OneDnnMatMul();

  // Whether `activation` runs inside oneDNN; when not, the caller applies it.
  bool fuses_activation() const { return fuses_activation_; }

  // Scratch bytes Run needs for `rows` rows of A on a pool of `num_threads`,
  // or nullopt when oneDNN cannot run that many (the caller falls back).
  std::optional<size_t> ScratchBytes(int64_t rows, int num_threads) const;

  // y = the product above. Always passes the same b and bias (the node's
  // constants). Fails when ScratchBytes would be nullopt.
  Status Run(const float* a, int64_t rows, const float* b, const float* bias, float* y,
             void* scratch, const IntraOpPool& pool) const;

 private:
  struct Impl;
  OneDnnMatMul(std::unique_ptr<Impl> impl, bool fuses_activation);

  std::unique_ptr<Impl> impl_;
  bool fuses_activation_;
};

}  // namespace servekit
