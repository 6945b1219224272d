#include "servekit/engine/memory_planner.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "servekit/util/tensor.h"

namespace servekit {
namespace {

size_t AlignUp(size_t bytes) {
  return (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
}

// The requests' lifetimes, for finding the placed requests whose lifetimes
// overlap another's without scanning every placed one: planning was
// quadratic in the buffers (a 100,000-op chain took seconds). Intervals sorted
// by first step, under a tree of the largest last step of each range's placed
// ones; a query costs O((k + 1) log n) for the k it finds.
class LifetimeIndex {
 public:
  explicit LifetimeIndex(const std::vector<BufferRequest>& requests) : requests_(requests) {
    by_first_.resize(requests.size());
    std::iota(by_first_.begin(), by_first_.end(), 0);
    std::stable_sort(by_first_.begin(), by_first_.end(), [&](size_t a, size_t b) {
      return requests[a].first_step < requests[b].first_step;
    });
    position_.resize(requests.size());
    first_steps_.reserve(requests.size());
    for (size_t i = 0; i < by_first_.size(); ++i) {
      position_[by_first_[i]] = i;
      first_steps_.push_back(requests[by_first_[i]].first_step);
    }
    leaves_ = 1;
    while (leaves_ < requests.size()) leaves_ *= 2;
    max_last_.assign(2 * leaves_, kNone);
  }

  void Place(size_t request) {
    size_t node = leaves_ + position_[request];
    max_last_[node] = requests_[request].last_step;
    for (node /= 2; node >= 1; node /= 2) {
      max_last_[node] = std::max(max_last_[2 * node], max_last_[2 * node + 1]);
    }
  }

  // The placed requests whose lifetimes overlap `r`'s (in no order).
  void Overlapping(const BufferRequest& r, std::vector<size_t>* out) {
    out->clear();
    // Those that start by r's end are a prefix of by_first_; of them, those
    // that end at r's start or later.
    const size_t starting = static_cast<size_t>(
        std::upper_bound(first_steps_.begin(), first_steps_.end(), r.last_step) -
        first_steps_.begin());
    if (starting == 0) return;
    std::vector<Range>& pending = pending_;
    pending.clear();
    pending.push_back({1, 0, leaves_});
    while (!pending.empty()) {
      const Range range = pending.back();
      pending.pop_back();
      if (range.begin >= starting || max_last_[range.node] < r.first_step) continue;
      if (range.node >= leaves_) {
        out->push_back(by_first_[range.begin]);
        continue;
      }
      const size_t middle = (range.begin + range.end) / 2;
      pending.push_back({2 * range.node, range.begin, middle});
      pending.push_back({2 * range.node + 1, middle, range.end});
    }
  }

 private:
  // A node of the tree, and the range of leaves it covers.
  struct Range {
    size_t node, begin, end;
  };
  // No placed request below; below any step (steps are >= 0).
  static constexpr int kNone = std::numeric_limits<int>::min();
  const std::vector<BufferRequest>& requests_;
  std::vector<size_t> by_first_;  // request indices by first step
  std::vector<int> first_steps_;  // in that order
  std::vector<size_t> position_;  // request -> its place in by_first_
  size_t leaves_ = 1;
  std::vector<int> max_last_;   // a heap-ordered tree over by_first_
  std::vector<Range> pending_;  // the query's walk, kept for its capacity
};

}  // namespace

std::vector<size_t> PlacementOrder(const std::vector<BufferRequest>& requests) {
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });
  return order;
}

MemoryPlan PlanMemory(const std::vector<BufferRequest>& requests) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  LifetimeIndex placed(requests);
  std::vector<size_t> overlapping;
  for (size_t r : PlacementOrder(requests)) {
    const size_t size = AlignUp(requests[r].bytes);
    if (size == 0) continue;
    // Gaps between placed buffers whose lifetimes overlap this one, in offset
    // order; take the smallest gap that fits (best fit), else the end.
    placed.Overlapping(requests[r], &overlapping);
    // By offset; the order among equal offsets changes nothing: after the
    // first buffer at an offset, the cursor is past it, so no later one at
    // that offset opens a gap, and the cursor ends at their largest end.
    std::sort(overlapping.begin(), overlapping.end(),
              [&](size_t a, size_t b) { return plan.offsets[a] < plan.offsets[b]; });
    size_t best_offset = 0;
    size_t best_gap = static_cast<size_t>(-1);
    size_t cursor = 0;
    for (size_t p : overlapping) {
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
    placed.Place(r);
  }
  return plan;
}

}  // namespace servekit
