// Shape kernels (kernels/shape.cc): Flatten, Reshape, Squeeze, Unsqueeze,
// Transpose, Concat, Shape, Gather.
#include <algorithm>
#include <numeric>

#include "test_util.h"

namespace servekit {
namespace {

using test::Attrs;
using test::BatchFeed;
using test::Const;
using test::Feed;
using test::Int;
using test::Ints;
using test::Iota;
using test::IsInvalid;
using test::RandomTensor;
using test::RunOp1;
using test::TensorNear;
using test::TensorsEqual;

// --- Flatten -----------------------------------------------------------------------------

TEST(FlattenTest, EveryAxis) {
  const Shape shape = {2, 3, 4, 5};
  const Tensor x = Iota(shape);
  for (int axis = -4; axis <= 4; ++axis) {
    const int a = axis < 0 ? axis + 4 : axis;
    int64_t outer = 1;
    for (int d = 0; d < a; ++d) outer *= shape[d];
    SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                            RunOp1("Flatten", {BatchFeed(x)}, Attrs({{"axis", Int(axis)}})));
    EXPECT_TRUE(TensorNear(out, {outer, 120 / outer}, test::AsDoubles(x), 0, 0)) << "axis " << axis;
  }
}

TEST(FlattenTest, DefaultAxisAndBatchSizes) {
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 2, 3}));
  g.Output(g.Op("Flatten", {x}));
  g.Output(g.Op("Flatten", {x}, Attrs({{"axis", Int(0)}})));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  EXPECT_EQ(SymShapeToString(session->outputs()[0].shape), "[N, 6]");
  EXPECT_EQ(SymShapeToString(session->outputs()[1].shape), "[1, 6*N]");
  for (int64_t batch : {0, 1, 3}) {
    const Tensor in = Iota({batch, 2, 3});
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
    EXPECT_TRUE(TensorNear(out[0], {batch, 6}, test::AsDoubles(in), 0, 0));
    EXPECT_TRUE(TensorNear(out[1], {1, batch * 6}, test::AsDoubles(in), 0, 0));
  }
}

TEST(FlattenTest, AxisOutOfRange) {
  EXPECT_TRUE(IsInvalid(RunOp1("Flatten", {Feed(Iota({2, 3}))}, Attrs({{"axis", Int(3)}})).status(),
                        {"node 'op' (Flatten)", "axis 3 is out of range"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Flatten", {Feed(Iota({2, 3}))}, Attrs({{"axis", Int(-3)}})).status(), {"axis -3"}));
}

// --- Reshape -----------------------------------------------------------------------------

TEST(ReshapeTest, ZeroAndMinusOne) {
  const Tensor x = Iota({2, 3, 4});
  struct Case {
    std::vector<int64_t> target;
    Shape expected;
  };
  for (const Case& c : std::vector<Case>{{{0, -1}, {2, 12}},
                                         {{-1, 4}, {6, 4}},
                                         {{0, 0, 2, 2}, {2, 3, 2, 2}},
                                         {{-1}, {24}},
                                         {{4, 0, -1}, {4, 3, 2}},
                                         {{2, 3, 4}, {2, 3, 4}},
                                         {{1, -1, 1}, {1, 24, 1}},
                                         {{0, 3, 0}, {2, 3, 4}}}) {
    SK_ASSERT_OK_AND_ASSIGN(
        Tensor out,
        RunOp1("Reshape",
               {Feed(x), Const(test::Int64s({static_cast<int64_t>(c.target.size())}, c.target))}));
    EXPECT_TRUE(TensorNear(out, c.expected, test::AsDoubles(x), 0, 0))
        << "target " << ShapeToString(Shape(c.target.begin(), c.target.end()));
  }
}

TEST(ReshapeTest, SymbolicBatchAcrossBatchSizes) {
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 4}));
  g.Output(g.Op("Reshape", {x, g.Constant("s1", test::Int64s({2}, {0, -1}))}));
  g.Output(g.Op("Reshape", {x, g.Constant("s2", test::Int64s({3}, {-1, 2, 2}))}));
  g.Output(g.Op("Reshape", {x, g.Constant("s3", test::Int64s({2}, {-1, 12}))}));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  EXPECT_EQ(SymShapeToString(session->outputs()[0].shape), "[N, 12]");
  EXPECT_EQ(SymShapeToString(session->outputs()[1].shape), "[3*N, 2, 2]");
  EXPECT_EQ(SymShapeToString(session->outputs()[2].shape), "[N, 12]");
  for (int64_t batch : {2, 0, 1}) {
    const Tensor in = Iota({batch, 3, 4});
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
    EXPECT_TRUE(TensorNear(out[0], {batch, 12}, test::AsDoubles(in), 0, 0));
    EXPECT_TRUE(TensorNear(out[1], {3 * batch, 2, 2}, test::AsDoubles(in), 0, 0));
    EXPECT_TRUE(TensorNear(out[2], {batch, 12}, test::AsDoubles(in), 0, 0));
  }
}

