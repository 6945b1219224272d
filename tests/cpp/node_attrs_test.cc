// formats/savedmodel/node_attrs.h: attributes kept as serialized map entries
// read as protobuf reads a map (the later of two keys wins, repeated values
// merge, unknown fields are skipped), malformed bytes named in the error,
// TensorFlow's "_" annotations left unread by NodeAttrs.
#include "servekit/formats/savedmodel/node_attrs.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "savedmodel_test_util.h"
#include "servekit/util/protobuf_wire.h"
#include "test_util.h"

namespace servekit {
namespace {

using test::IsInvalid;

tensorflow::AttrValue TypeValue(tensorflow::DataType type) {
  tensorflow::AttrValue value;
  value.set_type(type);
  return value;
}

// One map entry as TensorFlow writes it: key (field 1), then value (field 2).
std::string Entry(const std::string& key, const std::string& value_bytes) {
  std::string entry;
  AppendLengthDelimitedField(1, key, &entry);
  AppendLengthDelimitedField(2, value_bytes, &entry);
  return entry;
}

tensorflow::NodeDef Node(std::initializer_list<std::string> entries) {
  tensorflow::NodeDef node;
  node.set_name("n");
  for (const std::string& entry : entries) node.add_attr(entry);
  return node;
}

TEST(NodeAttrsTest, FindsAnAttributeAndLeavesTheValueAloneWhenAbsent) {
  const test::NodeReadBack node(
      Node({Entry("T", TypeValue(tensorflow::DT_FLOAT).SerializeAsString())}));
  tensorflow::AttrValue value = TypeValue(tensorflow::DT_INT64);
  StatusOr<bool> found = FindNodeAttr(node, "dtype", &value);
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(*found);
  EXPECT_EQ(value.type(), tensorflow::DT_INT64);
  found = FindNodeAttr(node, "T", &value);
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(*found);
  EXPECT_EQ(value.type(), tensorflow::DT_FLOAT);
}

tensorflow::AttrValue IntList(std::initializer_list<int64_t> values) {
  tensorflow::AttrValue value;
  for (int64_t v : values) value.mutable_list()->add_i(v);
  return value;
}

std::vector<int64_t> Ints(const tensorflow::AttrValue& value) {
  return std::vector<int64_t>(value.list().i().begin(), value.list().i().end());
}

TEST(NodeAttrsTest, TheLaterOfTwoEntriesWithOneKeyReplacesTheEarlier) {
  // List values: merging the two entries would give [1, 2].
  const test::NodeReadBack node(
      Node({Entry("k", IntList({1}).SerializeAsString()),
            Entry("U", TypeValue(tensorflow::DT_BOOL).SerializeAsString()),
            Entry("k", IntList({2}).SerializeAsString())}));
  tensorflow::AttrValue value;
  ASSERT_TRUE(FindNodeAttr(node, "k", &value).ok());
  EXPECT_EQ(Ints(value), std::vector<int64_t>{2});
  NodeAttrs attrs;
  ASSERT_TRUE(attrs.Read(node).ok());
  ASSERT_NE(attrs.Find("k"), nullptr);
  EXPECT_EQ(Ints(*attrs.Find("k")), std::vector<int64_t>{2});
  EXPECT_EQ(attrs.Find("U")->type(), tensorflow::DT_BOOL);
}

TEST(NodeAttrsTest, WithinAnEntryTheLastKeyWinsAndValuesMerge) {
  std::string entry;
  AppendLengthDelimitedField(1, "first", &entry);
  AppendLengthDelimitedField(2, IntList({1}).SerializeAsString(), &entry);
  AppendLengthDelimitedField(7, "ignored", &entry);
  AppendLengthDelimitedField(1, "strides", &entry);
  AppendLengthDelimitedField(2, IntList({2}).SerializeAsString(), &entry);
  const test::NodeReadBack node(Node({entry}));
  tensorflow::AttrValue value;
  StatusOr<bool> found = FindNodeAttr(node, "first", &value);
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(*found);
  ASSERT_TRUE(FindNodeAttr(node, "strides", &value).ok());
  EXPECT_EQ(Ints(value), (std::vector<int64_t>{1, 2}));
  NodeAttrs attrs;
  ASSERT_TRUE(attrs.Read(node).ok());
  EXPECT_EQ(attrs.Find("first"), nullptr);
  ASSERT_NE(attrs.Find("strides"), nullptr);
  EXPECT_EQ(Ints(*attrs.Find("strides")), (std::vector<int64_t>{1, 2}));
}

TEST(NodeAttrsTest, FieldsOfAnotherWireTypeAreSkipped) {
  // Field 1 as a varint is not the key; field 2 as a varint is not the value.
  std::string entry = "\x08\x05";  // field 1, varint 5
  AppendLengthDelimitedField(2, TypeValue(tensorflow::DT_FLOAT).SerializeAsString(), &entry);
  entry += "\x10\x07";  // field 2, varint 7
  const test::NodeReadBack node(Node({entry}));
  NodeAttrs attrs;
  ASSERT_TRUE(attrs.Read(node).ok());
  ASSERT_NE(attrs.Find(""), nullptr);  // the key is missing: ""
  EXPECT_EQ(attrs.Find("")->type(), tensorflow::DT_FLOAT);
}

// What protobuf itself writes for a map<string, AttrValue> (NameAttrList's
// attr, TensorFlow's own encoding of such maps) reads back entry by entry.
TEST(NodeAttrsTest, ReadsProtobufsOwnMapEncoding) {
  tensorflow::NameAttrList list;
  (*list.mutable_attr())["T"] = TypeValue(tensorflow::DT_FLOAT);
  (*list.mutable_attr())["strides"] = IntList({1, 2, 2, 1});
  (*list.mutable_attr())["padding"].set_s("SAME");
  (*list.mutable_attr())["_output_shapes"].mutable_list()->add_shape()->add_dim()->set_size(3);
  tensorflow::NodeDef node;
  node.set_name("n");
  ASSERT_TRUE(ForEachWireField(list.SerializeAsString(), [&node](const WireField& field) {
    if (field.number == 2) node.add_attr(std::string(field.payload));  // NameAttrList.attr
  }));
  ASSERT_EQ(node.attr_size(), 4);
  const test::NodeReadBack read(node);
  NodeAttrs attrs;
  ASSERT_TRUE(attrs.Read(read).ok());
  for (const auto& [key, expected] : list.attr()) {
    tensorflow::AttrValue value;
    StatusOr<bool> found = FindNodeAttr(read, key, &value);
    ASSERT_TRUE(found.ok() && *found) << key;
    EXPECT_EQ(value.SerializeAsString(), expected.SerializeAsString()) << key;
    if (key[0] == '_') {
      EXPECT_EQ(attrs.Find(key), nullptr);
    } else {
      ASSERT_NE(attrs.Find(key), nullptr) << key;
      EXPECT_EQ(attrs.Find(key)->SerializeAsString(), expected.SerializeAsString()) << key;
    }
  }
}

TEST(NodeAttrsTest, ManyKeysReadInLinearTime) {
  // A hostile node with 200,000 distinct keys (about 2 MB): found by scanning
  // every earlier key, that is 2 * 10^10 comparisons, far past ctest's timeout.
  tensorflow::NodeDef node;
  node.set_name("n");
  const std::string value = IntList({7}).SerializeAsString();
  for (int i = 0; i < 200000; ++i) node.add_attr(Entry("k" + std::to_string(i), value));
  node.add_attr(Entry("k5", IntList({8}).SerializeAsString()));
  const test::NodeReadBack read(node);
  NodeAttrs attrs;
  ASSERT_TRUE(attrs.Read(read).ok());
  EXPECT_EQ(Ints(*attrs.Find("k199999")), std::vector<int64_t>{7});
  EXPECT_EQ(Ints(*attrs.Find("k5")), std::vector<int64_t>{8});
  EXPECT_EQ(attrs.Find("k200000"), nullptr);
  // Reused for a small node: the index of the large one is gone. (The node
  // must outlive the attributes read from it: their keys point into it.)
  const test::NodeReadBack small(Node({Entry("k1", value)}));
  ASSERT_TRUE(attrs.Read(small).ok());
  EXPECT_EQ(attrs.Find("k5"), nullptr);
  EXPECT_NE(attrs.Find("k1"), nullptr);
}

TEST(NodeAttrsTest, MalformedBytesAreAnErrorNamingTheNodeAndAttribute) {
  tensorflow::AttrValue value;
  // Not well-formed fields: a length past the end.
  const test::NodeReadBack truncated(Node({std::string("\x0a\x09T", 3)}));
  EXPECT_TRUE(IsInvalid(FindNodeAttr(truncated, "T", &value).status(), {"node 'n'"}));
  NodeAttrs attrs;
  EXPECT_TRUE(IsInvalid(attrs.Read(truncated), {"node 'n'"}));
  // Well-formed fields, but the value is not an AttrValue (field 1 of
  // AttrValue.list is a message; here it is cut short).
  const test::NodeReadBack bad_value(Node({Entry("strides", std::string("\x0a\x05\x08", 3))}));
  EXPECT_TRUE(IsInvalid(FindNodeAttr(bad_value, "strides", &value).status(), {"'strides'"}));
  EXPECT_TRUE(IsInvalid(attrs.Read(bad_value), {"'strides'"}));
  EXPECT_EQ(attrs.Find("strides"), nullptr);
  // An error leaves nothing found, also what was read before it.
  const test::NodeReadBack good_then_bad(
      Node({Entry("T", TypeValue(tensorflow::DT_FLOAT).SerializeAsString()),
            std::string("\x0a\x09T", 3)}));
  EXPECT_FALSE(attrs.Read(good_then_bad).ok());
  EXPECT_EQ(attrs.Find("T"), nullptr);
  // A key that is not UTF-8 is escaped in the message.
  const test::NodeReadBack bad_key(Node({Entry("\xff", std::string("\x0a\x05\x08", 3))}));
  EXPECT_TRUE(IsInvalid(attrs.Read(bad_key), {"'\\xff'"}));
}

TEST(NodeAttrsTest, NodeAttrsLeavesUnderscoreAnnotationsUnread) {
  // A malformed "_output_shapes" value does not stop the node from being read.
  const test::NodeReadBack node(
      Node({Entry("_output_shapes", std::string("\x0a\x05\x08", 3)),
            Entry("T", TypeValue(tensorflow::DT_FLOAT).SerializeAsString())}));
  NodeAttrs attrs;
  ASSERT_TRUE(attrs.Read(node).ok());
  EXPECT_EQ(attrs.Find("_output_shapes"), nullptr);
  ASSERT_NE(attrs.Find("T"), nullptr);
  // Reading another node forgets the first one's attributes.
  const test::NodeReadBack other(
      Node({Entry("U", TypeValue(tensorflow::DT_BOOL).SerializeAsString())}));
  ASSERT_TRUE(attrs.Read(other).ok());
  EXPECT_EQ(attrs.Find("T"), nullptr);
  EXPECT_EQ(attrs.Find("U")->type(), tensorflow::DT_BOOL);
}

TEST(NodeAttrsTest, SetReplacesAndWritesTensorFlowsEncoding) {
  tensorflow::NodeDef node = Node({Entry("T", TypeValue(tensorflow::DT_FLOAT).SerializeAsString()),
                                   Entry("U", TypeValue(tensorflow::DT_BOOL).SerializeAsString())});
  SetNodeAttr(&node, "T", TypeValue(tensorflow::DT_INT32));
  ASSERT_EQ(node.attr_size(), 2);
  EXPECT_EQ(node.attr(1), Entry("T", TypeValue(tensorflow::DT_INT32).SerializeAsString()));
  tensorflow::AttrValue value;
  const test::NodeReadBack read(node);
  ASSERT_TRUE(FindNodeAttr(read, "T", &value).ok());
  EXPECT_EQ(value.type(), tensorflow::DT_INT32);
}

TEST(NodeAttrsTest, ReadersSharingAnArenaKeepTheirOwnValues) {
  google::protobuf::Arena arena;
  const test::NodeReadBack first(Node({Entry("k", IntList({1, 2}).SerializeAsString())}));
  const test::NodeReadBack second(Node({Entry("k", IntList({3}).SerializeAsString())}));
  NodeAttrs a(&arena), b(&arena);
  ASSERT_TRUE(a.Read(first).ok());
  ASSERT_TRUE(b.Read(second).ok());
  EXPECT_EQ(Ints(*a.Find("k")), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Ints(*b.Find("k")), std::vector<int64_t>{3});
  ASSERT_TRUE(a.Read(second).ok());  // read over: the values are parsed anew
  EXPECT_EQ(Ints(*a.Find("k")), std::vector<int64_t>{3});
  EXPECT_EQ(a.Find("k")->GetArena(), &arena);
}

}  // namespace
}  // namespace servekit
