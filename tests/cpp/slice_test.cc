// Slice (kernels/slice.cc), against ONNX's rules for starts, ends and steps.
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

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// The indices one axis keeps, enumerated step by step from the spec's text:
// add dim to a negative start or end, clamp (to [0, dim] stepping forward; start
// to [0, dim - 1] and end to [-1, dim - 1] stepping backward), then walk.
std::vector<int64_t> RefIndices(int64_t start, int64_t end, int64_t step, int64_t dim) {
  std::vector<int64_t> out;
  if (dim == 0) return out;
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = std::min(std::max<int64_t>(start, 0), dim);
    end = std::min(std::max<int64_t>(end, 0), dim);
    for (int64_t i = start; i < end;) {
      out.push_back(i);
      if (__builtin_add_overflow(i, step, &i)) break;
    }
  } else {
    start = std::min(std::max<int64_t>(start, 0), dim - 1);
    end = std::min(std::max<int64_t>(end, -1), dim - 1);
    for (int64_t i = start; i > end;) {
      out.push_back(i);
      if (__builtin_add_overflow(i, step, &i)) break;
    }
  }
  return out;
}

struct SliceArgs {
  std::vector<int64_t> starts, ends, axes, steps;  // axes/steps empty: omitted
};

// The slice of `x` in double, and its shape.
std::vector<double> RefSlice(const Tensor& x, const SliceArgs& args, Shape* out_shape) {
  const Shape& shape = x.shape();
  const int rank = static_cast<int>(shape.size());
  std::vector<std::vector<int64_t>> kept(rank);
  for (int d = 0; d < rank; ++d) kept[d] = RefIndices(0, kMax, 1, shape[d]);
  for (size_t i = 0; i < args.starts.size(); ++i) {
    int64_t axis = args.axes.empty() ? static_cast<int64_t>(i) : args.axes[i];
    if (axis < 0) axis += rank;
    kept[axis] = RefIndices(args.starts[i], args.ends[i], args.steps.empty() ? 1 : args.steps[i],
                            shape[axis]);
  }
  out_shape->clear();
  for (int d = 0; d < rank; ++d) out_shape->push_back(static_cast<int64_t>(kept[d].size()));
  const std::vector<double> v = test::AsDoubles(x);
  const Shape strides = test::Strides(shape);
  std::vector<double> out;
  test::ForEachIndex(*out_shape, [&](const Shape& index) {
    int64_t flat = 0;
    for (int d = 0; d < rank; ++d) flat += kept[d][index[d]] * strides[d];
    out.push_back(v[flat]);
  });
  return out;
}

std::vector<test::OpInput> SliceInputs(test::OpInput data, const SliceArgs& args) {
  auto ints = [](const std::vector<int64_t>& v) {
    return Const(test::Int64s({static_cast<int64_t>(v.size())}, v));
  };
  std::vector<test::OpInput> inputs = {std::move(data), ints(args.starts), ints(args.ends)};
  inputs.push_back(args.axes.empty() ? Omitted() : ints(args.axes));
  if (!args.steps.empty()) inputs.push_back(ints(args.steps));
  return inputs;
}

std::string Describe(const SliceArgs& a) {
  auto join = [](const std::vector<int64_t>& v) {
    std::string s = "[";
    for (int64_t x : v) absl::StrAppend(&s, s.size() > 1 ? "," : "", x);
    return s + "]";
  };
  return absl::StrCat("starts ", join(a.starts), " ends ", join(a.ends), " axes ", join(a.axes),
                      " steps ", join(a.steps));
}

