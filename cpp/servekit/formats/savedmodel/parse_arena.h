// NewParseArena: the protobuf arena for messages parsed from a SavedModel
// (the meta graph, library functions, the checkpoint's object graph, the
// translator's attribute values). Its many small messages then cost one
// allocation per block and are freed as a few blocks. Thread-safe: a pure
// function (an arena itself is used from one load's thread).
#pragma once

#include <cstddef>
#include <memory>

#include "google/protobuf/arena.h"

namespace servekit {

// Blocks start at `first_block_bytes` and double up to 1 MB.
std::unique_ptr<google::protobuf::Arena> NewParseArena(size_t first_block_bytes = size_t{64} << 10);

}  // namespace servekit
