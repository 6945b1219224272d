#include "servekit/formats/savedmodel/parse_arena.h"

namespace servekit {

std::unique_ptr<google::protobuf::Arena> NewParseArena(size_t first_block_bytes) {
  // A Keras model's meta graph or called functions took some 50-200 KB once
  // parsed, hence the default first block of 64 KB.
  google::protobuf::ArenaOptions options;
  options.start_block_size = first_block_bytes;
  options.max_block_size = size_t{1} << 20;
  return std::make_unique<google::protobuf::Arena>(options);
}

}  // namespace servekit