TEST(SliceTest, OnnxStyleCases) {
  const Tensor x = test::Iota({6, 5, 4});
  const std::vector<SliceArgs> cases = {
      {{0, 0}, {3, 5}, {0, 1}, {1, 1}},                 // x[0:3, 0:5]
      {{0}, {-1}, {1}, {1}},                            // x[:, 0:-1]
      {{6, 5, 3}, {0, 0, 1}, {0, 1, 2}, {-1, -3, -2}},  // negative steps
      {{1}, {1000}, {1}, {1}},                          // end past the end
      {{1000}, {1000}, {1}, {1}},                       // start past the end: empty
      {{0, 0, 3}, {20, 10, 4}, {}, {}},                 // default axes and steps
      {{0, 0, 3}, {20, 10, 4}, {0, -2, -1}, {}},        // negative axes
      {{-4}, {kMax}, {0}, {2}},                         // from the 4th last, every other
      {{kMax}, {kMin}, {1}, {-1}},                      // reversed whole axis
      {{-1}, {kMin}, {2}, {-2}},                        // reversed, every other
      {{2}, {kMin}, {-3}, {-kMax}},                     // a huge negative step: one element
      {{1}, {kMax}, {2}, {kMax}},                       // a huge step: one element
      {{kMin}, {kMax}, {0}, {kMin}},                    // INT64_MIN step (|step| unsigned)
      {{3}, {1}, {0}, {1}},                             // end before start: empty
      {{1}, {3}, {0}, {-1}},                            // stepping back from before end: empty
      {{-100}, {-200}, {1}, {-1}},  // start clamps to 0, end to -1: one element (see below)
  };
  for (const SliceArgs& args : cases) {
    Shape shape;
    const std::vector<double> expected = RefSlice(x, args, &shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Slice", SliceInputs(Feed(x), args)));
    EXPECT_TRUE(TensorNear(out, shape, expected, 0, 0)) << Describe(args);
  }
}

TEST(SliceTest, HandComputed) {
  const Tensor x = test::Iota({2, 5});
  auto run = [&](const SliceArgs& args) {
    auto out = RunOp1("Slice", SliceInputs(Feed(x), args));
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? test::Values<float>(*out) : std::vector<float>{};
  };
  EXPECT_EQ(run({{1}, {4}, {1}, {}}), (std::vector<float>{1, 2, 3, 6, 7, 8}));
  EXPECT_EQ(run({{-1}, {kMin}, {-1}, {-2}}), (std::vector<float>{4, 2, 0, 9, 7, 5}));
  EXPECT_EQ(run({{1, 3}, {2, -1}, {}, {}}), (std::vector<float>{8}));
  EXPECT_EQ(run({{4}, {0}, {1}, {-1}}), (std::vector<float>{4, 3, 2, 1, 9, 8, 7, 6}));
  // The spec clamps a backward start to [0, dim - 1]: -100 becomes 0, and the
  // end, clamped to -1, lies before it, so element 0 is kept. (numpy, and TF's
  // strided slices, would keep nothing: translators must not rely on this.)
  EXPECT_EQ(run({{-100}, {-200}, {1}, {-1}}), (std::vector<float>{0, 5}));
  // A backward end of INT64_MAX clamps to dim - 1, so nothing lies between
  // (onnxruntime reads it as "to the beginning"; the spec does not).
  EXPECT_EQ(run({{-1}, {kMax}, {1}, {-1}}), (std::vector<float>{}));
}

// Every combination of a few starts, ends and steps on each axis of a small
// tensor, including the int64 extremes.
TEST(SliceTest, SweepAgainstReference) {
  const Tensor x = test::Iota({3, 4});
  const int64_t bounds[] = {kMin, -5, -4, -3, -1, 0, 1, 2, 3, 4, 5, kMax};
  const int64_t steps[] = {kMin, -3, -1, 1, 2, 5, kMax};
  int checked = 0;
  for (int64_t axis : {0, 1, -1}) {
    for (int64_t start : bounds) {
      for (int64_t end : bounds) {
        for (int64_t step : steps) {
          const SliceArgs args{{start}, {end}, {axis}, {step}};
          Shape shape;
          const std::vector<double> expected = RefSlice(x, args, &shape);
          SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Slice", SliceInputs(Feed(x), args)));
          ASSERT_TRUE(TensorNear(out, shape, expected, 0, 0)) << Describe(args);
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 3 * 12 * 12 * 7);
}

TEST(SliceTest, DtypesEmptyAndScalar) {
  const Tensor i64 = test::Int64s({2, 3}, {kMin, 1, 2, 3, 4, kMax});
  SK_ASSERT_OK_AND_ASSIGN(Tensor a,
                          RunOp1("Slice", SliceInputs(Feed(i64), {{2}, {-4}, {1}, {-2}})));
  EXPECT_EQ(test::Values<int64_t>(a), (std::vector<int64_t>{2, kMin, kMax, 3}));
  const Tensor b = test::MakeTensor<bool>({4}, {true, false, false, true});
  SK_ASSERT_OK_AND_ASSIGN(Tensor bools,
                          RunOp1("Slice", SliceInputs(Feed(b), {{1}, {kMax}, {}, {}})));
  EXPECT_EQ(test::Values<bool>(bools), (std::vector<bool>{false, false, true}));
  const Tensor d = test::MakeTensor<double>({3}, {0.5, 1e300, -2});
  SK_ASSERT_OK_AND_ASSIGN(Tensor doubles,
                          RunOp1("Slice", SliceInputs(Feed(d), {{-1}, {kMin}, {}, {-2}})));
  EXPECT_EQ(test::Values<double>(doubles), (std::vector<double>{-2, 0.5}));
  // An empty input and an empty slice.
  SK_ASSERT_OK_AND_ASSIGN(Tensor empty, RunOp1("Slice", SliceInputs(Feed(test::Floats({2, 0}, {})),
                                                                    {{0}, {-1}, {1}, {-1}})));
  EXPECT_EQ(empty.shape(), (Shape{2, 0}));
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor none, RunOp1("Slice", SliceInputs(Feed(test::Iota({3, 2})), {{2}, {2}, {0}, {}})));
  EXPECT_EQ(none.shape(), (Shape{0, 2}));
  // A scalar has nothing to slice: starts and ends are empty.
  SK_ASSERT_OK_AND_ASSIGN(Tensor scalar,
                          RunOp1("Slice", SliceInputs(Feed(test::Scalar(7.0f)), {{}, {}, {}, {}})));
  EXPECT_TRUE(TensorNear(scalar, {}, {7}, 0, 0));
}

TEST(SliceTest, Int32Parameters) {
  const Tensor x = test::Iota({6});
  auto i32 = [](std::vector<int32_t> v) {
    return Const(test::MakeTensor<int32_t>({static_cast<int64_t>(v.size())}, v));
  };
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor out, RunOp1("Slice", {Feed(x), i32({-2}), i32({std::numeric_limits<int32_t>::min()}),
                                   i32({0}), i32({-2})}));
  EXPECT_EQ(test::Values<float>(out), (std::vector<float>{4, 2, 0}));
}

TEST(SliceTest, BatchAxisWholeOrReversed) {
  // Whole-axis slices of the batch dim work for every batch size; the other
  // axes slice normally.
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 5}));
  auto ints = [&](const char* name, std::vector<int64_t> v) {
    return g.Constant(name, test::Int64s({static_cast<int64_t>(v.size())}, v));
  };
  const int forward = g.Op("Slice", {x, ints("s1", {0, 1}), ints("e1", {kMax, 4})});
  const int reversed = g.Op("Slice", {x, ints("s2", {-1, kMax}), ints("e2", {kMin, kMin}),
                                      ints("a2", {0, 1}), ints("t2", {-1, -2})});
  g.Output(forward);
  g.Output(reversed);
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  for (int64_t batch : {0, 1, 3}) {
    const Tensor in = test::Iota({batch, 5});
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
    Shape shape;
    EXPECT_TRUE(
        TensorNear(out[0], {batch, 3}, RefSlice(in, {{0, 1}, {kMax, 4}, {}, {}}, &shape), 0, 0))
        << "batch " << batch;
    EXPECT_TRUE(TensorNear(out[1], {batch, 3},
                           RefSlice(in, {{-1, kMax}, {kMin, kMin}, {0, 1}, {-1, -2}}, &shape), 0,
                           0))
        << "batch " << batch;
  }
}

