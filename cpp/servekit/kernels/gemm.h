// Sgemm: C = alpha * op(A) * op(B) + beta * C for row-major float matrices.
//
// The one entry point every matrix product in the engine goes through (Gemm,
// MatMul, Conv via im2col), so the backend can be chosen in one place. Splits
// the work across `pool` when it has more than one thread. Thread-safe.
#pragma once

#include <cstdint>

#include "servekit/util/thread_pool.h"

namespace servekit {

struct GemmShape {
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false;               // A is stored k x m
  bool trans_b = false;               // B is stored n x k
  int64_t lda = 0, ldb = 0, ldc = 0;  // row strides; 0 means dense
};

void Sgemm(const GemmShape& shape, float alpha, const float* a, const float* b, float beta,
           float* c, const IntraOpPool& pool);

// The backend in use ("eigen" or "openblas"), for benchmarks and diagnostics.
const char* GemmBackendName();

}  // namespace servekit
