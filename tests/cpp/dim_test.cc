// Dim and SymShape: symbolic batch arithmetic, broadcasting, axis normalisation.
#include "servekit/engine/dim.h"

#include <limits>

#include "test_util.h"

namespace servekit {
namespace {

using test::IsInvalid;

TEST(DimTest, FixedAndBatchEvaluate) {
  EXPECT_TRUE(Dim::Fixed(7).is_fixed());
  EXPECT_FALSE(Dim::Batch().is_fixed());
  EXPECT_EQ(Dim::Fixed(7).Evaluate(5), 7);
  EXPECT_EQ(Dim::Batch().Evaluate(5), 5);
  EXPECT_EQ(Dim::Batch(64).Evaluate(3), 192);
  EXPECT_EQ(Dim::Batch(64).Evaluate(0), 0);
  EXPECT_EQ(Dim::Batch(3).value(), 3);
}

TEST(DimTest, Equality) {
  EXPECT_EQ(Dim::Fixed(3), Dim::Fixed(3));
  EXPECT_NE(Dim::Fixed(3), Dim::Fixed(4));
  EXPECT_NE(Dim::Fixed(1), Dim::Batch(1));
  EXPECT_EQ(Dim::Batch(2), Dim::Batch(2));
  EXPECT_NE(Dim::Batch(2), Dim::Batch(3));
}

TEST(DimTest, ToString) {
  EXPECT_EQ(Dim::Fixed(7).ToString(), "7");
  EXPECT_EQ(Dim::Batch().ToString(), "N");
  EXPECT_EQ(Dim::Batch(64).ToString(), "64*N");
  EXPECT_EQ(SymShapeToString({Dim::Batch(), Dim::Fixed(3), Dim::Batch(2)}), "[N, 3, 2*N]");
  EXPECT_EQ(SymShapeToString({}), "[]");
}

TEST(DimTest, MulDims) {
  auto fixed = MulDims(Dim::Fixed(3), Dim::Fixed(4));
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(*fixed, Dim::Fixed(12));
  auto left = MulDims(Dim::Batch(2), Dim::Fixed(4));
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(*left, Dim::Batch(8));
  auto right = MulDims(Dim::Fixed(5), Dim::Batch());
  ASSERT_TRUE(right.ok());
  EXPECT_EQ(*right, Dim::Batch(5));
  EXPECT_TRUE(IsInvalid(MulDims(Dim::Batch(), Dim::Batch(2)).status(),
                        {"N * 2*N", "multiplies the batch dimension by itself"}));
}

TEST(DimTest, DivDims) {
  auto exact = DivDims(Dim::Fixed(12), Dim::Fixed(4));
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(*exact, Dim::Fixed(3));
  auto batch = DivDims(Dim::Batch(12), Dim::Fixed(3));
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(*batch, Dim::Batch(4));
  // 12*N / N is the fixed 12 (Reshape(x, [N, -1]) of a [N, 3, 4] input).
  auto by_batch = DivDims(Dim::Batch(12), Dim::Batch());
  ASSERT_TRUE(by_batch.ok());
  EXPECT_EQ(*by_batch, Dim::Fixed(12));
  auto by_batch_multiple = DivDims(Dim::Batch(12), Dim::Batch(4));
  ASSERT_TRUE(by_batch_multiple.ok());
  EXPECT_EQ(*by_batch_multiple, Dim::Fixed(3));

  EXPECT_TRUE(IsInvalid(DivDims(Dim::Fixed(12), Dim::Fixed(5)).status(), {"12 / 5", "not exact"}));
  EXPECT_TRUE(IsInvalid(DivDims(Dim::Batch(), Dim::Fixed(2)).status(), {"N / 2", "not exact"}));
  EXPECT_TRUE(IsInvalid(DivDims(Dim::Fixed(4), Dim::Fixed(0)).status(), {"4 / 0"}));
  EXPECT_TRUE(
      IsInvalid(DivDims(Dim::Fixed(12), Dim::Batch()).status(), {"12 / N", "not supported"}));
  EXPECT_TRUE(IsInvalid(DivDims(Dim::Batch(3), Dim::Batch(2)).status(), {"3*N / 2*N"}));
}

TEST(DimTest, AddDims) {
  auto fixed = AddDims(Dim::Fixed(3), Dim::Fixed(4));
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(*fixed, Dim::Fixed(7));
  auto batches = AddDims(Dim::Batch(), Dim::Batch(2));
  ASSERT_TRUE(batches.ok());
  EXPECT_EQ(*batches, Dim::Batch(3));
  auto plus_zero = AddDims(Dim::Batch(), Dim::Fixed(0));
  ASSERT_TRUE(plus_zero.ok());
  EXPECT_EQ(*plus_zero, Dim::Batch());
  auto zero_plus = AddDims(Dim::Fixed(0), Dim::Batch(5));
  ASSERT_TRUE(zero_plus.ok());
  EXPECT_EQ(*zero_plus, Dim::Batch(5));
  EXPECT_TRUE(
      IsInvalid(AddDims(Dim::Batch(), Dim::Fixed(3)).status(), {"N + 3", "mixes the batch size"}));
}

TEST(DimTest, SymProductAndNumElements) {
  const SymShape shape = {Dim::Batch(), Dim::Fixed(3), Dim::Fixed(4), Dim::Fixed(5)};
  auto all = SymNumElements(shape);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, Dim::Batch(60));
  auto inner = SymProduct(shape, 1, 4);
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ(*inner, Dim::Fixed(60));
  auto empty = SymProduct(shape, 2, 2);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, Dim::Fixed(1));
  auto scalar = SymNumElements({});
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(*scalar, Dim::Fixed(1));
  EXPECT_TRUE(IsInvalid(SymNumElements({Dim::Batch(), Dim::Batch()}).status(),
                        {"batch dimension by itself"}));
}

