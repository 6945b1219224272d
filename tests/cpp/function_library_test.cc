// formats/savedmodel/function_library.h: functions found by name and read
// when first asked for, their bodies in place, their annotations dropped, and
// a function whose bytes protobuf would refuse refused by name.
#include "servekit/formats/savedmodel/function_library.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "savedmodel_test_util.h"
#include "servekit/util/protobuf_wire.h"
#include "test_util.h"

namespace servekit {
namespace {

using test::IsInvalid;

// A function `name` of one input x whose body is `body` and that returns
// body node "n"'s output as y; with one function attribute and one argument
// attribute, which the library drops.
tensorflow::FunctionDef Function(const std::string& name, std::vector<tensorflow::NodeDef> body) {
  tensorflow::FunctionDef f;
  f.mutable_signature()->set_name(name);
  f.mutable_signature()->add_input_arg()->set_name("x");
  f.mutable_signature()->add_output_arg()->set_name("y");
  for (tensorflow::NodeDef& node : body) *f.add_node_def() = std::move(node);
  (*f.mutable_ret())["y"] = "n:y:0";
  f.add_attr("\x0a\x0c_input_shapes");
  f.add_arg_attr(std::string("\x08\x00", 2));
  return f;
}

tensorflow::NodeDef Node(const std::string& name, const std::string& op, const std::string& input) {
  tensorflow::NodeDef node;
  node.set_name(name);
  node.set_op(op);
  node.add_input(input);
  return node;
}

TEST(FunctionLibraryTest, ReadsABodyInPlaceAndItsSignatureAndRet) {
  const tensorflow::FunctionDef f =
      Function("f", {Node("m", "Relu", "x"), Node("n", "Neg", "m:activations:0")});
  const std::string g = Function("g", {Node("n", "Identity", "x")}).SerializeAsString();
  const std::string f_bytes = f.SerializeAsString();
  FunctionLibrary library;
  ASSERT_TRUE(library.Assign({f_bytes, g}));
  EXPECT_EQ(library.size(), 2u);
  auto read = library.Find("f");
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_NE(*read, nullptr);
  ASSERT_EQ((*read)->nodes.size(), 2u);
  EXPECT_TRUE(test::SameNode((*read)->nodes[0], f.node_def(0)));
  EXPECT_TRUE(test::SameNode((*read)->nodes[1], f.node_def(1)));
  const tensorflow::FunctionDef& def = *(*read)->def;
  EXPECT_EQ(def.signature().name(), "f");
  EXPECT_EQ(def.ret().at("y"), "n:y:0");
  EXPECT_EQ(def.node_def_size(), 0);  // read in place instead
  EXPECT_EQ(def.attr_size(), 0);      // dropped: never read
  EXPECT_EQ(def.arg_attr_size(), 0);
  auto missing = library.Find("h");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, nullptr);

  // Moved after a Find: the same function, its views still reading its bytes.
  FunctionLibrary moved = std::move(library);
  auto again = moved.Find("f");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *read);
  EXPECT_EQ((*again)->nodes[1].inputs()[0], "m:activations:0");
  auto other = moved.Find("g");
  ASSERT_TRUE(other.ok() && *other != nullptr);
  EXPECT_EQ((*other)->nodes[0].op(), "Identity");
}

TEST(FunctionLibraryTest, AFunctionWhoseBodyProtobufRefusesIsRefusedByName) {
  google::protobuf::LogSilencer quiet;  // protobuf logs the string that is not UTF-8
  // A body node input that is not UTF-8 (proto3 string), and a body node
  // that is cut short: each refused when the function is read, not before.
  std::string not_utf8 = Function("bad_input", {Node("n", "Relu", "x")}).SerializeAsString();
  std::string node = Node("n2", "Relu", "x").SerializeAsString();
  AppendLengthDelimitedField(3, "\xc3\x28", &node);  // NodeDef.input
  AppendLengthDelimitedField(3, node, &not_utf8);    // FunctionDef.node_def
  std::string cut = Function("cut_node", {}).SerializeAsString();
  AppendLengthDelimitedField(3, std::string("\x0a\x05na", 4), &cut);  // a name past its end
  const std::string good = Function("good", {Node("n", "Relu", "x")}).SerializeAsString();
  for (const std::string& bytes : {not_utf8, cut}) {
    tensorflow::FunctionDef parsed;
    EXPECT_FALSE(parsed.ParseFromString(bytes));  // what protobuf does
  }
  FunctionLibrary library;
  ASSERT_TRUE(library.Assign({not_utf8, cut, good}));
  EXPECT_TRUE(IsInvalid(library.Find("bad_input").status(),
                        {"function 'bad_input'", "not a valid FunctionDef"}));
  EXPECT_TRUE(IsInvalid(library.Find("cut_node").status(), {"function 'cut_node'"}));
  auto fine = library.Find("good");
  ASSERT_TRUE(fine.ok() && *fine != nullptr);
  EXPECT_EQ((*fine)->nodes[0].name(), "n");
}

}  // namespace
}  // namespace servekit
