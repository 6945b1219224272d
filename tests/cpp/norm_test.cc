// BatchNormalization kernel (kernels/norm.cc), inference mode, when nothing
// precedes it that the optimiser could fold it into.
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
using test::RunOp1;
using test::TensorNear;

struct BnParams {
  Tensor scale, bias, mean, var;
};

BnParams MakeParams(int64_t channels, uint32_t seed) {
  return {RandomTensor({channels}, seed, 0.5f, 2.0f), RandomTensor({channels}, seed + 1),
          RandomTensor({channels}, seed + 2), RandomTensor({channels}, seed + 3, 0.1f, 3.0f)};
}

std::vector<double> RefBatchNorm(const Tensor& x_t, const BnParams& p, double epsilon) {
  const std::vector<double> x = test::AsDoubles(x_t);
  const std::vector<double> scale = test::AsDoubles(p.scale), bias = test::AsDoubles(p.bias),
                            mean = test::AsDoubles(p.mean), var = test::AsDoubles(p.var);
  const int64_t channels = x_t.dim(1);
  const int64_t inner = x_t.num_elements() == 0 ? 0 : x_t.num_elements() / (x_t.dim(0) * channels);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const int64_t c = (static_cast<int64_t>(i) / inner) % channels;
    y[i] = (x[i] - mean[c]) / std::sqrt(var[c] + epsilon) * scale[c] + bias[c];
  }
  return y;
}

std::vector<test::OpInput> Inputs(const Tensor& x, const BnParams& p) {
  return {BatchFeed(x), Const(p.scale), Const(p.bias), Const(p.mean), Const(p.var)};
}

TEST(BatchNormTest, Ranks2To5) {
  for (const Shape& shape :
       {Shape{4, 3}, Shape{2, 5, 7}, Shape{2, 3, 4, 5}, Shape{1, 2, 3, 2, 2}, Shape{3, 1, 2, 2}}) {
    const BnParams p = MakeParams(shape[1], 10);
    const Tensor x = RandomTensor(shape, 1, -3.0f, 3.0f);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("BatchNormalization", Inputs(x, p)));
    EXPECT_TRUE(TensorNear(out, shape, RefBatchNorm(x, p, 1e-5))) << ShapeToString(shape);
  }
}

TEST(BatchNormTest, EpsilonAndIgnoredAttributes) {
  const BnParams p = MakeParams(3, 20);
  const Tensor x = RandomTensor({2, 3, 4, 4}, 2, -3.0f, 3.0f);
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor out,
      RunOp1(
          "BatchNormalization", Inputs(x, p),
          Attrs({{"epsilon", Float(0.5f)}, {"momentum", Float(0.9f)}, {"training_mode", Int(0)}})));
  EXPECT_TRUE(TensorNear(out, x.shape(), RefBatchNorm(x, p, 0.5)));
}

TEST(BatchNormTest, BatchSizesOnOneSession) {
  const BnParams p = MakeParams(4, 30);
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 4, 3, 3}));
  g.Output(g.Op("BatchNormalization", {x, g.Constant("s", p.scale), g.Constant("b", p.bias),
                                       g.Constant("m", p.mean), g.Constant("v", p.var)}));
  for (bool optimize : {true, false}) {
    SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options(optimize)));
    EXPECT_EQ(session->StepOpTypes(), (std::vector<std::string>{"BatchNormalization"}));
    for (int64_t batch : {0, 1, 3, 1}) {
      const Tensor in = RandomTensor({batch, 4, 3, 3}, 40 + static_cast<uint32_t>(batch));
      SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
      EXPECT_TRUE(TensorNear(out[0], in.shape(), RefBatchNorm(in, p, 1e-5))) << "batch " << batch;
    }
  }
}

TEST(BatchNormTest, Errors) {
  const BnParams p = MakeParams(3, 50);
  const Tensor x = RandomTensor({2, 3, 2, 2}, 3);
  EXPECT_TRUE(IsInvalid(
      RunOp1("BatchNormalization", Inputs(x, p), Attrs({{"training_mode", Int(1)}})).status(),
      {"node 'op' (BatchNormalization)", "training_mode=1 is not supported"}));
  EXPECT_TRUE(IsInvalid(RunOp1("BatchNormalization", {BatchFeed(x), Const(p.scale), Const(p.bias),
                                                      Feed(p.mean), Const(p.var)})
                            .status(),
                        {"parameter 'in3' must be a constant"}));
  EXPECT_TRUE(IsInvalid(RunOp1("BatchNormalization", {BatchFeed(x), Const(RandomTensor({4}, 1)),
                                                      Const(p.bias), Const(p.mean), Const(p.var)})
                            .status(),
                        {"parameter 'const1' must be float32 of shape [3]", "[4]"}));
  EXPECT_TRUE(
      IsInvalid(RunOp1("BatchNormalization", {BatchFeed(RandomTensor({3}, 1)), Const(p.scale),
                                              Const(p.bias), Const(p.mean), Const(p.var)})
                    .status(),
                {"rank >= 2"}));
  EXPECT_TRUE(IsInvalid(test::RunOp("BatchNormalization", Inputs(x, p), {}, 3).status(),
                        {"running mean/var outputs exist only in training mode"}));
  EXPECT_TRUE(IsInvalid(RunOp1("BatchNormalization", {BatchFeed(x), Const(p.scale)}).status(),
                        {"has 2 inputs; expected 5 to 5"}));
}

}  // namespace
}  // namespace servekit
