#include "servekit/formats/savedmodel/function_inliner.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "servekit/util/large_stack.h"

namespace servekit {
namespace {

// The inliner's stack: ~4 KiB per level in an AddressSanitizer build, far
// less in a release build; reserved, touched only as deep as a graph goes.
constexpr size_t kInliningStackBytes = size_t{256} << 20;
// How deep a walk may go on the caller's own stack: 512 KiB at ~4 KiB a level
// (ASan), far less in a release build, within even a small thread's stack.
// Most models are shallower and skip the cost of a thread; a deeper one is
// walked again on a stack of its own.
constexpr int kCallerStackDepth = 128;

// Far above any real model (a large transformer inlines to tens of thousands).
constexpr size_t kMaxInlinedOps = size_t{1} << 18;
// Call sites inlined: each gets its own copy of the function, so a few KB of
// functions that each call the next twice ask for 2^depth of them.
constexpr size_t kMaxCallSites = size_t{1} << 15;
// The highest `index` in "node:out_arg:index" (a list output's length).
constexpr int kMaxOutputIndex = 1 << 20;

using tensorflow::FunctionDef;
using tensorflow::NodeDef;

// Output argument names of the ops this reader resolves, in TensorFlow's
// OpDef order. Function bodies name outputs "node:arg:index"; an op missing
// here cannot be resolved (and could not be translated either).
const std::map<std::string, std::vector<std::string>>& OutputArgs() {
  static const auto* table = [] {
    auto* t = new std::map<std::string, std::vector<std::string>>;
    auto add = [t](std::initializer_list<const char*> ops, std::vector<std::string> args) {
      for (const char* op : ops) (*t)[op] = args;
    };
    add({"AddV2",    "Add",       "Sub",      "Mul",      "RealDiv",
         "Div",      "DivNoNan",  "Maximum",  "Minimum",  "SquaredDifference",
         "Pow",      "FloorDiv",  "FloorMod", "Greater",  "GreaterEqual",
         "Less",     "LessEqual", "Equal",    "NotEqual", "LogicalAnd",
         "LogicalOr"},
        {"z"});
    add({"Neg",  "Square",  "Sqrt",      "Rsqrt",     "Exp",        "Log",       "Log1p", "Erf",
         "Erfc", "Sigmoid", "Tanh",      "Abs",       "Reciprocal", "Floor",     "Ceil",  "Round",
         "Sign", "Cast",    "Transpose", "ZerosLike", "OnesLike",   "LogicalNot"},
        {"y"});
    add({"Relu", "Relu6", "Elu", "Selu", "LeakyRelu", "Softplus", "Softsign"}, {"activations"});
    add({"Softmax"}, {"softmax"});
    add({"LogSoftmax"}, {"logsoftmax"});
    add({"MatMul"}, {"product"});
    add({"BatchMatMulV2",
         "BatchMatMulV3",
         "BatchMatMul",
         "Einsum",
         "BiasAdd",
         "Conv2D",
         "DepthwiseConv2dNative",
         "MaxPool",
         "AvgPool",
         "Mean",
         "Sum",
         "Max",
         "Min",
         "Prod",
         "ArgMax",
         "ArgMin",
         "Reshape",
         "Shape",
         "Size",
         "Rank",
         "StridedSlice",
         "Slice",
         "Pack",
         "Unpack",
         "ConcatV2",
         "Squeeze",
         "ExpandDims",
         "GatherV2",
         "Pad",
         "PadV2",
         "MirrorPad",
         "Fill",
         "Select",
         "SelectV2",
         "Const",
         "Placeholder",
         "PlaceholderWithDefault",
         "Identity",
         "IdentityN",
         "StopGradient",
         "Range",
         "Tile",
         "Split",
         "SplitV",
         "ClipByValue",
         "BroadcastTo",
         "StatefulPartitionedCall",
         "PartitionedCall"},
        {"output"});
    add({"ReadVariableOp"}, {"value"});
    add({"VarHandleOp"}, {"resource"});
    add({"VariableV2", "Variable"}, {"ref"});
    add({"AddN"}, {"sum"});
    add({"FusedBatchNormV3"}, {"y", "batch_mean", "batch_variance", "reserve_space_1",
                               "reserve_space_2", "reserve_space_3"});
    add({"FusedBatchNorm", "FusedBatchNormV2"},
        {"y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"});
    return t;
  }();
  return *table;
}

bool IsCall(const std::string& op) {
  return op == "StatefulPartitionedCall" || op == "PartitionedCall";
}

// Ops that pass their inputs through unchanged.
bool IsPassThrough(const std::string& op) {
  return op == "Identity" || op == "IdentityN" || op == "StopGradient";
}

// A graph (the top-level one or a function body) as it is called once: its
// nodes by name, its arguments bound to the caller's tensors, what has been
// resolved in it so far.
// Names are views into the meta graph's and its functions' strings, which
// outlive the walk: a load inlines thousands of nodes, and copying each name
// into every map was most of the walk's time.
using NodeIndex = absl::flat_hash_map<absl::string_view, const NodeDef*>;
struct Scope {
  const FunctionDef* function = nullptr;  // null: the top-level graph
  std::string prefix;                     // of its flat nodes' names
  // Its nodes by name: shared by every call of the same function.
  std::shared_ptr<const NodeIndex> nodes;
  absl::flat_hash_map<absl::string_view, TfOutput> args;
  absl::flat_hash_map<absl::string_view, int> emitted;  // node name -> flat node
  absl::flat_hash_map<absl::string_view, int> calls;    // call node name -> callee scope
  int depth = 0;                                        // of calls above it
  std::set<absl::string_view> active_functions;         // on the call path, itself included
};

class Inliner {
 public:
  // `max_depth` below kMaxInliningDepth is a budget for the caller's stack:
  // going past it fails the walk with exceeded_depth_budget() set.
  Inliner(const SavedModelMetaGraph& meta_graph, int max_depth)
      : max_depth_(max_depth), functions_(meta_graph.functions) {
    auto top = std::make_unique<Scope>();
    auto nodes = std::make_shared<NodeIndex>();
    for (const NodeDef& node : meta_graph.def->graph_def().node()) (*nodes)[node.name()] = &node;
    top->nodes = std::move(nodes);
    scopes_.push_back(std::move(top));
  }

