// An allocator whose containers leave new elements default-initialized: for a
// trivial type, `resize` then grows a vector without writing to it. For
// buffers that are sized for the most they may hold and then filled (a
// request's numbers), where std::allocator would first zero every element.
#pragma once

#include <memory>
#include <new>
#include <utility>

namespace servekit {

template <typename T>
class DefaultInitAllocator : public std::allocator<T> {
 public:
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };

  DefaultInitAllocator() = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}

  // With no arguments: default-initialized (nothing written for a trivial T).
  template <typename U>
  void construct(U* p) noexcept(noexcept(::new (static_cast<void*>(p)) U)) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

}  // namespace servekit
