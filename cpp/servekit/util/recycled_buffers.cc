#include "servekit/util/recycled_buffers.h"

#include <cstdlib>
#include <deque>
#include <mutex>
#include <utility>

#include "servekit/util/tensor.h"

namespace servekit {
namespace {

constexpr size_t kAlignment = kTensorAlignment;
constexpr size_t kSizeClass = size_t{64} << 10;

// Freed buffers, oldest first. Intentionally leaked (never destroyed): tensors
// released during static destruction must still find it.
class BufferCache {
 public:
  void* Take(size_t capacity) {
    std::lock_guard<std::mutex> lock(mu_);
    // Newest first: its pages are the likeliest to still be in cache.
    for (auto it = buffers_.rbegin(); it != buffers_.rend(); ++it) {
      if (it->second == capacity) {
        void* data = it->first;
        cached_bytes_ -= capacity;
        buffers_.erase(std::next(it).base());
        return data;
      }
    }
    return nullptr;
  }

  void Put(void* data, size_t capacity) {
    std::deque<std::pair<void*, size_t>> dropped;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (capacity > kMaxCachedBytes) {
        dropped.emplace_back(data, capacity);
      } else {
        buffers_.emplace_back(data, capacity);
        cached_bytes_ += capacity;
        while (cached_bytes_ > kMaxCachedBytes) {
          dropped.push_back(buffers_.front());
          cached_bytes_ -= buffers_.front().second;
          buffers_.pop_front();
        }
      }
    }
    for (auto& [buffer, size] : dropped) std::free(buffer);  // outside the lock
  }

 private:
  std::mutex mu_;
  std::deque<std::pair<void*, size_t>> buffers_;
  size_t cached_bytes_ = 0;
};

BufferCache& Cache() {
  static BufferCache* cache = new BufferCache();
  return *cache;
}

}  // namespace

void* AcquireBuffer(size_t bytes, size_t* capacity) {
  if (bytes < kMinRecycledBytes) {
    // aligned_alloc wants a multiple of the alignment; never ask for 0.
    *capacity = bytes == 0 ? kAlignment : (bytes + kAlignment - 1) / kAlignment * kAlignment;
    return std::aligned_alloc(kAlignment, *capacity);
  }
  *capacity = (bytes + kSizeClass - 1) / kSizeClass * kSizeClass;
  if (void* data = Cache().Take(*capacity)) return data;
  return std::aligned_alloc(kAlignment, *capacity);
}

void ReleaseBuffer(void* data, size_t capacity) {
  if (data == nullptr) return;
  if (capacity < kMinRecycledBytes) {
    std::free(data);
    return;
  }
  Cache().Put(data, capacity);
}

}  // namespace servekit