  // A signature TensorInfo name, "node:index" in the top-level graph.
  StatusOr<TfOutput> ResolveTopLevel(const std::string& tensor_name) {
    return Resolve(0, tensor_name, 0);
  }

  TfFlatGraph& flat() { return flat_; }
  bool exceeded_depth_budget() const { return exceeded_depth_budget_; }

 private:
  std::string Where(const Scope& scope) const {
    return scope.function == nullptr
               ? std::string("the top-level graph")
               : absl::StrCat("function '", scope.function->signature().name(), "'");
  }

  Status Error(int scope, const std::string& node, const std::string& message) const {
    return absl::InvalidArgumentError(
        absl::StrCat("node '", node, "' in ", Where(*scopes_[scope]), ": ", message));
  }

  // Resolves `ref` (an input string of a node in `scope`) to a flat output.
  StatusOr<TfOutput> Resolve(int scope, const std::string& ref, int depth) {
    if (depth > max_depth_ && max_depth_ < kMaxInliningDepth) {
      exceeded_depth_budget_ = true;
      return absl::ResourceExhaustedError("deeper than the caller's stack budget");
    }
    if (depth > kMaxInliningDepth) {
      return absl::InvalidArgumentError(absl::StrCat("the graph nests deeper than ",
                                                     kMaxInliningDepth, " ops or calls at '", ref,
                                                     "' in ", Where(*scopes_[scope])));
    }
    Scope& s = *scopes_[scope];
    const absl::InlinedVector<absl::string_view, 3> parts = absl::StrSplit(ref, ':');
    if (s.function != nullptr && parts.size() == 1) {
      auto arg = s.args.find(parts[0]);
      if (arg != s.args.end()) return arg->second;
    }
    const absl::string_view node_name = parts[0];
    auto found = s.nodes->find(node_name);
    if (found == s.nodes->end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", ref, "' in ", Where(s), " names no node or argument"));
    }
    const NodeDef& node = *found->second;
    // The output's position among the node's outputs.
    int position = 0;
    if (s.function == nullptr) {
      if (parts.size() > 2 || (parts.size() == 2 && !absl::SimpleAtoi(parts[1], &position))) {
        return Error(scope, std::string(node_name),
                     absl::StrCat("bad tensor reference '", ref, "'"));
      }
    } else if (parts.size() >= 2) {
      int index = 0;
      if (parts.size() > 3 || (parts.size() == 3 && !absl::SimpleAtoi(parts[2], &index)) ||
          index < 0 || index > kMaxOutputIndex) {
        return Error(scope, std::string(node_name),
                     absl::StrCat("bad tensor reference '", ref, "'"));
      }
      const int arg = OutputArgPosition(node.op(), parts[1]);
      if (arg < 0) return UnknownOp(scope, node);
      position = arg + index;
    }
    if (position < 0) return Error(scope, node.name(), "negative output index");
    if (IsCall(node.op())) return ResolveCallOutput(scope, node, position, depth);
    if (IsPassThrough(node.op())) {
      const std::vector<const std::string*> inputs = DataInputs(node);
      const size_t from = node.op() == "IdentityN" ? static_cast<size_t>(position) : 0;
      if (from >= inputs.size() || (node.op() != "IdentityN" && position != 0)) {
        return Error(scope, node.name(), absl::StrCat("has no output ", position));
      }
      return Resolve(scope, *inputs[from], depth + 1);
    }
    ASSIGN_OR_RETURN(int flat_node, Emit(scope, node, depth));
    return TfOutput{flat_node, position};
  }

