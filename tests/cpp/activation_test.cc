// Activation kernels (kernels/activation.cc): Relu, LeakyRelu, Sigmoid, Tanh,
// Erf, Gelu, Clip, Softmax, LogSoftmax.
#include <cmath>
#include <functional>
#include <limits>

#include "test_util.h"

namespace servekit {
namespace {

using test::BatchFeed;
using test::Const;
using test::Feed;
using test::IsInvalid;
using test::Omitted;
using test::RunOp1;
using test::TensorNear;

std::vector<double> Map(const Tensor& t, const std::function<double(double)>& f) {
  std::vector<double> out;
  for (double x : test::AsDoubles(t)) out.push_back(f(x));
  return out;
}

// Values across the interesting range, including 0, saturation and exact ties.
Tensor Inputs(const Shape& shape, uint32_t seed) {
  Tensor t = test::RandomTensor(shape, seed, -6.0f, 6.0f);
  const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 30.0f, -30.0f, 1e-3f, -1e-3f, 88.0f, -88.0f};
  for (int64_t i = 0; i < t.num_elements() && i < 10; ++i) t.data<float>()[i] = special[i];
  return t;
}

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double Gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

struct UnaryCase {
  const char* op;
  Attributes attributes;
  std::function<double(double)> f;
};

std::vector<UnaryCase> UnaryCases() {
  return {
      {"Relu", {}, [](double x) { return x > 0 ? x : 0.0; }},
      {"LeakyRelu", {}, [](double x) { return x >= 0 ? x : 0.01 * x; }},
      {"LeakyRelu", test::Attrs({{"alpha", test::Float(0.2f)}}),
       [](double x) { return x >= 0 ? x : static_cast<double>(0.2f) * x; }},
      {"LeakyRelu", test::Attrs({{"alpha", test::Float(-1.5f)}}),
       [](double x) { return x >= 0 ? x : -1.5 * x; }},
      {"Sigmoid", {}, Sigmoid},
      {"Tanh", {}, [](double x) { return std::tanh(x); }},
      {"Erf", {}, [](double x) { return std::erf(x); }},
      {"Gelu", {}, Gelu},
      {"Gelu", test::Attrs({{"approximate", test::Str("none")}}), Gelu},
  };
}

TEST(ActivationTest, UnaryOpsMatchReference) {
  for (const UnaryCase& c : UnaryCases()) {
    for (const Shape& shape : {Shape{3, 7, 5}, Shape{1, 4}, Shape{2, 1037}}) {
      Tensor in = Inputs(shape, 11);
      SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1(c.op, {BatchFeed(in)}, c.attributes));
      EXPECT_TRUE(TensorNear(out, shape, Map(in, c.f))) << c.op << " " << ShapeToString(shape);
    }
  }
}

TEST(ActivationTest, BatchZeroAndScalar) {
  for (const UnaryCase& c : UnaryCases()) {
    SK_ASSERT_OK_AND_ASSIGN(Tensor empty,
                            RunOp1(c.op, {BatchFeed(test::Floats({0, 3}, {}))}, c.attributes));
    EXPECT_EQ(empty.shape(), (Shape{0, 3})) << c.op;
    Tensor scalar = test::Scalar<float>(-0.75f);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1(c.op, {Feed(scalar)}, c.attributes));
    EXPECT_TRUE(TensorNear(out, {}, Map(scalar, c.f))) << c.op;
  }
}

TEST(ActivationTest, LeakyReluKeepsExactValues) {
  SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                          RunOp1("LeakyRelu", {Feed(test::Floats({4}, {-2, -0.5, 0, 3}))},
                                 test::Attrs({{"alpha", test::Float(0.5f)}})));
  EXPECT_EQ(test::Values<float>(out), (std::vector<float>{-1, -0.25, 0, 3}));
}

TEST(ActivationTest, GeluTanhApproximationIsRejected) {
  EXPECT_TRUE(IsInvalid(RunOp1("Gelu", {Feed(test::Floats({1}, {1}))},
                               test::Attrs({{"approximate", test::Str("tanh")}}))
                            .status(),
                        {"approximate='tanh' is not supported"}));
}

