// The tensor-bundle reader (formats/savedmodel/tensor_bundle.h) on bundles
// TensorFlow wrote (tests/data/savedmodel/: one shard, five shards, a Keras 3
// export), compared with the values TensorFlow's own checkpoint reader gave
// (expected_variables.txt beside each), and on hostile bundles derived from
// them: each must fail with a status that names the key or file, never crash.
#include "servekit/formats/savedmodel/tensor_bundle.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "savedmodel_test_util.h"
#include "servekit/util/crc32c.h"
#include "test_util.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;
using tensorflow::BundleEntryProto;
using tensorflow::BundleHeaderProto;
using test::IsError;
using test::ReadBytes;
using test::SavedModelFixture;
using test::TempDir;
using test::WriteBytes;
using test::WriteTable;

struct Expected {
  std::string dtype;
  Shape shape;
  std::vector<double> values;
};

// expected_variables.txt: key, numpy dtype, dims, values; tab-separated.
std::map<std::string, Expected> ReadExpected(const std::string& model) {
  std::map<std::string, Expected> expected;
  const std::string text = ReadBytes(SavedModelFixture(model) / "expected_variables.txt");
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, '\t');
    EXPECT_EQ(fields.size(), 4u) << line;
    if (fields.size() != 4) continue;
    Expected e;
    e.dtype = fields[1];
    for (absl::string_view d : absl::StrSplit(fields[2], ',', absl::SkipEmpty())) {
      int64_t dim = 0;
      EXPECT_TRUE(absl::SimpleAtoi(d, &dim));
      e.shape.push_back(dim);
    }
    for (absl::string_view v : absl::StrSplit(fields[3], ' ', absl::SkipEmpty())) {
      e.values.push_back(std::strtod(std::string(v).c_str(), nullptr));
    }
    expected[fields[0]] = e;
  }
  return expected;
}

template <typename T>
std::vector<double> AsDoubles(const Tensor& t) {
  std::vector<double> out;
  for (int64_t i = 0; i < t.num_elements(); ++i) out.push_back(static_cast<double>(t.data<T>()[i]));
  return out;
}

std::vector<double> Values(const Tensor& t) {
  switch (t.dtype()) {
    case DType::kFloat32:
      return AsDoubles<float>(t);
    case DType::kFloat64:
      return AsDoubles<double>(t);
    case DType::kInt32:
      return AsDoubles<int32_t>(t);
    case DType::kInt64:
      return AsDoubles<int64_t>(t);
    case DType::kInt8:
      return AsDoubles<int8_t>(t);
    case DType::kUInt8:
      return AsDoubles<uint8_t>(t);
    case DType::kBool:
      return AsDoubles<bool>(t);
    default:
      return {};
  }
}

std::string Prefix(const fs::path& model_dir) {
  return (model_dir / "variables" / "variables").string();
}

// Every numeric tensor matches TensorFlow's reading bit for bit, and every
// key TensorFlow listed is there.
void ExpectBundleMatchesTensorFlow(const std::string& model, int num_shards) {
  SCOPED_TRACE(model);
  auto bundle = TensorBundle::Open(Prefix(SavedModelFixture(model)));
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_EQ(bundle->num_shards(), num_shards);
  const std::map<std::string, Expected> expected = ReadExpected(model);
  ASSERT_FALSE(expected.empty());
  for (const auto& [key, want] : expected) {
    SCOPED_TRACE(key);
    auto tensor = bundle->Read(key);
    ASSERT_TRUE(tensor.ok()) << tensor.status();
    EXPECT_EQ(DTypeName(tensor->dtype()), want.dtype);  // numpy's names
    EXPECT_EQ(tensor->shape(), want.shape);
    EXPECT_EQ(Values(*tensor), want.values);
  }
  // The bundle has exactly those keys plus the object graph.
  std::vector<std::string> keys = bundle->Keys();
  EXPECT_EQ(keys.size(), expected.size() + 1);
  EXPECT_NE(bundle->Find(kObjectGraphKey), nullptr);
}

TEST(TensorBundleTest, ReadsEveryVariableOfATfModule) {
  ExpectBundleMatchesTensorFlow("tiny_module", 1);
}

