#include "servekit/formats/savedmodel/function_inliner.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "servekit/formats/savedmodel/node_attrs.h"

namespace servekit {
namespace {

// Far above any real model (a large transformer inlines to tens of thousands).
constexpr size_t kMaxInlinedOps = size_t{1} << 18;
// Call sites inlined: each gets its own copy of the function, so a few KB of
// functions that each call the next twice ask for 2^depth of them.
constexpr size_t kMaxCallSites = size_t{1} << 15;
// The same for all the signatures of a model together.
constexpr size_t kMaxModelOps = 4 * kMaxInlinedOps;
constexpr size_t kMaxModelCallSites = 4 * kMaxCallSites;
// Steps of the walk (nodes begun, calls followed into), whatever they add:
// several times what the largest graph the limits above allow takes.
constexpr size_t kMaxWalkSteps = size_t{1} << 21;
constexpr size_t kMaxModelWalkSteps = 4 * kMaxWalkSteps;
// The highest `index` in "node:out_arg:index" (a list output's length).
constexpr int kMaxOutputIndex = 1 << 20;

using tensorflow::FunctionDef;

// Output argument names of the ops this reader resolves, in TensorFlow's
// OpDef order. Function bodies name outputs "node:arg:index"; an op missing
// here cannot be resolved (and could not be translated either).
const absl::flat_hash_map<std::string, std::vector<std::string>>& OutputArgs() {
  static const auto* table = [] {
    auto* t = new absl::flat_hash_map<std::string, std::vector<std::string>>;
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

bool IsCall(absl::string_view op) {
  return op == "StatefulPartitionedCall" || op == "PartitionedCall";
}

// The attr's value as bytes ("" when absent); protobuf serializes a message
// without maps deterministically. An attribute that does not parse gives
// bytes no other node's can equal (the translator then reports it).
std::string AttrBytes(const NodeView& node, absl::string_view name) {
  tensorflow::AttrValue value;
  StatusOr<bool> found = FindNodeAttr(node, name, &value);
  if (!found.ok()) return absl::StrCat("\xff(malformed) ", node.name());
  return *found ? value.SerializeAsString() : std::string();
}

// Ops that pass their inputs through unchanged.
bool IsPassThrough(absl::string_view op) {
  return op == "Identity" || op == "IdentityN" || op == "StopGradient";
}

// A graph (the top-level one or a function body) as it is called once: its
// nodes by name, its arguments bound to the caller's tensors, what has been
// resolved in it so far.
// Names are views into the meta graph's and its functions' strings, which
// outlive the walk: a load inlines thousands of nodes, and copying each name
// into every map was most of the walk's time.
using NodeIndex = absl::flat_hash_map<absl::string_view, const NodeView*>;
struct Scope {
  const FunctionDef* function = nullptr;  // null: the top-level graph
  int parent = -1;                        // the caller's scope; -1: none
  int call_depth = 0;                     // calls above it
  std::string prefix;                     // of its flat nodes' names
  // A function's nodes by name: shared by every call of the same function
  // (the top-level graph's are the meta graph's TopLevelGraph).
  std::shared_ptr<const NodeIndex> nodes;
  absl::flat_hash_map<absl::string_view, TfOutput> args;
  // Node -> flat node, and call node -> callee scope; -1 while the node's
  // inputs (the call's arguments) are being resolved. Keyed by the node the
  // walk found by name (one per name in a graph): a pointer hashes and
  // compares for less than the name it stands for.
  absl::flat_hash_map<const NodeView*, int> emitted;
  absl::flat_hash_map<const NodeView*, int> calls;
  // (Identity-like node, output) -> the tensor it passes on; node -2 while
  // its input is being resolved. Remembered so that a chain of them is
  // walked once, not once per reader.
  absl::flat_hash_map<std::pair<const NodeView*, int>, TfOutput> passed;
};

}  // namespace

// The flat outputs a node reads, hashed for the tables that find an op or a
// call inlined before.
template <typename H>
H AbslHashValue(H h, const TfOutput& output) {
  return H::combine(std::move(h), output.node, output.index);
}

// The walk keeps its own stack. Following a reference into a callee's
// returned tensor, out to an argument's bound tensor or through an Identity
// already resolved is a loop; only a node whose inputs are not resolved yet
// (an op to emit, a call whose arguments to bind, an Identity whose input to
// resolve once) is pushed, on a vector. A graph of any depth (a
// deep network's chain of thousands of ops) then needs no more native stack
// than a short one, in a sanitizer build too, and no file can overflow it.
class SignatureInliner::Walk {
 public:
  explicit Walk(const SavedModelMetaGraph& meta_graph)
      : functions_(meta_graph.functions), top_level_(meta_graph.top_level) {}

  // Starts a signature: a scope of its own for the top-level graph (what a
  // top-level node resolves to depends on which Placeholders the signature
  // feeds), and the keys of the Placeholders it feeds by name.
  void BeginSignature(absl::flat_hash_map<absl::string_view, std::string> fed_placeholders) {
    if (top_ >= 0) {
      // The last signature's view of the top-level graph is not read again
      // (the recursion check reads only `function` and `parent`).
      Scope& last = *scopes_[top_];
      last.emitted = {};
      last.calls = {};
      last.passed = {};
    }
    scopes_.push_back(std::make_unique<Scope>());  // its nodes: top_level_
    top_ = static_cast<int>(scopes_.size()) - 1;
    fed_placeholders_ = std::move(fed_placeholders);
    first_node_ = nodes_.size();
    first_scope_ = scopes_.size();
    signature_steps_ = 0;
  }

  // A signature TensorInfo name, "node:index" in the top-level graph.
  StatusOr<TfOutput> ResolveTopLevel(absl::string_view tensor_name) {
    return Resolve(top_, tensor_name);
  }

  std::vector<TfNode>& nodes() { return nodes_; }

 private:
  // A node whose inputs are being resolved: an op to emit once they are, a
  // call whose callee scope is made once its arguments are, or an
  // Identity-like op whose output is its input, once that is resolved.
  struct Pending {
    int scope = 0;
    const NodeView* node = nullptr;
    const LibraryFunction* callee = nullptr;  // a call's
    bool passes_through = false;
    // Inline room for the inputs of most ops: a walk makes one Pending per node.
    absl::InlinedVector<absl::string_view, 4> inputs;
    absl::InlinedVector<TfOutput, 4> resolved;
    int position = 0;  // of the output the reference that reached it reads
    // That reference (to a call's output): followed again, into the callee,
    // once the callee scope is made.
    absl::string_view resume_ref;

    // The resolved inputs as the tables of what was inlined before key them.
    std::vector<TfOutput> ResolvedKey() const { return {resolved.begin(), resolved.end()}; }
  };

  // Where following a reference stopped: at an output, or at a node whose
  // inputs must be resolved first.
  struct Followed {
    TfOutput output;  // blocked_on: the output's position among its outputs
    const NodeView* blocked_on = nullptr;
    int scope = 0;          // blocked_on's
    absl::string_view ref;  // the reference that reached it
    // An Identity-like op's input it passes on.
    std::optional<absl::string_view> passes;

    Followed(TfOutput output) : output(output) {}  // NOLINT: an output reached
    Followed(TfOutput output, const NodeView* blocked_on, int scope, absl::string_view ref,
             std::optional<absl::string_view> passes = std::nullopt)
        : output(output), blocked_on(blocked_on), scope(scope), ref(ref), passes(passes) {}
  };

  std::string Where(const Scope& scope) const {
    return scope.function == nullptr
               ? std::string("the top-level graph")
               : absl::StrCat("function '", scope.function->signature().name(), "'");
  }

  Status Error(int scope, absl::string_view node, absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat("node '", node, "' in ", Where(*scopes_[scope]), ": ", message));
  }

  Status UnknownOp(int scope, const NodeView& node) const {
    return absl::InvalidArgumentError(absl::StrCat("unsupported TensorFlow op '", node.op(),
                                                   "' (node '", node.name(), "' in ",
                                                   Where(*scopes_[scope]), ")"));
  }

  static absl::InlinedVector<absl::string_view, 4> DataInputs(const NodeView& node) {
    absl::InlinedVector<absl::string_view, 4> inputs;
    for (absl::string_view input : node.inputs()) {
      if (!input.empty() && input[0] != '^') inputs.push_back(input);
    }
    return inputs;
  }

  // Resolves `ref` (an input string of a node in `scope`) to a flat output,
  // emitting what it needs. The strings `ref` and the stack point to are the
  // graph's (or the caller's), which outlive the walk.
  StatusOr<TfOutput> Resolve(int scope, absl::string_view ref) {
    std::vector<Pending> stack;
    int want_scope = scope;
    absl::string_view want = ref;
    std::optional<TfOutput> got;
    while (true) {
      if (!got) {
        ASSIGN_OR_RETURN(Followed followed, Follow(want_scope, want));
        if (followed.blocked_on == nullptr) {
          got = followed.output;
        } else {
          ASSIGN_OR_RETURN(Pending pending, Begin(followed));
          stack.push_back(std::move(pending));
        }
      }
      if (got) {
        if (stack.empty()) return *got;
        stack.back().resolved.push_back(*got);
        got.reset();
      }
      // Next: the top node's next input; or, when it has them all, the node
      // is done: an op's output (or what an Identity passes on) is the answer
      // for the reference that reached it, and a reference to a call's output
      // is followed again, into the callee.
      Pending& top = stack.back();
      if (top.resolved.size() < top.inputs.size()) {
        want_scope = top.scope;
        want = top.inputs[top.resolved.size()];
        continue;
      }
      const int done = Finish(top);
      if (top.passes_through) {
        got = top.resolved[0];
      } else if (top.callee == nullptr) {
        got = TfOutput{done, top.position};
      } else {
        want_scope = top.scope;
        want = top.resume_ref;
      }
      stack.pop_back();
    }
  }

  // Follows `ref` in `scope` through arguments, Identity-like ops already
  // resolved and the outputs of calls already bound, to an output, or to the
  // first node on the way whose inputs are not resolved yet.
  StatusOr<Followed> Follow(int scope, absl::string_view ref) {
    // Each step goes into a callee. A valid file's calls nest at most
    // kMaxCallNesting deep; a callee scope shared by calls from different
    // depths (the same function and arguments) can hide a deeper nesting or
    // two functions that call each other, which this bound then stops.
    for (int steps = 0;; ++steps) {
      if (steps > kMaxCallNesting + 1) {
        return Error(scope, ref,
                     absl::StrCat("function calls nest deeper than ", kMaxCallNesting,
                                  " or call each other in a cycle"));
      }
      RETURN_IF_ERROR(Step(scope, ref));
      const Scope& s = *scopes_[scope];
      const absl::InlinedVector<absl::string_view, 3> parts = absl::StrSplit(ref, ':');
      if (s.function != nullptr && parts.size() == 1) {
        auto arg = s.args.find(parts[0]);
        if (arg != s.args.end()) return Followed{arg->second};
      }
      const absl::string_view node_name = parts[0];
      const NodeView* found = nullptr;
      if (s.function == nullptr) {
        ASSIGN_OR_RETURN(found, top_level_.Find(node_name));  // parsed on first use
      } else if (auto in_body = s.nodes->find(node_name); in_body != s.nodes->end()) {
        found = in_body->second;
      }
      if (found == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", ref, "' in ", Where(s), " names no node or argument"));
      }
      const NodeView& node = *found;
      // The output's position among the node's outputs.
      int position = 0;
      if (s.function == nullptr) {
        if (parts.size() > 2 || (parts.size() == 2 && !absl::SimpleAtoi(parts[1], &position))) {
          return Error(scope, node_name, absl::StrCat("bad tensor reference '", ref, "'"));
        }
      } else if (parts.size() >= 2) {
        int index = 0;
        if (parts.size() > 3 || (parts.size() == 3 && !absl::SimpleAtoi(parts[2], &index)) ||
            index < 0 || index > kMaxOutputIndex) {
          return Error(scope, node_name, absl::StrCat("bad tensor reference '", ref, "'"));
        }
        const int arg = OutputArgPosition(node.op(), parts[1]);
        if (arg < 0) return UnknownOp(scope, node);
        position = arg + index;
      }
      if (position < 0) return Error(scope, node.name(), "negative output index");
      if (IsCall(node.op())) {
        auto callee = s.calls.find(&node);
        if (callee == s.calls.end()) return Followed{TfOutput{-1, position}, &node, scope, ref};
        if (callee->second < 0) return Error(scope, node.name(), "reads its own output (a cycle)");
        const FunctionDef& f = *scopes_[callee->second]->function;
        if (position >= f.signature().output_arg_size()) {
          return Error(
              scope, node.name(),
              absl::StrCat("reads output ", position, " of function '", f.signature().name(),
                           "', which has ", f.signature().output_arg_size()));
        }
        const std::string& arg = f.signature().output_arg(position).name();
        auto ret = f.ret().find(arg);
        if (ret == f.ret().end()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "function '", f.signature().name(), "' does not return its output '", arg, "'"));
        }
        scope = callee->second;
        ref = ret->second;
        continue;
      }
      if (IsPassThrough(node.op())) {
        auto passed = s.passed.find(std::make_pair(&node, position));
        if (passed != s.passed.end()) {
          if (passed->second.node == -2) {
            return Error(scope, node.name(), "passes its own output on (a cycle)");
          }
          return Followed{passed->second};
        }
        const absl::InlinedVector<absl::string_view, 4> inputs = DataInputs(node);
        const size_t from = node.op() == "IdentityN" ? static_cast<size_t>(position) : 0;
        if (from >= inputs.size() || (node.op() != "IdentityN" && position != 0)) {
          return Error(scope, node.name(), absl::StrCat("has no output ", position));
        }
        return Followed{TfOutput{-1, position}, &node, scope, ref, inputs[from]};
      }
      auto done = s.emitted.find(&node);
      if (done == s.emitted.end()) return Followed{TfOutput{-1, position}, &node, scope, ref};
      if (done->second < 0) return Error(scope, node.name(), "reads its own output (a cycle)");
      return Followed{TfOutput{done->second, position}};
    }
  }

