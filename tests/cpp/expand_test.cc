// Expand and Tile (kernels/expand.cc).
#include <limits>

#include "test_util.h"

namespace servekit {
namespace {

using test::BatchFeed;
using test::Const;
using test::Feed;
using test::IsInvalid;
using test::RunOp1;
using test::TensorNear;

Tensor ShapeTensor(std::vector<int64_t> dims) {
  return test::Int64s({static_cast<int64_t>(dims.size())}, dims);
}

// Element `index` of the output read from `x` with numpy broadcasting (x's dims
// aligned right; a 1 repeats).
double BroadcastRead(const std::vector<double>& x, const Shape& x_shape, const Shape& index) {
  const Shape strides = test::Strides(x_shape);
  const size_t skip = index.size() - x_shape.size();
  int64_t flat = 0;
  for (size_t d = 0; d < x_shape.size(); ++d)
    flat += (x_shape[d] == 1 ? 0 : index[d + skip]) * strides[d];
  return x[flat];
}

std::vector<double> RefExpand(const Tensor& x, const Shape& out_shape) {
  const std::vector<double> v = test::AsDoubles(x);
  std::vector<double> out;
  test::ForEachIndex(
      out_shape, [&](const Shape& index) { out.push_back(BroadcastRead(v, x.shape(), index)); });
  return out;
}

// --- Expand ------------------------------------------------------------------------------

TEST(ExpandTest, BidirectionalBroadcast) {
  struct Case {
    Shape in;
    std::vector<int64_t> shape;
    Shape out;
  };
  const Case cases[] = {
      {{3, 1}, {2, 1, 6}, {2, 3, 6}},  // ONNX's example
      {{3, 1}, {3, 4}, {3, 4}},
      {{3, 1}, {1, 1}, {3, 1}},  // a shape smaller than the input
      {{1, 3}, {3, 1}, {3, 3}},  // both sides broadcast
      {{3}, {2, 1}, {2, 3}},
      {{}, {2, 3}, {2, 3}},  // a scalar
      {{2, 3}, {}, {2, 3}},  // an empty shape: unchanged
      {{1, 4, 1}, {5, 1, 1, 3}, {5, 1, 4, 3}},
      {{1}, {0}, {0}},  // a 1 expands to 0
      {{2, 1}, {2, 0}, {2, 0}},
  };
  for (const Case& c : cases) {
    const Tensor x = test::Iota(c.in, 1);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Expand", {Feed(x), Const(ShapeTensor(c.shape))}));
    EXPECT_TRUE(TensorNear(out, c.out, RefExpand(x, c.out), 0, 0))
        << ShapeToString(c.in) << " to " << ShapeToString(Shape(c.shape.begin(), c.shape.end()));
  }
}

TEST(ExpandTest, HandComputed) {
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Expand", {Feed(test::Floats({2, 1}, {1, 2})),
                                                        Const(ShapeTensor({2, 3}))}));
  EXPECT_EQ(test::Values<float>(out), (std::vector<float>{1, 1, 1, 2, 2, 2}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor row, RunOp1("Expand", {Feed(test::Floats({3}, {1, 2, 3})),
                                                        Const(ShapeTensor({2, 1}))}));
  EXPECT_EQ(test::Values<float>(row), (std::vector<float>{1, 2, 3, 1, 2, 3}));
}

TEST(ExpandTest, Dtypes) {
  const int64_t lo = std::numeric_limits<int64_t>::min();
  SK_ASSERT_OK_AND_ASSIGN(Tensor i64, RunOp1("Expand", {Feed(test::Int64s({2, 1}, {lo, 5})),
                                                        Const(ShapeTensor({2, 2}))}));
  EXPECT_EQ(test::Values<int64_t>(i64), (std::vector<int64_t>{lo, lo, 5, 5}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor b,
                          RunOp1("Expand", {Feed(test::MakeTensor<bool>({2}, {true, false})),
                                            Const(ShapeTensor({2, 2}))}));
  EXPECT_EQ(test::Values<bool>(b), (std::vector<bool>{true, false, true, false}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor i32,
                          RunOp1("Expand", {Feed(test::MakeTensor<int32_t>({1}, {-7})),
                                            Const(test::MakeTensor<int32_t>({1}, {3}))}));
  EXPECT_EQ(test::Values<int32_t>(i32), (std::vector<int32_t>{-7, -7, -7}));
}

TEST(ExpandTest, ShapeFromAShapeValueWithTheBatch) {
  // Expand(bias, Shape(x)): the output follows x's batch size.
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 4}));
  const int bias = g.Constant("bias", test::Floats({4}, {1, 2, 3, 4}));
  g.Output(g.Op("Expand", {bias, g.Op("Shape", {x})}));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  for (int64_t batch : {0, 1, 3}) {
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({test::Iota({batch, 4})}));
    std::vector<double> expected;
    for (int64_t i = 0; i < batch; ++i) expected.insert(expected.end(), {1, 2, 3, 4});
    EXPECT_TRUE(TensorNear(out[0], {batch, 4}, expected, 0, 0)) << "batch " << batch;
  }
}

TEST(ExpandTest, BatchedInput) {
  // [N, 1, 3] expanded to [1, 2, 3]: [N, 2, 3].
  for (int64_t batch : {0, 2}) {
    const Tensor x = test::Iota({batch, 1, 3});
    SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                            RunOp1("Expand", {BatchFeed(x), Const(ShapeTensor({1, 2, 3}))}));
    EXPECT_TRUE(TensorNear(out, {batch, 2, 3}, RefExpand(x, {batch, 2, 3}), 0, 0));
  }
}