TEST(TensorBundleTest, ReadsABundleOfFourShards) {
  ExpectBundleMatchesTensorFlow("sharded_module", 4);
  // Several variables share a data file.
  auto bundle = TensorBundle::Open(Prefix(SavedModelFixture("sharded_module")));
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  std::map<int, int> per_shard;
  for (const std::string& key : bundle->Keys()) ++per_shard[bundle->Find(key)->shard_id()];
  EXPECT_EQ(per_shard.size(), 4u);
  int most = 0;
  for (const auto& [shard, count] : per_shard) most = std::max(most, count);
  EXPECT_GE(most, 2);
}

TEST(TensorBundleTest, ReadsAKeras3Export) { ExpectBundleMatchesTensorFlow("keras_dense", 1); }

TEST(TensorBundleTest, ObjectGraphNamesTheCheckpointKeys) {
  auto bundle = TensorBundle::Open(Prefix(SavedModelFixture("tiny_module")));
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  google::protobuf::Arena arena;
  auto read = bundle->ReadObjectGraph(&arena);
  ASSERT_TRUE(read.ok()) << read.status();
  const tensorflow::TrackableObjectGraph* graph = *read;
  ASSERT_GT(graph->nodes_size(), 1);
  // The root's children include the module's attributes, each of which saves
  // one VARIABLE_VALUE under a key that the bundle holds.
  std::map<std::string, std::string> key_of_child;
  for (const auto& child : graph->nodes(0).children()) {
    ASSERT_LT(child.node_id(), graph->nodes_size());
    for (const auto& attribute : graph->nodes(child.node_id()).attributes()) {
      if (attribute.name() == "VARIABLE_VALUE")
        key_of_child[child.local_name()] = attribute.checkpoint_key();
    }
  }
  EXPECT_EQ(key_of_child["w"], "w/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(key_of_child["b"], "b/.ATTRIBUTES/VARIABLE_VALUE");
  for (const auto& [name, key] : key_of_child) EXPECT_NE(bundle->Find(key), nullptr) << key;
}

TEST(TensorBundleTest, PartitionedVariablesAreRefusedByName) {
  // Saved with a shard size below the variables' sizes, TensorFlow cut them
  // into slices; the unsliced ones still read.
  auto bundle = TensorBundle::Open(Prefix(SavedModelFixture("sliced_module")));
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  int sliced = 0;
  for (const auto& [key, want] : ReadExpected("sliced_module")) {
    auto tensor = bundle->Read(key);
    if (bundle->Find(key)->slices_size() > 0) {
      EXPECT_TRUE(IsError(tensor.status(), absl::StatusCode::kUnimplemented,
                          {"'" + key + "'", "partitioned variable"}));
      ++sliced;
    } else {
      ASSERT_TRUE(tensor.ok()) << tensor.status();
      EXPECT_EQ(Values(*tensor), want.values);
    }
  }
  EXPECT_GT(sliced, 0);
}

TEST(TensorBundleTest, UnknownKeyAndStringTensorsAreClearErrors) {
  auto bundle = TensorBundle::Open(Prefix(SavedModelFixture("tiny_module")));
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_TRUE(IsError(bundle->Read("nope").status(), absl::StatusCode::kNotFound, {"'nope'"}));
  EXPECT_TRUE(IsError(bundle->Read(kObjectGraphKey).status(), absl::StatusCode::kInvalidArgument,
                      {kObjectGraphKey, "DT_STRING", "DT_FLOAT"}));
  EXPECT_TRUE(IsError(bundle->ReadStrings("w/.ATTRIBUTES/VARIABLE_VALUE").status(),
                      absl::StatusCode::kInvalidArgument, {"not DT_STRING"}));
}

// --- hostile bundles made from the good files -----------------------------------------

// A copy of a fixture's variables/ in a temporary directory.
class HostileBundleTest : public ::testing::Test {
 protected:
  static constexpr int kShards = 4;

  void SetUp() override {
    fs::copy(SavedModelFixture("sharded_module") / "variables", dir_.path() / "variables",
             fs::copy_options::recursive);
    original_index_ = ReadBytes(index_path());
  }
  std::string prefix() const { return (dir_.path() / "variables" / "variables").string(); }
  fs::path index_path() const { return dir_.path() / "variables" / "variables.index"; }
  fs::path shard_path(int shard) const { return BundleDataFilename(prefix(), shard, kShards); }

  // The original index's entries, re-written after `edit` changes them.
  void RewriteIndex(const std::function<void(BundleHeaderProto*,
                                             std::map<std::string, BundleEntryProto>*)>& edit) {
    auto index = ParseBundleIndex(original_index_, BundleOptions());
    ASSERT_TRUE(index.ok()) << index.status();
    edit(&index->header, &index->entries);
    std::vector<std::pair<std::string, std::string>> table = {
        {"", index->header.SerializeAsString()}};
    for (const auto& [key, entry] : index->entries)
      table.push_back({key, entry.SerializeAsString()});
    WriteBytes(index_path(), WriteTable(table));
  }

  TempDir dir_;
  std::string original_index_;
};

TEST_F(HostileBundleTest, TheCopyReads) {
  auto bundle = TensorBundle::Open(prefix());
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_TRUE(bundle->Read("w/.ATTRIBUTES/VARIABLE_VALUE").ok());
}

TEST_F(HostileBundleTest, TruncatedIndex) {
  const std::string index = ReadBytes(index_path());
  for (size_t size : {size_t{0}, size_t{10}, index.size() / 2, index.size() - 1}) {
    WriteBytes(index_path(), index.substr(0, size));
    auto bundle = TensorBundle::Open(prefix());
    EXPECT_TRUE(IsError(bundle.status(), absl::StatusCode::kDataLoss, {"variables.index"}))
        << size << ": " << bundle.status();
  }
}

TEST_F(HostileBundleTest, FlippedByteInIndex) {
  std::string index = ReadBytes(index_path());
  index[40] ^= 0x01;
  WriteBytes(index_path(), index);
  EXPECT_TRUE(IsError(TensorBundle::Open(prefix()).status(), absl::StatusCode::kDataLoss,
                      {"variables.index", "checksum"}));
}

TEST_F(HostileBundleTest, MissingIndex) {
  fs::remove(index_path());
  EXPECT_TRUE(IsError(TensorBundle::Open(prefix()).status(), absl::StatusCode::kNotFound,
                      {"variables.index"}));
}

TEST_F(HostileBundleTest, MissingDataShard) {
  fs::remove(shard_path(2));
  EXPECT_TRUE(IsError(TensorBundle::Open(prefix()).status(), absl::StatusCode::kNotFound,
                      {"variables.data-00002-of-00004", "missing"}));
}

TEST_F(HostileBundleTest, ShortDataShard) {
  const std::string shard = ReadBytes(shard_path(3));
  WriteBytes(shard_path(3), shard.substr(0, shard.size() - 1));
  EXPECT_TRUE(IsError(TensorBundle::Open(prefix()).status(), absl::StatusCode::kDataLoss,
                      {"variables.data-00003-of-00004", "which has"}));
}

TEST_F(HostileBundleTest, FlippedByteInData) {
  // Each data file is checksummed tensor by tensor: corrupt the first byte of
  // every shard and every tensor of the shard is refused.
  auto good = TensorBundle::Open(prefix());
  ASSERT_TRUE(good.ok()) << good.status();
  for (int shard = 0; shard < kShards; ++shard) {
    std::string bytes = ReadBytes(shard_path(shard));
    bytes[0] ^= 0x40;
    WriteBytes(shard_path(shard), bytes);
  }
  auto bundle = TensorBundle::Open(prefix());
  ASSERT_TRUE(bundle.ok()) << bundle.status();  // sizes are unchanged
  google::protobuf::Arena arena;
  int refused = 0;
  for (const std::string& key : bundle->Keys()) {
    if (bundle->Find(key)->offset() != 0) continue;
    if (key == kObjectGraphKey) {
      // The flipped byte is in the first string length: the length or its
      // checksum no longer fits.
      EXPECT_TRUE(
          IsError(bundle->ReadObjectGraph(&arena).status(), absl::StatusCode::kDataLoss, {key}));
    } else {
      EXPECT_TRUE(IsError(bundle->Read(key).status(), absl::StatusCode::kDataLoss,
                          {key, "do not match their checksum"}));
    }
    ++refused;
  }
  EXPECT_EQ(refused, kShards);
}

TEST_F(HostileBundleTest, DataFileThatIsNotARegularFile) {
  // A FIFO must be refused, not waited on (nothing writes to it); a
  // directory refused too.
  fs::remove(shard_path(2));
  ASSERT_EQ(::mkfifo(shard_path(2).c_str(), 0600), 0);
  EXPECT_TRUE(IsError(TensorBundle::Open(prefix()).status(), absl::StatusCode::kDataLoss,
                      {"variables.data-00002-of-00004", "not a regular file"}));
  fs::remove(shard_path(2));
  fs::create_directory(shard_path(2));
  EXPECT_TRUE(IsError(TensorBundle::Open(prefix()).status(), absl::StatusCode::kDataLoss,
                      {"variables.data-00002-of-00004", "not a regular file"}));
}

// Open keeps the first 64 data files open and Read opens the others itself:
// both read the same, a held file is read as opened even when replaced, one
// that is not held and turns into a FIFO is refused, and no descriptor
// outlives the bundle.
TEST_F(HostileBundleTest, ReadsShardsBeyondTheOnesItKeepsOpen) {
  constexpr int kMany = 70;
  auto original = ParseBundleIndex(original_index_, BundleOptions());
  ASSERT_TRUE(original.ok()) << original.status();
  const BundleEntryProto b = original->entries.at("b/.ATTRIBUTES/VARIABLE_VALUE");
  const std::string data = ReadBytes(shard_path(b.shard_id()));
  RewriteIndex([&](BundleHeaderProto* header, std::map<std::string, BundleEntryProto>* entries) {
    header->set_num_shards(kMany);
    entries->clear();
    for (int i = 0; i < kMany; ++i) {
      BundleEntryProto entry = b;
      entry.set_shard_id(i);
      (*entries)[absl::StrFormat("b%02d", i)] = entry;  // key order is shard order
    }
  });
  for (int i = 0; i < kMany; ++i) WriteBytes(BundleDataFilename(prefix(), i, kMany), data);
  auto open_descriptors = [] {
    return std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator());
  };
  const auto before = open_descriptors();
  {
    auto bundle = TensorBundle::Open(prefix());
    ASSERT_TRUE(bundle.ok()) << bundle.status();
    EXPECT_EQ(open_descriptors() - before, 64);
    auto first = bundle->Read("b00");
    ASSERT_TRUE(first.ok()) << first.status();
    for (int i : {1, 63, 64, 69}) {  // held: 0-63; opened by Read: 64-69
      auto read = bundle->Read(absl::StrFormat("b%02d", i));
      ASSERT_TRUE(read.ok()) << i << ": " << read.status();
      EXPECT_EQ(Values(*read), Values(*first)) << i;
    }
    EXPECT_EQ(open_descriptors() - before, 64);  // Read closed what it opened
    fs::remove(BundleDataFilename(prefix(), 5, kMany));
    EXPECT_TRUE(bundle->Read("b05").ok());  // held: read as opened
    const fs::path last = BundleDataFilename(prefix(), 69, kMany);
    fs::remove(last);
    ASSERT_EQ(::mkfifo(last.c_str(), 0600), 0);
    EXPECT_TRUE(IsError(bundle->Read("b69").status(), absl::StatusCode::kDataLoss,
                        {"'b69'", "not a regular file"}));
    TensorBundle moved = *std::move(bundle);
    EXPECT_TRUE(moved.Read("b01").ok());
  }
  EXPECT_EQ(open_descriptors(), before);
}

