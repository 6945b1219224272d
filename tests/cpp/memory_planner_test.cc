// PlanMemory: buffers alive at the same time never overlap; the arena stays small.
#include "servekit/engine/memory_planner.h"

#include <algorithm>
#include <numeric>
#include <optional>
#include <random>

#include "servekit/util/tensor.h"
#include "test_util.h"

namespace servekit {
namespace {

size_t Aligned(size_t bytes) {
  return (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
}

// Every invariant of a plan: one offset per request, aligned offsets, buffers
// inside the arena, and no two buffers with overlapping lifetimes overlapping
// in memory.
::testing::AssertionResult IsValidPlan(const std::vector<BufferRequest>& requests,
                                       const MemoryPlan& plan) {
  if (plan.offsets.size() != requests.size()) {
    return ::testing::AssertionFailure()
           << plan.offsets.size() << " offsets for " << requests.size() << " requests";
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    if (plan.offsets[i] % kTensorAlignment != 0) {
      return ::testing::AssertionFailure()
             << "offset " << plan.offsets[i] << " of request " << i << " is not aligned";
    }
    if (requests[i].bytes > 0 && plan.offsets[i] + requests[i].bytes > plan.arena_bytes) {
      return ::testing::AssertionFailure()
             << "request " << i << " ends at " << plan.offsets[i] + requests[i].bytes
             << " past the arena of " << plan.arena_bytes;
    }
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    for (size_t j = i + 1; j < requests.size(); ++j) {
      const BufferRequest& a = requests[i];
      const BufferRequest& b = requests[j];
      if (a.bytes == 0 || b.bytes == 0) continue;
      const bool live_together = a.first_step <= b.last_step && b.first_step <= a.last_step;
      const bool overlap = plan.offsets[i] < plan.offsets[j] + b.bytes &&
                           plan.offsets[j] < plan.offsets[i] + a.bytes;
      if (live_together && overlap) {
        return ::testing::AssertionFailure()
               << "requests " << i << " [" << plan.offsets[i] << ", +" << a.bytes << ") steps "
               << a.first_step << "-" << a.last_step << " and " << j << " [" << plan.offsets[j]
               << ", +" << b.bytes << ") steps " << b.first_step << "-" << b.last_step
               << " overlap";
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// The largest total size of buffers alive at one step: no plan can be smaller.
size_t PeakLiveBytes(const std::vector<BufferRequest>& requests) {
  int last = 0;
  for (const auto& r : requests) last = std::max(last, r.last_step);
  size_t peak = 0;
  for (int s = 0; s <= last; ++s) {
    size_t live = 0;
    for (const auto& r : requests) {
      if (r.first_step <= s && s <= r.last_step) live += Aligned(r.bytes);
    }
    peak = std::max(peak, live);
  }
  return peak;
}

TEST(MemoryPlannerTest, Empty) {
  const MemoryPlan plan = PlanMemory({});
  EXPECT_TRUE(plan.offsets.empty());
  EXPECT_EQ(plan.arena_bytes, 0u);
}

TEST(MemoryPlannerTest, OneBufferIsRoundedUpToTheAlignment) {
  const std::vector<BufferRequest> requests = {{100, 0, 0}};
  const MemoryPlan plan = PlanMemory(requests);
  ASSERT_EQ(plan.offsets.size(), 1u);
  EXPECT_EQ(plan.offsets[0], 0u);
  EXPECT_EQ(plan.arena_bytes, 128u);
}

TEST(MemoryPlannerTest, ZeroByteRequestsTakeNoSpace) {
  const std::vector<BufferRequest> requests = {{0, 0, 3}, {64, 1, 2}, {0, 1, 1}};
  const MemoryPlan plan = PlanMemory(requests);
  EXPECT_TRUE(IsValidPlan(requests, plan));
  EXPECT_EQ(plan.arena_bytes, 64u);
}

TEST(MemoryPlannerTest, BuffersLiveTogetherDoNotOverlap) {
  const std::vector<BufferRequest> requests = {{256, 0, 2}, {128, 1, 3}, {64, 2, 2}};
  const MemoryPlan plan = PlanMemory(requests);
  EXPECT_TRUE(IsValidPlan(requests, plan));
  EXPECT_EQ(plan.arena_bytes, 256u + 128u + 64u);
}

TEST(MemoryPlannerTest, ChainReusesMemory) {
  // a -> b -> c -> d: each buffer lives from its producer to its consumer, so
  // only two are alive at a time and the arena holds two.
  const std::vector<BufferRequest> requests = {
      {1024, 0, 1}, {1024, 1, 2}, {1024, 2, 3}, {1024, 3, 4}};
  const MemoryPlan plan = PlanMemory(requests);
  EXPECT_TRUE(IsValidPlan(requests, plan));
  EXPECT_EQ(plan.arena_bytes, 2048u);
  EXPECT_EQ(plan.offsets[0], plan.offsets[2]);
  EXPECT_EQ(plan.offsets[1], plan.offsets[3]);
}

TEST(MemoryPlannerTest, ChainOfDifferentSizesReachesThePeak) {
  const std::vector<BufferRequest> requests = {
      {4096, 0, 1}, {1000, 1, 2}, {3000, 2, 3}, {500, 3, 4}, {2000, 4, 5}};
  const MemoryPlan plan = PlanMemory(requests);
  EXPECT_TRUE(IsValidPlan(requests, plan));
  EXPECT_EQ(plan.arena_bytes, PeakLiveBytes(requests));
}

TEST(MemoryPlannerTest, SmallBufferGoesIntoAGapBetweenLargerOnes) {
  // A (steps 0-1) and B (steps 0-5) are placed first (largest); C (steps 2-3)
  // does not overlap A in time, so it can reuse A's space instead of growing
  // the arena.
  const std::vector<BufferRequest> requests = {{4096, 0, 1}, {4096, 0, 5}, {1024, 2, 3}};
  const MemoryPlan plan = PlanMemory(requests);
  EXPECT_TRUE(IsValidPlan(requests, plan));
  EXPECT_EQ(plan.arena_bytes, 8192u);
  EXPECT_EQ(plan.offsets[2], plan.offsets[0]);
}

TEST(MemoryPlannerTest, BestFitPicksTheSmallestGap) {
  // Placed by size: L0 [0,8192) steps 0-9, gap-makers: G1 (4096, steps 0-0)
  // and G2 (2048, steps 0-0) are dead after step 0, S1 (4096, 0-9) and
  // S2 (2048, 0-9) stay. Layout: L0 | G1 | S1 | G2 | S2. A 2048-byte buffer
  // for steps 5-6 fits in both freed gaps; best fit takes the 2048 one.
  const std::vector<BufferRequest> requests = {{8192, 0, 9}, {4096, 0, 0}, {4096, 0, 9},
                                               {2048, 0, 0}, {2048, 0, 9}, {2048, 5, 6}};
  const MemoryPlan plan = PlanMemory(requests);
  EXPECT_TRUE(IsValidPlan(requests, plan));
  const size_t peak_without_last = 8192 + 4096 + 4096 + 2048 + 2048;
  EXPECT_EQ(plan.arena_bytes, peak_without_last);
  EXPECT_EQ(plan.offsets[5], plan.offsets[3])
      << "the 2048-byte buffer should take the 2048-byte gap";
}

TEST(MemoryPlannerTest, RandomRequestsGiveValidPlans) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 200; ++trial) {
    const int count = 1 + static_cast<int>(rng() % 60);
    std::vector<BufferRequest> requests;
    for (int i = 0; i < count; ++i) {
      const int first = static_cast<int>(rng() % 40);
      const int length = static_cast<int>(rng() % 6);
      const size_t bytes = (rng() % 8 == 0) ? 0 : 1 + rng() % 5000;
      requests.push_back({bytes, first, first + length});
    }
    const MemoryPlan plan = PlanMemory(requests);
    ASSERT_TRUE(IsValidPlan(requests, plan)) << "trial " << trial;
    size_t total = 0;
    for (const auto& r : requests) total += Aligned(r.bytes);
    EXPECT_GE(plan.arena_bytes, PeakLiveBytes(requests));
    EXPECT_LE(plan.arena_bytes, total);
  }
}

// Best fit by decreasing size, written another way than the planner: for each
// request, in the planner's order, the memory that placed buffers alive with it
// occupy is merged into blocks; it goes into the smallest hole between blocks
// (or before the first) that holds it, the lowest of equal ones, else above
// the last block. Quadratic: the reference for the planner's index.
MemoryPlan ReferenceBestFit(const std::vector<BufferRequest>& requests) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<bool> placed(requests.size(), false);
  for (size_t r : PlacementOrder(requests)) {
    const size_t size = Aligned(requests[r].bytes);
    if (size == 0) continue;
    std::vector<std::pair<size_t, size_t>> busy;  // [begin, end) of buffers alive with r
    for (size_t p = 0; p < requests.size(); ++p) {
      const bool together = requests[p].first_step <= requests[r].last_step &&
                            requests[r].first_step <= requests[p].last_step;
      if (placed[p] && together) {
        busy.emplace_back(plan.offsets[p], plan.offsets[p] + Aligned(requests[p].bytes));
      }
    }
    std::sort(busy.begin(), busy.end());
    std::vector<std::pair<size_t, size_t>> blocks;  // busy, merged where they touch or overlap
    for (const auto& [begin, end] : busy) {
      if (!blocks.empty() && begin <= blocks.back().second) {
        blocks.back().second = std::max(blocks.back().second, end);
      } else {
        blocks.emplace_back(begin, end);
      }
    }
    std::optional<size_t> hole_start;
    size_t hole_size = 0, previous_end = 0;
    for (const auto& [begin, end] : blocks) {
      const size_t hole = begin - previous_end;
      if (hole >= size && (!hole_start || hole < hole_size)) {
        hole_start = previous_end;
        hole_size = hole;
      }
      previous_end = end;
    }
    plan.offsets[r] = hole_start.value_or(previous_end);
    plan.arena_bytes = std::max(plan.arena_bytes, plan.offsets[r] + size);
    placed[r] = true;
  }
  return plan;
}

TEST(MemoryPlannerTest, PlacesTheLargestFirstAndTiesInRequestOrder) {
  const std::vector<BufferRequest> requests = {{10, 0, 1}, {30, 0, 1}, {30, 2, 3}, {5, 0, 0}};
  EXPECT_EQ(PlacementOrder(requests), (std::vector<size_t>{1, 2, 0, 3}));
}

TEST(MemoryPlannerTest, SameOffsetsAsLookingAtEveryPlacedBuffer) {
  std::mt19937 rng(4321);
  for (int trial = 0; trial < 300; ++trial) {
    const int count = 1 + static_cast<int>(rng() % 400);
    const int steps = 1 + static_cast<int>(rng() % 200);
    std::vector<BufferRequest> requests;
    for (int i = 0; i < count; ++i) {
      const int first = static_cast<int>(rng() % steps);
      // Mostly short lifetimes, some spanning much of the graph.
      const int length = static_cast<int>(rng() % 10 == 0 ? rng() % steps : rng() % 4);
      // Repeated sizes, so that ties in size and offset occur.
      const size_t bytes = (rng() % 10 == 0) ? 0 : 64 * (1 + rng() % 12);
      requests.push_back({bytes, first, first + length});
    }
    const MemoryPlan expected = ReferenceBestFit(requests);
    const MemoryPlan plan = PlanMemory(requests);
    ASSERT_EQ(plan.offsets, expected.offsets) << "trial " << trial;
    ASSERT_EQ(plan.arena_bytes, expected.arena_bytes) << "trial " << trial;
  }
}

TEST(MemoryPlannerTest, AChainOfAHundredThousandBuffersReusesTwo) {
  // Each step reads the last one's output: a deep network's chain. Planning
  // looks only at the buffers alive beside each one.
  std::vector<BufferRequest> requests;
  for (int i = 0; i < 100000; ++i) requests.push_back({1000, i, i + 1});
  const MemoryPlan plan = PlanMemory(requests);
  EXPECT_EQ(plan.arena_bytes, 2 * Aligned(1000));
  for (size_t i = 0; i + 1 < requests.size(); ++i) {
    ASSERT_NE(plan.offsets[i], plan.offsets[i + 1]) << i;
  }
}

}  // namespace
}  // namespace servekit
