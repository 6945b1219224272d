// Base-128 varints: little-endian groups of 7 bits, the high bit of each byte
// saying another follows. The integers of protobuf's wire format and of
// LevelDB's tables (TensorFlow's checkpoint index). Thread-safe: a pure
// function.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"

namespace servekit {

// The out-of-line part of ReadVarint, for varints of two bytes or more; call
// ReadVarint.
bool ReadLongVarint(absl::string_view* in, int max_bytes, uint64_t* value);

// Reads a varint of at most `max_bytes` bytes (10 hold any 64-bit value) from
// `*in` and advances past it. False, leaving `*in` as it was, when the input
// ends first or the varint is longer. Bits past the 64th are dropped. The
// one-byte case is inline: most tags and lengths in a SavedModel are below
// 128, and the wire scanners read two per field.
inline bool ReadVarint(absl::string_view* in, int max_bytes, uint64_t* value) {
  if (!in->empty() && max_bytes > 0) {
    const uint8_t first = static_cast<uint8_t>(in->front());
    if (first < 0x80) {
      in->remove_prefix(1);
      *value = first;
      return true;
    }
  }
  return ReadLongVarint(in, max_bytes, value);
}

}  // namespace servekit
