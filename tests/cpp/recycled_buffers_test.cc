// util/recycled_buffers: large buffers come back to the next request of their
// size class; small ones and an over-full cache are freed.
#include "servekit/util/recycled_buffers.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "servekit/util/tensor.h"

namespace servekit {
namespace {

TEST(RecycledBuffersTest, ALargeBufferIsReusedForItsSizeClass) {
  size_t capacity = 0;
  void* first = AcquireBuffer(300 << 10, &capacity);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(capacity, size_t{320} << 10) << "rounded up to 64 KiB";
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % kTensorAlignment, 0u);
  std::memset(first, 1, 300 << 10);
  ReleaseBuffer(first, capacity);

  size_t again_capacity = 0;
  void* again = AcquireBuffer((300 << 10) + 7, &again_capacity);  // same class
  EXPECT_EQ(again, first);
  EXPECT_EQ(again_capacity, capacity);

  size_t other_capacity = 0;
  void* other = AcquireBuffer(1 << 20, &other_capacity);  // another class: fresh
  EXPECT_NE(other, first);
  ReleaseBuffer(other, other_capacity);
  ReleaseBuffer(again, again_capacity);
}

TEST(RecycledBuffersTest, SmallBuffersAreNotKept) {
  size_t capacity = 0;
  void* small = AcquireBuffer(100, &capacity);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(capacity, 128u);
  EXPECT_LT(capacity, kMinRecycledBytes);
  ReleaseBuffer(small, capacity);
  void* zero = AcquireBuffer(0, &capacity);
  ASSERT_NE(zero, nullptr);
  ReleaseBuffer(zero, capacity);
}

TEST(RecycledBuffersTest, TheCacheIsBounded) {
  // Four buffers more than kMaxCachedBytes holds are released: the four oldest
  // are freed, and the cache hands back exactly the others.
  const size_t size = size_t{4} << 20;
  const size_t kept = kMaxCachedBytes / size;
  std::vector<void*> buffers;
  size_t capacity = 0;
  for (size_t i = 0; i < kept + 4; ++i) buffers.push_back(AcquireBuffer(size, &capacity));
  for (void* b : buffers) ReleaseBuffer(b, capacity);
  std::set<void*> again;
  for (size_t i = 0; i < kept; ++i) again.insert(AcquireBuffer(size, &capacity));
  EXPECT_EQ(again, std::set<void*>(buffers.begin() + 4, buffers.end()));
  for (void* b : again) ReleaseBuffer(b, capacity);
}

TEST(RecycledBuffersTest, TensorsReleaseIntoIt) {
  void* data = nullptr;
  {
    auto t = Tensor::AllocateRecycled(DType::kFloat32, {256, 1024});  // 1 MiB
    ASSERT_TRUE(t.ok());
    data = t->raw_data();
  }
  auto again = Tensor::AllocateRecycled(DType::kFloat32, {1024, 256});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->raw_data(), data);
  auto plain = Tensor::Allocate(DType::kFloat32, {256, 1024});
  ASSERT_TRUE(plain.ok());
  EXPECT_NE(plain->raw_data(), data);
}

}  // namespace
}  // namespace servekit
