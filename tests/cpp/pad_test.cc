// Pad kernel (kernels/pad.cc): constant, reflect and edge modes, negative pads
// (cropping), the axes input, and the pads refused at load time (batch axis,
// cropping past the axis, reflect or edge without enough left, int64 overflow).
#include <limits>
#include <numeric>
#include <string>

#include "test_util.h"

namespace servekit {
namespace {

using test::Attrs;
using test::BatchFeed;
using test::Const;
using test::Feed;
using test::Iota;
using test::IsInvalid;
using test::Omitted;
using test::RunOp1;
using test::Str;
using test::TensorNear;

// pads: begins for every axis, then ends (may be negative: cropping).
std::vector<double> RefPad(const Tensor& x_t, const std::vector<int64_t>& pads,
                           const std::string& mode, double value, Shape* out_shape) {
  const Shape& shape = x_t.shape();
  const int rank = static_cast<int>(shape.size());
  *out_shape = shape;
  for (int d = 0; d < rank; ++d) (*out_shape)[d] += pads[d] + pads[d + rank];
  const Shape strides = test::Strides(shape);
  const std::vector<double> x = test::AsDoubles(x_t);
  std::vector<double> y;
  test::ForEachIndex(*out_shape, [&](const Shape& o) {
    int64_t flat = 0;
    for (int d = 0; d < rank; ++d) {
      int64_t i = o[d] - pads[d];
      const int64_t n = shape[d];
      if (i < 0 || i >= n) {
        if (mode == "constant") {
          y.push_back(value);
          return;
        }
        if (mode == "edge") i = i < 0 ? 0 : n - 1;
        if (mode == "reflect") i = i < 0 ? -i : 2 * (n - 1) - i;
      }
      flat += i * strides[d];
    }
    y.push_back(x[flat]);
  });
  return y;
}

TEST(PadTest, ModesAndOneSidedPads) {
  const Tensor x = Iota({2, 3, 4}, 1);
  const std::vector<std::vector<int64_t>> pad_sets = {
      {0, 1, 2, 0, 1, 0},  // begins only on some axes, ends on others
      {0, 0, 0, 0, 2, 3},  // end of the last two axes only
      {0, 2, 3, 0, 2, 3},  // both sides
      {0, 0, 1, 0, 0, 0},  // one side of one axis
      {0, 0, 0, 0, 0, 0},  // nothing
  };
  for (const std::string mode : {"constant", "reflect", "edge"}) {
    for (const auto& pads : pad_sets) {
      Shape shape;
      const double value = mode == "constant" ? -7.5 : 0.0;
      const std::vector<double> expected = RefPad(x, pads, mode, value, &shape);
      std::vector<test::OpInput> inputs = {BatchFeed(x), Const(test::Int64s({6}, pads))};
      if (mode == "constant") inputs.push_back(Const(test::Scalar(-7.5f)));
      SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Pad", inputs, Attrs({{"mode", Str(mode)}})));
      EXPECT_TRUE(TensorNear(out, shape, expected, 0, 0))
          << mode << " pads " << ShapeToString(Shape(pads.begin(), pads.end()));
    }
  }
}

TEST(PadTest, DefaultModeAndValue) {
  const Tensor x = Iota({2, 2}, 1);
  Shape shape;
  const std::vector<double> expected = RefPad(x, {1, 0, 0, 2}, "constant", 0, &shape);
  SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                          RunOp1("Pad", {Feed(x), Const(test::Int64s({4}, {1, 0, 0, 2}))}));
  EXPECT_TRUE(TensorNear(out, shape, expected, 0, 0));
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor omitted, RunOp1("Pad", {Feed(x), Const(test::Int64s({4}, {1, 0, 0, 2})), Omitted()}));
  EXPECT_TRUE(TensorNear(omitted, shape, expected, 0, 0));
}

TEST(PadTest, AxesInput) {
  // Opset 18: pads for the listed axes only; negative axes allowed.
  const Tensor x = Iota({2, 3, 4}, 1);
  Shape shape;
  const std::vector<double> expected = RefPad(x, {0, 0, 1, 0, 0, 2}, "edge", 0, &shape);
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Pad",
                                             {BatchFeed(x), Const(test::Int64s({2}, {1, 2})),
                                              Omitted(), Const(test::Int64s({1}, {-1}))},
                                             Attrs({{"mode", Str("edge")}})));
  EXPECT_TRUE(TensorNear(out, shape, expected, 0, 0));
}

TEST(PadTest, NegativePadsCrop) {
  const Tensor x = Iota({3, 5}, 1);
  Shape shape;
  const std::vector<double> expected = RefPad(x, {0, -1, -1, 2}, "constant", 0, &shape);
  SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                          RunOp1("Pad", {Feed(x), Const(test::Int64s({4}, {0, -1, -1, 2}))}));
  EXPECT_TRUE(TensorNear(out, shape, expected, 0, 0));
}

