// Large tensor buffers, recycled: what Tensor::Allocate uses for 128 KiB and up.
//
// Why: a request's outputs are allocated per call and handed to the caller.
// From 128 KiB glibc serves them with fresh mmap'ed pages, or from a heap it
// trims as soon as they are freed, so every call touches new pages: ~1.2 µs per
// 4 KiB page, 0.3 ms for a 1 MiB output, which was a quarter of a transformer
// encoder layer's time at batch 8. Freed large buffers are kept, at most
// kMaxCachedBytes in all (oldest dropped first), and handed to the next request
// for a buffer of the same size class (sizes rounded up to 64 KiB).
//
// Thread-safe. Buffers are 64-byte aligned and released with ReleaseBuffer.
#pragma once

#include <cstddef>

namespace servekit {

inline constexpr size_t kMinRecycledBytes = size_t{128} << 10;
inline constexpr size_t kMaxCachedBytes = size_t{64} << 20;

// At least `bytes` bytes, 64-byte aligned; nullptr when out of memory.
// `*capacity` receives the size to pass back to ReleaseBuffer.
void* AcquireBuffer(size_t bytes, size_t* capacity);

// Returns a buffer from AcquireBuffer: cached when large, else freed.
void ReleaseBuffer(void* data, size_t capacity);

}  // namespace servekit
