// AllocateWorkingMemory: the large, long-lived buffers a Session computes in
// (its per-context arenas). Released with std::free.
//
// Why not plain aligned_alloc: a model's activations and scratch span tens of
// MB that every request sweeps through, and with 4 KiB pages the TLB misses
// cost more than the arithmetic on memory-bound steps (measured on
// bench/engine_bench.py's image_cnn at batch 32: ~1.6x slower end to end).
// Buffers of 2 MiB or more are therefore 2 MiB-aligned and marked for
// transparent huge pages (madvise: honoured when the system's THP mode is
// "always" or "madvise", Debian's default; ignored otherwise).
#pragma once

#include <cstddef>

namespace servekit {

// At least `bytes` bytes, 64-byte aligned (2 MiB-aligned from 2 MiB up);
// nullptr when out of memory.
void* AllocateWorkingMemory(size_t bytes);

}  // namespace servekit
