// Matrix-product kernels (kernels/gemm.cc): Gemm with transA/transB, alpha,
// beta and every bias shape; MatMul with batches, broadcasting and 1-D operands.
#include "servekit/engine/activation.h"
#include "test_util.h"

namespace servekit {
namespace {

using test::Attrs;
using test::BatchFeed;
using test::Const;
using test::Feed;
using test::FeedAs;
using test::Float;
using test::Int;
using test::IsInvalid;
using test::kAtolSum;
using test::kRtol;
using test::Omitted;
using test::RandomTensor;
using test::RunOp1;
using test::Str;
using test::TensorNear;

// --- Gemm --------------------------------------------------------------------------------

// Y = alpha * op(A) op(B) + beta * broadcast(C), in double.
std::vector<double> RefGemm(const Tensor& a, const Tensor& b, const Tensor* c, bool trans_a,
                            bool trans_b, double alpha, double beta, int64_t* m_out,
                            int64_t* n_out) {
  const std::vector<double> x = test::AsDoubles(a), w = test::AsDoubles(b);
  const int64_t m = trans_a ? a.dim(1) : a.dim(0);
  const int64_t k = trans_a ? a.dim(0) : a.dim(1);
  const int64_t n = trans_b ? b.dim(0) : b.dim(1);
  std::vector<double> y(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double av = trans_a ? x[p * m + i] : x[i * k + p];
        const double bv = trans_b ? w[j * k + p] : w[p * n + j];
        sum += av * bv;
      }
      double bias = 0;
      if (c != nullptr) {
        const std::vector<double> cv = test::AsDoubles(*c);
        const Shape& cs = c->shape();
        const int64_t rows = cs.size() == 2 ? cs[0] : 1;
        const int64_t cols = cs.empty() ? 1 : cs.back();
        bias = cv[(rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j)];
      }
      y[i * n + j] = alpha * sum + beta * bias;
    }
  }
  *m_out = m;
  *n_out = n;
  return y;
}

struct GemmParams {
  bool trans_a, trans_b;
  float alpha, beta;
};

std::string Describe(const GemmParams& p, const Shape& bias) {
  return absl::StrCat("transA=", p.trans_a, " transB=", p.trans_b, " alpha=", p.alpha,
                      " beta=", p.beta, " bias ", ShapeToString(bias));
}

TEST(GemmTest, TransposesScalesAndEveryBiasShape) {
  const int64_t M = 3, K = 4, N = 5;
  const std::vector<Shape> bias_shapes = {{N}, {1, N}, {M, 1}, {M, N}, {}, {1}, {1, 1}};
  uint32_t seed = 100;
  for (bool trans_a : {false, true}) {
    for (bool trans_b : {false, true}) {
      for (auto [alpha, beta] :
           {std::pair{1.0f, 1.0f}, {0.5f, 2.0f}, {-1.5f, 0.0f}, {2.0f, -0.25f}}) {
        const GemmParams p{trans_a, trans_b, alpha, beta};
        const Tensor a = RandomTensor(trans_a ? Shape{K, M} : Shape{M, K}, ++seed);
        const Tensor b = RandomTensor(trans_b ? Shape{N, K} : Shape{K, N}, ++seed);
        const Attributes attrs = Attrs({{"transA", Int(trans_a)},
                                        {"transB", Int(trans_b)},
                                        {"alpha", Float(alpha)},
                                        {"beta", Float(beta)}});
        int64_t m, n;
        // No bias.
        {
          const std::vector<double> expected =
              RefGemm(a, b, nullptr, trans_a, trans_b, alpha, beta, &m, &n);
          SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Gemm", {Feed(a), Const(b)}, attrs));
          EXPECT_TRUE(TensorNear(out, {m, n}, expected, kRtol, kAtolSum)) << Describe(p, {});
        }
        for (const Shape& bias_shape : bias_shapes) {
          const Tensor c = RandomTensor(bias_shape, ++seed);
          const std::vector<double> expected =
              RefGemm(a, b, &c, trans_a, trans_b, alpha, beta, &m, &n);
          SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Gemm", {Feed(a), Const(b), Const(c)}, attrs));
          EXPECT_TRUE(TensorNear(out, {m, n}, expected, kRtol, kAtolSum))
              << Describe(p, bias_shape);
          // The same with every operand fed at run time.
          SK_ASSERT_OK_AND_ASSIGN(Tensor out2, RunOp1("Gemm", {Feed(a), Feed(b), Feed(c)}, attrs));
          EXPECT_TRUE(TensorNear(out2, {m, n}, expected, kRtol, kAtolSum))
              << Describe(p, bias_shape) << " (runtime)";
        }
      }
    }
  }
}

