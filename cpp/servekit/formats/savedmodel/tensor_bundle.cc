#include "servekit/formats/savedmodel/tensor_bundle.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "servekit/formats/tf_data_type.h"
#include "servekit/util/crc32c.h"
#include "servekit/util/read_file.h"

// Data files hold little-endian bytes that Read copies as they are.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "tensor_bundle.cc assumes a little-endian host");

namespace servekit {
namespace {

using tensorflow::BundleEntryProto;
using tensorflow::BundleHeaderProto;

// The bundle format version this reader implements (TensorFlow's writers
// have produced version 1 with min_consumer 0 since the format appeared).
constexpr int kReaderVersion = 1;

// Keys are arbitrary bytes; messages print them escaped.
std::string Quote(absl::string_view key) { return absl::StrCat("'", absl::CHexEscape(key), "'"); }

Status Corrupt(absl::string_view key, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("tensor ", Quote(key), ": ", what));
}

Status CheckHeader(const BundleHeaderProto& header, const BundleOptions& options) {
  if (header.num_shards() < 1 || header.num_shards() > options.max_shards) {
    return absl::DataLossError(absl::StrCat("the index declares ", header.num_shards(),
                                            " data files; expected 1 to ", options.max_shards));
  }
  if (header.endianness() != BundleHeaderProto::LITTLE) {
    return absl::UnimplementedError(
        "the bundle was written on a big-endian machine; servekit reads little-endian bundles");
  }
  const tensorflow::VersionDef& version = header.version();
  bool bad_consumer = false;
  for (int v : version.bad_consumers()) bad_consumer = bad_consumer || v == kReaderVersion;
  if (version.min_consumer() > kReaderVersion || bad_consumer) {
    return absl::UnimplementedError(
        absl::StrCat("the bundle's format version (producer ", version.producer(),
                     ", min_consumer ", version.min_consumer(),
                     ") needs a newer reader than servekit's (version ", kReaderVersion, ")"));
  }
  return absl::OkStatus();
}

Status CheckEntryExtent(const std::string& key, const BundleEntryProto& entry, int num_shards) {
  if (entry.shard_id() < 0 || entry.shard_id() >= num_shards) {
    return Corrupt(
        key, absl::StrCat("is in data file ", entry.shard_id(), " of a bundle with ", num_shards));
  }
  if (entry.offset() < 0 || entry.size() < 0 ||
      entry.offset() > std::numeric_limits<int64_t>::max() - entry.size()) {
    return Corrupt(key, absl::StrCat("has an invalid extent (offset ", entry.offset(), ", size ",
                                     entry.size(), ")"));
  }
  return absl::OkStatus();
}

// A data file opened for reading (util/read_file.h: a regular file only, not
// waited on), with its size; a missing file is NotFound, any other failure
// DataLoss.
struct DataFile {
  UniqueFd fd;
  int64_t size = 0;
};
StatusOr<DataFile> OpenDataFile(const std::string& path) {
  StatusOr<RegularFile> file = OpenRegularFile(path);
  if (!file.ok()) {
    const Status& status = file.status();
    return absl::IsNotFound(status) ? status : absl::DataLossError(status.message());
  }
  return DataFile{std::move(file->fd), static_cast<int64_t>(file->info.st_size)};
}

Status CheckBools(const std::string& key, const uint8_t* data, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    if (data[i] > 1) {
      return Corrupt(key, absl::StrCat("bool element ", i, " has the byte value ", data[i]));
    }
  }
  return absl::OkStatus();
}

// The checks that follow reading a tensor's bytes into `data`.
Status CheckTensorBytes(const std::string& key, const BundleEntryProto& entry,
                        const TensorLayout& layout, const void* data,
                        const BundleOptions& options) {
  if (options.verify_checksums &&
      crc32c::Value(data, static_cast<size_t>(entry.size())) != crc32c::Unmask(entry.crc32c())) {
    return Corrupt(key, "its bytes do not match their checksum (the data file is corrupt)");
  }
  if (layout.dtype == DType::kBool) {
    return CheckBools(key, static_cast<const uint8_t*>(data), entry.size());
  }
  return absl::OkStatus();
}

}  // namespace

std::string BundleDataFilename(const std::string& prefix, int shard, int num_shards) {
  return absl::StrFormat("%s.data-%05d-of-%05d", prefix, shard, num_shards);
}

