// Reading saved_model.pb (formats/savedmodel/saved_model_file.h): the
// fixtures TensorFlow wrote parse completely (no field left unknown to our
// .proto files) and give the {serve} meta graph; truncated, garbage and
// mis-tagged files give clear errors.
#include "servekit/formats/savedmodel/saved_model_file.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "savedmodel_test_util.h"
#include "servekit/proto/tf/saved_model.pb.h"
#include "test_util.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;
using test::IsError;
using test::IsInvalid;
using test::ReadBytes;
using test::SavedModelFixture;
using test::TempDir;
using test::WriteBytes;

const char* const kFixtures[] = {"tiny_module", "sharded_module", "keras_dense"};

// Paths (field names from the root) of every message below `message` that
// holds fields our .proto files do not declare.
void FindUnknownFields(const Message& message, const std::string& path,
                       std::vector<std::string>* found) {
  const auto* reflection = message.GetReflection();
  if (!reflection->GetUnknownFields(message).empty()) found->push_back(path);
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const std::string child = path + "." + field->name();
    if (field->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(message, field); ++i)
        FindUnknownFields(reflection->GetRepeatedMessage(message, field, i), child, found);
    } else {
      FindUnknownFields(reflection->GetMessage(message, field), child, found);
    }
  }
}

TEST(SavedModelFileTest, FixturesParseWithNoUnknownFields) {
  for (const char* name : kFixtures) {
    tensorflow::SavedModel saved_model;
    ASSERT_TRUE(saved_model.ParseFromString(ReadBytes(SavedModelFixture(name) / "saved_model.pb")));
    std::vector<std::string> unknown;
    FindUnknownFields(saved_model, "SavedModel", &unknown);
    EXPECT_TRUE(unknown.empty()) << name << ": unknown fields in " << unknown.front();
  }
}

TEST(SavedModelFileTest, SelectsTheServeMetaGraph) {
  for (const char* name : kFixtures) {
    SCOPED_TRACE(name);
    const std::string dir = SavedModelFixture(name).string();
    EXPECT_TRUE(IsSavedModelDirectory(dir));
    auto meta_graph = ReadSavedModelMetaGraph(dir);
    ASSERT_TRUE(meta_graph.ok()) << meta_graph.status();
    EXPECT_EQ(meta_graph->def->meta_info_def().tags().size(), 1);
    EXPECT_EQ(meta_graph->def->meta_info_def().tags(0), "serve");
    ASSERT_TRUE(meta_graph->def->signature_def().contains("serving_default"));
    EXPECT_EQ(meta_graph->def->graph_def().node_size(), 0);  // in top_level
    EXPECT_GT(meta_graph->top_level.nodes().size(), 0u);
    EXPECT_GT(meta_graph->functions.size(), 0u);
    EXPECT_EQ(meta_graph->def->graph_def().library().function_size(), 0);
    EXPECT_GT(meta_graph->def->object_graph_def().nodes_size(), 0);
  }
}

