// Fuzzes the tensor-bundle reader (formats/savedmodel/tensor_bundle.h and the
// table reader under it) on bytes in memory. The input is a flags byte, the
// index's length (4 bytes, little endian), the index file (a LevelDB-format
// table of BundleEntryProtos), then bytes that stand for every data file. Each entry
// the index accepts is decoded from its extent of those bytes, as a numeric
// tensor and as strings, so that dtype, shape, size and checksum checks all
// meet hostile entries. Small limits keep every accepted allocation small.
//
// The first byte's low bit switches checksums off: anyone can compute a CRC,
// so the parsing behind the checksums must hold on its own, and the fuzzer
// could not reach it otherwise.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "google/protobuf/stubs/logging.h"
#include "servekit/formats/savedmodel/tensor_bundle.h"

// protobuf logs every string field with invalid UTF-8 it parses; at fuzzing
// speed that is most of the run's time and output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  const bool verify_checksums = (data[0] & 1) == 0;
  uint32_t index_size;
  std::memcpy(&index_size, data + 1, 4);
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 5, size - 5);
  if (index_size > rest.size()) return 0;
  const absl::string_view index_file = rest.substr(0, index_size);
  const absl::string_view shard = rest.substr(index_size);

  servekit::BundleOptions options;
  options.verify_checksums = verify_checksums;
  options.max_shards = 64;
  options.max_string_bytes = 1 << 16;
  options.table.max_total_bytes = 1 << 20;
  servekit::StatusOr<servekit::BundleIndex> index = servekit::ParseBundleIndex(index_file, options);
  if (!index.ok()) return 0;
  for (const auto& [key, entry] : index->entries) {
    // Every shard reads the same bytes; an extent outside them is what Open
    // refuses for a real file.
    if (entry.offset() > static_cast<int64_t>(shard.size()) ||
        entry.size() > static_cast<int64_t>(shard.size()) - entry.offset()) {
      continue;
    }
    const absl::string_view bytes = shard.substr(entry.offset(), entry.size());
    (void)servekit::DecodeBundleTensor(key, entry, bytes, options);
    (void)servekit::DecodeBundleStrings(key, entry, bytes, options);
  }
  return 0;
}