TEST_F(HostileBundleTest, EntryBeyondItsShard) {
  RewriteIndex([](BundleHeaderProto*, std::map<std::string, BundleEntryProto>* entries) {
    (*entries)["b/.ATTRIBUTES/VARIABLE_VALUE"].set_offset(1 << 20);
  });
  EXPECT_TRUE(IsError(TensorBundle::Open(prefix()).status(), absl::StatusCode::kDataLoss,
                      {"'b/.ATTRIBUTES/VARIABLE_VALUE'", "lies at bytes [1048576"}));
}

TEST_F(HostileBundleTest, OverflowingExtentAndBadShardIds) {
  RewriteIndex([](BundleHeaderProto*, std::map<std::string, BundleEntryProto>* entries) {
    auto& entry = (*entries)["b/.ATTRIBUTES/VARIABLE_VALUE"];
    entry.set_offset(std::numeric_limits<int64_t>::max() - 2);
    entry.set_size(16);
  });
  EXPECT_TRUE(IsError(TensorBundle::Open(prefix()).status(), absl::StatusCode::kDataLoss,
                      {"invalid extent"}));
  for (int shard : {-1, kShards}) {
    RewriteIndex([shard](BundleHeaderProto*, std::map<std::string, BundleEntryProto>* entries) {
      auto& entry = (*entries)["b/.ATTRIBUTES/VARIABLE_VALUE"];
      entry.set_offset(0);
      entry.set_size(12);
      entry.set_shard_id(shard);
    });
    EXPECT_TRUE(IsError(TensorBundle::Open(prefix()).status(), absl::StatusCode::kDataLoss,
                        {"data file", "of a bundle with 4"}));
  }
}

