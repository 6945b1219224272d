#include "servekit/engine/memory_planner.h"

#include <algorithm>
#include <numeric>

#include "servekit/util/tensor.h"

namespace servekit {
namespace {

size_t AlignUp(size_t bytes) {
  return (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
}

bool LifetimesOverlap(const BufferRequest& a, const BufferRequest& b) {
  return a.first_step <= b.last_step && b.first_step <= a.last_step;
}

}  // namespace

MemoryPlan PlanMemory(const std::vector<BufferRequest>& requests) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });

  std::vector<size_t> placed;  // indices into requests, sorted by offset
  for (size_t r : order) {
    const size_t size = AlignUp(requests[r].bytes);
    if (size == 0) continue;
    // Gaps between placed buffers whose lifetimes overlap this one; take the
    // smallest gap that fits (best fit), else the end.
    size_t best_offset = 0;
    size_t best_gap = static_cast<size_t>(-1);
    size_t cursor = 0;
    for (size_t p : placed) {
      if (!LifetimesOverlap(requests[p], requests[r])) continue;
      const size_t p_begin = plan.offsets[p];
      const size_t p_end = p_begin + AlignUp(requests[p].bytes);
      if (p_begin >= cursor + size && p_begin - cursor < best_gap) {
        best_gap = p_begin - cursor;
        best_offset = cursor;
      }
      cursor = std::max(cursor, p_end);
    }
    if (best_gap == static_cast<size_t>(-1)) best_offset = cursor;
    plan.offsets[r] = best_offset;
    plan.arena_bytes = std::max(plan.arena_bytes, best_offset + size);
    placed.insert(
        std::upper_bound(placed.begin(), placed.end(), r,
                         [&](size_t a, size_t b) { return plan.offsets[a] < plan.offsets[b]; }),
        r);
  }
  return plan;
}

}  // namespace servekit