TEST(SavedModelFileTest, TheWireSplitReadsWhatAWholeParseReads) {
  // The meta graph is parsed without its top-level nodes, library and op
  // list, and each node and function on its own when asked for: together
  // exactly what protobuf reads from the whole file.
  for (const char* name : kFixtures) {
    SCOPED_TRACE(name);
    const fs::path dir = SavedModelFixture(name);
    tensorflow::SavedModel whole;
    ASSERT_TRUE(whole.ParseFromString(ReadBytes(dir / kSavedModelFilename)));
    auto split = ReadSavedModelMetaGraph(dir.string());
    ASSERT_TRUE(split.ok()) << split.status();
    tensorflow::MetaGraphDef expected = whole.meta_graphs(0);
    const tensorflow::FunctionDefLibrary library = expected.graph_def().library();
    ASSERT_GT(library.function_size(), 0);
    EXPECT_GT(expected.meta_info_def().stripped_op_list().op_size(), 0);
    const tensorflow::GraphDef graph = expected.graph_def();
    ASSERT_GT(graph.node_size(), 0);
    expected.mutable_graph_def()->clear_library();
    expected.mutable_graph_def()->clear_node();
    expected.mutable_meta_info_def()->clear_stripped_op_list();
    EXPECT_TRUE(MessageDifferencer::Equals(expected, *split->def));
    // Every node, in file order, with its name and op read on the wire.
    const TopLevelGraph& top_level = split->top_level;
    ASSERT_EQ(top_level.nodes().size(), static_cast<size_t>(graph.node_size()));
    for (int i = 0; i < graph.node_size(); ++i) {
      EXPECT_EQ(top_level.nodes()[i].name, graph.node(i).name());
      EXPECT_EQ(top_level.nodes()[i].op, graph.node(i).op());
      auto parsed = top_level.Find(graph.node(i).name());
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      ASSERT_NE(*parsed, nullptr) << graph.node(i).name();
      EXPECT_TRUE(test::SameNode(**parsed, graph.node(i))) << graph.node(i).name();
      EXPECT_EQ(*top_level.Parse(i), *parsed);  // parsed once
    }
    auto no_node = top_level.Find("no_such_node");
    ASSERT_TRUE(no_node.ok());
    EXPECT_EQ(*no_node, nullptr);
    EXPECT_EQ(split->functions.size(), static_cast<size_t>(library.function_size()));
    int annotated = 0;  // functions with the annotations the reader drops
    for (const tensorflow::FunctionDef& f : library.function()) {
      annotated += f.attr_size() + f.arg_attr_size() > 0 ? 1 : 0;
      auto parsed = split->functions.Find(f.signature().name());
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      ASSERT_NE(*parsed, nullptr) << f.signature().name();
      // Its body read in place, its signature and ret parsed.
      ASSERT_EQ((*parsed)->nodes.size(), static_cast<size_t>(f.node_def_size()));
      for (int i = 0; i < f.node_def_size(); ++i) {
        EXPECT_TRUE(test::SameNode((*parsed)->nodes[i], f.node_def(i))) << f.node_def(i).name();
      }
      tensorflow::FunctionDef without_body = f;
      without_body.clear_node_def();
      without_body.clear_attr();  // annotations the reader leaves out
      without_body.clear_arg_attr();
      without_body.clear_control_ret();
      without_body.clear_resource_arg_unique_id();
      EXPECT_TRUE(MessageDifferencer::Equals(without_body, *(*parsed)->def))
          << f.signature().name();
      auto again = split->functions.Find(f.signature().name());
      EXPECT_EQ(*again, *parsed);  // parsed once
    }
    EXPECT_GT(annotated, 0) << "no function to show its annotations dropped";
    auto missing = split->functions.Find("no_such_function");
    ASSERT_TRUE(missing.ok());
    EXPECT_EQ(*missing, nullptr);
  }
}

TEST(SavedModelFileTest, ReadsWhatTheLoaderWillNeed) {
  auto meta_graph = ReadSavedModelMetaGraph(SavedModelFixture("tiny_module").string());
  ASSERT_TRUE(meta_graph.ok()) << meta_graph.status();
  const tensorflow::SignatureDef& signature =
      meta_graph->def->signature_def().at("serving_default");
  ASSERT_TRUE(signature.inputs().contains("x"));
  const tensorflow::TensorInfo& x = signature.inputs().at("x");
  EXPECT_EQ(x.name(), "serving_default_x:0");
  EXPECT_EQ(x.dtype(), tensorflow::DT_FLOAT);
  ASSERT_EQ(x.tensor_shape().dim_size(), 2);
  EXPECT_EQ(x.tensor_shape().dim(0).size(), -1);
  EXPECT_EQ(x.tensor_shape().dim(1).size(), 2);
  ASSERT_TRUE(signature.outputs().contains("y"));
  EXPECT_EQ(signature.method_name(), "tensorflow/serving/predict");
  // The root object has the module's variables as children, and a concrete
  // function binds captured inputs to them.
  const auto& objects = meta_graph->def->object_graph_def();
  std::vector<std::string> children;
  for (const auto& child : objects.nodes(0).children()) children.push_back(child.local_name());
  EXPECT_NE(std::find(children.begin(), children.end(), "w"), children.end());
  bool some_bound = false;
  for (const auto& [name, function] : objects.concrete_functions())
    some_bound = some_bound || function.bound_inputs_size() > 0;
  EXPECT_TRUE(some_bound);
}