TEST(PadTest, BatchSizes) {
  for (int64_t batch : {0, 1, 3}) {
    const Tensor x = Iota({batch, 2, 3});
    Shape shape;
    const std::vector<double> expected = RefPad(x, {0, 1, 1, 0, 1, 1}, "reflect", 0, &shape);
    SK_ASSERT_OK_AND_ASSIGN(
        Tensor out, RunOp1("Pad", {BatchFeed(x), Const(test::Int64s({6}, {0, 1, 1, 0, 1, 1}))},
                           Attrs({{"mode", Str("reflect")}})));
    EXPECT_TRUE(TensorNear(out, shape, expected, 0, 0)) << "batch " << batch;
  }
}

// Negative pads crop first, then positive pads pad what is left, as
// onnxruntime does: edge and reflect read from the cropped input.
TEST(PadTest, CropOnOneSideAndPadOnTheOther) {
  const Tensor x = test::Floats({4}, {1, 2, 3, 4});
  struct Case {
    std::vector<int64_t> pads;
    std::string mode;
    std::vector<double> expected;
  };
  for (const Case& c : std::vector<Case>{{{-1, 2}, "reflect", {2, 3, 4, 3, 2}},
                                         {{2, -1}, "reflect", {3, 2, 1, 2, 3}},
                                         {{-2, 1}, "reflect", {3, 4, 3}},
                                         {{-2, 1}, "edge", {3, 4, 4}},
                                         {{1, -3}, "edge", {1, 1}},
                                         {{-3, 2}, "constant", {4, 0, 0}},
                                         {{-4, 0}, "constant", {}}}) {
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Pad", {Feed(x), Const(test::Int64s({2}, c.pads))},
                                               Attrs({{"mode", Str(c.mode)}})));
    EXPECT_TRUE(TensorNear(out, {static_cast<int64_t>(c.expected.size())}, c.expected, 0, 0))
        << c.mode << " pads " << ShapeToString(Shape(c.pads.begin(), c.pads.end()));
  }
}

TEST(PadTest, CropPastTheAxisIsRejected) {
  // A begin crop of 6 on an axis of 4, hidden by an end pad of 6 (the size is
  // unchanged): the reflect kernel used to read before the input.
  const Tensor x = Iota({2, 4});
  for (const std::string mode : {"reflect", "edge", "constant"}) {
    EXPECT_TRUE(IsInvalid(RunOp1("Pad", {Feed(x), Const(test::Int64s({4}, {0, -6, 0, 6}))},
                                 Attrs({{"mode", Str(mode)}}))
                              .status(),
                          {"node 'op' (Pad)", "pads remove more than the whole axis",
                           "crop 6 elements from axis 1 of size 4"}))
        << mode;
  }
}

TEST(PadTest, ReflectAndEdgeNeedEnoughOfTheCroppedAxis) {
  const Tensor x = Iota({2, 4});
  auto pad = [&](std::vector<int64_t> pads, const std::string& mode) {
    return RunOp1("Pad", {Feed(x), Const(test::Int64s({4}, pads))}, Attrs({{"mode", Str(mode)}}))
        .status();
  };
  // Cropping 2 of 4 leaves 2: a reflect pad of 2 would reach the cropped part.
  EXPECT_TRUE(IsInvalid(pad({0, -2, 0, 2}, "reflect"),
                        {"node 'op' (Pad)", "reflect pads must be smaller than the axis",
                         "axis 1 has 2 elements after cropping"}));
  EXPECT_TRUE(IsInvalid(pad({0, -1, 0, 3}, "reflect"), {"axis 1 has 3 elements after cropping"}));
  EXPECT_TRUE(IsInvalid(pad({0, 4, 0, 0}, "reflect"), {"axis 1 has 4 elements after cropping"}));
  // Nothing is left to repeat at the edge.
  EXPECT_TRUE(IsInvalid(pad({0, -4, 0, 1}, "edge"), {"edge padding of axis 1", "nothing is left"}));
}

TEST(PadTest, EmptyAxis) {
  const Tensor x = test::Floats({2, 0}, {});
  auto pad = [&](std::vector<int64_t> pads, const std::string& mode) {
    return RunOp1("Pad", {Feed(x), Const(test::Int64s({4}, pads))}, Attrs({{"mode", Str(mode)}}));
  };
  // Constant padding may grow an empty axis; edge and reflect have nothing to copy.
  SK_ASSERT_OK_AND_ASSIGN(Tensor grown, pad({0, 1, 0, 1}, "constant"));
  EXPECT_TRUE(TensorNear(grown, {2, 2}, {0, 0, 0, 0}, 0, 0));
  EXPECT_TRUE(
      IsInvalid(pad({0, 1, 0, 0}, "edge").status(), {"edge padding of axis 1", "nothing is left"}));
  EXPECT_TRUE(
      IsInvalid(pad({0, 0, 0, 1}, "reflect").status(), {"axis 1 has 0 elements after cropping"}));
  // Padding other axes of an empty input is fine in every mode.
  for (const std::string mode : {"constant", "reflect", "edge"}) {
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, pad({1, 0, 0, 0}, mode));
    EXPECT_EQ(out.shape(), (Shape{3, 0})) << mode;
  }
}