  // Counts one step of the walk (a node begun, a call followed into) against
  // the budgets: what the op and call limits do not count (Identity ops, ops
  // and calls found inlined before, each signature's own walk of the
  // top-level graph) is bounded too.
  Status Step(int scope, absl::string_view where) {
    ++signature_steps_;
    ++model_steps_;
    if (signature_steps_ > kMaxWalkSteps) {
      return Error(scope, where,
                   absl::StrCat("inlining the signature takes more than ", kMaxWalkSteps,
                                " steps (ops, Identity ops and calls)"));
    }
    if (model_steps_ > kMaxModelWalkSteps) {
      return Error(scope, where,
                   absl::StrCat("inlining the model's signatures takes more than ",
                                kMaxModelWalkSteps, " steps"));
    }
    return absl::OkStatus();
  }

  // Checks the node Follow stopped at and marks it in progress: its inputs
  // come next.
  StatusOr<Pending> Begin(const Followed& at) {
    const int scope = at.scope;
    const NodeView& node = *at.blocked_on;
    RETURN_IF_ERROR(Step(scope, node.name()));
    Scope& s = *scopes_[scope];
    Pending pending;
    pending.scope = scope;
    pending.node = &node;
    pending.position = at.output.index;
    pending.resume_ref = at.ref;
    if (at.passes) {
      pending.passes_through = true;
      pending.inputs = {*at.passes};
      s.passed[std::make_pair(&node, at.output.index)] = TfOutput{-2, 0};
      return pending;
    }
    pending.inputs = DataInputs(node);
    if (!IsCall(node.op())) {
      if (OutputArgs().count(node.op()) == 0) return UnknownOp(scope, node);
      // Each call with other arguments gets its own copy of the function: a
      // file of a few KB whose functions each call the next twice asks for
      // 2^depth copies.
      if (nodes_.size() - first_node_ >= kMaxInlinedOps) {
        return Error(scope, node.name(),
                     absl::StrCat("the signature inlines to more than ", kMaxInlinedOps, " ops"));
      }
      if (nodes_.size() >= kMaxModelOps) {
        return Error(
            scope, node.name(),
            absl::StrCat("the model's signatures inline to more than ", kMaxModelOps, " ops"));
      }
      s.emitted[&node] = -1;
      return pending;
    }
    // Read once per call node, however many times the walk meets it.
    auto [callee, first_time] = callee_names_.try_emplace(&node);
    if (first_time) {
      tensorflow::AttrValue f_attr;
      StatusOr<bool> has_f = FindNodeAttr(node, "f", &f_attr);
      if (!has_f.ok()) return Error(scope, node.name(), std::string(has_f.status().message()));
      if (!*has_f || !f_attr.has_func()) {
        return Error(scope, node.name(), "calls no function (attribute 'f')");
      }
      callee->second = f_attr.func().name();
    }
    const std::string& name = callee->second;
    StatusOr<const LibraryFunction*> function = functions_.Find(name);
    if (!function.ok()) return Error(scope, node.name(), std::string(function.status().message()));
    if (*function == nullptr) {
      return Error(scope, node.name(),
                   absl::StrCat("calls function '", name, "', which the library lacks"));
    }
    // One FunctionDef per name: a function on the call path is a recursion.
    for (int up = scope; up >= 0; up = scopes_[up]->parent) {
      if (scopes_[up]->function == (*function)->def) {
        return Error(scope, node.name(), absl::StrCat("function '", name, "' calls itself"));
      }
    }
    if (s.call_depth + 1 > kMaxCallNesting) {
      return Error(scope, node.name(),
                   absl::StrCat("function calls nest deeper than ", kMaxCallNesting));
    }
    const FunctionDef& f = *(*function)->def;
    if (static_cast<int>(pending.inputs.size()) != f.signature().input_arg_size()) {
      return Error(scope, node.name(),
                   absl::StrCat("passes ", pending.inputs.size(), " inputs to function '", name,
                                "', which takes ", f.signature().input_arg_size()));
    }
    if (scopes_.size() - first_scope_ >= kMaxCallSites) {
      return Error(scope, node.name(),
                   absl::StrCat("the signature makes more than ", kMaxCallSites,
                                " function calls (each call with other arguments is inlined on "
                                "its own)"));
    }
    if (scopes_.size() >= kMaxModelCallSites) {
      return Error(scope, node.name(),
                   absl::StrCat("the model's signatures make more than ", kMaxModelCallSites,
                                " function calls"));
    }
    pending.callee = *function;
    s.calls[&node] = -1;
    return pending;
  }