TEST_F(HostileBundleTest, BadHeaders) {
  RewriteIndex([](BundleHeaderProto* header, auto*) { header->set_num_shards(0); });
  EXPECT_TRUE(IsError(TensorBundle::Open(prefix()).status(), absl::StatusCode::kDataLoss,
                      {"declares 0 data files"}));
  RewriteIndex(
      [](BundleHeaderProto* header, auto*) { header->set_endianness(BundleHeaderProto::BIG); });
  EXPECT_TRUE(IsError(TensorBundle::Open(prefix()).status(), absl::StatusCode::kUnimplemented,
                      {"big-endian"}));
  RewriteIndex(
      [](BundleHeaderProto* header, auto*) { header->mutable_version()->set_min_consumer(7); });
  EXPECT_TRUE(IsError(TensorBundle::Open(prefix()).status(), absl::StatusCode::kUnimplemented,
                      {"min_consumer 7"}));
  // No header at all: a table that does not start with the empty key.
  WriteBytes(index_path(), WriteTable({{"a", "b"}}));
  EXPECT_TRUE(IsError(TensorBundle::Open(prefix()).status(), absl::StatusCode::kDataLoss,
                      {"no header entry"}));
}

TEST_F(HostileBundleTest, UnsupportedDtypeAndAbsurdShapesNameTheKey) {
  RewriteIndex([](BundleHeaderProto*, std::map<std::string, BundleEntryProto>* entries) {
    (*entries)["b/.ATTRIBUTES/VARIABLE_VALUE"].set_dtype(tensorflow::DT_HALF);
    auto* huge = (*entries)["w/.ATTRIBUTES/VARIABLE_VALUE"].mutable_shape();
    huge->clear_dim();
    for (int i = 0; i < 4; ++i) huge->add_dim()->set_size(int64_t{1} << 40);
    (*entries)["counts/.ATTRIBUTES/VARIABLE_VALUE"].mutable_shape()->add_dim()->set_size(-1);
    auto* deep = (*entries)["scale/.ATTRIBUTES/VARIABLE_VALUE"].mutable_shape();
    for (int i = 0; i < 100; ++i) deep->add_dim()->set_size(1);
    (*entries)["step/.ATTRIBUTES/VARIABLE_VALUE"].add_slices();
  });
  auto bundle = TensorBundle::Open(prefix());
  ASSERT_TRUE(bundle.ok()) << bundle.status();  // only reading the tensors fails
  EXPECT_TRUE(IsError(bundle->Read("b/.ATTRIBUTES/VARIABLE_VALUE").status(),
                      absl::StatusCode::kInvalidArgument,
                      {"'b/.ATTRIBUTES/VARIABLE_VALUE'", "DT_HALF"}));
  EXPECT_TRUE(IsError(bundle->Read("w/.ATTRIBUTES/VARIABLE_VALUE").status(),
                      absl::StatusCode::kDataLoss,
                      {"'w/.ATTRIBUTES/VARIABLE_VALUE'", "does not match its 24 bytes"}));
  EXPECT_TRUE(IsError(bundle->Read("counts/.ATTRIBUTES/VARIABLE_VALUE").status(),
                      absl::StatusCode::kDataLoss, {"'counts/.ATTRIBUTES/VARIABLE_VALUE'"}));
  EXPECT_TRUE(IsError(bundle->Read("scale/.ATTRIBUTES/VARIABLE_VALUE").status(),
                      absl::StatusCode::kDataLoss, {"rank 101"}));
  EXPECT_TRUE(IsError(bundle->Read("step/.ATTRIBUTES/VARIABLE_VALUE").status(),
                      absl::StatusCode::kUnimplemented, {"partitioned"}));
  // The others still read.
  EXPECT_TRUE(bundle->Read("mask/.ATTRIBUTES/VARIABLE_VALUE").ok());
}