TEST(ActivationTest, FloatOnly) {
  EXPECT_TRUE(IsInvalid(RunOp1("Relu", {Feed(test::Int64s({2}, {1, -1}))}).status(),
                        {"node 'op' (Relu)", "has dtype int64", "expected float32"}));
}

TEST(ActivationTest, UnknownAttribute) {
  EXPECT_TRUE(IsInvalid(
      RunOp1("Relu", {Feed(test::Floats({1}, {1}))}, test::Attrs({{"alpha", test::Float(1)}}))
          .status(),
      {"unknown attribute 'alpha'", "accepted: none"}));
}

// --- Clip ------------------------------------------------------------------------------

double ClipRef(double x, double lo, double hi) { return std::min(std::max(x, lo), hi); }

TEST(ClipTest, MinAndMax) {
  const Tensor in = Inputs({2, 3, 9}, 5);
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    std::vector<test::OpInput> bounds;
    double lo, hi;
  };
  const std::vector<Case> cases = {
      {{Const(test::Scalar(-1.5f)), Const(test::Scalar(2.0f))}, -1.5, 2.0},
      {{Const(test::Scalar(0.0f))}, 0.0, inf},
      {{Omitted(), Const(test::Scalar(6.0f))}, -inf, 6.0},
      {{Omitted(), Omitted()}, -inf, inf},
      {{}, -inf, inf},
      {{Const(test::Scalar(0.0f)), Const(test::Scalar(6.0f))}, 0.0, 6.0},
      // min > max: every value becomes max (ONNX and numpy semantics).
      {{Const(test::Scalar(2.0f)), Const(test::Scalar(1.0f))}, 2.0, 1.0},
      // A one-element 1-D bound is accepted too.
      {{Const(test::Floats({1}, {-0.5f})), Const(test::Floats({1}, {0.5f}))}, -0.5, 0.5},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<test::OpInput> inputs = {BatchFeed(in)};
    inputs.insert(inputs.end(), cases[i].bounds.begin(), cases[i].bounds.end());
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Clip", inputs));
    EXPECT_TRUE(TensorNear(out, in.shape(),
                           Map(in, [&](double x) { return ClipRef(x, cases[i].lo, cases[i].hi); })))
        << "case " << i;
  }
}