StatusOr<BundleIndex> ParseBundleIndex(absl::string_view index_file, const BundleOptions& options) {
  TableOptions table_options = options.table;
  table_options.verify_checksums = options.verify_checksums;
  ASSIGN_OR_RETURN(std::vector<TableEntry> table, ReadTable(index_file, table_options));
  // The writer puts the header under the empty key, which sorts first.
  if (table.empty() || !table.front().key.empty()) {
    return absl::DataLossError("the index has no header entry (not a tensor bundle index)");
  }
  BundleIndex index;
  if (!index.header.ParseFromString(table.front().value)) {
    return absl::DataLossError("the index's header entry is not a BundleHeaderProto");
  }
  RETURN_IF_ERROR(CheckHeader(index.header, options));
  for (size_t i = 1; i < table.size(); ++i) {
    BundleEntryProto entry;
    if (!entry.ParseFromString(table[i].value)) {
      return Corrupt(table[i].key, "its index entry is not a BundleEntryProto");
    }
    // A partitioned variable's own entry only lists its slices; Read refuses it.
    if (entry.slices_size() == 0) {
      RETURN_IF_ERROR(CheckEntryExtent(table[i].key, entry, index.header.num_shards()));
    }
    index.entries.emplace_hint(index.entries.end(), std::move(table[i].key), std::move(entry));
  }
  return index;
}

StatusOr<TensorLayout> CheckTensorEntry(const std::string& key, const BundleEntryProto& entry,
                                        const BundleOptions& options) {
  if (entry.slices_size() > 0) {
    return absl::UnimplementedError(
        absl::StrCat("tensor ", Quote(key), " is a partitioned variable (saved in ",
                     entry.slices_size(), " slices), which servekit does not read"));
  }
  const std::optional<DType> dtype = FromTfDataType(entry.dtype());
  if (!dtype) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", Quote(key), " has dtype ",
                                                   TfDataTypeEnumName(entry.dtype()),
                                                   "; servekit reads ", kSupportedTfDataTypes));
  }
  const tensorflow::TensorShapeProto& shape_proto = entry.shape();
  if (shape_proto.unknown_rank()) return Corrupt(key, "its shape has an unknown rank");
  if (shape_proto.dim_size() > options.max_rank) {
    return Corrupt(key, absl::StrCat("its shape has rank ", shape_proto.dim_size(),
                                     ", over the limit of ", options.max_rank));
  }
  TensorLayout layout;
  layout.dtype = *dtype;
  for (const auto& dim : shape_proto.dim()) layout.shape.push_back(dim.size());
  // The element count may not exceed what the entry's bytes hold (at least
  // one byte per element), which also keeps the product from overflowing.
  const int64_t element_size = static_cast<int64_t>(DTypeSize(*dtype));
  auto count = CheckedNumElements(layout.shape, entry.size() / element_size);
  if (!count.ok() || *count * element_size != entry.size()) {
    return Corrupt(key, absl::StrCat("its shape ", ShapeToString(layout.shape), " of ",
                                     TfDataTypeEnumName(entry.dtype()), " does not match its ",
                                     entry.size(), " bytes"));
  }
  return layout;
}

StatusOr<Tensor> DecodeBundleTensor(const std::string& key, const BundleEntryProto& entry,
                                    absl::string_view bytes, const BundleOptions& options) {
  ASSIGN_OR_RETURN(TensorLayout layout, CheckTensorEntry(key, entry, options));
  if (static_cast<int64_t>(bytes.size()) != entry.size()) {
    return Corrupt(key,
                   absl::StrCat("has ", bytes.size(), " bytes; its entry says ", entry.size()));
  }
  RETURN_IF_ERROR(CheckTensorBytes(key, entry, layout, bytes.data(), options));
  ASSIGN_OR_RETURN(Tensor tensor, Tensor::Allocate(layout.dtype, layout.shape));
  if (!bytes.empty()) std::memcpy(tensor.raw_data(), bytes.data(), bytes.size());
  return tensor;
}

