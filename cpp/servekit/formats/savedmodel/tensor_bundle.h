// TensorBundle: the variables of a SavedModel, in TensorFlow's checkpoint
// format ("tensor bundle"): an index, variables/variables.index, and the data
// files variables/variables.data-NNNNN-of-NNNNN (N shards) holding the raw
// little-endian tensor bytes.
//
// The index is a LevelDB-format table (read by table_reader.h: why not
// libleveldb is said there). Its empty key holds a BundleHeaderProto (shard
// count, byte order, format version), every other key a BundleEntryProto:
// dtype, shape, shard, offset, size and the masked CRC-32C of the bytes.
//
// Open reads and checks the whole index at once (it is small: one entry per
// tensor) and that each data file an entry points into exists and is long
// enough for it; it keeps the first 64 data files open, so Read reads them
// as they were when opened, even if they are replaced since (a bundle of more
// shards has the others opened again by each Read). Only regular files are
// read: a device or FIFO in a data file's place, or the index's, is refused.
// Tensors are read lazily, one pread each, when Read is called:
// a checkpoint holds more than serving needs (optimizer slots, counters, the
// object graph, under Keras 3 every variable twice), and the loader reads only
// the variables the served signatures use. Read checks the dtype, the shape
// against the entry's size and the bytes against their checksum before it
// returns a tensor. A corrupt or hostile bundle gives an error naming the key
// and the file, never a crash or an allocation the files do not back.
//
// Thread safety: a TensorBundle is immutable after Open; its const methods may
// run concurrently (pread on a shared descriptor). Movable, not copyable. It
// holds up to 64 descriptors while it lives (the loader's lives for one load).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "servekit/formats/savedmodel/table_reader.h"
#include "servekit/proto/tf/tensor_bundle.pb.h"
#include "servekit/proto/tf/trackable_object_graph.pb.h"
#include "servekit/util/status.h"
#include "servekit/util/tensor.h"
#include "servekit/util/unique_fd.h"

namespace servekit {

// The key of the checkpoint's object graph (a scalar DT_STRING holding a
// serialized TrackableObjectGraph).
inline constexpr char kObjectGraphKey[] = "_CHECKPOINTABLE_OBJECT_GRAPH";

struct BundleOptions {
  // The largest index file read (a million variables fit in less).
  size_t max_index_bytes = size_t{64} << 20;
  // The most data files a bundle may declare.
  int max_shards = 10000;
  // The highest rank a tensor may have.
  int max_rank = 32;
  // The largest DT_STRING tensor read (the object graph), in bytes and in
  // elements (each element costs far more in memory than its length byte).
  int64_t max_string_bytes = int64_t{256} << 20;
  int64_t max_string_elements = int64_t{1} << 16;
  // Also passed on to the table; off only in the fuzzer (see TableOptions).
  bool verify_checksums = true;
  TableOptions table;
};

// The parsed index: the header and every other entry by key.
struct BundleIndex {
  tensorflow::BundleHeaderProto header;
  std::map<std::string, tensorflow::BundleEntryProto> entries;
};

class TensorBundle {
 public:
  // `prefix` is the path without suffixes: "<saved model>/variables/variables".
  static StatusOr<TensorBundle> Open(const std::string& prefix,
                                     const BundleOptions& options = BundleOptions());

  // Every key (the header's excepted), sorted.
  std::vector<std::string> Keys() const;
  // The entry of `key`, or null.
  const tensorflow::BundleEntryProto* Find(const std::string& key) const;
  int num_shards() const { return index_.header.num_shards(); }

  // The tensor under `key`, in a new owned buffer. NotFound for an unknown
  // key; InvalidArgument for a dtype servekit does not compute on or a shape
  // that does not match the entry's size; DataLoss for a bad checksum or a
  // data file that changed since Open; Unimplemented for a partitioned variable.
  StatusOr<Tensor> Read(const std::string& key) const;
  // The elements of the DT_STRING tensor under `key`, row-major.
  StatusOr<std::vector<std::string>> ReadStrings(const std::string& key) const;
  // The object graph under kObjectGraphKey, parsed on `arena` (not null; it
  // owns the graph: one block instead of a heap allocation per object and
  // reference); NotFound when the bundle has none (a TF1 Saver checkpoint,
  // whose keys are the variables' graph names).
  StatusOr<const tensorflow::TrackableObjectGraph*> ReadObjectGraph(
      google::protobuf::Arena* arena) const;

 private:
  // The data files Open keeps open (at most this many; Read opens any other
  // one itself, each time).
  static constexpr size_t kHeldDataFiles = 64;

  TensorBundle(std::string prefix, BundleOptions options, BundleIndex index,
               std::map<int, UniqueFd> data_files)
      : prefix_(std::move(prefix)),
        options_(options),
        index_(std::move(index)),
        data_files_(std::move(data_files)) {}
  // The bytes of `entry`'s extent, read from its data file.
  Status ReadExtent(const std::string& key, const tensorflow::BundleEntryProto& entry,
                    void* out) const;

  std::string prefix_;
  BundleOptions options_;
  BundleIndex index_;
  std::map<int, UniqueFd> data_files_;  // shard -> its open data file
};

// The data file of `shard` among `num_shards`: "<prefix>.data-00001-of-00004".
std::string BundleDataFilename(const std::string& prefix, int shard, int num_shards);

// --- The steps of Open and Read on bytes in memory (for the fuzzer and the
// tests; TensorBundle uses them on the files) ----------------------------------------

// Parses and checks an index file: the table, the header (little-endian, a
// format version this reader knows, 1..max_shards shards) and each entry (a
// shard that exists, a non-negative extent that does not overflow). Entry
// dtypes and shapes are checked by DecodeBundleTensor, when a tensor is read.
StatusOr<BundleIndex> ParseBundleIndex(absl::string_view index_file, const BundleOptions& options);

// The dtype and shape of the tensor `entry` describes, checked: a supported
// dtype, a known shape of rank <= max_rank with dims >= 0, and exactly
// entry.size() bytes for those dims.
struct TensorLayout {
  DType dtype = DType::kUndefined;
  Shape shape;
};
StatusOr<TensorLayout> CheckTensorEntry(const std::string& key,
                                        const tensorflow::BundleEntryProto& entry,
                                        const BundleOptions& options);

// The tensor `entry` describes, from its `bytes` (the entry's extent): the
// checks above, the checksum, and bool elements that are 0 or 1.
StatusOr<Tensor> DecodeBundleTensor(const std::string& key,
                                    const tensorflow::BundleEntryProto& entry,
                                    absl::string_view bytes, const BundleOptions& options);

// The elements of a DT_STRING tensor from its extent: varint64 lengths, a
// masked CRC-32C of the lengths, then the bytes; the entry's checksum covers
// the lengths (as fixed-width integers), that CRC and the bytes.
StatusOr<std::vector<std::string>> DecodeBundleStrings(const std::string& key,
                                                       const tensorflow::BundleEntryProto& entry,
                                                       absl::string_view bytes,
                                                       const BundleOptions& options);

}  // namespace servekit
