// FunctionLibrary: a SavedModel's library functions by name, each kept as its
// serialized FunctionDef and parsed the first time it is asked for.
//
// Why lazily: about half of a Keras export's saved_model.pb is functions that
// serving never calls (the checkpoint save and restore functions, training
// graphs); parsing and freeing only what a signature reaches takes that share
// off a small model's load. A function that is never asked for is never
// checked either: its bytes only have to be a well-formed field.
//
// Names are read from each FunctionDef's signature (OpDef.name) on the wire.
// Two functions with one name: the later one wins, as when protobuf parses
// the whole library into a map. Find is const for the inliner's sake but
// parses into a cache: not thread-safe (one load uses its library from one
// thread); the returned pointers stay valid as long as the library. A parsed
// function's body is read in place (node_view.h), its annotations (bytes
// fields serving never reads) are dropped, and the rest of it (the signature
// and ret) is parsed by protobuf onto an arena of the library's: its small
// messages cost one allocation per block, and are freed as a few blocks.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/arena.h"
#include "servekit/formats/savedmodel/node_view.h"
#include "servekit/formats/savedmodel/parse_arena.h"
#include "servekit/proto/tf/function.pb.h"
#include "servekit/util/status.h"

namespace servekit {

// A library function as it is read: its FunctionDef with only its signature
// and ret (the body and the annotations serving never reads, attr, arg_attr,
// control_ret and resource_arg_unique_id, left out), and the body's nodes,
// read in place from the library's bytes.
struct LibraryFunction {
  const tensorflow::FunctionDef* def = nullptr;  // signature and ret
  std::vector<NodeView> nodes;                   // FunctionDef.node_def, in order
};

class FunctionLibrary {
 public:
  // Takes the serialized FunctionDefs, in file order (copied into one
  // buffer). False, keeping none, when a name cannot be read (the bytes are
  // not a well-formed FunctionDef signature).
  bool Assign(const std::vector<absl::string_view>& function_defs);

  // The function named `name`, read; nullptr when there is none.
  // InvalidArgument (naming the function) when its bytes do not parse as a
  // FunctionDef.
  StatusOr<const LibraryFunction*> Find(absl::string_view name) const;

  size_t size() const { return functions_.size(); }

 private:
  struct Entry {
    absl::string_view serialized;           // in storage_
    std::unique_ptr<LibraryFunction> read;  // null until asked for
  };
  // The functions' bytes, one after another: a buffer that stays in place
  // when the library is moved (the names, entries and node views point into
  // it).
  std::unique_ptr<char[]> storage_;
  mutable std::unique_ptr<google::protobuf::Arena> arena_;  // made by the first parse
  mutable absl::flat_hash_map<absl::string_view, Entry> functions_;
};

}  // namespace servekit