TEST(DimTest, EvaluateFixedShapeIsFixed) {
  const SymShape shape = {Dim::Batch(2), Dim::Fixed(3)};
  EXPECT_EQ(Evaluate(shape, 5), (Shape{10, 3}));
  EXPECT_EQ(Evaluate(shape, 0), (Shape{0, 3}));
  EXPECT_FALSE(IsFixed(shape));
  EXPECT_TRUE(IsFixed(FixedShape({2, 3})));
  EXPECT_TRUE(IsFixed({}));
  EXPECT_EQ(FixedShape({2, 3}), (SymShape{Dim::Fixed(2), Dim::Fixed(3)}));
}

void ExpectBroadcast(const SymShape& a, const SymShape& b, const SymShape& expected) {
  auto out = BroadcastShapes(a, b);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, expected) << SymShapeToString(a) << " + " << SymShapeToString(b) << " gave "
                            << SymShapeToString(*out);
}

TEST(DimTest, BroadcastShapes) {
  const Dim N = Dim::Batch();
  auto F = [](int64_t v) { return Dim::Fixed(v); };
  ExpectBroadcast({N, F(3), F(4), F(5)}, {F(3), F(1), F(1)}, {N, F(3), F(4), F(5)});
  ExpectBroadcast({F(3), F(1), F(1)}, {N, F(3), F(4), F(5)}, {N, F(3), F(4), F(5)});
  ExpectBroadcast({N, F(3)}, {F(3)}, {N, F(3)});
  ExpectBroadcast({F(3), F(1)}, {F(1), F(4)}, {F(3), F(4)});
  ExpectBroadcast({}, {N, F(2)}, {N, F(2)});
  ExpectBroadcast({N, F(2)}, {}, {N, F(2)});
  ExpectBroadcast({}, {}, {});
  ExpectBroadcast({N, F(1)}, {F(1), F(7)}, {N, F(7)});
  ExpectBroadcast({F(1), F(7)}, {N, F(1)}, {N, F(7)});
  ExpectBroadcast({N}, {N}, {N});
  ExpectBroadcast({F(0), F(3)}, {F(1), F(3)}, {F(0), F(3)});
}

TEST(DimTest, BroadcastShapesErrors) {
  const Dim N = Dim::Batch();
  EXPECT_TRUE(
      IsInvalid(BroadcastShapes({N, Dim::Fixed(3)}, {Dim::Fixed(2), Dim::Fixed(3)}).status(),
                {"[N, 3]", "[2, 3]", "do not broadcast"}));
  EXPECT_TRUE(
      IsInvalid(BroadcastShapes({Dim::Fixed(3)}, {Dim::Fixed(4)}).status(), {"do not broadcast"}));
  // N and 2*N are different sizes for every batch size but 0.
  EXPECT_FALSE(BroadcastShapes({N}, {Dim::Batch(2)}).ok());
}