TEST(SavedModelFileTest, MissingFile) {
  TempDir dir;
  EXPECT_FALSE(IsSavedModelDirectory(dir.path().string()));
  EXPECT_TRUE(IsError(ReadSavedModelMetaGraph(dir.path().string()).status(),
                      absl::StatusCode::kNotFound, {"saved_model.pb", "does not exist"}));
  dir.Write("saved_model.pbtxt", "meta_graphs {}");
  EXPECT_TRUE(IsError(ReadSavedModelMetaGraph(dir.path().string()).status(),
                      absl::StatusCode::kNotFound, {"text format"}));
}

TEST(SavedModelFileTest, TruncatedFilesAreErrors) {
  google::protobuf::LogSilencer quiet;  // protobuf logs each failed parse
  const std::string bytes = ReadBytes(SavedModelFixture("keras_dense") / "saved_model.pb");
  for (size_t size = 0; size < bytes.size(); size += 1 + size / 8) {
    auto meta_graph = ParseSavedModelMetaGraph(absl::string_view(bytes).substr(0, size));
    EXPECT_TRUE(
        IsError(meta_graph.status(), absl::StatusCode::kInvalidArgument, {"saved_model.pb"}))
        << "cut to " << size << " bytes: " << meta_graph.status();
  }
  TempDir dir;
  dir.Write("saved_model.pb", bytes.substr(0, bytes.size() / 2));
  EXPECT_TRUE(IsInvalid(ReadSavedModelMetaGraph(dir.path().string()).status(),
                        {dir.path().string(), "truncated or corrupt"}));
  dir.Write("saved_model.pb", "");
  EXPECT_TRUE(IsInvalid(ReadSavedModelMetaGraph(dir.path().string()).status(), {"empty"}));
}

TEST(SavedModelFileTest, GarbageIsAnError) {
  google::protobuf::LogSilencer quiet;
  EXPECT_TRUE(IsInvalid(ParseSavedModelMetaGraph("this is not a protobuf\xff\xff").status(),
                        {"not a valid SavedModel protobuf"}));
  // A valid protobuf of something else: no meta graphs.
  EXPECT_TRUE(IsInvalid(ParseSavedModelMetaGraph(std::string("\x08\x01", 2)).status(),
                        {"holds no meta graph"}));
}

TEST(SavedModelFileTest, OverTheSizeLimit) {
  const std::string bytes = ReadBytes(SavedModelFixture("tiny_module") / "saved_model.pb");
  SavedModelOptions options;
  options.max_file_bytes = 1000;
  EXPECT_TRUE(IsInvalid(ParseSavedModelMetaGraph(bytes, options).status(), {"over the limit"}));
  EXPECT_TRUE(IsInvalid(
      ReadSavedModelMetaGraph(SavedModelFixture("tiny_module").string(), options).status(),
      {"over the limit of 1000"}));
}

TEST(SavedModelFileTest, NoServeTagListsTheTagSets) {
  tensorflow::SavedModel saved_model;
  ASSERT_TRUE(
      saved_model.ParseFromString(ReadBytes(SavedModelFixture("tiny_module") / "saved_model.pb")));
  auto* tags = saved_model.mutable_meta_graphs(0)->mutable_meta_info_def()->mutable_tags();
  tags->Clear();
  tags->Add("train");
  auto* second = saved_model.add_meta_graphs();
  second->mutable_meta_info_def()->add_tags("serve");
  second->mutable_meta_info_def()->add_tags("gpu");
  const std::string bytes = saved_model.SerializeAsString();
  EXPECT_TRUE(IsInvalid(ParseSavedModelMetaGraph(bytes).status(),
                        {"no meta graph tagged {serve}", "{train}", "{gpu, serve}"}));
  // Asked for by its tags, the second one is found (in any order).
  SavedModelOptions options;
  options.tags = {"serve", "gpu"};
  auto meta_graph = ParseSavedModelMetaGraph(bytes, options);
  ASSERT_TRUE(meta_graph.ok()) << meta_graph.status();
  EXPECT_EQ(meta_graph->def->meta_info_def().tags_size(), 2);
}

}  // namespace
}  // namespace servekit