TEST(GemmTest, OmittedBiasInput) {
  const Tensor a = RandomTensor({2, 3}, 1), b = RandomTensor({3, 4}, 2);
  int64_t m, n;
  const std::vector<double> expected = RefGemm(a, b, nullptr, false, false, 1, 1, &m, &n);
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Gemm", {Feed(a), Const(b), Omitted()}));
  EXPECT_TRUE(TensorNear(out, {2, 4}, expected, kRtol, kAtolSum));
}

TEST(GemmTest, BatchDimOnOneSession) {
  // A is [N, K]; a Dense layer with bias [N_out].
  const int64_t K = 6, N = 7;
  const Tensor b = RandomTensor({K, N}, 3), c = RandomTensor({N}, 4);
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, K}));
  g.Output(g.Op("Gemm", {x, g.Constant("b", b), g.Constant("c", c)}));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  for (int64_t batch : {0, 1, 4, 1, 9, 0}) {
    const Tensor a = RandomTensor({batch, K}, 10 + static_cast<uint32_t>(batch));
    int64_t m, n;
    const std::vector<double> expected = RefGemm(a, b, &c, false, false, 1, 1, &m, &n);
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({a}));
    EXPECT_TRUE(TensorNear(out[0], {batch, N}, expected, kRtol, kAtolSum)) << "batch " << batch;
  }
}

TEST(GemmTest, TransposedAWithBatchInItsSecondDim) {
  // transA: A is [K, M] where M is the batch.
  const int64_t K = 5, N = 3;
  const Tensor a = RandomTensor({K, 4}, 5), b = RandomTensor({N, K}, 6),
               c = RandomTensor({1, N}, 7);
  int64_t m, n;
  const std::vector<double> expected = RefGemm(a, b, &c, true, true, 1, 1, &m, &n);
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor out, RunOp1("Gemm", {FeedAs(a, {Dim::Fixed(K), Dim::Batch()}), Const(b), Const(c)},
                         Attrs({{"transA", Int(1)}, {"transB", Int(1)}})));
  EXPECT_TRUE(TensorNear(out, {4, N}, expected, kRtol, kAtolSum));
}

TEST(GemmTest, LargerMatricesAndThreads) {
  // Big enough for Eigen's blocked GEMM and for ParallelFor to split rows
  // (Sgemm splits at 32 MFLOP per thread: this is 94 MFLOP).
  const int64_t M = 1500, K = 240, N = 130;
  const Tensor a = RandomTensor({M, K}, 8), b = RandomTensor({N, K}, 9), c = RandomTensor({N}, 10);
  int64_t m, n;
  const std::vector<double> expected = RefGemm(a, b, &c, false, true, 0.75, 1.25, &m, &n);
  // Sgemm forced, and the default (oneDNN where built with it, on an OpenMP
  // team of two).
  for (const char* algorithm : {"sgemm", ""}) {
    Attributes attrs = Attrs({{"transB", Int(1)}, {"alpha", Float(0.75f)}, {"beta", Float(1.25f)}});
    if (*algorithm) attrs.Set("_gemm_algorithm", std::string(algorithm));
    for (int threads : {1, 2}) {
      SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Gemm", {BatchFeed(a), Const(b), Const(c)}, attrs,
                                                 test::Options(true, threads)));
      EXPECT_TRUE(TensorNear(out, {M, N}, expected, kRtol, kAtolSum))
          << threads << " threads, algorithm '" << algorithm << "'";
    }
  }
}

