// formats/savedmodel/node_attrs.h: attributes kept as serialized map entries
// read as protobuf reads a map (the later of two keys wins, repeated values
// merge, unknown fields are skipped), malformed bytes named in the error,
// TensorFlow's "_" annotations left unread by NodeAttrs.
#include "servekit/formats/savedmodel/node_attrs.h"

#include <gtest/gtest.h>

#include <string>

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
  const tensorflow::NodeDef node =
      Node({Entry("T", TypeValue(tensorflow::DT_FLOAT).SerializeAsString())});
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

TEST(NodeAttrsTest, TheLaterOfTwoEntriesWithOneKeyWins) {
  const tensorflow::NodeDef node =
      Node({Entry("T", TypeValue(tensorflow::DT_FLOAT).SerializeAsString()),
            Entry("U", TypeValue(tensorflow::DT_BOOL).SerializeAsString()),
            Entry("T", TypeValue(tensorflow::DT_INT32).SerializeAsString())});
  tensorflow::AttrValue value;
  ASSERT_TRUE(FindNodeAttr(node, "T", &value).ok());
  EXPECT_EQ(value.type(), tensorflow::DT_INT32);
  NodeAttrs attrs;
  ASSERT_TRUE(attrs.Read(node).ok());
  ASSERT_NE(attrs.Find("T"), nullptr);
  EXPECT_EQ(attrs.Find("T")->type(), tensorflow::DT_INT32);
  EXPECT_EQ(attrs.Find("U")->type(), tensorflow::DT_BOOL);
}

TEST(NodeAttrsTest, RepeatedValueFieldsMergeAndUnknownFieldsAreSkipped) {
  tensorflow::AttrValue first, second;
  first.mutable_list()->add_i(1);
  second.mutable_list()->add_i(2);
  std::string entry;
  AppendLengthDelimitedField(2, first.SerializeAsString(), &entry);
  AppendLengthDelimitedField(7, "ignored", &entry);
  entry.append("\x18\x05");  // field 3, a varint
  AppendLengthDelimitedField(1, "strides", &entry);
  AppendLengthDelimitedField(2, second.SerializeAsString(), &entry);
  const tensorflow::NodeDef node = Node({entry});
  tensorflow::AttrValue value;
  ASSERT_TRUE(FindNodeAttr(node, "strides", &value).ok());
  ASSERT_EQ(value.list().i_size(), 2);
  EXPECT_EQ(value.list().i(0), 1);
  EXPECT_EQ(value.list().i(1), 2);
}

TEST(NodeAttrsTest, MalformedBytesAreAnErrorNamingTheNodeAndAttribute) {
  tensorflow::AttrValue value;
  // Not well-formed fields: a length past the end.
  const tensorflow::NodeDef truncated = Node({std::string("\x0a\x09T", 3)});
  EXPECT_TRUE(IsInvalid(FindNodeAttr(truncated, "T", &value).status(), {"node 'n'"}));
  NodeAttrs attrs;
  EXPECT_TRUE(IsInvalid(attrs.Read(truncated), {"node 'n'"}));
  // Well-formed fields, but the value is not an AttrValue (field 1 of
  // AttrValue.list is a message; here it is cut short).
  const tensorflow::NodeDef bad_value = Node({Entry("strides", std::string("\x0a\x05\x08", 3))});
  EXPECT_TRUE(IsInvalid(FindNodeAttr(bad_value, "strides", &value).status(), {"'strides'"}));
  EXPECT_TRUE(IsInvalid(attrs.Read(bad_value), {"'strides'"}));
  EXPECT_EQ(attrs.Find("strides"), nullptr);
}

TEST(NodeAttrsTest, NodeAttrsLeavesUnderscoreAnnotationsUnread) {
  // A malformed "_output_shapes" value does not stop the node from being read.
  const tensorflow::NodeDef node =
      Node({Entry("_output_shapes", std::string("\x0a\x05\x08", 3)),
            Entry("T", TypeValue(tensorflow::DT_FLOAT).SerializeAsString())});
  NodeAttrs attrs;
  ASSERT_TRUE(attrs.Read(node).ok());
  EXPECT_EQ(attrs.Find("_output_shapes"), nullptr);
  ASSERT_NE(attrs.Find("T"), nullptr);
  // Reading another node forgets the first one's attributes.
  ASSERT_TRUE(
      attrs.Read(Node({Entry("U", TypeValue(tensorflow::DT_BOOL).SerializeAsString())})).ok());
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
  ASSERT_TRUE(FindNodeAttr(node, "T", &value).ok());
  EXPECT_EQ(value.type(), tensorflow::DT_INT32);
}

}  // namespace
}  // namespace servekit
