// RequestArena: the memory a connection's HTTP parser keeps its header
// fields in, reused from one request to the next.
//
// Beast's parser allocates each header field, and the request target, on its
// own: three to five mallocs and frees for a plain request. An HttpSession
// gives its parser an ArenaAllocator over its arena instead. The arena hands
// out one fixed block front to back and goes to the heap once the block is
// used up, so a request with many or long fields still parses (each of those
// allocations is freed as usual). Reset() makes the whole block free again;
// call it only when nothing allocated from the arena is alive (the last
// request's parser destroyed). Not thread-safe: one connection's.
#pragma once

#include <cstddef>
#include <new>

namespace servekit {

class RequestArena {
 public:
  // Holds the fields of requests from curl, wrk, Python clients and most
  // browsers (a dozen fields of under 100 bytes, plus beast's own per field).
  static constexpr size_t kBlockBytes = 4096;

  RequestArena() = default;
  RequestArena(const RequestArena&) = delete;
  RequestArena& operator=(const RequestArena&) = delete;

  // `alignment` is a power of two; past the block, or above max_align_t, the
  // memory comes from the heap, aligned as asked.
  void* Allocate(size_t bytes, size_t alignment) {
    if (alignment > alignof(std::max_align_t)) {
      return ::operator new(bytes, std::align_val_t(alignment));
    }
    const size_t at = (used_ + alignment - 1) & ~(alignment - 1);
    if (at <= kBlockBytes && bytes <= kBlockBytes - at) {
      used_ = at + bytes;
      return block_ + at;
    }
    return ::operator new(bytes);
  }

  // `p` from Allocate with the same alignment.
  void Deallocate(void* p, size_t alignment) {
    const char* c = static_cast<const char*>(p);
    if (c >= block_ && c < block_ + kBlockBytes) return;  // the block's: freed by Reset()
    if (alignment > alignof(std::max_align_t)) {
      ::operator delete(p, std::align_val_t(alignment));
    } else {
      ::operator delete(p);
    }
  }

  void Reset() { used_ = 0; }

  size_t used() const { return used_; }

 private:
  alignas(std::max_align_t) char block_[kBlockBytes];
  size_t used_ = 0;
};

// A standard allocator over a RequestArena (which must outlive it).
template <class T>
class ArenaAllocator {
 public:
  using value_type = T;

  explicit ArenaAllocator(RequestArena* arena) : arena_(arena) {}
  template <class U>
  ArenaAllocator(const ArenaAllocator<U>& other)  // NOLINT: rebinding is implicit
      : arena_(other.arena()) {}

  T* allocate(size_t n) {
    if (n > static_cast<size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(arena_->Allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* p, size_t) { arena_->Deallocate(p, alignof(T)); }

  RequestArena* arena() const { return arena_; }

  template <class U>
  bool operator==(const ArenaAllocator<U>& other) const {
    return arena_ == other.arena();
  }
  template <class U>
  bool operator!=(const ArenaAllocator<U>& other) const {
    return arena_ != other.arena();
  }

 private:
  RequestArena* arena_;
};

}  // namespace servekit