TEST(GemmTest, OneRowTimesALargeMatrixOnTwoThreads) {
  // From 2^20 weights a one-row product splits B's columns across threads;
  // both B layouts, a bias, alpha and beta.
  const int64_t K = 2100, N = 700;
  const Tensor a = RandomTensor({1, K}, 11), c = RandomTensor({N}, 12);
  for (int trans_b : {0, 1}) {
    const Tensor b = RandomTensor(trans_b ? Shape{N, K} : Shape{K, N}, 13);
    int64_t m, n;
    const std::vector<double> expected = RefGemm(a, b, &c, false, trans_b, 0.5, 2.0, &m, &n);
    for (int threads : {1, 2}) {
      SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Gemm", {BatchFeed(a), Const(b), Const(c)},
                                                 Attrs({{"transB", Int(trans_b)},
                                                        {"alpha", Float(0.5f)},
                                                        {"beta", Float(2.0f)},
                                                        {"_gemm_algorithm", test::Str("sgemm")}}),
                                                 test::Options(true, threads)));
      EXPECT_TRUE(TensorNear(out, {1, N}, expected, kRtol, kAtolSum))
          << "transB " << trans_b << ", " << threads << " threads";
    }
  }
}

TEST(GemmTest, VectorShapes) {
  // M = 1 (GEMV), N = 1, K = 1.
  for (const auto& [M, K, N] :
       {std::tuple<int64_t, int64_t, int64_t>{1, 9, 4}, {4, 9, 1}, {3, 1, 5}, {1, 1, 1}}) {
    const Tensor a = RandomTensor({M, K}, 11), b = RandomTensor({K, N}, 12),
                 c = RandomTensor({N}, 13);
    int64_t m, n;
    const std::vector<double> expected = RefGemm(a, b, &c, false, false, 1, 1, &m, &n);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Gemm", {Feed(a), Const(b), Const(c)}));
    EXPECT_TRUE(TensorNear(out, {M, N}, expected, kRtol, kAtolSum)) << M << "x" << K << "x" << N;
  }
}

