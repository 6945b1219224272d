// The Sgemm backend: Eigen's blocked GEMM (GEMV when one side is a vector).
#include <Eigen/Core>
#include <algorithm>

#include "servekit/kernels/gemm.h"

namespace servekit {
namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Stride = Eigen::OuterStride<>;
using ConstMap = Eigen::Map<const RowMajor, 0, Stride>;
using MutMap = Eigen::Map<RowMajor, 0, Stride>;

// Rows [row_begin, row_end) of C.
void GemmRows(const GemmShape& s, float alpha, const float* a, const float* b, float beta,
              float* c, int64_t row_begin, int64_t row_end) {
  const int64_t lda = s.lda ? s.lda : (s.trans_a ? s.m : s.k);
  const int64_t ldb = s.ldb ? s.ldb : (s.trans_b ? s.k : s.n);
  const int64_t ldc = s.ldc ? s.ldc : s.n;
  const int64_t rows = row_end - row_begin;
  MutMap cm(c + row_begin * ldc, rows, s.n, Stride(ldc));
  if (beta == 0.0f) {
    cm.setZero();
  } else if (beta != 1.0f) {
    cm *= beta;
  }
  if (s.k == 0) return;
  auto multiply = [&](const auto& am) {
    if (s.trans_b) {
      ConstMap bm(b, s.n, s.k, Stride(ldb));
      cm.noalias() += alpha * am * bm.transpose();
    } else {
      ConstMap bm(b, s.k, s.n, Stride(ldb));
      cm.noalias() += alpha * am * bm;
    }
  };
  if (s.trans_a) {
    ConstMap am(a + row_begin, s.k, rows, Stride(lda));
    multiply(am.transpose());
  } else {
    ConstMap am(a + row_begin * lda, rows, s.k, Stride(lda));
    multiply(am);
  }
}

}  // namespace

void Sgemm(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c,
           const IntraOpPool& pool) {
  if (s.m == 0 || s.n == 0) return;
  // Split rows only when each thread gets enough work to beat the hand-off.
  const int64_t flops_per_row = 2 * s.n * s.k;
  const int64_t min_rows = std::max<int64_t>(1, (1 << 20) / std::max<int64_t>(flops_per_row, 1));
  pool.ParallelFor(s.m, min_rows, [&](int64_t begin, int64_t end) {
    GemmRows(s, alpha, a, b, beta, c, begin, end);
  });
}

const char* GemmBackendName() { return "eigen"; }

}  // namespace servekit
