// LayerNormalization kernel (kernels/layer_norm.cc) against a double-precision
// reference: axes, broadcast Scale/B, omitted B, the Mean/InvStdDev outputs,
// batch sizes on one session, and the load-time errors.
#include <cmath>

#include "test_util.h"

namespace servekit {
namespace {

using test::Attrs;
using test::BatchFeed;
using test::Const;
using test::Feed;
using test::Float;
using test::Int;
using test::IsInvalid;
using test::RandomTensor;
using test::RunOp;
using test::RunOp1;
using test::TensorNear;

struct Reference {
  std::vector<double> y, mean, inv_std;
};

// `scale`/`bias` are given per row element (already broadcast); empty bias = 0.
Reference RefLayerNorm(const Tensor& x_t, int axis, const std::vector<double>& scale,
                       const std::vector<double>& bias, double epsilon) {
  const std::vector<double> x = test::AsDoubles(x_t);
  int64_t cols = 1;
  for (int d = axis; d < x_t.rank(); ++d) cols *= x_t.dim(d);
  const int64_t rows = cols == 0 ? 0 : static_cast<int64_t>(x.size()) / cols;
  Reference ref{std::vector<double>(x.size()), {}, {}};
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t c = 0; c < cols; ++c) mean += x[r * cols + c];
    mean /= cols;
    for (int64_t c = 0; c < cols; ++c) var += (x[r * cols + c] - mean) * (x[r * cols + c] - mean);
    var /= cols;
    const double inv = 1.0 / std::sqrt(var + epsilon);
    for (int64_t c = 0; c < cols; ++c) {
      ref.y[r * cols + c] =
          (x[r * cols + c] - mean) * inv * scale[c] + (bias.empty() ? 0 : bias[c]);
    }
    ref.mean.push_back(mean);
    ref.inv_std.push_back(inv);
  }
  return ref;
}

TEST(LayerNormTest, AxesOfARank3Input) {
  const Shape shape{2, 5, 12};
  const Tensor x = RandomTensor(shape, 1, -3.0f, 5.0f);
  for (int axis : {-1, 1, 2, -2, 0}) {
    const int a = axis < 0 ? axis + 3 : axis;
    const Shape row(shape.begin() + a, shape.end());
    const Tensor scale = RandomTensor(row, 2, 0.5f, 2.0f), bias = RandomTensor(row, 3);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                            RunOp1("LayerNormalization", {Feed(x), Const(scale), Const(bias)},
                                   Attrs({{"axis", Int(axis)}})));
    const Reference ref = RefLayerNorm(x, a, test::AsDoubles(scale), test::AsDoubles(bias), 1e-5);
    EXPECT_TRUE(TensorNear(out, shape, ref.y)) << "axis " << axis;
    // All-constant inputs are folded at load time through the same kernel.
    SK_ASSERT_OK_AND_ASSIGN(
        Tensor folded, test::RunFolded1("LayerNormalization", {Const(x), Const(scale), Const(bias)},
                                        Attrs({{"axis", Int(axis)}})));
    EXPECT_TRUE(TensorNear(folded, shape, ref.y)) << "folded, axis " << axis;
  }
}

TEST(LayerNormTest, BroadcastScaleOmittedBiasAndEpsilon) {
  const Tensor x = RandomTensor({3, 4, 6}, 4, -2.0f, 2.0f);
  // Scale [1, 6] varies along the last dim only; over axis 1 it repeats per row of 4.
  const Tensor scale = RandomTensor({1, 6}, 5, 0.5f, 2.0f);
  std::vector<double> expanded;
  for (int i = 0; i < 4; ++i) {
    for (double s : test::AsDoubles(scale)) expanded.push_back(s);
  }
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("LayerNormalization", {BatchFeed(x), Const(scale)},
                                             Attrs({{"axis", Int(1)}, {"epsilon", Float(0.25f)}})));
  EXPECT_TRUE(TensorNear(out, x.shape(), RefLayerNorm(x, 1, expanded, {}, 0.25).y));

  // A one-element scale and bias apply to every element.
  SK_ASSERT_OK_AND_ASSIGN(Tensor scalar_out, RunOp1("LayerNormalization",
                                                    {BatchFeed(x), Const(test::Floats({1}, {1.5f})),
                                                     Const(test::Floats({1}, {-0.5f}))}));
  EXPECT_TRUE(TensorNear(
      scalar_out, x.shape(),
      RefLayerNorm(x, 2, std::vector<double>(6, 1.5), std::vector<double>(6, -0.5), 1e-5).y));
}