TEST(SliceTest, PartOfTheBatchAxisIsRefused) {
  for (const SliceArgs& args : std::vector<SliceArgs>{{{1}, {kMax}, {0}, {}},
                                                      {{0}, {2}, {0}, {}},
                                                      {{0}, {kMax}, {0}, {2}},
                                                      {{-2}, {kMin}, {0}, {-1}}}) {
    EXPECT_TRUE(
        IsInvalid(RunOp1("Slice", SliceInputs(BatchFeed(test::Iota({2, 3})), args)).status(),
                  {"node 'op' (Slice)", "axis 0 (N)", "depends on the batch size"}))
        << Describe(args);
  }
}

TEST(SliceTest, ShapeValues) {
  // Shape(x)[0:1] keeps the batch size symbolic: Reshape(x, [N, -1]) flattens
  // the rest for any batch.
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 4}));
  const int shape = g.Op("Shape", {x});
  const int n = g.Op("Slice", {shape, g.Constant("s", test::Int64s({1}, {0})),
                               g.Constant("e", test::Int64s({1}, {1}))});
  const int target = g.Op("Concat", {n, g.Constant("rest", test::Int64s({1}, {-1}))},
                          test::Attrs({{"axis", test::Int(0)}}));
  g.Output(g.Op("Reshape", {x, target}));
  // Shape(x)[:0:-1] = [4, 3] is fixed: a constant at load time.
  g.Output(g.Op(
      "Slice",
      {shape, g.Constant("s2", test::Int64s({1}, {-1})), g.Constant("e2", test::Int64s({1}, {0})),
       g.Constant("a2", test::Int64s({1}, {0})), g.Constant("t2", test::Int64s({1}, {-1}))}));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  for (int64_t batch : {1, 2}) {
    const Tensor in = test::Iota({batch, 3, 4});
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
    EXPECT_TRUE(test::TensorsEqual(out[0], in.Reshaped({batch, 12}))) << "batch " << batch;
    EXPECT_EQ(test::Values<int64_t>(out[1]), (std::vector<int64_t>{4, 3}));
  }
}

