#include "servekit/util/varint.h"

namespace servekit {

bool ReadLongVarint(absl::string_view* in, int max_bytes, uint64_t* value) {
  uint64_t result = 0;
  for (int i = 0; i < max_bytes && i < static_cast<int>(in->size()); ++i) {
    const uint8_t byte = static_cast<uint8_t>((*in)[i]);
    if (i < 10) result |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      in->remove_prefix(i + 1);
      *value = result;
      return true;
    }
  }
  return false;
}

}  // namespace servekit