TEST(LayerNormTest, MeanAndInvStdDevOutputs) {
  const Tensor x = RandomTensor({2, 3, 8}, 6, 10.0f, 12.0f);  // large mean, small spread
  const Tensor scale = RandomTensor({8}, 7), bias = RandomTensor({8}, 8);
  SK_ASSERT_OK_AND_ASSIGN(
      auto outs, RunOp("LayerNormalization", {BatchFeed(x), Const(scale), Const(bias)}, {}, 3));
  const Reference ref = RefLayerNorm(x, 2, test::AsDoubles(scale), test::AsDoubles(bias), 1e-5);
  EXPECT_TRUE(TensorNear(outs[0], x.shape(), ref.y));
  EXPECT_TRUE(TensorNear(outs[1], {2, 3, 1}, ref.mean));
  EXPECT_TRUE(TensorNear(outs[2], {2, 3, 1}, ref.inv_std));
}

TEST(LayerNormTest, BatchSizesAndThreadsOnOneSession) {
  const Tensor scale = RandomTensor({256}, 9, 0.5f, 2.0f), bias = RandomTensor({256}, 10);
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 256}));
  g.Output(g.Op("LayerNormalization", {x, g.Constant("s", scale), g.Constant("b", bias)}));
  for (int threads : {1, 2}) {
    SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options(true, threads)));
    // 4100 rows of 256 are enough elements to split across two threads.
    for (int64_t batch : {0, 1, 4100, 2}) {
      const Tensor in = RandomTensor({batch, 256}, 11 + static_cast<uint32_t>(batch));
      SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
      EXPECT_TRUE(
          TensorNear(out[0], in.shape(),
                     RefLayerNorm(in, 1, test::AsDoubles(scale), test::AsDoubles(bias), 1e-5).y))
          << "batch " << batch << ", threads " << threads;
    }
  }
}

TEST(LayerNormTest, Errors) {
  const Tensor x = RandomTensor({2, 4}, 12);
  const Tensor scale = RandomTensor({4}, 13);
  EXPECT_TRUE(IsInvalid(RunOp1("LayerNormalization", {BatchFeed(x), Feed(scale)}).status(),
                        {"node 'op' (LayerNormalization)", "must be a constant"}));
  EXPECT_TRUE(
      IsInvalid(RunOp1("LayerNormalization", {BatchFeed(x), Const(RandomTensor({3}, 1))}).status(),
                {"of shape [3] does not broadcast to the normalised dims"}));
  // A scale that varies across rows is not a layer norm's.
  EXPECT_TRUE(
      IsInvalid(RunOp1("LayerNormalization", {Feed(x), Const(RandomTensor({2, 4}, 1))}).status(),
                {"does not broadcast"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("LayerNormalization", {BatchFeed(x), Const(scale)}, Attrs({{"axis", Int(2)}}))
          .status(),
      {"axis"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("LayerNormalization", {BatchFeed(x), Const(scale)}, Attrs({{"stash_type", Int(0)}}))
          .status(),
      {"stash_type"}));
  // The batch dim cannot be normalised: its size is not known at load time.
  EXPECT_TRUE(IsInvalid(RunOp1("LayerNormalization", {BatchFeed(x), Const(RandomTensor({1}, 1))},
                               Attrs({{"axis", Int(0)}}))
                            .status(),
                        {"the normalised dims must be fixed"}));
}

}  // namespace
}  // namespace servekit
