// Reading saved_model.pb: the SavedModel protobuf at the top of a TensorFlow
// SavedModel directory, and the choice of the meta graph to serve.
//
// A SavedModel holds one MetaGraphDef per tag set; servekit serves the one
// tagged exactly {"serve"}, as TF Serving does by default (TF2 exports have
// only that one). Errors: NotFound when the directory has no saved_model.pb;
// InvalidArgument for a file that is empty, over the size limit, not a
// SavedModel protobuf (truncated or garbage), or without a meta graph of the
// tags asked for (the message lists the tag sets the file has). Every message
// names the file. Thread-safe: pure functions.
//
// The file is split on the wire before protobuf parses it: the meta graph is
// parsed without its top-level graph's nodes and its function library, which
// are kept serialized and parsed only when a signature reaches them
// (top_level_graph.h, function_library.h), and without
// MetaInfoDef.stripped_op_list (TensorFlow's OpDefs of the ops used, which
// servekit does not read). Bytes that are not well-formed protobuf fields are
// refused as a full parse would refuse them; a node or function that no
// signature reaches is not checked beyond its name (and a node's op), and the
// nodes and functions of the meta graphs not served are not checked at all.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "servekit/formats/savedmodel/function_library.h"
#include "servekit/formats/savedmodel/top_level_graph.h"
#include "servekit/proto/tf/meta_graph.pb.h"
#include "servekit/util/status.h"

namespace servekit {

inline constexpr char kSavedModelFilename[] = "saved_model.pb";
inline constexpr char kServeTag[] = "serve";

struct SavedModelOptions {
  // The tag set of the meta graph to return (compared as a set).
  std::vector<std::string> tags = {kServeTag};
  // The largest saved_model.pb read. Protobuf cannot parse a message of 2 GiB
  // or more, so that is the most a caller can ask for.
  size_t max_file_bytes = (size_t{2} << 30) - 1;
};

// The meta graph to serve: `def` without its top-level nodes and library
// functions (its graph_def() has no node and an empty library()) and without
// meta_info_def's stripped_op_list; the nodes in `top_level`, the functions
// by name in `functions`.
struct SavedModelMetaGraph {
  std::unique_ptr<google::protobuf::Arena> arena;  // owns `def`
  tensorflow::MetaGraphDef* def = nullptr;
  TopLevelGraph top_level;
  FunctionLibrary functions;
};

// True when `dir` holds a saved_model.pb (the model loader's format test).
bool IsSavedModelDirectory(const std::string& dir);

// The meta graph tagged options.tags from `<dir>/saved_model.pb`.
StatusOr<SavedModelMetaGraph> ReadSavedModelMetaGraph(
    const std::string& dir, const SavedModelOptions& options = SavedModelOptions());

// The same from the file's bytes (for the fuzzer and the tests); errors do
// not name a file.
StatusOr<SavedModelMetaGraph> ParseSavedModelMetaGraph(
    absl::string_view bytes, const SavedModelOptions& options = SavedModelOptions());

}  // namespace servekit