StatusOr<std::vector<std::string>> DecodeBundleStrings(const std::string& key,
                                                       const BundleEntryProto& entry,
                                                       absl::string_view bytes,
                                                       const BundleOptions& options) {
  if (entry.dtype() != tensorflow::DT_STRING) {
    return absl::InvalidArgumentError(absl::StrCat("tensor ", Quote(key), " has dtype ",
                                                   TfDataTypeEnumName(entry.dtype()),
                                                   ", not DT_STRING"));
  }
  if (entry.slices_size() > 0 || entry.shape().unknown_rank() ||
      entry.shape().dim_size() > options.max_rank) {
    return Corrupt(key, "its string tensor shape is not a known, small-rank shape");
  }
  if (static_cast<int64_t>(bytes.size()) != entry.size()) {
    return Corrupt(key,
                   absl::StrCat("has ", bytes.size(), " bytes; its entry says ", entry.size()));
  }
  if (entry.size() > options.max_string_bytes) {
    return Corrupt(key, absl::StrCat("its ", entry.size(), " bytes exceed the limit of ",
                                     options.max_string_bytes, " for string tensors"));
  }
  Shape shape;
  for (const auto& dim : entry.shape().dim()) shape.push_back(dim.size());
  // Every element takes at least one byte (its length), and the count is
  // bounded before anything is allocated for it.
  auto count = CheckedNumElements(shape, std::min(entry.size(), options.max_string_elements));
  if (!count.ok()) {
    return Corrupt(
        key, absl::StrCat("its shape ", ShapeToString(shape), " does not fit its ", entry.size(),
                          " bytes or the limit of ", options.max_string_elements, " strings"));
  }
  absl::string_view rest = bytes;
  std::vector<uint64_t> lengths;
  lengths.reserve(static_cast<size_t>(*count));
  uint32_t crc = 0;
  uint64_t total = 0;
  for (int64_t i = 0; i < *count; ++i) {
    uint64_t length = 0;
    int used = 0;
    bool done = false;
    for (; used < 10 && used < static_cast<int>(rest.size()) && !done; ++used) {
      const uint8_t byte = static_cast<uint8_t>(rest[used]);
      length |= static_cast<uint64_t>(byte & 0x7f) << (7 * used);
      done = (byte & 0x80) == 0;
    }
    if (!done) return Corrupt(key, absl::StrCat("the length of string ", i, " is cut off"));
    rest.remove_prefix(used);
    if (length > static_cast<uint64_t>(entry.size()) || total + length > rest.size()) {
      return Corrupt(key, absl::StrCat("string ", i, " is longer than the tensor's bytes"));
    }
    total += length;
    lengths.push_back(length);
    // TensorFlow checksums each length as a 32-bit integer when it fits.
    if (length <= UINT32_MAX) {
      const uint32_t length32 = static_cast<uint32_t>(length);
      crc = crc32c::Extend(crc, &length32, sizeof(length32));
    } else {
      crc = crc32c::Extend(crc, &length, sizeof(length));
    }
  }
  if (rest.size() < 4) return Corrupt(key, "the checksum of its string lengths is cut off");
  uint32_t stored_lengths_crc;
  std::memcpy(&stored_lengths_crc, rest.data(), 4);
  if (options.verify_checksums && crc32c::Unmask(stored_lengths_crc) != crc) {
    return Corrupt(key, "its string lengths do not match their checksum");
  }
  crc = crc32c::Extend(crc, rest.data(), 4);
  rest.remove_prefix(4);
  if (rest.size() != total) {
    return Corrupt(key, absl::StrCat("its strings take ", total, " bytes but ", rest.size(),
                                     " follow the lengths"));
  }
  crc = crc32c::Extend(crc, rest.data(), rest.size());
  if (options.verify_checksums && crc != crc32c::Unmask(entry.crc32c())) {
    return Corrupt(key, "its bytes do not match their checksum (the data file is corrupt)");
  }
  std::vector<std::string> strings;
  strings.reserve(lengths.size());
  for (uint64_t length : lengths) {
    strings.emplace_back(rest.substr(0, length));
    rest.remove_prefix(length);
  }
  return strings;
}

StatusOr<TensorBundle> TensorBundle::Open(const std::string& prefix, const BundleOptions& options) {
  const std::string index_path = prefix + ".index";
  ASSIGN_OR_RETURN(std::string index_bytes,
                   ReadRegularFileToString(index_path, options.max_index_bytes));
  auto index = ParseBundleIndex(index_bytes, options);
  if (!index.ok()) {
    return Status(index.status().code(), absl::StrCat(index_path, ": ", index.status().message()));
  }
  // Each data file an entry points into must exist and hold the entry's
  // extent; each is opened once, and the first kHeldDataFiles stay open for
  // Read (opening a file per tensor read was a tenth of a small model's load).
  const int num_shards = index->header.num_shards();
  std::map<int, int64_t> shard_sizes;
  std::map<int, UniqueFd> held;
  for (const auto& [key, entry] : index->entries) {
    if (entry.slices_size() > 0) continue;
    auto known = shard_sizes.find(entry.shard_id());
    if (known == shard_sizes.end()) {
      const std::string path = BundleDataFilename(prefix, entry.shard_id(), num_shards);
      StatusOr<DataFile> file = OpenDataFile(path);
      if (!file.ok()) {
        return Status(file.status().code(),
                      absl::StrCat("the data file of tensor ", Quote(key),
                                   " is missing or unreadable: ", file.status().message()));
      }
      known = shard_sizes.emplace(entry.shard_id(), file->size).first;
      if (held.size() < kHeldDataFiles) held.emplace(entry.shard_id(), std::move(file->fd));
    }
    if (entry.offset() + entry.size() > known->second) {
      return absl::DataLossError(
          absl::StrCat("tensor ", Quote(key), " lies at bytes [", entry.offset(), ", ",
                       entry.offset() + entry.size(), ") of '",
                       BundleDataFilename(prefix, entry.shard_id(), num_shards), "', which has ",
                       known->second, " bytes"));
    }
  }
  return TensorBundle(prefix, options, *std::move(index), std::move(held));
}

