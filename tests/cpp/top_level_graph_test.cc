// formats/savedmodel/top_level_graph.h: nodes indexed by the name and op on
// the wire (as protobuf reads them), each parsed once when asked for, two
// nodes of one name refused, malformed bytes refused when added or named when
// parsed, and the index and parsed nodes still valid after the graph is moved.
#include "servekit/formats/savedmodel/top_level_graph.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "servekit/proto/tf/node_def.pb.h"
#include "servekit/util/protobuf_wire.h"
#include "test_util.h"

namespace servekit {
namespace {

using test::IsInvalid;

std::string Serialized(const std::string& name, const std::string& op,
                       const std::string& input = "") {
  tensorflow::NodeDef node;
  node.set_name(name);
  node.set_op(op);
  if (!input.empty()) node.add_input(input);
  return node.SerializeAsString();
}

TEST(TopLevelGraphTest, IndexesNamesAndOpsAndParsesOnce) {
  const std::vector<std::string> bytes = {Serialized("x", "Placeholder"),
                                          Serialized("w", "VarHandleOp"),
                                          Serialized("y", "Identity", "x")};
  TopLevelGraph graph;
  ASSERT_TRUE(graph.Assign({bytes[0], bytes[1], bytes[2]}).ok());
  ASSERT_EQ(graph.nodes().size(), 3u);
  EXPECT_EQ(graph.nodes()[1].name, "w");
  EXPECT_EQ(graph.nodes()[1].op, "VarHandleOp");
  auto y = graph.Find("y");
  ASSERT_TRUE(y.ok()) << y.status();
  ASSERT_NE(*y, nullptr);
  EXPECT_EQ((*y)->inputs()[0], "x");
  EXPECT_EQ(*graph.Parse(2), *y);  // the same parse
  auto none = graph.Find("z");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
}

TEST(TopLevelGraphTest, NamesAndOpsAreReadAsProtobufReadsThem) {
  // The name and op fields occur twice: protobuf keeps the last. Fields 1
  // and 2 with another wire type are unknown fields to protobuf, not them.
  std::string node = Serialized("first", "NoOp");
  AppendLengthDelimitedField(1, "n", &node);
  AppendLengthDelimitedField(2, "Relu", &node);
  node += "\x08\x05\x15\x01\x02\x03\x04";  // field 1 as a varint, field 2 as fixed32
  TopLevelGraph graph;
  ASSERT_TRUE(graph.Assign({node}).ok());
  EXPECT_EQ(graph.nodes()[0].name, "n");
  EXPECT_EQ(graph.nodes()[0].op, "Relu");
  auto parsed = graph.Find("n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_NE(*parsed, nullptr);
  EXPECT_EQ((*parsed)->name(), "n");
  EXPECT_EQ((*parsed)->op(), "Relu");
}

TEST(TopLevelGraphTest, TwoNodesOfOneNameAreRefused) {
  TopLevelGraph graph;
  EXPECT_TRUE(IsInvalid(
      graph.Assign({Serialized("n", "NoOp"), Serialized("m", "NoOp"), Serialized("n", "Tanh")}),
      {"two top-level nodes are named 'n'"}));
  EXPECT_TRUE(graph.nodes().empty());
}

TEST(TopLevelGraphTest, MalformedNodesAreRefusedOrNamed) {
  TopLevelGraph graph;
  // Not well-formed fields: a length past the end.
  EXPECT_TRUE(IsInvalid(graph.Assign({Serialized("a", "NoOp"), std::string("\x0a\x09n", 3)}),
                        {"not a valid SavedModel protobuf"}));
  // Well-formed fields that are not a NodeDef: an input (field 3) that is not
  // UTF-8, which protobuf refuses for a proto3 string; the name is escaped.
  std::string bad = Serialized("b\xff", "Identity");
  AppendLengthDelimitedField(3, "\xff", &bad);
  ASSERT_TRUE(graph.Assign({Serialized("a", "NoOp"), bad}).ok());
  EXPECT_TRUE(IsInvalid(graph.Parse(1).status(), {"'b\\xff'", "not a valid NodeDef"}));
  EXPECT_TRUE(IsInvalid(graph.Find("b\xff").status(), {"not a valid NodeDef"}));  // again
  EXPECT_TRUE(graph.Parse(0).ok());
}

TEST(TopLevelGraphTest, StaysValidWhenMoved) {
  // A tiny graph: its bytes would fit a std::string's inline buffer, which a
  // move would not keep in place.
  TopLevelGraph graph;
  ASSERT_TRUE(graph.Assign({Serialized("a", "B"), Serialized("c", "D")}).ok());
  auto c = graph.Find("c");  // parsed before the move
  ASSERT_TRUE(c.ok() && *c != nullptr);
  TopLevelGraph moved = std::move(graph);
  EXPECT_EQ(moved.nodes()[0].name, "a");
  auto a = moved.Find("a");
  ASSERT_TRUE(a.ok());
  ASSERT_NE(*a, nullptr);
  EXPECT_EQ((*a)->op(), "B");
  EXPECT_EQ(*moved.Find("c"), *c);
  EXPECT_EQ((*c)->op(), "D");
}

}  // namespace
}  // namespace servekit
