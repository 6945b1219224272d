// Reduction kernels (kernels/reduce.cc): ReduceSum, ReduceMean, ReduceProd,
// ReduceMax, ReduceMin and ArgMax.
#include <cmath>
#include <functional>
#include <limits>
#include <set>

#include "test_util.h"

namespace servekit {
namespace {

using test::Attrs;
using test::BatchFeed;
using test::Const;
using test::Feed;
using test::Int;
using test::Ints;
using test::IsInvalid;
using test::kAtolSum;
using test::kRtol;
using test::RandomTensor;
using test::RunOp1;
using test::TensorNear;

// ReduceMean in double; empty `axes` reduces everything unless noop.
std::vector<double> RefReduceMean(const Tensor& x_t, std::vector<int64_t> axes, bool keepdims,
                                  bool noop, Shape* out_shape) {
  const Shape& shape = x_t.shape();
  const int rank = static_cast<int>(shape.size());
  std::set<int> reduced;
  for (int64_t a : axes) reduced.insert(static_cast<int>(a < 0 ? a + rank : a));
  if (axes.empty() && !noop) {
    for (int d = 0; d < rank; ++d) reduced.insert(d);
  }
  Shape kept;  // output shape with keepdims
  for (int d = 0; d < rank; ++d) kept.push_back(reduced.count(d) ? 1 : shape[d]);
  std::vector<double> sum(NumElements(kept), 0.0);
  const Shape kept_strides = test::Strides(kept);
  const std::vector<double> x = test::AsDoubles(x_t);
  int64_t i = 0;
  test::ForEachIndex(shape, [&](const Shape& index) {
    int64_t o = 0;
    for (int d = 0; d < rank; ++d) o += (reduced.count(d) ? 0 : index[d]) * kept_strides[d];
    sum[o] += x[i++];
  });
  int64_t count = 1;
  for (int d : reduced) count *= shape[d];
  for (double& s : sum) s /= static_cast<double>(count);
  out_shape->clear();
  for (int d = 0; d < rank; ++d) {
    if (!reduced.count(d)) {
      out_shape->push_back(shape[d]);
    } else if (keepdims) {
      out_shape->push_back(1);
    }
  }
  return sum;
}

TEST(ReduceMeanTest, AxisSetsAndKeepdims) {
  const Shape shape = {2, 3, 4, 5};
  const Tensor x = RandomTensor(shape, 1, -2.0f, 2.0f);
  const std::vector<std::vector<int64_t>> axis_sets = {
      {0}, {1}, {2}, {3}, {-1}, {-3}, {0, 2}, {1, 2}, {2, 3}, {1, 2, 3}, {0, 1, 2, 3}, {3, 0}, {}};
  for (const auto& axes : axis_sets) {
    for (int64_t keepdims : {0, 1}) {
      Shape out_shape;
      const std::vector<double> expected = RefReduceMean(x, axes, keepdims, false, &out_shape);
      Attributes a = Attrs({{"keepdims", Int(keepdims)}});
      if (!axes.empty()) a.Set("axes", axes);
      // Opset 13 style: axes as an attribute.
      SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("ReduceMean", {BatchFeed(x)}, a));
      EXPECT_TRUE(TensorNear(out, out_shape, expected, kRtol, kAtolSum))
          << "axes " << ShapeToString(Shape(axes.begin(), axes.end())) << " keepdims " << keepdims;
      // Opset 18 style: axes as a constant input.
      if (axes.empty()) continue;
      SK_ASSERT_OK_AND_ASSIGN(
          Tensor out18,
          RunOp1("ReduceMean",
                 {BatchFeed(x), Const(test::Int64s({static_cast<int64_t>(axes.size())}, axes))},
                 Attrs({{"keepdims", Int(keepdims)}})));
      EXPECT_TRUE(TensorNear(out18, out_shape, expected, kRtol, kAtolSum))
          << "axes input " << ShapeToString(Shape(axes.begin(), axes.end())) << " keepdims "
          << keepdims;
    }
  }
}

TEST(ReduceMeanTest, DefaultKeepdimsIsOne) {
  const Tensor x = RandomTensor({3, 4}, 2);
  Shape out_shape;
  const std::vector<double> expected = RefReduceMean(x, {1}, true, false, &out_shape);
  SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                          RunOp1("ReduceMean", {Feed(x)}, Attrs({{"axes", Ints({1})}})));
  EXPECT_TRUE(TensorNear(out, {3, 1}, expected, kRtol, kAtolSum));
}