  Status UnknownOp(int scope, const NodeDef& node) const {
    return absl::InvalidArgumentError(absl::StrCat("unsupported TensorFlow op '", node.op(),
                                                   "' (node '", node.name(), "' in ",
                                                   Where(*scopes_[scope]), ")"));
  }

  static std::vector<const std::string*> DataInputs(const NodeDef& node) {
    std::vector<const std::string*> inputs;
    for (const std::string& input : node.input()) {
      if (!input.empty() && input[0] != '^') inputs.push_back(&input);
    }
    return inputs;
  }

  // The flat node for `node` in `scope`, created (after its inputs) once.
  StatusOr<int> Emit(int scope, const NodeDef& node, int depth) {
    {
      Scope& s = *scopes_[scope];
      auto done = s.emitted.find(node.name());
      if (done != s.emitted.end()) {
        if (done->second < 0) return Error(scope, node.name(), "reads its own output (a cycle)");
        return done->second;
      }
      if (OutputArgs().count(node.op()) == 0) return UnknownOp(scope, node);
      if (flat_.nodes.size() >= kMaxInlinedOps) {
        // Each call site gets its own copy of the function: a file of a few KB
        // whose functions each call the next twice asks for 2^depth copies.
        return Error(scope, node.name(),
                     absl::StrCat("the signature inlines to more than ", kMaxInlinedOps, " ops"));
      }
      s.emitted[node.name()] = -1;  // in progress
    }
    TfNode flat;
    for (const std::string* input : DataInputs(node)) {
      ASSIGN_OR_RETURN(TfOutput resolved, Resolve(scope, *input, depth + 1));
      flat.inputs.push_back(resolved);
    }
    Scope& s = *scopes_[scope];  // scopes_ may have grown; re-read
    flat.name = s.prefix + node.name();
    if (s.function != nullptr) flat.function = s.function->signature().name();
    flat.def = &node;
    flat_.nodes.push_back(std::move(flat));
    const int id = static_cast<int>(flat_.nodes.size()) - 1;
    s.emitted[node.name()] = id;
    return id;
  }

  // Output `position` of a function call: the callee's returned tensor,
  // resolved in the callee's scope for this call site.
  StatusOr<TfOutput> ResolveCallOutput(int scope, const NodeDef& call, int position, int depth) {
    ASSIGN_OR_RETURN(int callee, CalleeScope(scope, call, depth));
    const FunctionDef& f = *scopes_[callee]->function;
    if (position >= f.signature().output_arg_size()) {
      return Error(scope, call.name(),
                   absl::StrCat("reads output ", position, " of function '", f.signature().name(),
                                "', which has ", f.signature().output_arg_size()));
    }
    const std::string& arg = f.signature().output_arg(position).name();
    auto ret = f.ret().find(arg);
    if (ret == f.ret().end()) {
      return absl::InvalidArgumentError(absl::StrCat("function '", f.signature().name(),
                                                     "' does not return its output '", arg, "'"));
    }
    return Resolve(callee, ret->second, depth + 1);
  }

