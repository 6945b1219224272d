// PlanMemory: places temporary buffers in one arena so that buffers alive at the
// same time never overlap and the arena stays small.
//
// Lifetimes are in step indices, inclusive. Greedy best-fit by decreasing size,
// which is close to optimal for the chain-like graphs of inference models. Each
// buffer is placed beside only the buffers alive with it (found through an
// index of lifetimes), so a chain of 100,000 buffers plans in milliseconds.
// Offsets are 64-byte aligned.
#pragma once

#include <cstddef>
#include <vector>

namespace servekit {

struct BufferRequest {
  size_t bytes = 0;
  int first_step = 0;  // >= 0
  int last_step = 0;
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // one per request
  size_t arena_bytes = 0;
};

MemoryPlan PlanMemory(const std::vector<BufferRequest>& requests);

// The order PlanMemory places requests in: largest first, ties in request order.
std::vector<size_t> PlacementOrder(const std::vector<BufferRequest>& requests);

}  // namespace servekit