TEST(ReduceMeanTest, NoopWithEmptyAxes) {
  const Tensor x = RandomTensor({2, 3}, 3);
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor out, RunOp1("ReduceMean", {Feed(x)}, Attrs({{"noop_with_empty_axes", Int(1)}})));
  EXPECT_TRUE(TensorNear(out, {2, 3}, test::AsDoubles(x)));
}

TEST(ReduceMeanTest, BatchSizesAndReducingTheBatch) {
  for (int64_t batch : {0, 1, 3}) {
    const Tensor x = RandomTensor({batch, 4, 6}, 4 + static_cast<uint32_t>(batch));
    Shape out_shape;
    const std::vector<double> spatial = RefReduceMean(x, {2}, false, false, &out_shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("ReduceMean", {BatchFeed(x)},
                                               Attrs({{"axes", Ints({2})}, {"keepdims", Int(0)}})));
    EXPECT_TRUE(TensorNear(out, out_shape, spatial, kRtol, kAtolSum)) << "batch " << batch;
    if (batch == 0) continue;  // the mean over an empty batch is undefined
    const std::vector<double> over_batch = RefReduceMean(x, {0}, true, false, &out_shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out0,
                            RunOp1("ReduceMean", {BatchFeed(x)}, Attrs({{"axes", Ints({0})}})));
    EXPECT_TRUE(TensorNear(out0, out_shape, over_batch, kRtol, kAtolSum)) << "batch " << batch;
  }
}

TEST(ReduceMeanTest, LongRows) {
  const Tensor x = RandomTensor({3, 4099}, 5);
  Shape out_shape;
  const std::vector<double> expected = RefReduceMean(x, {-1}, false, false, &out_shape);
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("ReduceMean", {Feed(x)},
                                             Attrs({{"axes", Ints({-1})}, {"keepdims", Int(0)}})));
  EXPECT_TRUE(TensorNear(out, out_shape, expected, kRtol, kAtolSum));
}

TEST(ReduceMeanTest, Errors) {
  const Tensor x = RandomTensor({2, 3}, 6);
  EXPECT_TRUE(IsInvalid(RunOp1("ReduceMean", {Feed(x)}, Attrs({{"axes", Ints({2})}})).status(),
                        {"node 'op' (ReduceMean)", "axis 2 is out of range for rank 2"}));
  EXPECT_TRUE(IsInvalid(RunOp1("ReduceMean", {Feed(x), Feed(test::Int64s({1}, {0}))}).status(),
                        {"must be known when the model loads"}));
}

TEST(ReduceMeanTest, RepeatedAxesAreRejected) {
  const Tensor x = RandomTensor({2, 3}, 7);
  EXPECT_TRUE(IsInvalid(RunOp1("ReduceMean", {Feed(x)}, Attrs({{"axes", Ints({1, 1})}})).status(),
                        {"node 'op' (ReduceMean)", "axis 1 is repeated"}));
  EXPECT_TRUE(IsInvalid(RunOp1("ReduceMean", {Feed(x), Const(test::Int64s({2}, {1, -1}))}).status(),
                        {"node 'op' (ReduceMean)", "axis -1 is repeated"}));
}

TEST(ReduceMeanTest, ScalarHasNoAxisZero) {
  // A scalar has no axes: axis 0 used to mark reduced[0] of an empty vector.
  SK_EXPECT_IN_SUBPROCESS([] {
    return IsInvalid(
        RunOp1("ReduceMean", {Feed(test::Scalar(1.0f))}, Attrs({{"axes", Ints({0})}})).status(),
        {"axis 0 is out of range for rank 0"});
  });
}

