// Helpers for the SavedModel reader tests (header-only): the checked-in
// fixtures (tests/data/savedmodel/, written by
// tests/fixtures/make_savedmodel_fixtures.py with TensorFlow), file bytes, and
// a minimal LevelDB-format table writer to build hostile bundle indexes whose
// block checksums are right, so that the checks behind them are reached.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "node_view_matches.h"
#include "servekit/formats/savedmodel/node_attrs.h"
#include "servekit/formats/savedmodel/node_view.h"
#include "servekit/proto/tf/attr_value.pb.h"
#include "servekit/proto/tf/node_def.pb.h"
#include "servekit/util/crc32c.h"

namespace servekit {
namespace test {

inline std::filesystem::path SavedModelFixture(const std::string& name) {
  return std::filesystem::path(SERVEKIT_TEST_DATA_DIR) / "savedmodel" / name;
}

inline std::string ReadBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// A NodeDef as the SavedModel reader sees it: serialized, then read in place
// (node_view.h); it passes wherever a NodeView is taken. Not copyable: the
// view points into its bytes.
class NodeReadBack {
 public:
  explicit NodeReadBack(const tensorflow::NodeDef& node) : bytes_(node.SerializeAsString()) {
    EXPECT_TRUE(view_.Read(bytes_)) << "node '" << node.name() << "' does not read back";
  }
  NodeReadBack(const NodeReadBack&) = delete;
  NodeReadBack& operator=(const NodeReadBack&) = delete;
  operator const NodeView&() const& { return view_; }  // NOLINT: it stands in for the node
  // Not from a temporary: what is read from the view points into its bytes.
  operator const NodeView&() const&& = delete;

 private:
  std::string bytes_;
  NodeView view_;
};

// The attribute `name` of `node` edited in place, as (*node->mutable_attr())[name] was before
// node_def.proto kept attributes serialized (node_attrs.h): `edit` gets the
// current value (a default one when the node has none).
template <typename Edit>
void EditAttr(tensorflow::NodeDef* node, const std::string& name, Edit edit) {
  tensorflow::AttrValue value;
  const NodeReadBack read(*node);
  const StatusOr<bool> found = FindNodeAttr(read, name, &value);
  ASSERT_TRUE(found.ok()) << found.status();
  edit(&value);
  SetNodeAttr(node, name, value);
}

// The attribute `name` of `node` (a default value when it has none).
inline tensorflow::AttrValue GetAttr(const tensorflow::NodeDef& node, const std::string& name) {
  tensorflow::AttrValue value;
  const NodeReadBack read(node);
  const StatusOr<bool> found = FindNodeAttr(read, name, &value);
  EXPECT_TRUE(found.ok() && *found) << name;
  return value;
}

inline void WriteBytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

inline void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

inline void PutFixed32(std::string* out, uint32_t v) {
  char bytes[4];
  std::memcpy(bytes, &v, 4);
  out->append(bytes, 4);
}

// Appends a block (entries without prefix sharing, one restart point) and its
// trailer (compression type, masked CRC) to `file`; returns its handle.
inline std::pair<uint64_t, uint64_t> AppendBlock(
    std::string* file, const std::vector<std::pair<std::string, std::string>>& entries,
    uint8_t compression = 0) {
  std::string block;
  for (const auto& [key, value] : entries) {
    PutVarint(&block, 0);
    PutVarint(&block, key.size());
    PutVarint(&block, value.size());
    block += key;
    block += value;
  }
  PutFixed32(&block, 0);  // restart offset
  PutFixed32(&block, 1);  // restart count
  const uint64_t offset = file->size();
  *file += block;
  file->push_back(static_cast<char>(compression));
  uint32_t crc = crc32c::Value(block.data(), block.size());
  crc = crc32c::Extend(crc, &(*file)[file->size() - 1], 1);
  PutFixed32(file, crc32c::Mask(crc));
  return {offset, block.size()};
}

// A table of `entries` (keys sorted by the caller) in one data block.
inline std::string WriteTable(const std::vector<std::pair<std::string, std::string>>& entries,
                              uint8_t data_compression = 0) {
  std::string file;
  const auto data = AppendBlock(&file, entries, data_compression);
  const auto metaindex = AppendBlock(&file, {});
  std::string handle;
  PutVarint(&handle, data.first);
  PutVarint(&handle, data.second);
  const std::string last_key = entries.empty() ? std::string() : entries.back().first;
  const auto index = AppendBlock(&file, {{last_key, handle}});
  std::string footer;
  PutVarint(&footer, metaindex.first);
  PutVarint(&footer, metaindex.second);
  PutVarint(&footer, index.first);
  PutVarint(&footer, index.second);
  footer.resize(40, '\0');
  const uint64_t magic = 0xdb4775248b80fb57ull;
  char magic_bytes[8];
  std::memcpy(magic_bytes, &magic, 8);
  footer.append(magic_bytes, 8);
  return file + footer;
}

}  // namespace test
}  // namespace servekit