  StatusOr<int> CalleeScope(int scope, const NodeDef& call, int depth) {
    {
      auto known = scopes_[scope]->calls.find(call.name());
      if (known != scopes_[scope]->calls.end()) return known->second;
    }
    auto f_attr = call.attr().find("f");
    if (f_attr == call.attr().end() || !f_attr->second.has_func()) {
      return Error(scope, call.name(), "calls no function (attribute 'f')");
    }
    const std::string& name = f_attr->second.func().name();
    StatusOr<const FunctionDef*> function = functions_.Find(name);
    if (!function.ok()) return Error(scope, call.name(), std::string(function.status().message()));
    if (*function == nullptr) {
      return Error(scope, call.name(),
                   absl::StrCat("calls function '", name, "', which the library lacks"));
    }
    const FunctionDef& f = **function;
    if (scopes_[scope]->active_functions.count(name) > 0) {
      return Error(scope, call.name(), absl::StrCat("function '", name, "' calls itself"));
    }
    if (scopes_[scope]->depth + 1 > kMaxInliningDepth) {
      return Error(scope, call.name(), "function calls nest too deep");
    }
    const std::vector<const std::string*> inputs = DataInputs(call);
    if (static_cast<int>(inputs.size()) != f.signature().input_arg_size()) {
      return Error(scope, call.name(),
                   absl::StrCat("passes ", inputs.size(), " inputs to function '", name,
                                "', which takes ", f.signature().input_arg_size()));
    }
    if (scopes_.size() >= kMaxCallSites) {
      return Error(scope, call.name(),
                   absl::StrCat("the signature makes more than ", kMaxCallSites,
                                " function calls (each call site is inlined on its own)"));
    }
    auto callee = std::make_unique<Scope>();
    callee->function = &f;
    callee->prefix = absl::StrCat(scopes_[scope]->prefix, call.name(), "/");
    callee->depth = scopes_[scope]->depth + 1;
    callee->active_functions = scopes_[scope]->active_functions;
    callee->active_functions.insert(name);
    std::shared_ptr<const NodeIndex>& nodes = function_nodes_[&f];
    if (nodes == nullptr) {
      auto index = std::make_shared<NodeIndex>();
      for (const NodeDef& node : f.node_def()) (*index)[node.name()] = &node;
      nodes = std::move(index);
    }
    callee->nodes = nodes;
    // Arguments are resolved now, in the caller's scope: a call's inputs are
    // few, and a resource argument must reach its variable either way.
    for (int i = 0; i < f.signature().input_arg_size(); ++i) {
      ASSIGN_OR_RETURN(TfOutput bound, Resolve(scope, *inputs[i], depth + 1));
      callee->args[f.signature().input_arg(i).name()] = bound;
    }
    scopes_.push_back(std::move(callee));
    const int id = static_cast<int>(scopes_.size()) - 1;
    scopes_[scope]->calls[call.name()] = id;
    return id;
  }

  const int max_depth_;
  bool exceeded_depth_budget_ = false;
  const FunctionLibrary& functions_;
  std::vector<std::unique_ptr<Scope>> scopes_;
  absl::flat_hash_map<const FunctionDef*, std::shared_ptr<const NodeIndex>> function_nodes_;
  TfFlatGraph flat_;
};

}  // namespace

int OutputArgPosition(const std::string& op, absl::string_view arg) {
  auto found = OutputArgs().find(op);
  if (found == OutputArgs().end()) return -1;
  for (size_t i = 0; i < found->second.size(); ++i) {
    if (found->second[i] == arg) return static_cast<int>(i);
  }
  return -1;
}

namespace {

bool SameOutput(const TfOutput& a, const TfOutput& b) {
  return a.node == b.node && a.index == b.index;
}

bool SameKeyedOutputs(const std::vector<std::pair<std::string, TfOutput>>& a,
                      const std::vector<std::pair<std::string, TfOutput>>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.first == y.first && SameOutput(x.second, y.second);
  });
}

