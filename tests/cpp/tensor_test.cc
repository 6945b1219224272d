// Tensor and element-count helpers (util/tensor.h).
#include "servekit/util/tensor.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "test_util.h"

namespace servekit {
namespace {

using test::IsInvalid;

TEST(TensorTest, AllocateIsAlignedAndOwned) {
  auto t = Tensor::Allocate(DType::kFloat32, {3, 5});
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->is_owner());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->raw_data()) % kTensorAlignment, 0u);
  EXPECT_EQ(t->num_elements(), 15);
  EXPECT_EQ(t->num_bytes(), 60u);
  EXPECT_EQ(t->rank(), 2);
  EXPECT_EQ(t->dim(1), 5);
}

TEST(TensorTest, EmptyAndScalar) {
  auto empty = Tensor::Allocate(DType::kInt64, {0, 4});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->num_elements(), 0);
  EXPECT_EQ(empty->num_bytes(), 0u);
  EXPECT_NE(empty->raw_data(), nullptr);
  auto scalar = Tensor::Allocate(DType::kFloat64, {});
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(scalar->num_elements(), 1);
  EXPECT_EQ(scalar->num_bytes(), 8u);
}

TEST(TensorTest, AllocateRejectsBadShapes) {
  EXPECT_TRUE(
      IsInvalid(Tensor::Allocate(DType::kFloat32, {2, -1}).status(), {"negative dimension"}));
  const int64_t big = int64_t{1} << 40;
  EXPECT_FALSE(Tensor::Allocate(DType::kFloat32, {big, big}).ok());
}

TEST(TensorTest, CopiesShareAndCloneCopies) {
  Tensor a = test::Floats({2, 2}, {1, 2, 3, 4});
  Tensor b = a;  // shares the buffer
  b.data<float>()[0] = 10;
  EXPECT_EQ(a.data<float>()[0], 10);
  auto c = a.Clone();
  ASSERT_TRUE(c.ok());
  c->data<float>()[1] = 20;
  EXPECT_EQ(a.data<float>()[1], 2);
  EXPECT_EQ(test::Values<float>(*c), (std::vector<float>{10, 20, 3, 4}));
}

TEST(TensorTest, ReshapedSharesElements) {
  Tensor a = test::Floats({2, 3}, {0, 1, 2, 3, 4, 5});
  Tensor r = a.Reshaped({3, 2});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_EQ(r.raw_data(), a.raw_data());
  EXPECT_EQ(a.shape(), (Shape{2, 3}));
}

TEST(TensorTest, ViewDoesNotOwn) {
  float data[4] = {1, 2, 3, 4};
  Tensor v = Tensor::View(DType::kFloat32, {4}, data);
  EXPECT_FALSE(v.is_owner());
  EXPECT_EQ(v.data<float>(), data);
  auto copy = v.Clone();
  ASSERT_TRUE(copy.ok());
  EXPECT_TRUE(copy->is_owner());
  EXPECT_EQ(test::Values<float>(*copy), (std::vector<float>{1, 2, 3, 4}));
}

TEST(TensorTest, RebindDropsOwnership) {
  Tensor t = test::Floats({2}, {1, 2});
  float other[3] = {7, 8, 9};
  t.Rebind(DType::kFloat32, {3}, other);
  EXPECT_FALSE(t.is_owner());
  EXPECT_EQ(t.data<float>()[2], 9);
}

TEST(TensorTest, CheckedNumElements) {
  auto n = CheckedNumElements({2, 3, 4}, 100);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 24);
  auto zero = CheckedNumElements({0, int64_t{1} << 62, int64_t{1} << 62}, 100);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(*zero, 0);
  EXPECT_TRUE(IsInvalid(CheckedNumElements({2, 3, 4}, 23).status(),
                        {"[2, 3, 4]", "more than 23 elements"}));
  EXPECT_TRUE(
      IsInvalid(CheckedNumElements({3, -2}, 100).status(), {"negative dimension", "[3, -2]"}));
  const int64_t max = std::numeric_limits<int64_t>::max();
  EXPECT_FALSE(CheckedNumElements({int64_t{1} << 32, int64_t{1} << 32}, max).ok());
}

TEST(TensorTest, NumElementsAndShapeToString) {
  EXPECT_EQ(NumElements({}), 1);
  EXPECT_EQ(NumElements({2, 0, 5}), 0);
  EXPECT_EQ(ShapeToString({2, 3}), "[2, 3]");
  EXPECT_EQ(ShapeToString({}), "[]");
}

TEST(TensorTest, PermuteAxesMovesEveryElement) {
  // t[a][b][c] = 100a + 10b + c, shape [2, 3, 4]; permuted [4, 2, 3] by {2, 0, 1}.
  Tensor t = *Tensor::Allocate(DType::kInt32, {2, 3, 4});
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 4; ++c) t.data<int32_t>()[(a * 3 + b) * 4 + c] = 100 * a + 10 * b + c;
  auto p = t.PermuteAxes({2, 0, 1});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->shape(), (Shape{4, 2, 3}));
  for (int c = 0; c < 4; ++c)
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 3; ++b)
        EXPECT_EQ(p->data<int32_t>()[(c * 2 + a) * 3 + b], 100 * a + 10 * b + c);
  auto scalar = Tensor::Allocate(DType::kFloat32, {})->PermuteAxes({});
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(scalar->num_elements(), 1);
}

// Every rank up to 5, every element size, random shapes (some with a zero or
// a one) and permutations: each element lands where the index arithmetic of
// the definition puts it.
TEST(TensorTest, PermuteAxesAgreesWithTheDefinition) {
  std::mt19937 rng(7);
  for (DType dtype : {DType::kUInt8, DType::kFloat32, DType::kInt64, DType::kBool}) {
    const size_t element = DTypeSize(dtype);
    for (int rank = 0; rank <= 5; ++rank) {
      for (int trial = 0; trial < 20; ++trial) {
        Shape shape(rank);
        // 1..4, and now and then 0 (nothing to copy).
        for (int64_t& d : shape) d = rng() % 8 == 0 ? 0 : 1 + static_cast<int64_t>(rng() % 4);
        std::vector<int64_t> perm(rank);
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), rng);
        SK_ASSERT_OK_AND_ASSIGN(Tensor t, Tensor::Allocate(dtype, shape));
        auto* bytes = static_cast<uint8_t*>(t.raw_data());
        for (size_t i = 0; i < t.num_bytes(); ++i) bytes[i] = static_cast<uint8_t>(rng());
        if (dtype == DType::kBool) {
          for (size_t i = 0; i < t.num_bytes(); ++i) bytes[i] &= 1;
        }
        SK_ASSERT_OK_AND_ASSIGN(Tensor p, t.PermuteAxes(perm));
        ASSERT_EQ(p.num_elements(), t.num_elements());
        std::vector<int64_t> index(rank, 0);  // in t
        for (int64_t n = 0; n < t.num_elements(); ++n) {
          int64_t to = 0;  // p[index[perm[0]], ..., index[perm[rank - 1]]]
          for (int i = 0; i < rank; ++i) to = to * p.shape()[i] + index[perm[i]];
          ASSERT_EQ(std::memcmp(static_cast<const uint8_t*>(p.raw_data()) + to * element,
                                bytes + n * element, element),
                    0)
              << "rank " << rank << " element " << n;
          for (int i = rank - 1; i >= 0; --i) {
            if (++index[i] < shape[i]) break;
            index[i] = 0;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace servekit