TEST(ClipTest, BoundsMustBeConstantFloatScalars) {
  const Tensor in = test::Floats({2}, {1, 2});
  EXPECT_TRUE(IsInvalid(RunOp1("Clip", {Feed(in), Feed(test::Scalar(0.0f))}).status(),
                        {"min and max must be float32 scalar constants"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Clip", {Feed(in), Const(test::Floats({2}, {0, 1}))}).status(),
                        {"min and max must be float32 scalar constants"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Clip", {Feed(in), Const(test::Scalar<int64_t>(0))}).status(),
                        {"min and max must be float32 scalar constants"}));
}

// --- Softmax, LogSoftmax -------------------------------------------------------------------

std::vector<double> RefSoftmax(const Tensor& t, int axis, bool log) {
  const Shape& shape = t.shape();
  const int rank = static_cast<int>(shape.size());
  if (axis < 0) axis += rank;
  const std::vector<double> x = test::AsDoubles(t);
  std::vector<double> y(x.size());
  const Shape strides = test::Strides(shape);
  test::ForEachIndex(shape, [&](const Shape& index) {
    if (index[axis] != 0) return;
    int64_t base = 0;
    for (int d = 0; d < rank; ++d) base += index[d] * strides[d];
    double max = -std::numeric_limits<double>::infinity();
    for (int64_t k = 0; k < shape[axis]; ++k) max = std::max(max, x[base + k * strides[axis]]);
    double sum = 0;
    for (int64_t k = 0; k < shape[axis]; ++k) sum += std::exp(x[base + k * strides[axis]] - max);
    for (int64_t k = 0; k < shape[axis]; ++k) {
      const double v = x[base + k * strides[axis]] - max;
      y[base + k * strides[axis]] = log ? v - std::log(sum) : std::exp(v) / sum;
    }
  });
  return y;
}

TEST(SoftmaxTest, EveryAxisOfRank4) {
  const Shape shape = {2, 3, 4, 5};
  const Tensor in = test::RandomTensor(shape, 21, -4.0f, 4.0f);
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    const bool log = std::string(op) == "LogSoftmax";
    for (int axis = -4; axis < 4; ++axis) {
      SK_ASSERT_OK_AND_ASSIGN(
          Tensor out, RunOp1(op, {BatchFeed(in)}, test::Attrs({{"axis", test::Int(axis)}})));
      EXPECT_TRUE(TensorNear(out, shape, RefSoftmax(in, axis, log))) << op << " axis " << axis;
    }
  }
}

TEST(SoftmaxTest, DefaultAxisIsLast) {
  const Tensor in = test::RandomTensor({3, 6}, 22, -4.0f, 4.0f);
  SK_ASSERT_OK_AND_ASSIGN(Tensor soft, RunOp1("Softmax", {Feed(in)}));
  EXPECT_TRUE(TensorNear(soft, {3, 6}, RefSoftmax(in, 1, false)));
  SK_ASSERT_OK_AND_ASSIGN(Tensor log, RunOp1("LogSoftmax", {Feed(in)}));
  EXPECT_TRUE(TensorNear(log, {3, 6}, RefSoftmax(in, 1, true)));
}

TEST(SoftmaxTest, OneDimensionalAndLargeValues) {
  // Large inputs must not overflow exp (the max is subtracted first).
  const Tensor in = test::Floats({5}, {1000, 1001, 1002, -1000, 999.5});
  SK_ASSERT_OK_AND_ASSIGN(Tensor soft,
                          RunOp1("Softmax", {Feed(in)}, test::Attrs({{"axis", test::Int(0)}})));
  EXPECT_TRUE(TensorNear(soft, {5}, RefSoftmax(in, 0, false)));
  SK_ASSERT_OK_AND_ASSIGN(Tensor log,
                          RunOp1("LogSoftmax", {Feed(in)}, test::Attrs({{"axis", test::Int(0)}})));
  EXPECT_TRUE(TensorNear(log, {5}, RefSoftmax(in, 0, true)));
}

TEST(SoftmaxTest, SplitAcrossTwoThreads) {
  // Enough elements for two parallel chunks, along the last axis (contiguous
  // rows) and along a middle one (strided).
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    for (int axis : {-1, 1}) {
      const Tensor in = test::RandomTensor({600, 64, 16}, 23, -4.0f, 4.0f);
      SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                              RunOp1(op, {BatchFeed(in)}, test::Attrs({{"axis", test::Int(axis)}}),
                                     test::Options(true, 2)));
      EXPECT_TRUE(
          TensorNear(out, in.shape(), RefSoftmax(in, axis, std::string(op) == "LogSoftmax")))
          << op << " axis " << axis;
    }
  }
}

TEST(SoftmaxTest, BatchSizesOnOneSession) {
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 4, 3}));
  g.Output(g.Op("Softmax", {x}, test::Attrs({{"axis", test::Int(1)}})));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  for (int64_t batch : {1, 0, 4, 1}) {
    const Tensor in =
        test::RandomTensor({batch, 4, 3}, 30 + static_cast<uint32_t>(batch), -3.0f, 3.0f);
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
    EXPECT_TRUE(TensorNear(out[0], in.shape(), RefSoftmax(in, 1, false))) << "batch " << batch;
  }
}

TEST(SoftmaxTest, AxisOutOfRange) {
  EXPECT_TRUE(IsInvalid(RunOp1("Softmax", {Feed(test::Floats({2, 2}, {1, 2, 3, 4}))},
                               test::Attrs({{"axis", test::Int(2)}}))
                            .status(),
                        {"node 'op' (Softmax)", "axis 2 is out of range for rank 2"}));
  EXPECT_TRUE(IsInvalid(RunOp1("LogSoftmax", {Feed(test::Floats({2, 2}, {1, 2, 3, 4}))},
                               test::Attrs({{"axis", test::Int(-3)}}))
                            .status(),
                        {"axis -3"}));
}

TEST(SoftmaxTest, ScalarHasNoAxisZero) {
  // The kernel read dim 0 of a rank-0 input.
  SK_EXPECT_IN_SUBPROCESS([] {
    return IsInvalid(
        RunOp1("Softmax", {Feed(test::Scalar(1.0f))}, test::Attrs({{"axis", test::Int(0)}}))
            .status(),
        {"node 'op' (Softmax)", "axis 0 is out of range for rank 0"});
  });
}

}  // namespace
}  // namespace servekit