TEST(DimTest, NormalizeAxis) {
  auto expect_axis = [](int64_t axis, int rank, int expected) {
    auto a = NormalizeAxis(axis, rank);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(*a, expected) << "axis " << axis << " rank " << rank;
  };
  expect_axis(0, 3, 0);
  expect_axis(2, 3, 2);
  expect_axis(-1, 3, 2);
  expect_axis(-3, 3, 0);
  EXPECT_TRUE(IsInvalid(NormalizeAxis(3, 3).status(), {"axis 3", "rank 3"}));
  EXPECT_TRUE(IsInvalid(NormalizeAxis(-4, 3).status(), {"axis -4"}));
  EXPECT_FALSE(NormalizeAxis(1, 0).ok());
  // A scalar has no axes at all.
  EXPECT_TRUE(IsInvalid(NormalizeAxis(0, 0).status(), {"axis 0 is out of range for rank 0"}));
  EXPECT_FALSE(NormalizeAxis(-1, 0).ok());
}

TEST(DimTest, NormalizeAxes) {
  auto axes = NormalizeAxes({0, -1, 1}, 4);
  ASSERT_TRUE(axes.ok()) << axes.status();
  EXPECT_EQ(*axes, (std::vector<int>{0, 3, 1}));
  EXPECT_TRUE(NormalizeAxes({}, 0).ok());
  EXPECT_TRUE(IsInvalid(NormalizeAxes({1, -3}, 4).status(), {"axis -3 is repeated"}));
  EXPECT_TRUE(IsInvalid(NormalizeAxes({2, 2}, 4).status(), {"axis 2 is repeated"}));
  EXPECT_TRUE(IsInvalid(NormalizeAxes({0, 4}, 4).status(), {"axis 4 is out of range for rank 4"}));
  EXPECT_TRUE(IsInvalid(NormalizeAxes({0}, 0).status(), {"axis 0 is out of range for rank 0"}));
}

TEST(DimTest, SubDims) {
  auto fixed = SubDims(Dim::Fixed(7), Dim::Fixed(3));
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(*fixed, Dim::Fixed(4));
  auto batch = SubDims(Dim::Batch(2), Dim::Fixed(0));
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(*batch, Dim::Batch(2));
  EXPECT_TRUE(IsInvalid(SubDims(Dim::Fixed(7), Dim::Batch()).status(),
                        {"7 - N", "subtracts the batch size"}));
  EXPECT_TRUE(
      IsInvalid(SubDims(Dim::Fixed(0), Dim::Fixed(std::numeric_limits<int64_t>::min())).status(),
                {"overflows"}));
}

TEST(DimTest, ArithmeticThatOverflowsIsAnError) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  const int64_t min = std::numeric_limits<int64_t>::min();
  EXPECT_TRUE(
      IsInvalid(MulDims(Dim::Fixed(int64_t{1} << 32), Dim::Fixed(int64_t{1} << 32)).status(),
                {"4294967296 * 4294967296", "overflows"}));
  EXPECT_TRUE(
      IsInvalid(MulDims(Dim::Batch(int64_t{1} << 62), Dim::Fixed(4)).status(), {"overflows"}));
  EXPECT_TRUE(IsInvalid(AddDims(Dim::Fixed(max), Dim::Fixed(1)).status(), {"overflows"}));
  EXPECT_TRUE(IsInvalid(AddDims(Dim::Batch(max), Dim::Batch(1)).status(), {"overflows"}));
  // Dims are never this negative, but shape arithmetic on constants can be.
  SK_EXPECT_IN_SUBPROCESS([min] {
    return IsInvalid(DivDims(Dim::Fixed(min), Dim::Fixed(-1)).status(), {"overflows"});
  });
  // The largest products that fit still work.
  auto fits = MulDims(Dim::Fixed(int64_t{1} << 31), Dim::Fixed(int64_t{1} << 31));
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(*fits, Dim::Fixed(int64_t{1} << 62));
}

}  // namespace
}  // namespace servekit