// --- ReduceSum, ReduceProd, ReduceMax, ReduceMin ------------------------------------------

struct ReduceOpCase {
  const char* op;
  double identity;  // of float32: what reducing nothing gives
  std::function<double(double, double)> combine;
};

const std::vector<ReduceOpCase>& ReduceOps() {
  const double inf = std::numeric_limits<double>::infinity();
  static const auto* ops = new std::vector<ReduceOpCase>{
      {"ReduceSum", 0.0, [](double a, double b) { return a + b; }},
      {"ReduceProd", 1.0, [](double a, double b) { return a * b; }},
      // NaN wins, as in numpy (the reference ONNX gives).
      {"ReduceMax", -inf, [](double a, double b) { return std::isnan(a) || a > b ? a : b; }},
      {"ReduceMin", inf, [](double a, double b) { return std::isnan(a) || a < b ? a : b; }},
  };
  return *ops;
}

// The reduction in double; empty `axes` reduces everything unless noop.
std::vector<double> RefReduce(const ReduceOpCase& op, const Tensor& x_t, std::vector<int64_t> axes,
                              bool keepdims, bool noop, Shape* out_shape) {
  const Shape& shape = x_t.shape();
  const int rank = static_cast<int>(shape.size());
  std::set<int> reduced;
  for (int64_t a : axes) reduced.insert(static_cast<int>(a < 0 ? a + rank : a));
  if (axes.empty() && !noop) {
    for (int d = 0; d < rank; ++d) reduced.insert(d);
  }
  Shape kept;
  for (int d = 0; d < rank; ++d) kept.push_back(reduced.count(d) ? 1 : shape[d]);
  std::vector<double> acc(NumElements(kept), op.identity);
  const Shape kept_strides = test::Strides(kept);
  const std::vector<double> x = test::AsDoubles(x_t);
  int64_t i = 0;
  test::ForEachIndex(shape, [&](const Shape& index) {
    int64_t o = 0;
    for (int d = 0; d < rank; ++d) o += (reduced.count(d) ? 0 : index[d]) * kept_strides[d];
    acc[o] = op.combine(x[i++], acc[o]);
  });
  out_shape->clear();
  for (int d = 0; d < rank; ++d) {
    if (!reduced.count(d)) {
      out_shape->push_back(shape[d]);
    } else if (keepdims) {
      out_shape->push_back(1);
    }
  }
  return acc;
}

TEST(ReduceTest, EveryOpAxisSetAndKeepdims) {
  const Shape shape = {2, 3, 4, 5};
  // Values near 1 keep the products of up to 120 of them in range.
  const Tensor x = RandomTensor(shape, 11, 0.6f, 1.4f);
  const std::vector<std::vector<int64_t>> axis_sets = {
      {0}, {1}, {3}, {-1}, {-3}, {0, 2}, {1, 2}, {2, 3}, {1, 2, 3}, {0, 1, 2, 3}, {3, 0}, {}};
  for (const ReduceOpCase& op : ReduceOps()) {
    for (const auto& axes : axis_sets) {
      for (int64_t keepdims : {0, 1}) {
        Shape out_shape;
        const std::vector<double> expected = RefReduce(op, x, axes, keepdims, false, &out_shape);
        std::vector<test::OpInput> inputs = {BatchFeed(x)};
        // Opset 18: axes as a constant input (absent when empty: reduce everything).
        if (!axes.empty()) {
          inputs.push_back(Const(test::Int64s({static_cast<int64_t>(axes.size())}, axes)));
        }
        SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                                RunOp1(op.op, inputs, Attrs({{"keepdims", Int(keepdims)}})));
        EXPECT_TRUE(TensorNear(out, out_shape, expected, 1e-4, kAtolSum))
            << op.op << " axes " << ShapeToString(Shape(axes.begin(), axes.end())) << " keepdims "
            << keepdims;
        // Opset 13: axes as an attribute.
        Attributes a = Attrs({{"keepdims", Int(keepdims)}});
        if (!axes.empty()) a.Set("axes", axes);
        SK_ASSERT_OK_AND_ASSIGN(Tensor out13, RunOp1(op.op, {BatchFeed(x)}, a));
        EXPECT_TRUE(TensorNear(out13, out_shape, expected, 1e-4, kAtolSum)) << op.op << " attr";
      }
    }
  }
}