TEST(ReshapeTest, AllowZero) {
  const Tensor empty = test::Floats({0, 3}, {});
  SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                          RunOp1("Reshape", {Feed(empty), Const(test::Int64s({2}, {3, 0}))},
                                 Attrs({{"allowzero", Int(1)}})));
  EXPECT_EQ(out.shape(), (Shape{3, 0}));
}

TEST(ReshapeTest, Errors) {
  const Tensor x = Iota({2, 3});
  auto reshape = [&](std::vector<int64_t> target) {
    return RunOp1("Reshape",
                  {Feed(x), Const(test::Int64s({static_cast<int64_t>(target.size())}, target))})
        .status();
  };
  EXPECT_TRUE(IsInvalid(reshape({-1, -1}), {"node 'op' (Reshape)", "more than one -1"}));
  EXPECT_TRUE(IsInvalid(reshape({-2, 3}), {"invalid dimension -2"}));
  EXPECT_TRUE(IsInvalid(reshape({4, 2}), {"cannot reshape [2, 3]", "[4, 2]"}));
  EXPECT_TRUE(IsInvalid(reshape({4, -1}), {"cannot reshape", "-1 is not a whole number"}));
  EXPECT_TRUE(IsInvalid(reshape({0, 0, 0}), {"a 0 in the shape refers past the input's rank"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Reshape", {Feed(x), Feed(test::Int64s({2}, {3, 2}))}).status(),
                        {"must be known when the model loads"}));
  // [N, 3] to [2, -1] needs N / 2 rows' worth of elements: not expressible.
  EXPECT_TRUE(
      IsInvalid(RunOp1("Reshape", {BatchFeed(x), Const(test::Int64s({2}, {-1, 2}))}).status(),
                {"cannot reshape [N, 3]"}));
}

// --- Squeeze, Unsqueeze ------------------------------------------------------------------

TEST(SqueezeTest, AxesInputAttributeAndDefault) {
  const Tensor x = Iota({1, 3, 1, 2});
  struct Case {
    std::vector<test::OpInput> extra;
    Attributes attributes;
    Shape expected;
  };
  const std::vector<Case> cases = {
      {{Const(test::Int64s({1}, {0}))}, {}, {3, 1, 2}},
      {{Const(test::Int64s({1}, {-2}))}, {}, {1, 3, 2}},
      {{Const(test::Int64s({2}, {2, 0}))}, {}, {3, 2}},
      {{}, {}, {3, 2}},
      {{}, Attrs({{"axes", Ints({2})}}), {1, 3, 2}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<test::OpInput> inputs = {Feed(x)};
    inputs.insert(inputs.end(), cases[i].extra.begin(), cases[i].extra.end());
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Squeeze", inputs, cases[i].attributes));
    EXPECT_TRUE(TensorNear(out, cases[i].expected, test::AsDoubles(x), 0, 0)) << "case " << i;
  }
}

TEST(SqueezeTest, NoAxesWithABatchDimIsRefused) {
  // Whether N would be squeezed depends on the batch size, so the model must say.
  EXPECT_TRUE(IsInvalid(RunOp1("Squeeze", {BatchFeed(Iota({1, 1, 4}))}).status(),
                        {"node 'op' (Squeeze)", "give axes"}));
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor out, RunOp1("Squeeze", {BatchFeed(Iota({1, 1, 4})), Const(test::Int64s({1}, {1}))}));
  EXPECT_EQ(out.shape(), (Shape{1, 4}));
}

TEST(SqueezeTest, Errors) {
  EXPECT_TRUE(
      IsInvalid(RunOp1("Squeeze", {Feed(Iota({2, 3})), Const(test::Int64s({1}, {1}))}).status(),
                {"cannot squeeze axis 1 of size 3"}));
  EXPECT_TRUE(
      IsInvalid(RunOp1("Squeeze", {Feed(Iota({1, 3})), Const(test::Int64s({1}, {2}))}).status(),
                {"axis 2 is out of range"}));
}

TEST(SqueezeTest, RepeatedAxesAreRejected) {
  // 0 and -2 name the same axis of a rank-2 input.
  EXPECT_TRUE(
      IsInvalid(RunOp1("Squeeze", {Feed(Iota({1, 3})), Const(test::Int64s({2}, {0, -2}))}).status(),
                {"node 'op' (Squeeze)", "axis -2 is repeated"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Squeeze", {Feed(Iota({1, 1, 3}))}, Attrs({{"axes", Ints({1, 1})}})).status(),
      {"axis 1 is repeated"}));
}

TEST(SqueezeTest, ScalarHasNoAxisZero) {
  SK_EXPECT_IN_SUBPROCESS([] {
    return IsInvalid(
        RunOp1("Squeeze", {Feed(test::Scalar(1.0f)), Const(test::Int64s({1}, {0}))}).status(),
        {"axis 0 is out of range for rank 0"});
  });
}

TEST(UnsqueezeTest, Axes) {
  const Tensor x = Iota({2, 3});
  struct Case {
    std::vector<int64_t> axes;
    Shape expected;
  };
  for (const Case& c : std::vector<Case>{{{0}, {1, 2, 3}},
                                         {{-1}, {2, 3, 1}},
                                         {{1, 3}, {2, 1, 3, 1}},
                                         {{3, 1}, {2, 1, 3, 1}},
                                         {{0, -1}, {1, 2, 3, 1}},
                                         {{2}, {2, 3, 1}}}) {
    SK_ASSERT_OK_AND_ASSIGN(
        Tensor out,
        RunOp1("Unsqueeze",
               {BatchFeed(x), Const(test::Int64s({static_cast<int64_t>(c.axes.size())}, c.axes))}));
    EXPECT_TRUE(TensorNear(out, c.expected, test::AsDoubles(x), 0, 0))
        << "axes " << ShapeToString(Shape(c.axes.begin(), c.axes.end()));
  }
  SK_ASSERT_OK_AND_ASSIGN(Tensor attr,
                          RunOp1("Unsqueeze", {Feed(x)}, Attrs({{"axes", Ints({0})}})));
  EXPECT_EQ(attr.shape(), (Shape{1, 2, 3}));
}

TEST(UnsqueezeTest, Errors) {
  EXPECT_TRUE(
      IsInvalid(RunOp1("Unsqueeze", {Feed(Iota({2})), Const(test::Int64s({2}, {0, 0}))}).status(),
                {"axis 0 is repeated"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Unsqueeze", {Feed(Iota({2}))}).status(), {"axes are required"}));
  EXPECT_TRUE(
      IsInvalid(RunOp1("Unsqueeze", {Feed(Iota({2})), Const(test::Int64s({1}, {2}))}).status(),
                {"out of range"}));
}

// --- Transpose ---------------------------------------------------------------------------

std::vector<double> RefTranspose(const Tensor& x_t, const std::vector<int64_t>& perm,
                                 Shape* out_shape) {
  const Shape& shape = x_t.shape();
  out_shape->clear();
  for (int64_t p : perm) out_shape->push_back(shape[p]);
  const Shape strides = test::Strides(shape);
  const std::vector<double> x = test::AsDoubles(x_t);
  std::vector<double> y;
  test::ForEachIndex(*out_shape, [&](const Shape& index) {
    int64_t flat = 0;
    for (size_t d = 0; d < perm.size(); ++d) flat += index[d] * strides[perm[d]];
    y.push_back(x[flat]);
  });
  return y;
}

TEST(TransposeTest, SeveralPermsAndRanks) {
  struct Case {
    Shape shape;
    std::vector<int64_t> perm;
  };
  std::vector<Case> cases = {{{3, 5}, {1, 0}},
                             {{3, 5}, {0, 1}},
                             {{7}, {0}},
                             {{2, 3, 4, 5}, {0, 2, 3, 1}},
                             {{2, 3, 4, 5}, {0, 3, 1, 2}},
                             {{2, 3, 4, 5}, {3, 2, 1, 0}},
                             {{2, 3, 4, 5}, {1, 0, 2, 3}},
                             {{2, 3, 4, 5}, {0, 1, 3, 2}},
                             {{2, 3, 1, 4, 2}, {4, 0, 3, 2, 1}},
                             {{1, 1, 6}, {2, 0, 1}},
                             {{2, 0, 3}, {2, 1, 0}}};
  std::vector<int64_t> perm3 = {0, 1, 2};
  do cases.push_back({{2, 3, 4}, perm3});
  while (std::next_permutation(perm3.begin(), perm3.end()));
  for (const Case& c : cases) {
    const Tensor x = Iota(c.shape);
    Shape shape;
    const std::vector<double> expected = RefTranspose(x, c.perm, &shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                            RunOp1("Transpose", {Feed(x)}, Attrs({{"perm", Ints(c.perm)}})));
    EXPECT_TRUE(TensorNear(out, shape, expected, 0, 0))
        << ShapeToString(c.shape) << " perm " << ShapeToString(Shape(c.perm.begin(), c.perm.end()));
  }
}

TEST(TransposeTest, DefaultPermReverses) {
  const Tensor x = Iota({2, 3, 4});
  Shape shape;
  const std::vector<double> expected = RefTranspose(x, {2, 1, 0}, &shape);
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Transpose", {Feed(x)}));
  EXPECT_TRUE(TensorNear(out, shape, expected, 0, 0));
}

TEST(TransposeTest, DtypesAndBatchDim) {
  const std::vector<int64_t> perm = {1, 2, 0};
  std::vector<int64_t> ints(24);
  std::iota(ints.begin(), ints.end(), -5);
  std::vector<uint8_t> bytes(24);
  std::iota(bytes.begin(), bytes.end(), 100);
  std::vector<double> doubles(24);
  std::iota(doubles.begin(), doubles.end(), 0.5);
  std::vector<int32_t> int32s(24);
  std::iota(int32s.begin(), int32s.end(), -100);
  for (const Tensor& x :
       {test::Int64s({2, 3, 4}, ints), test::MakeTensor<uint8_t>({2, 3, 4}, bytes),
        test::MakeTensor<double>({2, 3, 4}, doubles),
        test::MakeTensor<int32_t>({2, 3, 4}, int32s)}) {
    Shape shape;
    const std::vector<double> expected = RefTranspose(x, perm, &shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                            RunOp1("Transpose", {BatchFeed(x)}, Attrs({{"perm", Ints(perm)}})));
    EXPECT_TRUE(TensorNear(out, x.dtype(), shape, expected, 0, 0)) << DTypeName(x.dtype());
  }
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor empty,
      RunOp1("Transpose", {BatchFeed(test::Floats({0, 3, 4}, {}))}, Attrs({{"perm", Ints(perm)}})));
  EXPECT_EQ(empty.shape(), (Shape{3, 4, 0}));
}

TEST(TransposeTest, InvalidPerm) {
  EXPECT_TRUE(
      IsInvalid(RunOp1("Transpose", {Feed(Iota({2, 3}))}, Attrs({{"perm", Ints({0, 0})}})).status(),
                {"node 'op' (Transpose)", "perm is not a permutation"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Transpose", {Feed(Iota({2, 3}))}, Attrs({{"perm", Ints({0, 1, 2})}})).status(),
      {"perm has 3 entries for rank 2"}));
}

// --- Concat ------------------------------------------------------------------------------

std::vector<double> RefConcat(const std::vector<Tensor>& inputs, int axis, Shape* out_shape) {
  *out_shape = inputs[0].shape();
  const int rank = static_cast<int>(out_shape->size());
  if (axis < 0) axis += rank;
  (*out_shape)[axis] = 0;
  for (const Tensor& t : inputs) (*out_shape)[axis] += t.dim(axis);
  std::vector<double> y;
  test::ForEachIndex(*out_shape, [&](const Shape& index) {
    int64_t pos = index[axis];
    for (const Tensor& t : inputs) {
      if (pos < t.dim(axis)) {
        Shape local = index;
        local[axis] = pos;
        const Shape strides = test::Strides(t.shape());
        int64_t flat = 0;
        for (int d = 0; d < rank; ++d) flat += local[d] * strides[d];
        y.push_back(test::AsDoubles(t)[flat]);
        return;
      }
      pos -= t.dim(axis);
    }
  });
  return y;
}

TEST(ConcatTest, EachAxis) {
  const Shape base = {2, 3, 4};
  for (int axis = -3; axis < 3; ++axis) {
    const int a = axis < 0 ? axis + 3 : axis;
    std::vector<Tensor> inputs;
    float start = 0;
    for (int64_t size : {1, 3, 2}) {
      Shape s = base;
      s[a] = size;
      inputs.push_back(Iota(s, start));
      start += 1000;
    }
    Shape shape;
    const std::vector<double> expected = RefConcat(inputs, axis, &shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                            RunOp1("Concat", {Feed(inputs[0]), Feed(inputs[1]), Const(inputs[2])},
                                   Attrs({{"axis", Int(axis)}})));
    EXPECT_TRUE(TensorNear(out, shape, expected, 0, 0)) << "axis " << axis;
  }
}

TEST(ConcatTest, BatchAxisAndBatchSizes) {
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  const int y = g.Input("y", test::BatchShape({1, 2}));
  g.Output(g.Op("Concat", {x, y}, Attrs({{"axis", Int(1)}})));
  g.Output(g.Op("Concat", {x, x}, Attrs({{"axis", Int(0)}})));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  EXPECT_EQ(SymShapeToString(session->outputs()[0].shape), "[N, 5]");
  EXPECT_EQ(SymShapeToString(session->outputs()[1].shape), "[2*N, 3]");
  for (int64_t batch : {0, 1, 3}) {
    const Tensor a = Iota({batch, 3}), b = Iota({batch, 2}, 100);
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({a, b}));
    Shape s0, s1;
    const std::vector<double> e0 = RefConcat({a, b}, 1, &s0);
    const std::vector<double> e1 = RefConcat({a, a}, 0, &s1);
    EXPECT_TRUE(TensorNear(out[0], s0, e0, 0, 0)) << "batch " << batch;
    EXPECT_TRUE(TensorNear(out[1], s1, e1, 0, 0)) << "batch " << batch;
  }
}

TEST(ConcatTest, Int64EmptyPiecesAndOneInput) {
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor ints, RunOp1("Concat", {Feed(test::Int64s({2}, {1, 2})), Feed(test::Int64s({0}, {})),
                                     Feed(test::Int64s({1}, {-3}))}));
  EXPECT_EQ(test::Values<int64_t>(ints), (std::vector<int64_t>{1, 2, -3}));
  const Tensor x = Iota({2, 2});
  SK_ASSERT_OK_AND_ASSIGN(Tensor one, RunOp1("Concat", {Feed(x)}, Attrs({{"axis", Int(1)}})));
  EXPECT_TRUE(TensorsEqual(one, x));
}

TEST(ConcatTest, Errors) {
  EXPECT_TRUE(IsInvalid(
      RunOp1("Concat", {Feed(Iota({2, 3})), Feed(Iota({3, 3}))}, Attrs({{"axis", Int(1)}}))
          .status(),
      {"node 'op' (Concat)",
       "input 1 has shape [3, 3], which differs from [2, 3] outside axis 1"}));
  EXPECT_TRUE(
      IsInvalid(RunOp1("Concat", {Feed(Iota({2})), Feed(test::Int64s({2}, {1, 2}))}).status(),
                {"different dtypes"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Concat", {Feed(Iota({2})), Feed(Iota({1, 2}))}).status(),
                        {"different ranks"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Concat", {Feed(Iota({2}))}, Attrs({{"axis", Int(1)}})).status(),
                        {"axis 1 is out of range"}));
  // N + 3 rows cannot be expressed.
  EXPECT_TRUE(IsInvalid(RunOp1("Concat", {BatchFeed(Iota({2, 2})), Feed(Iota({3, 2}))}).status(),
                        {"mixes the batch size"}));
}

// --- Shape -------------------------------------------------------------------------------

TEST(ShapeOpTest, RuntimeShapeWithBatch) {
  const Tensor x = Iota({3, 4, 5});
  struct Case {
    Attributes attributes;
    std::vector<int64_t> expected;
  };
  for (const Case& c : std::vector<Case>{{{}, {3, 4, 5}},
                                         {Attrs({{"start", Int(1)}}), {4, 5}},
                                         {Attrs({{"end", Int(-1)}}), {3, 4}},
                                         {Attrs({{"start", Int(-2)}, {"end", Int(10)}}), {4, 5}},
                                         {Attrs({{"start", Int(2)}, {"end", Int(1)}}), {}}}) {
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Shape", {BatchFeed(x)}, c.attributes));
    EXPECT_EQ(out.dtype(), DType::kInt64);
    EXPECT_EQ(out.shape(), (Shape{static_cast<int64_t>(c.expected.size())}));
    EXPECT_EQ(test::Values<int64_t>(out), c.expected);
  }
}

TEST(ShapeOpTest, FollowsTheBatchSize) {
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 2}));
  g.Output(g.Op("Shape", {x}));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  for (int64_t batch : {5, 0, 1}) {
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({Iota({batch, 2})}));
    EXPECT_EQ(test::Values<int64_t>(out[0]), (std::vector<int64_t>{batch, 2}));
  }
}

// --- Gather ------------------------------------------------------------------------------

std::vector<double> RefGather(const Tensor& data, const std::vector<int64_t>& indices,
                              const Shape& indices_shape, int axis, Shape* out_shape) {
  const Shape& shape = data.shape();
  const int rank = static_cast<int>(shape.size());
  if (axis < 0) axis += rank;
  *out_shape = Shape(shape.begin(), shape.begin() + axis);
  out_shape->insert(out_shape->end(), indices_shape.begin(), indices_shape.end());
  out_shape->insert(out_shape->end(), shape.begin() + axis + 1, shape.end());
  const Shape strides = test::Strides(shape);
  const std::vector<double> x = test::AsDoubles(data);
  const int q = static_cast<int>(indices_shape.size());
  const Shape index_strides = test::Strides(indices_shape);
  std::vector<double> y;
  test::ForEachIndex(*out_shape, [&](const Shape& o) {
    int64_t j = 0;
    for (int d = 0; d < q; ++d) j += o[axis + d] * index_strides[d];
    int64_t idx = indices[j];
    if (idx < 0) idx += shape[axis];
    int64_t flat = 0;
    for (int d = 0; d < axis; ++d) flat += o[d] * strides[d];
    flat += idx * strides[axis];
    for (int d = axis + 1; d < rank; ++d) flat += o[d - 1 + q] * strides[d];
    y.push_back(x[flat]);
  });
  return y;
}

TEST(GatherTest, AxesIndexShapesAndNegativeIndices) {
  const Tensor data = Iota({3, 4, 5});
  struct Case {
    int axis;
    Shape indices_shape;
    std::vector<int64_t> indices;
  };
  const std::vector<Case> cases = {
      {0, {}, {1}},           {0, {2}, {2, 0}}, {0, {2, 2}, {-1, 0, 1, -3}},
      {1, {3}, {3, -4, 1}},   {1, {}, {-1}},    {-1, {2, 1}, {4, -5}},
      {2, {4}, {0, 0, 4, 4}}, {-3, {1}, {-2}},  {1, {0}, {}},
  };
  for (const Case& c : cases) {
    Shape shape;
    const std::vector<double> expected =
        RefGather(data, c.indices, c.indices_shape, c.axis, &shape);
    SK_ASSERT_OK_AND_ASSIGN(
        Tensor out, RunOp1("Gather", {Feed(data), Feed(test::Int64s(c.indices_shape, c.indices))},
                           Attrs({{"axis", Int(c.axis)}})));
    EXPECT_TRUE(TensorNear(out, shape, expected, 0, 0))
        << "axis " << c.axis << " indices "
        << ShapeToString(Shape(c.indices.begin(), c.indices.end()));
    // int32 indices, and constant indices (the embedding-lookup form).
    std::vector<int32_t> i32(c.indices.begin(), c.indices.end());
    SK_ASSERT_OK_AND_ASSIGN(
        Tensor out32,
        RunOp1("Gather", {Feed(data), Feed(test::MakeTensor<int32_t>(c.indices_shape, i32))},
               Attrs({{"axis", Int(c.axis)}})));
    EXPECT_TRUE(TensorNear(out32, shape, expected, 0, 0)) << "int32, axis " << c.axis;
    SK_ASSERT_OK_AND_ASSIGN(
        Tensor outc, RunOp1("Gather", {Feed(data), Const(test::Int64s(c.indices_shape, c.indices))},
                            Attrs({{"axis", Int(c.axis)}})));
    EXPECT_TRUE(TensorNear(outc, shape, expected, 0, 0)) << "constant indices, axis " << c.axis;
  }
}

TEST(GatherTest, EmbeddingLookupWithBatchedIndices) {
  const Tensor table = RandomTensor({10, 4}, 5);
  const std::vector<int64_t> ids = {3, -1, 0, 9, 9, 2};
  Shape shape;
  const std::vector<double> expected = RefGather(table, ids, {3, 2}, 0, &shape);
  SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                          RunOp1("Gather", {Const(table), BatchFeed(test::Int64s({3, 2}, ids))}));
  EXPECT_TRUE(TensorNear(out, shape, expected, 0, 0));
}

