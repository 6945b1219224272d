// formats/savedmodel/node_view.h: a NodeDef read in place reads and refuses
// exactly what protobuf's parse of the same bytes reads and refuses.
#include "servekit/formats/savedmodel/node_view.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "google/protobuf/stubs/logging.h"
#include "savedmodel_test_util.h"
#include "servekit/formats/savedmodel/node_attrs.h"
#include "servekit/util/protobuf_wire.h"

namespace servekit {
namespace {

// NodeView (node_view.h) reads what protobuf's NodeDef parse reads, and
// refuses what it refuses: on hand-made edge cases and on a few thousand
// random mutations of a real node.
TEST(NodeViewTest, ReadsAndRefusesWhatProtobufParsesAndRefuses) {
  tensorflow::NodeDef base;
  base.set_name("model/conv2d/Conv2D");
  base.set_op("Conv2D");
  base.add_input("x:0");
  base.add_input("model/conv2d/ReadVariableOp:value:0");
  base.add_input("^control");
  base.set_device("/cpu:0");
  tensorflow::AttrValue strides;
  for (int v : {1, 2, 2, 1}) strides.mutable_list()->add_i(v);
  SetNodeAttr(&base, "strides", strides);
  tensorflow::AttrValue padding;
  padding.set_s("SAME");
  SetNodeAttr(&base, "padding", padding);
  const std::string good = base.SerializeAsString();

  std::vector<std::string> cases = {good, "", std::string("\x0a\x01", 2)};
  // Repeated singular fields (the last wins), a field of a known number with
  // another wire type (skipped as unknown), unknown fields of every wire
  // type, a group, the debug fields (6, 7) as bytes and as a varint.
  std::string repeated = good;
  AppendLengthDelimitedField(1, "renamed", &repeated);
  AppendLengthDelimitedField(2, "Relu", &repeated);
  AppendLengthDelimitedField(4, "", &repeated);
  cases.push_back(repeated);
  cases.push_back(good + std::string("\x08\x05", 2));              // name as a varint
  cases.push_back(good + std::string("\x1d\x01\x02\x03\x04", 6));  // input as fixed32
  cases.push_back(good + std::string("\x78\x01", 2));              // field 15, varint
  cases.push_back(good + std::string("\x7b\x08\x01\x7c", 4));      // field 15, a group
  cases.push_back(good + std::string("\x32\x02\x0a\x00", 4));      // field 6, bytes
  cases.push_back(good + std::string("\x38\x01", 2));              // field 7 as a varint
  // Unknown groups nested up to protobuf's limit and one past it.
  for (int depth : {99, 100, 101}) {
    cases.push_back(good + std::string(depth, '\x7b') + std::string(depth, '\x7c'));  // field 15
  }
  // Not UTF-8 in each string field, and in an attribute entry (bytes: fine).
  for (uint32_t field : {1u, 2u, 3u, 4u, 5u}) {
    std::string bad = good;
    AppendLengthDelimitedField(field, "\xc3\x28", &bad);
    cases.push_back(bad);
  }
  // Truncated at every length.
  for (size_t n = 0; n < good.size(); ++n) cases.push_back(good.substr(0, n));
  // Random mutations: flipped bytes, inserted and removed ones.
  std::mt19937 random(12345);
  for (int i = 0; i < 4000; ++i) {
    std::string mutated = good;
    const int edits = 1 + static_cast<int>(random() % 3);
    for (int e = 0; e < edits && !mutated.empty(); ++e) {
      const size_t at = random() % mutated.size();
      switch (random() % 3) {
        case 0:
          mutated[at] = static_cast<char>(random());
          break;
        case 1:
          mutated.insert(at, 1, static_cast<char>(random()));
          break;
        default:
          mutated.erase(at, 1);
      }
    }
    cases.push_back(mutated);
  }
  int accepted = 0, refused = 0;
  google::protobuf::LogSilencer quiet;  // protobuf logs each string that is not UTF-8
  for (const std::string& bytes : cases) {
    tensorflow::NodeDef parsed;
    const bool protobuf_ok = parsed.ParseFromString(bytes);
    NodeView view;
    ASSERT_EQ(view.Read(bytes), protobuf_ok) << absl::CHexEscape(bytes);
    if (protobuf_ok) {
      EXPECT_TRUE(test::SameNode(view, parsed)) << absl::CHexEscape(bytes);
      ++accepted;
    } else {
      EXPECT_TRUE(view.name().empty() && view.inputs().empty() && view.attrs().empty());
      ++refused;
    }
  }
  EXPECT_GT(accepted, 100);  // both outcomes are exercised
  EXPECT_GT(refused, 100);
  NodeView view;
  ASSERT_TRUE(view.Read(repeated));
  EXPECT_EQ(view.name(), "renamed");
  EXPECT_EQ(view.op(), "Relu");
  EXPECT_EQ(view.device(), "");
  ASSERT_EQ(view.inputs().size(), 3u);
  EXPECT_EQ(view.inputs()[2], "^control");
  EXPECT_EQ(view.attrs().size(), 2u);
}

TEST(NodeViewTest, KeepsEveryInputAndAttributePastItsInlineRoom) {
  tensorflow::NodeDef node;
  node.set_name("concat");
  node.set_op("ConcatV2");
  for (int i = 0; i < 40; ++i) node.add_input("x" + std::to_string(i));
  for (int i = 0; i < 20; ++i) {
    tensorflow::AttrValue value;
    value.set_i(i);
    SetNodeAttr(&node, "a" + std::to_string(i), value);
  }
  const std::string bytes = node.SerializeAsString();
  NodeView view;
  ASSERT_TRUE(view.Read(bytes));
  EXPECT_TRUE(test::SameNode(view, node));
  // Read again, over a smaller node: nothing of the first is left.
  tensorflow::NodeDef small;
  small.set_name("y");
  small.add_input("x");
  const std::string small_bytes = small.SerializeAsString();
  ASSERT_TRUE(view.Read(small_bytes));
  EXPECT_TRUE(test::SameNode(view, small));
}

}  // namespace
}  // namespace servekit