TEST(ReduceTest, HandComputed) {
  const Tensor x = test::Floats({2, 3}, {1, -2, 3, 4, 5, -6});
  const Tensor axis1 = test::Int64s({1}, {1});
  auto run = [&](const char* op, const Tensor& axes) {
    auto out = RunOp1(op, {Feed(x), Const(axes)}, Attrs({{"keepdims", Int(0)}}));
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? test::Values<float>(*out) : std::vector<float>{};
  };
  EXPECT_EQ(run("ReduceSum", axis1), (std::vector<float>{2, 3}));
  EXPECT_EQ(run("ReduceProd", axis1), (std::vector<float>{-6, -120}));
  EXPECT_EQ(run("ReduceMax", axis1), (std::vector<float>{3, 5}));
  EXPECT_EQ(run("ReduceMin", axis1), (std::vector<float>{-2, -6}));
  const Tensor axis0 = test::Int64s({1}, {-2});
  EXPECT_EQ(run("ReduceSum", axis0), (std::vector<float>{5, 3, -3}));
  EXPECT_EQ(run("ReduceMax", axis0), (std::vector<float>{4, 5, 3}));
  EXPECT_EQ(run("ReduceMin", axis0), (std::vector<float>{1, -2, -6}));
  EXPECT_EQ(run("ReduceProd", axis0), (std::vector<float>{4, -10, -18}));
}

// Reducing an empty set gives ONNX's identities: 0, 1, -inf (lowest), +inf (highest).
TEST(ReduceTest, EmptySetsGiveTheIdentity) {
  const Tensor x = test::Floats({2, 0, 3}, {});
  for (const ReduceOpCase& op : ReduceOps()) {
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1(op.op, {Feed(x), Const(test::Int64s({1}, {1}))}));
    EXPECT_TRUE(TensorNear(out, {2, 1, 3}, std::vector<double>(6, op.identity))) << op.op;
    // Everything of nothing: a scalar.
    SK_ASSERT_OK_AND_ASSIGN(Tensor all, RunOp1(op.op, {Feed(x)}, Attrs({{"keepdims", Int(0)}})));
    EXPECT_TRUE(TensorNear(all, {}, {op.identity})) << op.op;
    // Over a batch of 0, at run time.
    SK_ASSERT_OK_AND_ASSIGN(Tensor batch, RunOp1(op.op, {BatchFeed(test::Floats({0, 2}, {})),
                                                         Const(test::Int64s({1}, {0}))}));
    EXPECT_TRUE(TensorNear(batch, {1, 2}, {op.identity, op.identity})) << op.op;
  }
  const Tensor ints = test::Int64s({0, 2}, {});
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  const std::vector<std::pair<const char*, int64_t>> identities = {
      {"ReduceSum", 0}, {"ReduceProd", 1}, {"ReduceMax", lo}, {"ReduceMin", hi}};
  for (const auto& [op, identity] : identities) {
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1(op, {Feed(ints), Const(test::Int64s({1}, {0}))}));
    EXPECT_EQ(test::Values<int64_t>(out), (std::vector<int64_t>{identity, identity})) << op;
  }
  SK_ASSERT_OK_AND_ASSIGN(Tensor max32,
                          RunOp1("ReduceMax", {Feed(test::MakeTensor<int32_t>({0}, {}))}));
  EXPECT_EQ(test::Values<int32_t>(max32),
            (std::vector<int32_t>{std::numeric_limits<int32_t>::min()}));
}

