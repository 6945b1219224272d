#include "servekit/formats/savedmodel/table_reader.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "servekit/util/crc32c.h"
#include "servekit/util/varint.h"

namespace servekit {
namespace {

// Layout constants of the LevelDB table format.
constexpr size_t kFooterSize = 48;  // two padded block handles + 8-byte magic
constexpr uint64_t kTableMagic = 0xdb4775248b80fb57ull;
constexpr size_t kBlockTrailerSize = 5;  // 1-byte compression type + 4-byte masked CRC
constexpr uint8_t kNoCompression = 0;

Status Corrupt(const std::string& what) {
  return absl::DataLossError(absl::StrCat("the table is corrupt: ", what));
}

uint32_t LoadLittle32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

uint64_t LoadLittle64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

bool GetVarint32(absl::string_view* in, uint32_t* value) {
  uint64_t v = 0;
  if (!ReadVarint(in, 5, &v) || v > UINT32_MAX) return false;
  *value = static_cast<uint32_t>(v);
  return true;
}

struct BlockHandle {
  uint64_t offset = 0;
  uint64_t size = 0;
};

bool GetBlockHandle(absl::string_view* in, BlockHandle* handle) {
  return ReadVarint(in, 10, &handle->offset) && ReadVarint(in, 10, &handle->size);
}

// "at offset 0 (366 bytes)": follows a block's kind ("the data block ...").
std::string Describe(const BlockHandle& handle) {
  return absl::StrCat("at offset ", handle.offset, " (", handle.size, " bytes)");
}

// The contents of the block `handle` points at, after checking that it lies
// inside the file, is uncompressed and matches its checksum.
StatusOr<absl::string_view> ReadBlock(absl::string_view file, const BlockHandle& handle,
                                      const char* what, const TableOptions& options) {
  // Blocks end before the footer; both sums are checked against sizes that
  // came from the file, so they cannot overflow in the order written.
  const uint64_t limit = file.size() - kFooterSize;
  if (handle.offset > limit || handle.size > limit - handle.offset ||
      kBlockTrailerSize > limit - handle.offset - handle.size) {
    return Corrupt(absl::StrCat("the ", what, " ", Describe(handle), " runs past the end of the ",
                                file.size(), "-byte file"));
  }
  const char* start = file.data() + handle.offset;
  const uint8_t type = static_cast<uint8_t>(start[handle.size]);
  const uint32_t stored = crc32c::Unmask(LoadLittle32(start + handle.size + 1));
  // The checksum covers the contents and the compression type byte.
  const uint32_t actual = crc32c::Value(start, handle.size + 1);
  if (options.verify_checksums && stored != actual) {
    return Corrupt(absl::StrCat("the ", what, " ", Describe(handle), " fails its checksum"));
  }
  if (type != kNoCompression) {
    return absl::UnimplementedError(absl::StrCat(
        "the table's ", what, " ", Describe(handle), " is compressed (type ", type,
        "); TensorFlow writes tensor-bundle indexes uncompressed and servekit reads only those"));
  }
  return absl::string_view(start, handle.size);
}

// Appends the entries of one block to `out`: each entry is varint32 shared key
// length, varint32 unshared length, varint32 value length, the unshared key
// bytes and the value; a restart array (uint32 offsets) and its count end the
// block. Keys must keep increasing from `out`'s last entry. `*budget` is what
// the entries may still expand to.
Status ParseBlock(absl::string_view block, const char* what, const TableOptions& options,
                  size_t* budget, std::vector<TableEntry>* out) {
  if (block.size() < 4) return Corrupt(absl::StrCat("a ", what, " is shorter than 4 bytes"));
  const uint64_t num_restarts = LoadLittle32(block.data() + block.size() - 4);
  const uint64_t max_restarts = (block.size() - 4) / 4;
  if (num_restarts > max_restarts) {
    return Corrupt(absl::StrCat("a ", what, " claims ", num_restarts,
                                " restart points, more than its size allows"));
  }
  absl::string_view entries = block.substr(0, block.size() - 4 - 4 * num_restarts);
  // The first entry of a block shares nothing: restarts begin blocks.
  std::string key;
  bool first = true;
  while (!entries.empty()) {
    uint32_t shared = 0, unshared = 0, value_size = 0;
    if (!GetVarint32(&entries, &shared) || !GetVarint32(&entries, &unshared) ||
        !GetVarint32(&entries, &value_size)) {
      return Corrupt(absl::StrCat("an entry header in a ", what, " is cut off"));
    }
    if (shared > key.size() || (first && shared != 0)) {
      return Corrupt(absl::StrCat("an entry in a ", what, " shares ", shared,
                                  " bytes with a previous key of ", key.size()));
    }
    if (unshared > entries.size() || value_size > entries.size() - unshared) {
      return Corrupt(absl::StrCat("an entry in a ", what, " runs past the end of its block"));
    }
    const size_t key_size = size_t{shared} + unshared;
    if (key_size > options.max_key_bytes) {
      return Corrupt(absl::StrCat("a key in a ", what, " has ", key_size,
                                  " bytes, over the limit of ", options.max_key_bytes));
    }
    // Each entry also costs its bookkeeping, so that many tiny entries count.
    const size_t cost = key_size + value_size + sizeof(TableEntry);
    if (cost > *budget) {
      return Corrupt(
          absl::StrCat("the entries expand to more than ", options.max_total_bytes, " bytes"));
    }
    *budget -= cost;
    key.resize(shared);
    key.append(entries.data(), unshared);
    entries.remove_prefix(unshared);
    if (!out->empty() && !(out->back().key < key)) {
      return Corrupt(absl::StrCat("key '", absl::CHexEscape(key), "' in a ", what,
                                  " does not sort after '", absl::CHexEscape(out->back().key),
                                  "'"));
    }
    out->push_back({key, std::string(entries.substr(0, value_size))});
    entries.remove_prefix(value_size);
    first = false;
  }
  return absl::OkStatus();
}

}  // namespace

StatusOr<std::vector<TableEntry>> ReadTable(absl::string_view file, const TableOptions& options) {
  if (file.size() < kFooterSize) {
    return Corrupt(absl::StrCat("the file has ", file.size(), " bytes, fewer than the ",
                                kFooterSize, "-byte footer"));
  }
  absl::string_view footer = file.substr(file.size() - kFooterSize);
  if (LoadLittle64(footer.data() + kFooterSize - 8) != kTableMagic) {
    return Corrupt("the footer does not end in the table magic number (not a table, or cut off)");
  }
  BlockHandle metaindex, index;
  if (!GetBlockHandle(&footer, &metaindex) || !GetBlockHandle(&footer, &index)) {
    return Corrupt("the footer's block handles are malformed");
  }
  // The metaindex lists filter blocks, which TensorFlow's tables do not have;
  // it is checked like every block but not read.
  RETURN_IF_ERROR(ReadBlock(file, metaindex, "metaindex block", options).status());
  ASSIGN_OR_RETURN(absl::string_view index_block, ReadBlock(file, index, "index block", options));

  // The index maps a key at or after each data block's last key to its handle.
  size_t budget = options.max_total_bytes;
  std::vector<TableEntry> index_entries;
  RETURN_IF_ERROR(ParseBlock(index_block, "index block", options, &budget, &index_entries));
  std::vector<TableEntry> entries;
  // Data blocks follow one another in the file: each must start at or after
  // the end of the one before, so that no byte is checksummed or parsed twice.
  uint64_t next_offset = 0;
  for (const TableEntry& index_entry : index_entries) {
    absl::string_view encoded = index_entry.value;
    BlockHandle handle;
    if (!GetBlockHandle(&encoded, &handle)) {
      return Corrupt(absl::StrCat("the index entry for '", absl::CHexEscape(index_entry.key),
                                  "' is not a block handle"));
    }
    if (handle.offset < next_offset) {
      return Corrupt(absl::StrCat("the data block ", Describe(handle),
                                  " overlaps or precedes the block before it"));
    }
    ASSIGN_OR_RETURN(absl::string_view block, ReadBlock(file, handle, "data block", options));
    next_offset = handle.offset + handle.size + kBlockTrailerSize;
    const size_t before = entries.size();
    RETURN_IF_ERROR(ParseBlock(block, "data block", options, &budget, &entries));
    if (entries.size() > before && index_entry.key < entries.back().key) {
      return Corrupt(absl::StrCat("data block keys run past their index key '",
                                  absl::CHexEscape(index_entry.key), "'"));
    }
  }
  return entries;
}

}  // namespace servekit