TEST(GemmTest, Errors) {
  const Tensor a = RandomTensor({2, 3}, 1);
  EXPECT_TRUE(IsInvalid(RunOp1("Gemm", {Feed(a), Const(RandomTensor({4, 5}, 2))}).status(),
                        {"node 'op' (Gemm)", "inner dimensions differ", "[2, 3]", "[4, 5]"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Gemm", {Feed(a), Const(RandomTensor({3, 5}, 2)), Const(RandomTensor({2, 4}, 3))})
          .status(),
      {"bias C of shape [2, 4] does not broadcast to [2, 5]"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Gemm", {Feed(RandomTensor({2, 3, 1}, 1)), Const(RandomTensor({3, 5}, 2))}).status(),
      {"expected rank 2"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Gemm", {Feed(a), Const(test::Int64s({3, 1}, {1, 2, 3}))}).status(),
                        {"has dtype int64"}));
  // The batch dim in B's output dim is not supported (weights must be fixed).
  EXPECT_TRUE(IsInvalid(
      RunOp1("Gemm", {Feed(a), FeedAs(RandomTensor({3, 2}, 2), {Dim::Fixed(3), Dim::Batch()})})
          .status(),
      {"must have fixed dims"}));
}

// --- MatMul ------------------------------------------------------------------------------

// numpy.matmul in double.
std::vector<double> RefMatMul(const Tensor& a_t, const Tensor& b_t, Shape* out_shape) {
  Shape a = a_t.shape(), b = b_t.shape();
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  const int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
  const Shape a_batch(a.begin(), a.end() - 2), b_batch(b.begin(), b.end() - 2);
  const size_t rank = std::max(a_batch.size(), b_batch.size());
  Shape batch(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a_batch.size() ? 1 : a_batch[i - (rank - a_batch.size())];
    const int64_t db = i < rank - b_batch.size() ? 1 : b_batch[i - (rank - b_batch.size())];
    batch[i] = da == 1 ? db : da;
  }
  const std::vector<double> x = test::AsDoubles(a_t), w = test::AsDoubles(b_t);
  auto offset = [&](const Shape& own, const Shape& index, int64_t matrix) {
    int64_t flat = 0, stride = matrix;
    for (int i = static_cast<int>(own.size()) - 1; i >= 0; --i) {
      const int64_t idx = own[i] == 1 ? 0 : index[i + (rank - own.size())];
      flat += idx * stride;
      stride *= own[i];
    }
    return flat;
  };
  std::vector<double> y;
  test::ForEachIndex(batch, [&](const Shape& index) {
    const int64_t oa = offset(a_batch, index, m * k), ob = offset(b_batch, index, k * n);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (int64_t p = 0; p < k; ++p) sum += x[oa + i * k + p] * w[ob + p * n + j];
        y.push_back(sum);
      }
    }
  });
  *out_shape = batch;
  if (!a_vec) out_shape->push_back(m);
  if (!b_vec) out_shape->push_back(n);
  return y;
}

struct MatMulCase {
  Shape a, b;
  bool a_batched = false;
  bool b_const = false;
};

TEST(MatMulTest, ShapesMatchNumpy) {
  const std::vector<MatMulCase> cases = {
      {{3, 4}, {4, 5}},
      {{3, 4}, {4, 5}, true, true},
      {{2, 3, 4}, {4, 5}, true, true},  // shared 2-D weights: one GEMM over all rows
      {{2, 3, 4}, {4, 5}},              // same, B at run time
      {{2, 3, 4}, {2, 4, 5}},           // batched
      {{2, 1, 3, 4}, {3, 4, 5}},        // broadcast batch dims -> [2, 3, 3, 5]
      {{1, 3, 4}, {2, 4, 5}},           // A broadcasts
      {{2, 3, 4}, {1, 4, 5}},           // B broadcasts
      {{3, 4}, {2, 4, 5}},              // 2-D A against a batch of B
      {{4}, {4, 5}},                    // 1-D A
      {{3, 4}, {4}},                    // 1-D B
      {{4}, {4}},                       // dot product -> scalar
      {{2, 3, 4}, {4}, true},           // 3-D x 1-D
      {{4}, {2, 4, 5}},                 // 1-D x 3-D
      {{2, 2, 3, 4}, {2, 1, 4, 5}},     // 4-D both sides broadcasting
      {{1, 7}, {7, 1}},
      {{5, 1}, {1, 6}},           // K = 1
      {{3, 0}, {0, 2}},           // K = 0: zeros
      {{2, 1, 3, 0}, {3, 0, 5}},  // K = 0 over broadcast batches: zeros
      {{17, 33}, {33, 19}},
  };
  uint32_t seed = 200;
  for (const MatMulCase& c : cases) {
    const Tensor a = RandomTensor(c.a, ++seed), b = RandomTensor(c.b, ++seed);
    Shape shape;
    const std::vector<double> expected = RefMatMul(a, b, &shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("MatMul", {c.a_batched ? BatchFeed(a) : Feed(a),
                                                          c.b_const ? Const(b) : Feed(b)}));
    EXPECT_TRUE(TensorNear(out, shape, expected, kRtol, kAtolSum))
        << ShapeToString(c.a) << " x " << ShapeToString(c.b);
  }
}

TEST(MatMulTest, BatchSizesOnOneSession) {
  // [N, 3, 4] x [4, 5] and [N, 3, 4] x [N, 4, 2] on sessions reused across batch sizes.
  const Tensor w = RandomTensor({4, 5}, 300);
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 4}));
  const int y = g.Input("y", test::BatchShape({1, 4, 2}));
  g.Output(g.Op("MatMul", {x, g.Constant("w", w)}));
  g.Output(g.Op("MatMul", {x, y}));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  for (int64_t batch : {2, 0, 1, 3}) {
    const Tensor a = RandomTensor({batch, 3, 4}, 301 + static_cast<uint32_t>(batch));
    const Tensor b = RandomTensor({batch, 4, 2}, 401 + static_cast<uint32_t>(batch));
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({a, b}));
    Shape s1, s2;
    const std::vector<double> e1 = RefMatMul(a, w, &s1), e2 = RefMatMul(a, b, &s2);
    EXPECT_TRUE(TensorNear(out[0], s1, e1, kRtol, kAtolSum)) << "batch " << batch;
    EXPECT_TRUE(TensorNear(out[1], s2, e2, kRtol, kAtolSum)) << "batch " << batch;
  }
}