TEST(ReduceTest, MaxAndMinPropagateNaN) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // NaN first, in the middle and last of a row; and a row without.
  const Tensor x = test::Floats({4, 3}, {NAN, 1, 2, 1, NAN, 2, 1, 2, NAN, 1, 2, 3});
  for (const char* op : {"ReduceMax", "ReduceMin"}) {
    const bool max = std::string(op) == "ReduceMax";
    SK_ASSERT_OK_AND_ASSIGN(Tensor rows, RunOp1(op, {Feed(x), Const(test::Int64s({1}, {1}))},
                                                Attrs({{"keepdims", Int(0)}})));
    EXPECT_TRUE(TensorNear(rows, {4}, {nan, nan, nan, max ? 3.0 : 1.0})) << op;
    SK_ASSERT_OK_AND_ASSIGN(Tensor cols, RunOp1(op, {Feed(x), Const(test::Int64s({1}, {0}))},
                                                Attrs({{"keepdims", Int(0)}})));
    EXPECT_TRUE(TensorNear(cols, {3}, {nan, nan, nan})) << op;
  }
}

TEST(ReduceTest, IntegersAreExactAndWrap) {
  const int64_t big = int64_t{1} << 53;
  const Tensor x = test::Int64s({2, 3}, {big, 1, 1, -5, std::numeric_limits<int64_t>::max(), 7});
  const Tensor axis1 = test::Int64s({1}, {1});
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor sum, RunOp1("ReduceSum", {Feed(x), Const(axis1)}, Attrs({{"keepdims", Int(0)}})));
  // big + 2 is exact in int64 (not in double); max + 2 wraps to min + 1.
  EXPECT_EQ(test::Values<int64_t>(sum),
            (std::vector<int64_t>{big + 2, std::numeric_limits<int64_t>::min() + 1}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor max, RunOp1("ReduceMax", {BatchFeed(x), Const(axis1)}));
  EXPECT_EQ(max.shape(), (Shape{2, 1}));
  EXPECT_EQ(test::Values<int64_t>(max),
            (std::vector<int64_t>{big, std::numeric_limits<int64_t>::max()}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor min, RunOp1("ReduceMin", {Feed(x)}));
  EXPECT_EQ(test::Values<int64_t>(min), (std::vector<int64_t>{-5}));
  const Tensor y = test::MakeTensor<int32_t>({3}, {65536, 65536, 3});
  SK_ASSERT_OK_AND_ASSIGN(Tensor prod, RunOp1("ReduceProd", {Feed(y)}));
  EXPECT_EQ(test::Values<int32_t>(prod), (std::vector<int32_t>{0}));  // 2^32 wraps to 0
  SK_ASSERT_OK_AND_ASSIGN(Tensor prod2,
                          RunOp1("ReduceProd", {Feed(test::MakeTensor<int32_t>({3}, {-3, 7, 2}))}));
  EXPECT_EQ(test::Values<int32_t>(prod2), (std::vector<int32_t>{-42}));
}

TEST(ReduceTest, EmptyAxesInputAndNoop) {
  const Tensor x = RandomTensor({2, 3}, 12);
  const Tensor none = test::Int64s({0}, {});
  for (const ReduceOpCase& op : ReduceOps()) {
    SK_ASSERT_OK_AND_ASSIGN(Tensor noop, RunOp1(op.op, {Feed(x), Const(none)},
                                                Attrs({{"noop_with_empty_axes", Int(1)}})));
    EXPECT_TRUE(TensorNear(noop, {2, 3}, test::AsDoubles(x), 0, 0)) << op.op;
    Shape shape;
    SK_ASSERT_OK_AND_ASSIGN(Tensor all, RunOp1(op.op, {Feed(x), Const(none)}));
    EXPECT_TRUE(TensorNear(all, {1, 1}, RefReduce(op, x, {}, true, false, &shape), 1e-5, kAtolSum))
        << op.op;
  }
}

TEST(ReduceTest, FoldedAtLoadTime) {
  const Tensor x = RandomTensor({3, 4}, 13, 0.5f, 1.5f);
  for (const ReduceOpCase& op : ReduceOps()) {
    Shape shape;
    SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                            test::RunFolded1(op.op, {Const(x), Const(test::Int64s({1}, {-1}))},
                                             Attrs({{"keepdims", Int(0)}})));
    EXPECT_TRUE(TensorNear(out, {3}, RefReduce(op, x, {-1}, false, false, &shape), kRtol, kAtolSum))
        << op.op;
  }
  SK_ASSERT_OK_AND_ASSIGN(Tensor mean, test::RunFolded1("ReduceMean", {Const(x)}));
  Shape shape;
  EXPECT_TRUE(TensorNear(mean, {1, 1}, RefReduceMean(x, {}, true, false, &shape), kRtol, kAtolSum));
}

