// GEMM throughput: servekit's Sgemm (the engine's one matrix-product entry
// point) beside OpenBLAS's cblas_sgemm, on one thread, for the shapes the
// engine's models produce. Prints GFLOP/s as the "FLOPS" counter.
//
//   build/skbuild/gemm_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <random>
#include <vector>

#include "servekit/kernels/gemm.h"

namespace {

struct Operands {
  std::vector<float> a, b, c;
  Operands(int64_t m, int64_t n, int64_t k) : a(m * k), b(k * n), c(m * n) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-1, 1);
    for (float& x : a) x = dist(rng);
    for (float& x : b) x = dist(rng);
  }
};

void SetFlops(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * m * n * k, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Servekit(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  Operands ops(m, n, k);
  servekit::IntraOpPool pool(1);
  servekit::GemmShape shape{m, n, k};
  for (auto _ : state) {
    servekit::Sgemm(shape, 1.0f, ops.a.data(), ops.b.data(), 0.0f, ops.c.data(), pool);
    benchmark::DoNotOptimize(ops.c.data());
  }
  SetFlops(state, m, n, k);
}

void BM_OpenBlas(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  Operands ops(m, n, k);
  openblas_set_num_threads(1);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, ops.a.data(), k,
                ops.b.data(), n, 0.0f, ops.c.data(), n);
    benchmark::DoNotOptimize(ops.c.data());
  }
  SetFlops(state, m, n, k);
}

// {M, N, K}: a large Dense layer, MLP layers at batch 1 and 64, ResNet-50 conv
// GEMMs (filters x pixels x patch) at batch 1.
void Shapes(benchmark::internal::Benchmark* b) {
  b->Args({1024, 1024, 1024});
  b->Args({64, 128, 784});
  b->Args({1, 128, 784});
  b->Args({64, 3136, 576});   // 3x3 conv, 64 channels, 56x56
  b->Args({256, 3136, 64});   // 1x1 expand, 56x56
  b->Args({512, 196, 4608});  // 3x3 conv, 512 channels, 14x14 (patch 512*9)
  b->Args({64, 121, 288});    // Keras CNN conv2, one 11x11 image
  b->Args({64, 2057, 288});   // the same, 17 images side by side
  b->Args({32, 3844, 288});   // image CNN conv2: 32 filters, 62x62 pixels
  b->Args({3844, 32, 288});   // the same, pixels as rows (channels-last output)
}

BENCHMARK(BM_Servekit)->Apply(Shapes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_OpenBlas)->Apply(Shapes)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