// --- oneDNN (kernels/onednn/onednn_matmul.h) -------------------------------------------

// Whether this build has the oneDNN kernels (forcing them fails otherwise).
bool OneDnnBuilt() {
  auto out = RunOp1("Gemm", {Feed(RandomTensor({1, 2}, 1)), Const(RandomTensor({2, 2}, 2))},
                    Attrs({{"_gemm_algorithm", Str("onednn")}}));
  return out.status().code() != absl::StatusCode::kUnimplemented;
}

TEST(OneDnnGemmTest, EveryFormOneDnnTakesMatchesTheReference) {
  // Forced: oneDNN refuses to fall back, so these prove its path. Batch sizes
  // 0, 1 and more; with two threads the larger batches run on an OpenMP team.
  if (!OneDnnBuilt()) GTEST_SKIP() << "built without oneDNN";
  const int64_t K = 37, N = 29;
  uint32_t seed = 500;
  for (bool trans_b : {false, true}) {
    for (auto [alpha, beta] : {std::pair{1.0f, 1.0f}, {0.5f, 2.0f}, {-1.5f, 0.0f}}) {
      for (const Shape& bias_shape : {Shape{N}, Shape{1, N}, Shape{}}) {
        const Tensor b = RandomTensor(trans_b ? Shape{N, K} : Shape{K, N}, ++seed);
        const Tensor c = RandomTensor(bias_shape.empty() ? Shape{N} : bias_shape, ++seed);
        const bool with_bias = !bias_shape.empty();
        const Attributes attrs = Attrs({{"transB", Int(trans_b)},
                                        {"alpha", Float(alpha)},
                                        {"beta", Float(beta)},
                                        {"_gemm_algorithm", Str("onednn")}});
        for (int threads : {1, 2}) {
          test::GraphBuilder g;
          const int x = g.Input("x", test::BatchShape({1, K}));
          std::vector<int> inputs = {x, g.Constant("b", b)};
          if (with_bias) inputs.push_back(g.Constant("c", c));
          g.Output(g.Op("Gemm", inputs, attrs));
          SK_ASSERT_OK_AND_ASSIGN(auto session,
                                  BuildSession(g.Build(), test::Options(true, threads)));
          for (int64_t batch : {1, 0, 700, 3, 701}) {
            const Tensor a = RandomTensor({batch, K}, ++seed);
            int64_t m, n;
            const std::vector<double> expected =
                RefGemm(a, b, with_bias ? &c : nullptr, false, trans_b, alpha, beta, &m, &n);
            SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({a}));
            EXPECT_TRUE(TensorNear(out[0], {batch, N}, expected, kRtol, kAtolSum))
                << Describe({false, trans_b, alpha, beta}, bias_shape) << ", batch " << batch
                << ", " << threads << " threads";
          }
        }
      }
    }
  }
}