  // Emits the op, or makes the callee's scope with its arguments bound (or
  // finds the same inlined before); returns the flat node or the scope.
  int Finish(const Pending& done) {
    Scope& s = *scopes_[done.scope];
    const NodeView& node = *done.node;
    if (done.passes_through) {
      s.passed[std::make_pair(&node, done.position)] = done.resolved[0];
      return -1;
    }
    if (done.callee == nullptr) {
      int* id = nullptr;  // where the table keeps the node, for a top-level one
      if (s.function == nullptr) {
        auto fed = fed_placeholders_.find(node.name());
        if (fed != fed_placeholders_.end() && node.op() == "Placeholder") {
          id = &fed_inputs_
                    .try_emplace(
                        absl::StrCat(fed->second.size(), ":", fed->second, "|",
                                     AttrBytes(node, "dtype"), "|", AttrBytes(node, "shape")),
                        -1)
                    .first->second;
        } else {
          id = &top_level_ops_.try_emplace({&node, done.ResolvedKey()}, -1).first->second;
        }
        if (*id >= 0) {
          s.emitted[&node] = *id;
          return *id;
        }
      }
      TfNode flat;
      flat.name = absl::StrCat(s.prefix, node.name());
      if (s.function != nullptr) flat.function = s.function->signature().name();
      flat.def = &node;
      flat.inputs.assign(done.resolved.begin(), done.resolved.end());
      nodes_.push_back(std::move(flat));
      const int emitted = static_cast<int>(nodes_.size()) - 1;
      if (id != nullptr) *id = emitted;
      s.emitted[&node] = emitted;
      return emitted;
    }
    const FunctionDef& f = *done.callee->def;
    int& known = callees_.try_emplace({&f, done.ResolvedKey()}, -1).first->second;
    if (known >= 0) {
      s.calls[&node] = known;
      return known;
    }
    auto callee = std::make_unique<Scope>();
    callee->function = &f;
    callee->parent = done.scope;
    callee->call_depth = s.call_depth + 1;
    callee->prefix = absl::StrCat(s.prefix, node.name(), "/");
    std::shared_ptr<const NodeIndex>& nodes = function_nodes_[&f];
    if (nodes == nullptr) {
      auto index = std::make_shared<NodeIndex>();
      for (const NodeView& body_node : done.callee->nodes) (*index)[body_node.name()] = &body_node;
      nodes = std::move(index);
    }
    callee->nodes = nodes;
    for (int i = 0; i < f.signature().input_arg_size(); ++i) {
      callee->args[f.signature().input_arg(i).name()] = done.resolved[i];
    }
    scopes_.push_back(std::move(callee));
    const int id = static_cast<int>(scopes_.size()) - 1;
    s.calls[&node] = id;
    known = id;
    return id;
  }

