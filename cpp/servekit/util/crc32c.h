// CRC-32C (Castagnoli), the checksum of LevelDB-format tables and of
// TensorFlow's tensor bundles, and LevelDB's masking of stored checksums.
//
// Written here because no library the project uses exports it: abseil gained
// absl/crc only after Debian 12's 20220623, Debian has no libcrc32c, and
// libleveldb keeps its copy internal. Uses the SSE4.2 crc32 instruction when
// the CPU has it (checked at run time, so the code also runs on CPUs without),
// over three blocks at once for long data (about 3x faster on a tensor
// bundle's weights), a table otherwise. Thread-safe: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace servekit {
namespace crc32c {

// The CRC-32C of `data[0, size)` appended to data whose CRC-32C was `crc`
// (0 for the start of the data).
uint32_t Extend(uint32_t crc, const void* data, size_t size);

inline uint32_t Value(const void* data, size_t size) { return Extend(0, data, size); }

// LevelDB and TensorFlow store a checksum rotated and offset ("masked"): the
// CRC of bytes that contain their own CRC is otherwise badly distributed.
inline constexpr uint32_t kMaskDelta = 0xa282ead8u;
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
inline uint32_t Unmask(uint32_t masked) {
  const uint32_t rotated = masked - kMaskDelta;
  return (rotated >> 17) | (rotated << 15);
}

}  // namespace crc32c
}  // namespace servekit
