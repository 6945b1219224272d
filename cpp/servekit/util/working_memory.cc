#include "servekit/util/working_memory.h"

#include <sys/mman.h>

#include <cstdlib>

namespace servekit {

namespace {
constexpr size_t kCacheLine = 64;
constexpr size_t kHugePage = size_t{2} << 20;

size_t RoundUp(size_t bytes, size_t alignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}
}  // namespace

void* AllocateWorkingMemory(size_t bytes) {
  if (bytes < kHugePage) return std::aligned_alloc(kCacheLine, RoundUp(bytes, kCacheLine));
  const size_t size = RoundUp(bytes, kHugePage);
  void* memory = std::aligned_alloc(kHugePage, size);
  // Advice only: without THP the buffer works the same with small pages.
  if (memory != nullptr) madvise(memory, size, MADV_HUGEPAGE);
  return memory;
}

}  // namespace servekit