TEST_F(HostileBundleTest, BoolBytesOtherThanZeroOrOne) {
  auto good = TensorBundle::Open(prefix());
  ASSERT_TRUE(good.ok()) << good.status();
  const BundleEntryProto mask = *good->Find("mask/.ATTRIBUTES/VARIABLE_VALUE");
  std::string bytes = ReadBytes(shard_path(mask.shard_id()));
  bytes[mask.offset()] = 2;
  WriteBytes(shard_path(mask.shard_id()), bytes);
  const uint32_t crc = crc32c::Value(bytes.data() + mask.offset(), mask.size());
  RewriteIndex([crc](BundleHeaderProto*, std::map<std::string, BundleEntryProto>* entries) {
    (*entries)["mask/.ATTRIBUTES/VARIABLE_VALUE"].set_crc32c(crc32c::Mask(crc));
  });
  auto bundle = TensorBundle::Open(prefix());
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_TRUE(IsError(bundle->Read("mask/.ATTRIBUTES/VARIABLE_VALUE").status(),
                      absl::StatusCode::kDataLoss, {"bool element 0"}));
}

TEST(DecodeBundleStringsTest, ReadsAndChecksStringTensors) {
  // Two strings, laid out as TensorFlow's writer does.
  const std::vector<std::string> strings = {"hello", std::string(200, 'x')};
  std::string bytes;
  uint32_t crc = 0;
  for (const std::string& s : strings) {
    test::PutVarint(&bytes, s.size());
    const uint32_t length = static_cast<uint32_t>(s.size());
    crc = crc32c::Extend(crc, &length, 4);
  }
  test::PutFixed32(&bytes, crc32c::Mask(crc));
  crc = crc32c::Extend(crc, bytes.data() + bytes.size() - 4, 4);
  for (const std::string& s : strings) {
    bytes += s;
    crc = crc32c::Extend(crc, s.data(), s.size());
  }
  BundleEntryProto entry;
  entry.set_dtype(tensorflow::DT_STRING);
  entry.mutable_shape()->add_dim()->set_size(2);
  entry.set_size(bytes.size());
  entry.set_crc32c(crc32c::Mask(crc));
  auto decoded = DecodeBundleStrings("k", entry, bytes, BundleOptions());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, strings);

  std::string bad = bytes;
  bad.back() ^= 1;
  EXPECT_TRUE(IsError(DecodeBundleStrings("k", entry, bad, BundleOptions()).status(),
                      absl::StatusCode::kDataLoss, {"checksum"}));
  bad = bytes;
  bad[0] = 100;  // first length no longer matches the bytes that follow
  EXPECT_FALSE(DecodeBundleStrings("k", entry, bad, BundleOptions()).ok());
  entry.mutable_shape()->mutable_dim(0)->set_size(int64_t{1} << 50);
  EXPECT_TRUE(IsError(DecodeBundleStrings("k", entry, bytes, BundleOptions()).status(),
                      absl::StatusCode::kDataLoss, {"does not fit"}));
}

}  // namespace
}  // namespace servekit
