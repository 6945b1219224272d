// The Sgemm backend. Measured on this project's machine (bench/gemm_bench.cc):
// OpenBLAS's sgemm beats Eigen's GEMM by 1.2-1.7x on real matrix products,
// while Eigen's GEMV is ~4x faster when one side is a vector (batch-1 Dense
// layers), where OpenBLAS's sgemm has no fast path. So vectors go to Eigen and
// everything else to OpenBLAS (when built with it; Eigen alone otherwise).
#include <Eigen/Core>
#include <algorithm>
#include <mutex>

#include "servekit/kernels/gemm.h"

#ifdef SERVEKIT_WITH_OPENBLAS
#include <cblas.h>
#endif

namespace servekit {
namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Stride = Eigen::OuterStride<>;
using ConstMap = Eigen::Map<const RowMajor, 0, Stride>;
using MutMap = Eigen::Map<RowMajor, 0, Stride>;

int64_t LeadingA(const GemmShape& s) { return s.lda ? s.lda : (s.trans_a ? s.m : s.k); }
int64_t LeadingB(const GemmShape& s) { return s.ldb ? s.ldb : (s.trans_b ? s.k : s.n); }
int64_t LeadingC(const GemmShape& s) { return s.ldc ? s.ldc : s.n; }

// Rows [row_begin, row_end) of C, with Eigen.
void EigenGemmRows(const GemmShape& s, float alpha, const float* a, const float* b, float beta,
                   float* c, int64_t row_begin, int64_t row_end) {
  const int64_t lda = LeadingA(s), ldb = LeadingB(s), ldc = LeadingC(s);
  const int64_t rows = row_end - row_begin;
  MutMap cm(c + row_begin * ldc, rows, s.n, Stride(ldc));
  if (beta == 0.0f) {
    cm.setZero();
  } else if (beta != 1.0f) {
    cm *= beta;
  }
  if (s.k == 0) return;
  if (rows == 1 && !s.trans_a) {
    // One row (a batch-1 Dense layer): a row vector at compile time, so that
    // Eigen runs its GEMV on the row in place. Through the general product
    // below, Eigen copies a scaled row (alpha * A) into a heap temporary
    // first: a malloc, a copy and a free per call.
    ConstMap am(a + row_begin * lda, 1, s.k, Stride(lda));
    if (s.trans_b) {
      cm.row(0).noalias() += (alpha * am.row(0)) * ConstMap(b, s.n, s.k, Stride(ldb)).transpose();
    } else {
      cm.row(0).noalias() += (alpha * am.row(0)) * ConstMap(b, s.k, s.n, Stride(ldb));
    }
    return;
  }
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

#ifdef SERVEKIT_WITH_OPENBLAS
void OpenBlasGemmRows(const GemmShape& s, float alpha, const float* a, const float* b, float beta,
                      float* c, int64_t row_begin, int64_t row_end) {
  // servekit parallelises across requests and, on request, across rows itself;
  // OpenBLAS's own threads would oversubscribe the cores.
  static std::once_flag single_threaded;
  std::call_once(single_threaded, [] { openblas_set_num_threads(1); });
  const int64_t lda = LeadingA(s);
  const float* a_rows = s.trans_a ? a + row_begin : a + row_begin * lda;
  cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans,
              s.trans_b ? CblasTrans : CblasNoTrans, row_end - row_begin, s.n, s.k, alpha, a_rows,
              lda, b, LeadingB(s), beta, c + row_begin * LeadingC(s), LeadingC(s));
}
#endif

// A one-row product splits across threads from this many weights (4 MiB):
// below, streaming them takes about as long as handing work to a thread.
constexpr int64_t kMinSplitVectorProductWeights = int64_t{1} << 20;

}  // namespace

void Sgemm(const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c,
           const IntraOpPool& pool) {
  if (s.m == 0 || s.n == 0) return;
  // Split rows only when each thread gets enough work to beat the hand-off
  // (tens of µs to wake a pool thread on this project's VM: 32 MFLOP is ~0.3 ms).
  const int64_t flops_per_row = 2 * s.n * s.k;
  const int64_t min_rows =
      std::max<int64_t>(1, (int64_t{32} << 20) / std::max<int64_t>(flops_per_row, 1));
#ifdef SERVEKIT_WITH_OPENBLAS
  const bool vector_product = s.m == 1 || s.n == 1 || s.k == 0;
  if (!vector_product) {
    pool.ParallelFor(s.m, min_rows, [&](int64_t begin, int64_t end) {
      OpenBlasGemmRows(s, alpha, a, b, beta, c, begin, end);
    });
    return;
  }
#endif
  if (s.m == 1 && s.k * s.n >= kMinSplitVectorProductWeights && pool.num_threads() > 1) {
    // One row times a large matrix streams the matrix from memory once: split
    // its columns, so that each core streams its share (the 16384x128 Dense
    // layer of bench/engine_bench.py's image_cnn at batch 1: 974 -> 520 µs).
    const int64_t min_columns =
        std::max<int64_t>(16, kMinSplitVectorProductWeights / std::max<int64_t>(s.k, 1));
    pool.ParallelFor(s.n, min_columns, [&](int64_t begin, int64_t end) {
      GemmShape part = s;
      part.n = end - begin;
      part.lda = LeadingA(s);
      part.ldb = LeadingB(s);
      part.ldc = LeadingC(s);
      const float* b_part = s.trans_b ? b + begin * part.ldb : b + begin;
      EigenGemmRows(part, alpha, a, b_part, beta, c + begin, 0, 1);
    });
    return;
  }
  pool.ParallelFor(s.m, min_rows, [&](int64_t begin, int64_t end) {
    EigenGemmRows(s, alpha, a, b, beta, c, begin, end);
  });
}

const char* GemmBackendName() {
#ifdef SERVEKIT_WITH_OPENBLAS
  return "openblas+eigen-gemv";
#else
  return "eigen";
#endif
}

}  // namespace servekit
