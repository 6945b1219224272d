// SignatureInliner, InlineSignature: SavedModel signatures as a flat list of
// TensorFlow ops, their function calls inlined.
//
// A TF2 SavedModel's top-level graph only calls library functions
// (StatefulPartitionedCall / PartitionedCall, nested to any depth), passing
// variables as resource arguments. Starting from the signature's outputs and
// walking back, this resolves every tensor a signature needs to the op that
// computes it, copying each function body once per call site (once per
// function and arguments: the same call from two signatures is one), and binding
// resource arguments to the top-level VarHandleOp (TF2) or VariableV2 (TF1)
// nodes they come from. Only what the outputs need is visited: training-only
// functions and save/restore functions are never read. Identity, IdentityN
// and StopGradient are resolved to their inputs; control inputs are dropped.
//
// Graphs of any depth are walked (the walk keeps its own stack); function
// calls nest up to kMaxCallNesting deep.
//
// Errors (InvalidArgument) name the node and the function: a reference to a
// missing node or argument, a call to a missing function, a function that
// calls itself, calls nested deeper than kMaxCallNesting, an op that reads its
// own output, an op whose outputs this reader does not know (it cannot
// resolve "node:out_arg:index").
//
// The result points into `meta_graph` (and into the functions its library
// parses on the way), which must outlive it.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "servekit/formats/savedmodel/node_view.h"
#include "servekit/formats/savedmodel/saved_model_file.h"
#include "servekit/proto/tf/meta_graph.pb.h"
#include "servekit/util/status.h"

namespace servekit {

// Far beyond any real export (Keras nests 2-4 deep), and a bound on the
// recursion check's walk up the call path.
inline constexpr int kMaxCallNesting = 2000;

// Output `index` of flat node `node`.
struct TfOutput {
  int node = -1;
  int index = 0;
};
inline bool operator==(const TfOutput& a, const TfOutput& b) {
  return a.node == b.node && a.index == b.index;
}
inline bool operator!=(const TfOutput& a, const TfOutput& b) { return !(a == b); }

struct TfNode {
  std::string name;  // call-site path + node name (a merged node keeps its first)
  // The function it came from ("" for the top-level graph): a view of the
  // function's name in the meta graph, like `def`.
  absl::string_view function;
  const NodeView* def = nullptr;  // into the meta graph's bytes
  std::vector<TfOutput> inputs;   // data inputs, in order
};

// A signature's input and output keys, sorted by key, and the flat tensors
// they name.
struct TfSignatureTensors {
  std::vector<std::pair<std::string, TfOutput>> inputs;
  std::vector<std::pair<std::string, TfOutput>> outputs;
};

// Inlines the signatures of one meta graph, one after the other, into one
// list of flat nodes in which each computation appears once:
// - a top-level Placeholder that a signature feeds is that signature's input
//   (the same flat node for every signature with an input of that key, op,
//   dtype and shape: Keras's `serve` and `serving_default` each have their
//   own Placeholder);
// - a top-level op with the same node and inputs as one already inlined,
//   and a call of a function with the same arguments as an earlier call
//   (whose body is then inlined once), are not inlined again.
// Ops are pure (those this reader resolves are), so two signatures whose
// tensors are the same flat outputs compute the same, and can share one
// Session. The nodes point into `meta_graph` (and into the functions its
// library parses on the way), which must outlive them. After an error, Inline
// refuses (FailedPrecondition): a walk cut short leaves nodes half-resolved.
class SignatureInliner {
 public:
  explicit SignatureInliner(const SavedModelMetaGraph& meta_graph);
  ~SignatureInliner();
  SignatureInliner(const SignatureInliner&) = delete;
  SignatureInliner& operator=(const SignatureInliner&) = delete;

  StatusOr<TfSignatureTensors> Inline(const tensorflow::SignatureDef& signature);

  // Every signature's nodes so far, each after the nodes it reads.
  const std::vector<TfNode>& nodes() const;
  std::vector<TfNode> TakeNodes() &&;

  class Walk;  // the walk's state, in function_inliner.cc

 private:
  std::unique_ptr<Walk> walk_;
  bool failed_ = false;  // Inline refuses to go on after an error
};

// One signature alone, its nodes with its tensors.
struct TfFlatGraph {
  std::vector<TfNode> nodes;  // every node after the nodes it reads
  // Signature input and output keys, sorted by key, and the tensors they name.
  std::vector<std::pair<std::string, TfOutput>> inputs;
  std::vector<std::pair<std::string, TfOutput>> outputs;
};

StatusOr<TfFlatGraph> InlineSignature(const SavedModelMetaGraph& meta_graph,
                                      const tensorflow::SignatureDef& signature);

// The same keys naming the same flat outputs: for two signatures of one
// SignatureInliner, the same computation.
bool SameTensors(const TfSignatureTensors& a, const TfSignatureTensors& b);

// The position of output argument `arg` among the outputs of `op`, for the
// ops whose outputs this reader knows, or -1.
int OutputArgPosition(absl::string_view op, absl::string_view arg);

}  // namespace servekit