// The attr's value as bytes ("" when absent); protobuf serializes a message
// without maps deterministically.
std::string AttrBytes(const NodeDef& node, const std::string& name) {
  auto found = node.attr().find(name);
  return found == node.attr().end() ? std::string() : found->second.SerializeAsString();
}

bool SameNode(const TfNode& a, const TfNode& b) {
  if (!std::equal(a.inputs.begin(), a.inputs.end(), b.inputs.begin(), b.inputs.end(), SameOutput)) {
    return false;
  }
  if (a.def == b.def) return true;
  return a.def->op() == "Placeholder" && b.def->op() == "Placeholder" &&
         AttrBytes(*a.def, "dtype") == AttrBytes(*b.def, "dtype") &&
         AttrBytes(*a.def, "shape") == AttrBytes(*b.def, "shape");
}

}  // namespace

bool SameComputation(const TfFlatGraph& a, const TfFlatGraph& b) {
  return SameKeyedOutputs(a.inputs, b.inputs) && SameKeyedOutputs(a.outputs, b.outputs) &&
         std::equal(a.nodes.begin(), a.nodes.end(), b.nodes.begin(), b.nodes.end(), SameNode);
}

// Resolves the signature's inputs and outputs, sorted by key, into `inliner`.
static Status ResolveSignature(const tensorflow::SignatureDef& signature, Inliner& inliner) {
  auto sorted = [](const auto& map) {
    std::vector<std::pair<std::string, const tensorflow::TensorInfo*>> entries;
    for (const auto& [key, info] : map) entries.emplace_back(key, &info);
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return entries;
  };
  for (const auto& [key, info] : sorted(signature.inputs())) {
    if (info->name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("signature input '", key,
                       "' is not a dense tensor (sparse and composite "
                       "inputs are not supported)"));
    }
    ASSIGN_OR_RETURN(TfOutput tensor, inliner.ResolveTopLevel(info->name()));
    inliner.flat().inputs.emplace_back(key, tensor);
  }
  for (const auto& [key, info] : sorted(signature.outputs())) {
    if (info->name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("signature output '", key,
                       "' is not a dense tensor (sparse and composite "
                       "outputs are not supported)"));
    }
    ASSIGN_OR_RETURN(TfOutput tensor, inliner.ResolveTopLevel(info->name()));
    inliner.flat().outputs.emplace_back(key, tensor);
  }
  if (inliner.flat().outputs.empty()) {
    return absl::InvalidArgumentError("the signature has no outputs");
  }
  return absl::OkStatus();
}

// The walk on the calling thread's stack, at most `max_depth` deep;
// `*exceeded_depth_budget` tells a budget that ran out from other errors.
static StatusOr<TfFlatGraph> InlineOnThisStack(const SavedModelMetaGraph& meta_graph,
                                               const tensorflow::SignatureDef& signature,
                                               int max_depth, bool* exceeded_depth_budget) {
  Inliner inliner(meta_graph, max_depth);
  const Status resolved = ResolveSignature(signature, inliner);
  *exceeded_depth_budget = inliner.exceeded_depth_budget();
  if (!resolved.ok()) return resolved;
  return std::move(inliner.flat());
}

StatusOr<TfFlatGraph> InlineSignature(const SavedModelMetaGraph& meta_graph,
                                      const tensorflow::SignatureDef& signature) {
  // The walk recurses once per op on the longest path (kMaxInliningDepth at
  // most). A shallow graph is walked here; a deeper one again on a stack of
  // its own, sized for a sanitizer build's frames too (starting a thread with
  // such a stack costs ~0.1 ms, a noticeable part of a small model's load).
  bool too_deep = false;
  StatusOr<TfFlatGraph> result =
      InlineOnThisStack(meta_graph, signature, kCallerStackDepth, &too_deep);
  if (!too_deep) return result;
  RETURN_IF_ERROR(RunOnLargeStack(kInliningStackBytes, [&] {
    result = InlineOnThisStack(meta_graph, signature, kMaxInliningDepth, &too_deep);
  }));
  return result;
}

}  // namespace servekit