// tf2onnx's Flatten: Shape -> Cast(int32) -> Slice -> Concat -> Cast(int64) -> Reshape.
TEST(SliceTest, Int32ShapeValues) {
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 4}));
  const int shape = g.Op("Cast", {g.Op("Shape", {x})}, test::Attrs({{"to", test::Int(6)}}));
  const int n = g.Op("Slice", {shape, g.Constant("s", test::Int64s({1}, {0})),
                               g.Constant("e", test::Int64s({1}, {1}))});
  const int target = g.Op("Concat", {n, g.Constant("rest", test::MakeTensor<int32_t>({1}, {-1}))},
                          test::Attrs({{"axis", test::Int(0)}}));
  g.Output(g.Op("Reshape", {x, g.Op("Cast", {target}, test::Attrs({{"to", test::Int(7)}}))}));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  const Tensor in = test::Iota({2, 3, 4});
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
  EXPECT_TRUE(test::TensorsEqual(out[0], in.Reshaped({2, 12})));
}

TEST(SliceTest, FoldedAtLoadTime) {
  const Tensor x = test::Iota({4, 3});
  const SliceArgs args{{-1, 0}, {kMin, 3}, {0, 1}, {-2, 2}};
  Shape shape;
  const std::vector<double> expected = RefSlice(x, args, &shape);
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, test::RunFolded1("Slice", SliceInputs(Const(x), args)));
  EXPECT_TRUE(TensorNear(out, shape, expected, 0, 0));
  EXPECT_EQ(shape, (Shape{2, 2}));
}

TEST(SliceTest, Errors) {
  const Tensor x = test::Iota({2, 3});
  EXPECT_TRUE(IsInvalid(RunOp1("Slice", SliceInputs(Feed(x), {{0}, {2}, {1}, {0}})).status(),
                        {"node 'op' (Slice)", "a step is 0"}));
  EXPECT_TRUE(
      IsInvalid(RunOp1("Slice", SliceInputs(Feed(x), {{0, 0}, {1, 1}, {1, -1}, {}})).status(),
                {"axis -1 is repeated"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Slice", SliceInputs(Feed(x), {{0}, {1, 1}, {}, {}})).status(),
                        {"starts has 1 elements and ends 2"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Slice", SliceInputs(Feed(x), {{0}, {1}, {2}, {}})).status(),
                        {"axis 2 is out of range for rank 2"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Slice", SliceInputs(Feed(x), {{0}, {1}, {0, 1}, {}})).status(),
                        {"axes has 2 elements and starts 1"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Slice", SliceInputs(Feed(x), {{0}, {1}, {}, {1, 1}})).status(),
                        {"steps has 2 elements and starts 1"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Slice", {Feed(x), Feed(test::Int64s({1}, {0})), Const(test::Int64s({1}, {1}))})
          .status(),
      {"must be known when the model loads"}));
}

}  // namespace
}  // namespace servekit
