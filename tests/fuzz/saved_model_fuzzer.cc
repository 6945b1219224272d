// Fuzzes the reading of saved_model.pb (formats/savedmodel/saved_model_file.h):
// the input is the file's bytes, split on the wire and parsed as a SavedModel
// with the .proto files written in this repo, and the meta graph tagged
// {serve} picked out. What follows the meta graph (inlining, translation,
// shape inference) has its own target, saved_model_translate_fuzzer, seeded
// with slimmed files.
//
// Besides not crashing, the split must agree with protobuf (it traps when
// not): whenever protobuf parses the whole file, the reader finds a {serve}
// meta graph exactly when protobuf's has one, equal field for field once the
// top-level nodes, the function library and the stripped op list are set
// aside; each top-level node's wire name and op and its parse on demand equal
// protobuf's (a graph with two nodes of one name is refused); and each
// library function it parses on demand equals protobuf's of that name (the
// last one).
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>

#include "../cpp/node_view_matches.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "servekit/formats/savedmodel/saved_model_file.h"
#include "servekit/proto/tf/saved_model.pb.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

namespace {

using google::protobuf::util::MessageDifferencer;

const tensorflow::MetaGraphDef* ServeMetaGraph(const tensorflow::SavedModel& saved_model) {
  for (const tensorflow::MetaGraphDef& meta_graph : saved_model.meta_graphs()) {
    const auto& tags = meta_graph.meta_info_def().tags();
    if (tags.empty()) continue;
    bool all_serve = true;
    for (const std::string& tag : tags) all_serve = all_serve && tag == servekit::kServeTag;
    if (all_serve) return &meta_graph;
  }
  return nullptr;
}

void CheckAgainstWholeParse(absl::string_view bytes,
                            const servekit::StatusOr<servekit::SavedModelMetaGraph>& split) {
  tensorflow::SavedModel whole;
  if (bytes.empty() || !whole.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  const tensorflow::MetaGraphDef* serve = ServeMetaGraph(whole);
  if (serve == nullptr) {
    if (split.ok()) __builtin_trap();  // a meta graph protobuf does not see
    return;
  }
  // Two top-level nodes of one name: refused, as TensorFlow refuses them.
  std::set<std::string> names;
  for (const tensorflow::NodeDef& node : serve->graph_def().node()) {
    if (!names.insert(node.name()).second) {
      if (split.ok()) __builtin_trap();
      return;
    }
  }
  if (!split.ok()) __builtin_trap();  // refused what protobuf reads
  tensorflow::MetaGraphDef expected = *serve;
  expected.mutable_graph_def()->clear_library();
  expected.mutable_graph_def()->clear_node();
  if (expected.has_meta_info_def()) expected.mutable_meta_info_def()->clear_stripped_op_list();
  if (serve->has_graph_def() != split->def->has_graph_def()) __builtin_trap();
  if (!serve->has_graph_def()) expected.clear_graph_def();
  if (!MessageDifferencer::Equals(expected, *split->def)) __builtin_trap();
  std::map<std::string, const tensorflow::FunctionDef*> functions;
  for (const tensorflow::FunctionDef& f : serve->graph_def().library().function())
    functions[f.signature().name()] = &f;
  if (functions.size() != split->functions.size()) __builtin_trap();
  // Every top-level node in order, its name and op read on the wire as
  // protobuf reads them, and each parsed on its own as in the whole parse.
  const servekit::TopLevelGraph& top_level = split->top_level;
  const auto& nodes = serve->graph_def().node();
  if (top_level.nodes().size() != static_cast<size_t>(nodes.size())) __builtin_trap();
  for (int i = 0; i < nodes.size(); ++i) {
    if (top_level.nodes()[i].name != nodes[i].name() || top_level.nodes()[i].op != nodes[i].op())
      __builtin_trap();
    servekit::StatusOr<const servekit::NodeView*> parsed = top_level.Parse(i);
    if (!parsed.ok() || !servekit::test::SameNode(**parsed, nodes[i])) __builtin_trap();
  }
  // Every function: its body read in place node by node, the rest parsed.
  for (const auto& [name, f] : functions) {
    servekit::StatusOr<const servekit::LibraryFunction*> parsed = split->functions.Find(name);
    if (!parsed.ok() || *parsed == nullptr) __builtin_trap();
    const servekit::LibraryFunction& read = **parsed;
    if (read.nodes.size() != static_cast<size_t>(f->node_def_size())) __builtin_trap();
    for (int i = 0; i < f->node_def_size(); ++i) {
      if (!servekit::test::SameNode(read.nodes[i], f->node_def(i))) __builtin_trap();
    }
    tensorflow::FunctionDef without_body = *f;
    without_body.clear_node_def();
    without_body.clear_attr();  // annotations the reader leaves out
    without_body.clear_arg_attr();
    without_body.clear_control_ret();
    without_body.clear_resource_arg_unique_id();
    if (!MessageDifferencer::Equals(without_body, *read.def)) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  servekit::StatusOr<servekit::SavedModelMetaGraph> meta_graph =
      servekit::ParseSavedModelMetaGraph(bytes);
  CheckAgainstWholeParse(bytes, meta_graph);
  if (!meta_graph.ok()) return 0;
  // Every top-level node read in place refuses what protobuf's parse of the
  // same bytes refuses (the whole-file check above only sees files protobuf
  // reads), and reads what it reads.
  const servekit::TopLevelGraph& top_level = meta_graph->top_level;
  for (size_t i = 0; i < top_level.nodes().size(); ++i) {
    const absl::string_view serialized = top_level.nodes()[i].serialized;
    tensorflow::NodeDef node;
    const bool protobuf_ok =
        node.ParseFromArray(serialized.data(), static_cast<int>(serialized.size()));
    servekit::StatusOr<const servekit::NodeView*> read = top_level.Parse(i);
    if (read.ok() != protobuf_ok) __builtin_trap();
    if (protobuf_ok && !servekit::test::SameNode(**read, node)) __builtin_trap();
  }
  // Walk what the loader reads first: the signatures and their tensors.
  for (const auto& [name, signature] : meta_graph->def->signature_def()) {
    for (const auto& [alias, info] : signature.inputs()) (void)info.tensor_shape().dim_size();
  }
  return 0;
}
