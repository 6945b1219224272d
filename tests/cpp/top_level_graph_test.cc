// formats/savedmodel/top_level_graph.h: nodes indexed by the name and op on
// the wire (as protobuf reads them), each parsed once when asked for, two
// nodes of one name refused, malformed bytes refused when added or named when
// parsed, and the index and parsed nodes still valid after the graph is moved.
#include "servekit/formats/savedmodel/top_level_graph.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "google/protobuf/stubs/logging.h"
#include "savedmodel_test_util.h"
#include "servekit/formats/savedmodel/node_view.h"
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

}  // namespace
}  // namespace servekit