TEST(PadTest, BatchAxisCropAndPadIsRejected) {
  // -1 + 1 keeps N rows, but which rows depends on N (for N = 1 reflect read
  // row -1): the batch axis takes no pads at all.
  EXPECT_TRUE(
      IsInvalid(RunOp1("Pad", {BatchFeed(Iota({1, 3})), Const(test::Int64s({4}, {-1, 0, 1, 0}))},
                       Attrs({{"mode", Str("reflect")}}))
                    .status(),
                {"node 'op' (Pad)", "padding the batch dimension is not supported"}));
}

TEST(PadTest, RepeatedAxesAreRejected) {
  // Axis 1 twice: shape inference padded it by 2 at the start while the kernel
  // took the last entry (no padding) and wrote the input at the start.
  const Tensor x = Iota({2, 3});
  EXPECT_TRUE(IsInvalid(RunOp1("Pad", {Feed(x), Const(test::Int64s({4}, {2, 0, 0, 0})), Omitted(),
                                       Const(test::Int64s({2}, {1, 1}))})
                            .status(),
                        {"node 'op' (Pad)", "axis 1 is repeated"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Pad", {Feed(x), Const(test::Int64s({4}, {2, 0, 0, 0})), Omitted(),
                                       Const(test::Int64s({2}, {-1, 1}))})
                            .status(),
                        {"axis 1 is repeated"}));
}

TEST(PadTest, PadsThatOverflowAreRejected) {
  // begin + end wraps around to -2: the axis of 3 "became" 1.
  const int64_t max = std::numeric_limits<int64_t>::max();
  EXPECT_TRUE(IsInvalid(
      RunOp1("Pad", {Feed(Iota({2, 3})), Const(test::Int64s({4}, {0, max, 0, max}))}).status(),
      {"node 'op' (Pad)", "overflow"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Pad", {Feed(Iota({2, 3})), Const(test::Int64s({4}, {0, max - 1, 0, 0}))}).status(),
      {"node 'op' (Pad)", "overflow"}));
  const int64_t min = std::numeric_limits<int64_t>::min();
  EXPECT_TRUE(IsInvalid(
      RunOp1("Pad", {Feed(Iota({2, 3})), Const(test::Int64s({4}, {0, min, 0, 0}))}).status(),
      {"node 'op' (Pad)", "overflow"}));
}

TEST(PadTest, ScalarHasNoAxes) {
  SK_EXPECT_IN_SUBPROCESS([] {
    return IsInvalid(RunOp1("Pad", {Feed(test::Scalar(1.0f)), Const(test::Int64s({2}, {1, 1})),
                                    Omitted(), Const(test::Int64s({1}, {0}))})
                         .status(),
                     {"axis 0 is out of range for rank 0"});
  });
}

TEST(PadTest, Errors) {
  const Tensor x = Iota({2, 3});
  auto pad = [&](std::vector<int64_t> pads, const std::string& mode, bool batched = false) {
    return RunOp1("Pad",
                  {batched ? BatchFeed(x) : Feed(x),
                   Const(test::Int64s({static_cast<int64_t>(pads.size())}, pads))},
                  Attrs({{"mode", Str(mode)}}))
        .status();
  };
  EXPECT_TRUE(IsInvalid(pad({0, 3, 0, 0}, "reflect"),
                        {"node 'op' (Pad)", "reflect pads must be smaller than the axis"}));
  EXPECT_TRUE(IsInvalid(pad({1, 0, 0, 0}, "constant", true),
                        {"padding the batch dimension is not supported"}));
  EXPECT_TRUE(IsInvalid(pad({1, 0, 0}, "constant"), {"pads has 3 values; expected 4"}));
  EXPECT_TRUE(IsInvalid(pad({0, 1, 0, 0}, "wrap"), {"mode 'wrap' is not supported"}));
  EXPECT_TRUE(IsInvalid(pad({0, -2, 0, -2}, "constant"), {"pads remove more than the whole axis"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Pad", {Feed(x), Feed(test::Int64s({4}, {0, 1, 0, 0}))}).status(),
                        {"pads, constant_value and axes must be constants"}));
}

}  // namespace
}  // namespace servekit