TEST(OneDnnGemmTest, MatMulOfAnyRankAgainstConstantWeights) {
  if (!OneDnnBuilt()) GTEST_SKIP() << "built without oneDNN";
  const Tensor w = RandomTensor({6, 5}, 600);
  for (const Shape& a_shape : {Shape{4, 6}, Shape{2, 3, 6}, Shape{2, 1, 3, 6}, Shape{0, 3, 6}}) {
    const Tensor a = RandomTensor(a_shape, 601);
    Shape shape;
    const std::vector<double> expected = RefMatMul(a, w, &shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("MatMul", {BatchFeed(a), Const(w)},
                                               Attrs({{"_gemm_algorithm", Str("onednn")}})));
    EXPECT_TRUE(TensorNear(out, shape, expected, kRtol, kAtolSum)) << ShapeToString(a_shape);
  }
}

TEST(OneDnnGemmTest, ActivationsAndManyBatchSizes) {
  // Post-ops oneDNN fuses and the ones the kernel applies must match Sgemm's
  // epilogue; more batch sizes than the plan cache keeps are evicted and rebuilt.
  if (!OneDnnBuilt()) GTEST_SKIP() << "built without oneDNN";
  using K = Activation::Kind;
  const Tensor b = RandomTensor({12, 9}, 700), c = RandomTensor({9}, 701);
  for (const Activation& activation :
       {Activation{K::kRelu, 0, 0}, Activation{K::kLeakyRelu, 0.2f, 0},
        Activation{K::kSigmoid, 0, 0}, Activation{K::kTanh, 0, 0},
        Activation{K::kClip, -0.3f, 0.4f}, Activation{K::kClip, 0.3f, -0.3f},
        Activation{K::kGelu, 0, 0}, Activation{K::kErf, 0, 0}}) {
    std::vector<std::unique_ptr<Session>> sessions;
    for (const char* algorithm : {"sgemm", "onednn"}) {
      Attributes attrs = Attrs({{"_gemm_algorithm", Str(algorithm)}});
      activation.StoreAsFused(attrs);
      test::GraphBuilder g;
      const int x = g.Input("x", test::BatchShape({1, 12}));
      g.Output(g.Op("Gemm", {x, g.Constant("b", b), g.Constant("c", c)}, attrs));
      SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
      sessions.push_back(std::move(session));
    }
    for (int64_t batch = 1; batch <= 40; ++batch) {
      const Tensor a = RandomTensor({batch, 12}, 800 + static_cast<uint32_t>(batch));
      SK_ASSERT_OK_AND_ASSIGN(auto want, sessions[0]->Run({a}));
      SK_ASSERT_OK_AND_ASSIGN(auto got, sessions[1]->Run({a}));
      ASSERT_TRUE(TensorNear(got[0], want[0].shape(), test::AsDoubles(want[0]), 1e-5, 1e-5))
          << "activation kind " << static_cast<int>(activation.kind) << ", batch " << batch;
    }
  }
}

