// The LevelDB-format table reader (formats/savedmodel/table_reader.h): a real
// tensor-bundle index written by TensorFlow, tables built by the test writer,
// and corrupt tables, each of which must give a DataLoss (or Unimplemented)
// status naming the problem.
#include "servekit/formats/savedmodel/table_reader.h"

#include <gtest/gtest.h>

#include "savedmodel_test_util.h"
#include "test_util.h"

namespace servekit {
namespace {

using test::IsError;
using test::ReadBytes;
using test::SavedModelFixture;
using test::WriteTable;

std::string TinyIndex() {
  return ReadBytes(SavedModelFixture("tiny_module") / "variables" / "variables.index");
}

TEST(TableReaderTest, ReadsTensorFlowsIndexInKeyOrder) {
  auto entries = ReadTable(TinyIndex());
  ASSERT_TRUE(entries.ok()) << entries.status();
  // The header under "", the object graph, and the six variables.
  ASSERT_EQ(entries->size(), 8u);
  EXPECT_EQ((*entries)[0].key, "");
  EXPECT_EQ((*entries)[1].key, "_CHECKPOINTABLE_OBJECT_GRAPH");
  EXPECT_EQ((*entries)[2].key, "b/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ((*entries)[7].key, "w/.ATTRIBUTES/VARIABLE_VALUE");
  for (size_t i = 1; i < entries->size(); ++i) EXPECT_LT((*entries)[i - 1].key, (*entries)[i].key);
}

TEST(TableReaderTest, ReadsWhatTheTestWriterWrites) {
  auto entries = ReadTable(WriteTable({{"a", "1"}, {"b", ""}, {"c", std::string(300, 'x')}}));
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[2].value, std::string(300, 'x'));
  auto empty = ReadTable(WriteTable({}));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
}

TEST(TableReaderTest, EveryTruncationIsAnError) {
  const std::string file = TinyIndex();
  for (size_t size = 0; size < file.size(); ++size) {
    auto entries = ReadTable(absl::string_view(file).substr(0, size));
    ASSERT_FALSE(entries.ok()) << "cut to " << size << " bytes";
    EXPECT_EQ(entries.status().code(), absl::StatusCode::kDataLoss) << entries.status();
  }
}

TEST(TableReaderTest, EveryFlippedByteIsAnError) {
  // Blocks are checksummed and the footer's handles and magic are checked, so
  // no single changed byte gets through, except in the footer's padding.
  const std::string file = TinyIndex();
  for (size_t i = 0; i < file.size(); ++i) {
    std::string bad = file;
    bad[i] ^= 0x20;
    auto entries = ReadTable(bad);
    if (entries.ok()) {
      EXPECT_GE(i, file.size() - 48) << "byte " << i << " changed unnoticed";
      EXPECT_LT(i, file.size() - 8) << "byte " << i << " of the magic changed unnoticed";
    }
  }
  std::string bad = file;
  bad[12] ^= 1;  // a letter of the first key
  EXPECT_TRUE(IsError(ReadTable(bad).status(), absl::StatusCode::kDataLoss,
                      {"data block", "fails its checksum"}));
  // The fuzzer's switch: without the checksum the changed key byte is read.
  TableOptions unchecked;
  unchecked.verify_checksums = false;
  EXPECT_TRUE(ReadTable(bad, unchecked).ok());
}

TEST(TableReaderTest, NamesTheProblem) {
  EXPECT_TRUE(IsError(ReadTable("short").status(), absl::StatusCode::kDataLoss,
                      {"fewer than the 48-byte footer"}));
  EXPECT_TRUE(IsError(ReadTable(std::string(100, 'z')).status(), absl::StatusCode::kDataLoss,
                      {"magic number"}));
  EXPECT_TRUE(IsError(ReadTable(WriteTable({{"a", "1"}}, /*data_compression=*/1)).status(),
                      absl::StatusCode::kUnimplemented, {"compressed"}));
}

TEST(TableReaderTest, RefusesKeysOutOfOrder) {
  EXPECT_TRUE(IsError(ReadTable(WriteTable({{"b", "1"}, {"a", "2"}})).status(),
                      absl::StatusCode::kDataLoss, {"does not sort after"}));
  EXPECT_TRUE(IsError(ReadTable(WriteTable({{"a", "1"}, {"a", "2"}})).status(),
                      absl::StatusCode::kDataLoss, {"does not sort after"}));
}

TEST(TableReaderTest, BoundsWhatEntriesExpandTo) {
  TableOptions options;
  options.max_key_bytes = 4;
  EXPECT_TRUE(IsError(ReadTable(WriteTable({{"abcde", "1"}}), options).status(),
                      absl::StatusCode::kDataLoss, {"over the limit of 4"}));
  options = TableOptions();
  options.max_total_bytes = 1000;
  EXPECT_TRUE(IsError(ReadTable(WriteTable({{"a", std::string(2000, 'v')}}), options).status(),
                      absl::StatusCode::kDataLoss, {"expand to more than 1000 bytes"}));
}

}  // namespace
}  // namespace servekit