std::vector<std::string> TensorBundle::Keys() const {
  std::vector<std::string> keys;
  keys.reserve(index_.entries.size());
  for (const auto& entry : index_.entries) keys.push_back(entry.first);
  return keys;
}

const BundleEntryProto* TensorBundle::Find(const std::string& key) const {
  auto it = index_.entries.find(key);
  return it == index_.entries.end() ? nullptr : &it->second;
}

Status TensorBundle::ReadExtent(const std::string& key, const BundleEntryProto& entry,
                                void* out) const {
  // The file's name only where it is opened or named in an error.
  auto path = [this, &entry] {
    return BundleDataFilename(prefix_, entry.shard_id(), num_shards());
  };
  UniqueFd opened;
  int fd;
  if (auto held = data_files_.find(entry.shard_id()); held != data_files_.end()) {
    fd = held->second.get();
  } else {
    StatusOr<DataFile> file = OpenDataFile(path());
    if (!file.ok()) {
      return absl::DataLossError(
          absl::StrCat("tensor ", Quote(key), ": ", file.status().message()));
    }
    opened = std::move(file->fd);
    fd = opened.get();
  }
  char* dst = static_cast<char*>(out);
  int64_t done = 0;
  Status status;
  while (done < entry.size()) {
    const ssize_t n = ::pread(fd, dst + done, static_cast<size_t>(entry.size() - done),
                              static_cast<off_t>(entry.offset() + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;  // before anything else can change it
      // Open checked the size: the file was cut short or replaced since.
      status = absl::DataLossError(absl::StrCat(
          "tensor ", Quote(key), ": '", path(), "' ended or failed at byte ", entry.offset() + done,
          n < 0 ? absl::StrCat(": ", std::strerror(error)) : ""));
      break;
    }
    done += n;
  }
  return status;
}

StatusOr<Tensor> TensorBundle::Read(const std::string& key) const {
  const BundleEntryProto* entry = Find(key);
  if (entry == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no tensor ", Quote(key), " in bundle '", prefix_, "'"));
  }
  ASSIGN_OR_RETURN(TensorLayout layout, CheckTensorEntry(key, *entry, options_));
  ASSIGN_OR_RETURN(Tensor tensor, Tensor::Allocate(layout.dtype, layout.shape));
  RETURN_IF_ERROR(ReadExtent(key, *entry, tensor.raw_data()));
  RETURN_IF_ERROR(CheckTensorBytes(key, *entry, layout, tensor.raw_data(), options_));
  return tensor;
}

StatusOr<std::vector<std::string>> TensorBundle::ReadStrings(const std::string& key) const {
  const BundleEntryProto* entry = Find(key);
  if (entry == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no tensor ", Quote(key), " in bundle '", prefix_, "'"));
  }
  if (entry->size() > options_.max_string_bytes) {
    return Corrupt(key, absl::StrCat("its ", entry->size(), " bytes exceed the limit of ",
                                     options_.max_string_bytes, " for string tensors"));
  }
  std::string bytes(static_cast<size_t>(entry->size()), '\0');
  RETURN_IF_ERROR(ReadExtent(key, *entry, bytes.data()));
  return DecodeBundleStrings(key, *entry, bytes, options_);
}

StatusOr<const tensorflow::TrackableObjectGraph*> TensorBundle::ReadObjectGraph(
    google::protobuf::Arena* arena) const {
  if (Find(kObjectGraphKey) == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("bundle '", prefix_, "' has no ", kObjectGraphKey, " (a TF1 checkpoint?)"));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> strings, ReadStrings(kObjectGraphKey));
  auto* graph = google::protobuf::Arena::CreateMessage<tensorflow::TrackableObjectGraph>(arena);
  if (strings.size() != 1 || !graph->ParseFromString(strings.front())) {
    return Corrupt(kObjectGraphKey, "is not one serialized TrackableObjectGraph");
  }
  return graph;
}

}  // namespace servekit