  const FunctionLibrary& functions_;
  absl::flat_hash_map<const NodeView*, std::string> callee_names_;  // call node -> its "f"
  const TopLevelGraph& top_level_;
  std::vector<std::unique_ptr<Scope>> scopes_;
  int top_ = -1;  // the current signature's top-level scope
  // Where the current signature's nodes and scopes begin: the limits are per
  // signature (and, four times over, per model).
  size_t first_node_ = 0;
  size_t first_scope_ = 0;
  size_t signature_steps_ = 0;
  size_t model_steps_ = 0;
  absl::flat_hash_map<absl::string_view, std::string> fed_placeholders_;
  absl::flat_hash_map<const FunctionDef*, std::shared_ptr<const NodeIndex>> function_nodes_;
  std::vector<TfNode> nodes_;
  // What was inlined, for the signatures after the first: a fed Placeholder
  // by key, op, dtype and shape; a top-level op by its node and inputs; a
  // call by its function and arguments.
  absl::flat_hash_map<std::string, int> fed_inputs_;
  absl::flat_hash_map<std::pair<const NodeView*, std::vector<TfOutput>>, int> top_level_ops_;
  absl::flat_hash_map<std::pair<const FunctionDef*, std::vector<TfOutput>>, int> callees_;
};

int OutputArgPosition(absl::string_view op, absl::string_view arg) {
  auto found = OutputArgs().find(op);
  if (found == OutputArgs().end()) return -1;
  for (size_t i = 0; i < found->second.size(); ++i) {
    if (found->second[i] == arg) return static_cast<int>(i);
  }
  return -1;
}