TEST(ExpandTest, FoldedAtLoadTime) {
  const Tensor x = test::Floats({3, 1}, {1, 2, 3});
  SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                          test::RunFolded1("Expand", {Const(x), Const(ShapeTensor({2, 3, 2}))}));
  EXPECT_TRUE(TensorNear(out, {2, 3, 2}, RefExpand(x, {2, 3, 2}), 0, 0));
}

TEST(ExpandTest, Errors) {
  const Tensor x = test::Floats({3}, {1, 2, 3});
  EXPECT_TRUE(IsInvalid(RunOp1("Expand", {Feed(x), Const(ShapeTensor({4}))}).status(),
                        {"node 'op' (Expand)", "do not broadcast"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Expand", {Feed(x), Const(ShapeTensor({-1, 3}))}).status(),
                        {"negative dim -1"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Expand", {Feed(x), Feed(ShapeTensor({2, 3}))}).status(),
                        {"must be known when the model loads"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Expand", {Feed(x), Const(test::Floats({2}, {2, 3}))}).status(),
                        {"dtype float32"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Expand", {Feed(x), Const(test::Int64s({1, 2}, {2, 3}))}).status(),
                        {"rank 1"}));
}

// --- Tile --------------------------------------------------------------------------------

std::vector<double> RefTile(const Tensor& x, const std::vector<int64_t>& repeats,
                            Shape* out_shape) {
  out_shape->clear();
  for (size_t d = 0; d < repeats.size(); ++d) out_shape->push_back(x.dim(d) * repeats[d]);
  const std::vector<double> v = test::AsDoubles(x);
  const Shape strides = test::Strides(x.shape());
  std::vector<double> out;
  test::ForEachIndex(*out_shape, [&](const Shape& index) {
    int64_t flat = 0;
    for (size_t d = 0; d < index.size(); ++d) flat += (index[d] % x.dim(d)) * strides[d];
    out.push_back(v[flat]);
  });
  return out;
}

TEST(TileTest, HandComputed) {
  const Tensor x = test::Floats({2, 2}, {1, 2, 3, 4});
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Tile", {Feed(x), Const(ShapeTensor({2, 3}))}));
  EXPECT_EQ(out.shape(), (Shape{4, 6}));
  EXPECT_EQ(test::Values<float>(out), (std::vector<float>{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4,  //
                                                          1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}));
}

TEST(TileTest, RepeatsAgainstReference) {
  const Tensor x = test::Iota({2, 3, 4});
  for (const std::vector<int64_t>& repeats : std::vector<std::vector<int64_t>>{{1, 1, 1},
                                                                               {2, 1, 1},
                                                                               {1, 3, 1},
                                                                               {1, 1, 2},
                                                                               {2, 2, 3},
                                                                               {3, 1, 2},
                                                                               {0, 2, 2},
                                                                               {1, 2, 0}}) {
    Shape shape;
    const std::vector<double> expected = RefTile(x, repeats, &shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Tile", {Feed(x), Const(ShapeTensor(repeats))}));
    EXPECT_TRUE(TensorNear(out, shape, expected, 0, 0))
        << ShapeToString(Shape(repeats.begin(), repeats.end()));
  }
}

TEST(TileTest, DtypesScalarAndEmpty) {
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor b,
      RunOp1("Tile", {Feed(test::MakeTensor<bool>({2}, {true, false})), Const(ShapeTensor({3}))}));
  EXPECT_EQ(test::Values<bool>(b), (std::vector<bool>{true, false, true, false, true, false}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor i64, RunOp1("Tile", {Feed(test::Int64s({1, 2}, {-1, 9})),
                                                      Const(ShapeTensor({2, 1}))}));
  EXPECT_EQ(test::Values<int64_t>(i64), (std::vector<int64_t>{-1, 9, -1, 9}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor scalar,
                          RunOp1("Tile", {Feed(test::Scalar(5.0f)), Const(ShapeTensor({}))}));
  EXPECT_TRUE(TensorNear(scalar, {}, {5}, 0, 0));
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor empty, RunOp1("Tile", {Feed(test::Floats({0, 2}, {})), Const(ShapeTensor({3, 2}))}));
  EXPECT_EQ(empty.shape(), (Shape{0, 4}));
}

TEST(TileTest, BatchDim) {
  // [N, 2] tiled [2, 1]: [2N, 2], for several batch sizes in one session.
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 2}));
  g.Output(g.Op("Tile", {x, g.Constant("r", ShapeTensor({2, 2}))}));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  for (int64_t batch : {0, 1, 3}) {
    const Tensor in = test::Iota({batch, 2});
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
    Shape shape;
    const std::vector<double> expected = RefTile(in, {2, 2}, &shape);
    EXPECT_TRUE(TensorNear(out[0], shape, expected, 0, 0)) << "batch " << batch;
  }
}

TEST(TileTest, FoldedAtLoadTime) {
  const Tensor x = test::Iota({2, 3});
  Shape shape;
  const std::vector<double> expected = RefTile(x, {2, 2}, &shape);
  SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                          test::RunFolded1("Tile", {Const(x), Const(ShapeTensor({2, 2}))}));
  EXPECT_TRUE(TensorNear(out, shape, expected, 0, 0));
}

TEST(TileTest, Errors) {
  const Tensor x = test::Iota({2, 3});
  EXPECT_TRUE(IsInvalid(RunOp1("Tile", {Feed(x), Const(ShapeTensor({2}))}).status(),
                        {"node 'op' (Tile)", "repeats has 1 entries for an input of rank 2"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Tile", {Feed(x), Const(ShapeTensor({2, -1}))}).status(),
                        {"negative entry -1"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Tile", {Feed(x), Feed(ShapeTensor({2, 1}))}).status(),
                        {"must be known when the model loads"}));
}

}  // namespace
}  // namespace servekit