TEST(GatherTest, OutOfRangeIndexIsARuntimeError) {
  test::GraphBuilder g;
  const int data = g.Input("data", test::BatchShape({1, 4}));
  const int idx = g.Input("idx", DType::kInt64, FixedShape({2}));
  g.Output(g.Op("Gather", {data, idx}, Attrs({{"axis", Int(1)}}), "lookup"));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  const Tensor x = Iota({2, 4});
  EXPECT_TRUE(
      IsInvalid(session->Run({x, test::Int64s({2}, {1, 4})}).status(),
                {"node 'lookup' (Gather)", "Gather index 4 is out of range for a dimension of 4"}));
  EXPECT_TRUE(IsInvalid(session->Run({x, test::Int64s({2}, {-5, 0})}).status(),
                        {"index -5 is out of range"}));
  EXPECT_TRUE(IsInvalid(session->Run({x, test::Int64s({2}, {0, int64_t{1} << 40})}).status(),
                        {"out of range"}));
  // The session still works after a failed run.
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({x, test::Int64s({2}, {3, -4})}));
  EXPECT_TRUE(TensorNear(out[0], {2, 2}, {3, 0, 7, 4}, 0, 0));
}

TEST(GatherTest, OutOfRangeConstantIndexFailsAtLoad) {
  EXPECT_TRUE(
      IsInvalid(RunOp1("Gather", {Const(Iota({3})), Const(test::Int64s({1}, {3}))}).status(),
                {"out of range"}));
}

TEST(GatherTest, Errors) {
  EXPECT_TRUE(IsInvalid(RunOp1("Gather", {Feed(Iota({3})), Feed(Iota({1}))}).status(),
                        {"has dtype float32"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Gather", {Feed(Iota({3})), Feed(test::Int64s({1}, {0}))}, Attrs({{"axis", Int(1)}}))
          .status(),
      {"axis is out of range"}));
}

}  // namespace
}  // namespace servekit