bool SameTensors(const TfSignatureTensors& a, const TfSignatureTensors& b) {
  return a.inputs == b.inputs && a.outputs == b.outputs;
}

SignatureInliner::SignatureInliner(const SavedModelMetaGraph& meta_graph)
    : walk_(std::make_unique<Walk>(meta_graph)) {}

SignatureInliner::~SignatureInliner() = default;

const std::vector<TfNode>& SignatureInliner::nodes() const { return walk_->nodes(); }

std::vector<TfNode> SignatureInliner::TakeNodes() && { return std::move(walk_->nodes()); }

static StatusOr<TfSignatureTensors> InlineSignatureTensors(
    const tensorflow::SignatureDef& signature, SignatureInliner::Walk& walk);

StatusOr<TfSignatureTensors> SignatureInliner::Inline(const tensorflow::SignatureDef& signature) {
  if (failed_) {
    return absl::FailedPreconditionError(
        "an earlier signature failed to inline: the inliner's state is not whole");
  }
  StatusOr<TfSignatureTensors> tensors = InlineSignatureTensors(signature, *walk_);
  failed_ = !tensors.ok();
  return tensors;
}

// Resolves the signature's inputs and outputs, sorted by key, in `walk`.
static StatusOr<TfSignatureTensors> InlineSignatureTensors(
    const tensorflow::SignatureDef& signature, SignatureInliner::Walk& walk) {
  auto sorted = [](const auto& map) {
    std::vector<std::pair<std::string, const tensorflow::TensorInfo*>> entries;
    for (const auto& [key, info] : map) entries.emplace_back(key, &info);
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return entries;
  };
  const auto inputs = sorted(signature.inputs());
  const auto outputs = sorted(signature.outputs());
  // The Placeholders the signature feeds ("name:0" or "name"), by name; one
  // fed under two keys keeps the first.
  absl::flat_hash_map<absl::string_view, std::string> fed;
  for (const auto& [key, info] : inputs) {
    absl::string_view name = info->name();
    if (absl::EndsWith(name, ":0")) name.remove_suffix(2);
    if (!name.empty() && name.find(':') == absl::string_view::npos) fed.try_emplace(name, key);
  }
  walk.BeginSignature(std::move(fed));
  TfSignatureTensors tensors;
  for (const auto& [key, info] : inputs) {
    if (info->name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("signature input '", key,
                       "' is not a dense tensor (sparse and composite "
                       "inputs are not supported)"));
    }
    ASSIGN_OR_RETURN(TfOutput tensor, walk.ResolveTopLevel(info->name()));
    tensors.inputs.emplace_back(key, tensor);
  }
  for (const auto& [key, info] : outputs) {
    if (info->name().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("signature output '", key,
                       "' is not a dense tensor (sparse and composite "
                       "outputs are not supported)"));
    }
    ASSIGN_OR_RETURN(TfOutput tensor, walk.ResolveTopLevel(info->name()));
    tensors.outputs.emplace_back(key, tensor);
  }
  if (tensors.outputs.empty()) return absl::InvalidArgumentError("the signature has no outputs");
  return tensors;
}

StatusOr<TfFlatGraph> InlineSignature(const SavedModelMetaGraph& meta_graph,
                                      const tensorflow::SignatureDef& signature) {
  SignatureInliner inliner(meta_graph);
  ASSIGN_OR_RETURN(TfSignatureTensors tensors, inliner.Inline(signature));
  TfFlatGraph flat;
  flat.nodes = std::move(inliner).TakeNodes();
  flat.inputs = std::move(tensors.inputs);
  flat.outputs = std::move(tensors.outputs);
  return flat;
}

}  // namespace servekit