TEST(ReduceTest, Errors) {
  EXPECT_TRUE(IsInvalid(RunOp1("ReduceMean", {Feed(test::Int64s({2}, {1, 2}))}).status(),
                        {"node 'op' (ReduceMean)", "dtype int64"}));
  EXPECT_TRUE(
      IsInvalid(RunOp1("ReduceSum", {Feed(test::MakeTensor<bool>({2}, {true, false}))}).status(),
                {"node 'op' (ReduceSum)", "dtype bool"}));
  const Tensor x = RandomTensor({2, 3}, 14);
  EXPECT_TRUE(IsInvalid(RunOp1("ReduceMax", {Feed(x), Feed(test::Int64s({1}, {0}))}).status(),
                        {"must be known when the model loads"}));
  EXPECT_TRUE(IsInvalid(RunOp1("ReduceProd", {Feed(x), Const(test::Int64s({1}, {-3}))}).status(),
                        {"node 'op' (ReduceProd)", "axis -3 is out of range for rank 2"}));
  EXPECT_TRUE(IsInvalid(RunOp1("ReduceMin", {Feed(x), Const(test::Int64s({2}, {0, -2}))}).status(),
                        {"axis -2 is repeated"}));
}

// --- ArgMax ------------------------------------------------------------------------------

std::vector<double> RefArgMax(const Tensor& x_t, int axis, bool keepdims, bool last,
                              Shape* out_shape) {
  const Shape& shape = x_t.shape();
  const int rank = static_cast<int>(shape.size());
  if (axis < 0) axis += rank;
  const std::vector<double> x = test::AsDoubles(x_t);
  const Shape strides = test::Strides(shape);
  std::vector<double> y;
  test::ForEachIndex(shape, [&](const Shape& index) {
    if (index[axis] != 0) return;
    int64_t base = 0;
    for (int d = 0; d < rank; ++d) base += index[d] * strides[d];
    int64_t best = 0;
    for (int64_t k = 1; k < shape[axis]; ++k) {
      const double v = x[base + k * strides[axis]], b = x[base + best * strides[axis]];
      if (v > b || (last && v == b)) best = k;
    }
    y.push_back(static_cast<double>(best));
  });
  *out_shape = shape;
  if (keepdims) {
    (*out_shape)[axis] = 1;
  } else {
    out_shape->erase(out_shape->begin() + axis);
  }
  return y;
}

TEST(ArgMaxTest, EveryAxisKeepdimsAndTies) {
  const Shape shape = {2, 3, 4};
  // Few distinct values, so every row has ties.
  Tensor x = RandomTensor(shape, 7, 0.0f, 3.0f);
  for (int64_t i = 0; i < x.num_elements(); ++i)
    x.data<float>()[i] = std::floor(x.data<float>()[i]);
  for (int axis = -3; axis < 3; ++axis) {
    for (int64_t keepdims : {0, 1}) {
      for (int64_t last : {0, 1}) {
        Shape out_shape;
        const std::vector<double> expected = RefArgMax(x, axis, keepdims, last, &out_shape);
        SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("ArgMax", {BatchFeed(x)},
                                                   Attrs({{"axis", Int(axis)},
                                                          {"keepdims", Int(keepdims)},
                                                          {"select_last_index", Int(last)}})));
        EXPECT_TRUE(TensorNear(out, DType::kInt64, out_shape, expected, 0, 0))
            << "axis " << axis << " keepdims " << keepdims << " select_last_index " << last;
      }
    }
  }
}