TEST(OneDnnGemmTest, ForcingOneDnnWhereItCannotRunIsAnError) {
  if (!OneDnnBuilt()) GTEST_SKIP() << "built without oneDNN";
  const Tensor a = RandomTensor({3, 4}, 1), b = RandomTensor({4, 5}, 2);
  const Attributes forced = Attrs({{"_gemm_algorithm", Str("onednn")}});
  EXPECT_TRUE(
      IsInvalid(RunOp1("Gemm", {Feed(a), Feed(b)}, forced).status(), {"needs a constant 2-D B"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Gemm", {Feed(a), Const(b), Const(RandomTensor({3, 5}, 3))}, forced).status(),
      {"needs a constant 2-D B"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Gemm", {Feed(a), Const(b)}, Attrs({{"_gemm_algorithm", Str("mkl")}})).status(),
      {"_gemm_algorithm must be"}));
}

TEST(MatMulTest, BatchedProductsSplitAcrossTwoThreads) {
  // Attention-sized products (64x32 by 32x64), 20 of them: enough work to split
  // the batch indices across two threads; B shared across the leading batch
  // dim (broadcast) and not.
  const Tensor a = RandomTensor({4, 5, 64, 32}, 620);
  for (const Shape& b_shape : {Shape{4, 5, 32, 64}, Shape{5, 32, 64}}) {
    const Tensor b = RandomTensor(b_shape, 621);
    Shape shape;
    const std::vector<double> expected = RefMatMul(a, b, &shape);
    for (int threads : {1, 2}) {
      SK_ASSERT_OK_AND_ASSIGN(
          Tensor out, RunOp1("MatMul", {Feed(a), Feed(b)}, {}, test::Options(true, threads)));
      EXPECT_TRUE(TensorNear(out, shape, expected, kRtol, kAtolSum))
          << "B " << ShapeToString(b_shape) << ", " << threads << " threads";
    }
  }
}

TEST(MatMulTest, FusedBiasOnEveryPath) {
  // The optimiser's MatMul(A, W, bias): Sgemm's and oneDNN's paths, one-row
  // products (Eigen's GEMV) and an empty K, against A x W + bias.
  const std::vector<const char*> algorithms = OneDnnBuilt()
                                                  ? std::vector<const char*>{"sgemm", "onednn"}
                                                  : std::vector<const char*>{"sgemm"};
  for (const char* algorithm : algorithms) {
    for (const Shape& a_shape :
         {Shape{2, 5, 6}, Shape{3, 1, 6}, Shape{1, 2, 1, 6}, Shape{2, 3, 0}}) {
      const int64_t k = a_shape.back();
      if (k == 0 && std::string(algorithm) == "onednn") continue;  // oneDNN refuses K = 0
      const Tensor a = RandomTensor(a_shape, 610), w = RandomTensor({k, 4}, 611),
                   bias = RandomTensor({4}, 612);
      Shape shape;
      std::vector<double> expected = RefMatMul(a, w, &shape);
      for (size_t i = 0; i < expected.size(); ++i) expected[i] += bias.data<float>()[i % 4];
      SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("MatMul", {BatchFeed(a), Const(w), Const(bias)},
                                                 Attrs({{"_gemm_algorithm", Str(algorithm)}})));
      EXPECT_TRUE(TensorNear(out, shape, expected, kRtol, kAtolSum))
          << algorithm << ", A " << ShapeToString(a_shape);
    }
  }
}

TEST(MatMulTest, Errors) {
  EXPECT_TRUE(IsInvalid(
      RunOp1("MatMul", {Feed(RandomTensor({3, 4}, 1)), Feed(RandomTensor({5, 6}, 2))}).status(),
      {"node 'op' (MatMul)", "inner dimensions differ: [3, 4] x [5, 6]"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("MatMul", {Feed(RandomTensor({2, 3, 4}, 1)), Feed(RandomTensor({3, 4, 5}, 2))})
          .status(),
      {"do not broadcast"}));
  EXPECT_TRUE(
      IsInvalid(RunOp1("MatMul", {Feed(test::Scalar(1.0f)), Feed(RandomTensor({3}, 2))}).status(),
                {"rank >= 1"}));
  // The third input is servekit's fused bias: constant weights and N constant floats.
  const Tensor a = RandomTensor({2, 3}, 1), w = RandomTensor({3, 4}, 2);
  for (const std::vector<test::OpInput>& inputs :
       {std::vector<test::OpInput>{Feed(a), Feed(w), Const(RandomTensor({4}, 3))},
        std::vector<test::OpInput>{Feed(a), Const(w), Feed(RandomTensor({4}, 3))},
        std::vector<test::OpInput>{Feed(a), Const(w), Const(RandomTensor({5}, 3))},
        std::vector<test::OpInput>{Feed(a), Const(w), Const(RandomTensor({1, 4}, 3))}}) {
    EXPECT_TRUE(IsInvalid(RunOp1("MatMul", inputs).status(), {"a third input (a fused bias)"}));
  }
}

}  // namespace
}  // namespace servekit
