#include "servekit/server/http/request_arena.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace servekit {
namespace {

bool Aligned(const void* p, size_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

TEST(RequestArenaTest, HandsOutTheBlockInOrderAlignedAndAfterResetFromItsStartAgain) {
  RequestArena arena;
  char* const first = static_cast<char*>(arena.Allocate(3, 1));
  EXPECT_EQ(arena.used(), 3u);
  void* const aligned = arena.Allocate(16, 8);
  EXPECT_TRUE(Aligned(aligned, 8));
  EXPECT_EQ(static_cast<char*>(aligned), first + 8);  // padded from 3 up to 8
  EXPECT_EQ(arena.used(), 24u);
  arena.Deallocate(aligned, 8);  // inside the block: nothing to free
  arena.Deallocate(first, 1);
  arena.Reset();
  EXPECT_EQ(arena.used(), 0u);
  EXPECT_EQ(arena.Allocate(1, 1), first);
}

TEST(RequestArenaTest, PastTheBlockItAllocatesFromTheHeapAndFreesThat) {
  RequestArena arena;
  char* const start = static_cast<char*>(arena.Allocate(RequestArena::kBlockBytes - 8, 1));
  char* const last = static_cast<char*>(arena.Allocate(8, 1));  // exactly fills the block
  EXPECT_EQ(last, start + RequestArena::kBlockBytes - 8);
  std::vector<char*> spilled;
  for (int i = 0; i < 4; ++i) {
    char* p = static_cast<char*>(arena.Allocate(100, 8));
    EXPECT_TRUE(p < start || p >= start + RequestArena::kBlockBytes);
    std::fill(p, p + 100, 'x');  // really 100 usable bytes (ASan checks)
    spilled.push_back(p);
  }
  char* const huge = static_cast<char*>(arena.Allocate(size_t{1} << 20, 16));
  EXPECT_TRUE(huge < start || huge >= start + RequestArena::kBlockBytes);
  huge[(size_t{1} << 20) - 1] = 'y';
  // Freed to the heap here: a leak or a bad free fails the sanitizer build.
  for (char* p : spilled) arena.Deallocate(p, 8);
  arena.Deallocate(huge, 16);
  EXPECT_EQ(arena.used(), RequestArena::kBlockBytes);
}

TEST(RequestArenaTest, OverAlignedMemoryComesFromTheHeapAlignedAsAsked) {
  RequestArena arena;
  struct alignas(256) Line {
    char bytes[256];
  };
  ArenaAllocator<Line> lines(&arena);
  // Several, of several sizes: plain malloc's 16-byte alignment would land
  // on 256 for all of them only by a long chance.
  std::vector<std::pair<Line*, size_t>> taken;
  for (size_t n = 1; n <= 8; ++n) {
    Line* const line = lines.allocate(n);
    EXPECT_TRUE(Aligned(line, alignof(Line))) << n;
    line[n - 1].bytes[255] = 'x';  // really n lines (ASan checks)
    taken.emplace_back(line, n);
  }
  EXPECT_EQ(arena.used(), 0u);  // none from the block, whose alignment is max_align_t's
  for (auto [line, n] : taken) lines.deallocate(line, n);
}

TEST(RequestArenaTest, AStandardContainerGrowsThroughTheAllocatorIntoTheHeap) {
  RequestArena arena;
  {
    std::vector<int64_t, ArenaAllocator<int64_t>> values{ArenaAllocator<int64_t>(&arena)};
    for (int64_t i = 0; i < 5000; ++i) values.push_back(i);  // 40 KB: far past the block
    int64_t sum = 0;
    for (int64_t v : values) sum += v;
    EXPECT_EQ(sum, int64_t{5000} * 4999 / 2);
    EXPECT_TRUE(Aligned(values.data(), alignof(int64_t)));
  }
  using Strings =
      std::map<int, std::string, std::less<int>, ArenaAllocator<std::pair<const int, std::string>>>;
  Strings map{ArenaAllocator<std::pair<const int, std::string>>(&arena)};  // rebinds to nodes
  map[1] = "one";
  map[2] = std::string(200, 'z');
  EXPECT_EQ(map.at(2).size(), 200u);
  const ArenaAllocator<char> chars(&arena);
  const ArenaAllocator<int> ints(chars);
  EXPECT_TRUE(chars == ints);
  RequestArena other;
  EXPECT_TRUE(ints != ArenaAllocator<int>(&other));
}

}  // namespace
}  // namespace servekit