TEST(ArgMaxTest, SelectLastIndexOnExplicitTies) {
  const Tensor x = test::Floats({2, 5}, {1, 7, 3, 7, 2, -1, -1, -1, -1, -1});
  SK_ASSERT_OK_AND_ASSIGN(Tensor first, RunOp1("ArgMax", {Feed(x)}, Attrs({{"axis", Int(1)}})));
  EXPECT_EQ(test::Values<int64_t>(first), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(first.shape(), (Shape{2, 1}));
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor last,
      RunOp1("ArgMax", {Feed(x)}, Attrs({{"axis", Int(1)}, {"select_last_index", Int(1)}})));
  EXPECT_EQ(test::Values<int64_t>(last), (std::vector<int64_t>{3, 4}));
}

TEST(ArgMaxTest, DefaultAxisZeroAndIntegerInputs) {
  const Tensor x = test::Int64s({3, 2}, {5, -9, 8, -2, 8, -3});
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("ArgMax", {Feed(x)}));
  EXPECT_EQ(out.shape(), (Shape{1, 2}));
  EXPECT_EQ(test::Values<int64_t>(out), (std::vector<int64_t>{1, 1}));
  const Tensor y = test::MakeTensor<int32_t>({2, 3}, {1, 3, 3, 0, -5, -4});
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor out32,
      RunOp1("ArgMax", {Feed(y)},
             Attrs({{"axis", Int(-1)}, {"keepdims", Int(0)}, {"select_last_index", Int(1)}})));
  EXPECT_EQ(out32.shape(), (Shape{2}));
  EXPECT_EQ(test::Values<int64_t>(out32), (std::vector<int64_t>{2, 0}));
}

TEST(ArgMaxTest, BatchZero) {
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("ArgMax", {BatchFeed(test::Floats({0, 4}, {}))},
                                             Attrs({{"axis", Int(1)}})));
  EXPECT_EQ(out.shape(), (Shape{0, 1}));
  EXPECT_EQ(out.dtype(), DType::kInt64);
}

TEST(ArgMaxTest, OverTheBatchAxisWithBatchZero) {
  // ArgMax over an axis of size 0 has no answer: a fixed empty axis is refused
  // at load (see Errors); the batch axis is only known to be empty at run time,
  // which must be an error too, not an index into nothing.
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  g.Output(g.Op("ArgMax", {x}, Attrs({{"axis", Int(0)}})));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  SK_ASSERT_OK_AND_ASSIGN(auto ok, session->Run({test::Floats({2, 3}, {1, 5, 3, 4, 2, 6})}));
  EXPECT_EQ(test::Values<int64_t>(ok[0]), (std::vector<int64_t>{1, 0, 1}));
  auto empty = session->Run({test::Floats({0, 3}, {})});
  EXPECT_FALSE(empty.ok()) << "ArgMax over an empty batch returned indices "
                           << (empty.ok() ? ShapeToString((*empty)[0].shape()) : "");
}

TEST(ArgMaxTest, Errors) {
  EXPECT_TRUE(IsInvalid(
      RunOp1("ArgMax", {Feed(test::Floats({2, 2}, {1, 2, 3, 4}))}, Attrs({{"axis", Int(2)}}))
          .status(),
      {"node 'op' (ArgMax)", "axis 2 is out of range"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("ArgMax", {Feed(test::Floats({2, 0}, {}))}, Attrs({{"axis", Int(1)}})).status(),
      {"ArgMax over an empty axis"}));
  EXPECT_TRUE(
      IsInvalid(RunOp1("ArgMax", {Feed(test::MakeTensor<bool>({2}, {true, false}))}).status(),
                {"has dtype bool"}));
}

}  // namespace
}  // namespace servekit
