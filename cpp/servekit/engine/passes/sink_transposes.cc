// Models in TensorFlow's NHWC layout reach the NCHW engine with a Transpose
// pair around every image op (formats/savedmodel translates them so, and
// tf2onnx exports the same). This pass moves each Transpose forward past the
// ops that do not care about layout, rewriting those ops for the untransposed
// layout, until it meets its inverse and both vanish, or reaches an op that
// needs the layout (Reshape, MatMul, Flatten, a graph output...), where one
// Transpose stays. A network then runs in one layout from its first image op
// to its last, with reorders only at the edges.
//
// A Transpose moves only when every reader of its output can take it: another
// Transpose (the two compose; inverse ones cancel), a unary elementwise op, a
// binary one whose other operand is a constant or a Transpose with the same
// permutation, Concat of same-permutation Transposes, a reduction or Pad with
// constant axes or pads. Each such reader then reads the Transpose's input
// and gets a Transpose of its own behind it, which moves on in a later round.
#include <algorithm>
#include <numeric>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "servekit/engine/passes/passes.h"

namespace servekit {
namespace {

using Perm = std::vector<int64_t>;

const std::set<std::string>& UnaryOps() {
  static const auto* ops = new std::set<std::string>{
      "Relu",       "Sigmoid", "Tanh", "LeakyRelu", "Gelu",     "Erf",      "Clip", "Sqrt",
      "Reciprocal", "Exp",     "Log",  "Neg",       "Abs",      "Softplus", "Elu",  "Selu",
      "Cast",       "Floor",   "Ceil", "Sign",      "Identity", "Dropout"};
  return *ops;
}
const std::set<std::string>& BinaryOps() {
  static const auto* ops = new std::set<std::string>{"Add",
                                                     "Sub",
                                                     "Mul",
                                                     "Div",
                                                     "Max",
                                                     "Min",
                                                     "Pow",
                                                     "Equal",
                                                     "Greater",
                                                     "Less",
                                                     "GreaterOrEqual",
                                                     "LessOrEqual"};
  return *ops;
}
const std::set<std::string>& ReduceOps() {
  static const auto* ops =
      new std::set<std::string>{"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd"};
  return *ops;
}

Perm Inverse(const Perm& p) {
  Perm inverse(p.size());
  for (size_t i = 0; i < p.size(); ++i) inverse[p[i]] = static_cast<int64_t>(i);
  return inverse;
}
bool IsIdentity(const Perm& p) {
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != static_cast<int64_t>(i)) return false;
  }
  return true;
}

class Sinker {
 public:
  explicit Sinker(Graph& graph) : graph_(graph) {}

  // One Transpose moved (or composed away); false when none can move.
  bool Step() {
    const std::vector<int> producers = graph_.Producers();
    for (size_t x = 0; x < graph_.nodes.size(); ++x) {
      const Node& t = graph_.nodes[x];
      if (t.op_type != "Transpose" || t.inputs.empty() || t.inputs[0] < 0) continue;
      auto perm = PermOf(t);
      if (!perm) continue;
      const int out = t.outputs[0];
      if (IsGraphOutput(out)) continue;
      std::vector<int> readers;
      for (size_t r = 0; r < graph_.nodes.size(); ++r) {
        const Node& node = graph_.nodes[r];
        if (!node.op_type.empty() &&
            std::find(node.inputs.begin(), node.inputs.end(), out) != node.inputs.end()) {
          readers.push_back(static_cast<int>(r));
        }
      }
      if (readers.empty()) continue;
      bool all = true;
      for (int r : readers) all = all && CanTake(r, out, *perm, producers);
      if (!all) continue;
      // Rewrite from the last reader so that inserted nodes do not shift the rest.
      std::sort(readers.rbegin(), readers.rend());
      const int source = t.inputs[0];
      for (int r : readers) Take(r, out, source, *perm, producers);
      graph_.nodes[x].op_type.clear();  // no readers left
      passes::CompactNodes(graph_);
      return true;
    }
    return false;
  }

 private:
  std::optional<Perm> PermOf(const Node& node) const {
    auto perm = node.attributes.GetInts("perm", {});
    if (!perm.ok() || perm->empty()) return std::nullopt;
    return *perm;
  }
  bool IsGraphOutput(int value) const {
    return std::find(graph_.outputs.begin(), graph_.outputs.end(), value) != graph_.outputs.end();
  }
  const Tensor* ConstantOf(int value) const {
    return value >= 0 && graph_.values[value].constant ? &*graph_.values[value].constant : nullptr;
  }
  // The permutation of the Transpose producing `value`, if that is its producer.
  std::optional<Perm> TransposedBy(int value, const std::vector<int>& producers) const {
    if (value < 0 || producers[value] < 0) return std::nullopt;
    const Node& p = graph_.nodes[producers[value]];
    if (p.op_type != "Transpose") return std::nullopt;
    return PermOf(p);
  }

  // The output of a Transpose of `value` by `perm` among the nodes before
  // `before`, or -1: a layout of `value` the graph computes anyway.
  int ExistingTranspose(int value, const Perm& perm, int before) const {
    for (int n = 0; n < before; ++n) {
      const Node& node = graph_.nodes[n];
      if (node.op_type == "Transpose" && !node.inputs.empty() && node.inputs[0] == value &&
          PermOf(node) == std::optional<Perm>(perm)) {
        return node.outputs[0];
      }
    }
    return -1;
  }

  bool CanTake(int r, int t, const Perm& perm, const std::vector<int>& producers) const {
    const Node& node = graph_.nodes[r];
    const size_t rank = perm.size();
    if (node.outputs.size() != 1) return false;
    if (node.op_type == "Transpose") return true;  // the two compose
    if (node.attributes.Has("_activation")) return false;
    if (UnaryOps().count(node.op_type)) {
      for (size_t i = 1; i < node.inputs.size(); ++i) {
        if (node.inputs[i] == t) return false;  // Clip's bounds are scalars
      }
      return node.inputs[0] == t;
    }
    if (BinaryOps().count(node.op_type)) {
      if (node.inputs.size() != 2) return false;
      for (int side = 0; side < 2; ++side) {
        const int other = node.inputs[side];
        if (other == t) continue;
        if (const Tensor* k = ConstantOf(other)) {
          if (static_cast<size_t>(k->rank()) > rank) return false;
          continue;
        }
        auto theirs = TransposedBy(other, producers);
        if (theirs && *theirs == perm) continue;
        // A residual input in the other layout, which the graph transposes
        // anyway (for the convolution that reads it): use that.
        if (ExistingTranspose(other, Inverse(perm), r) < 0) return false;
      }
      return true;
    }
    if (node.op_type == "Concat") {
      for (int input : node.inputs) {
        auto theirs = TransposedBy(input, producers);
        if (!theirs || *theirs != perm) return false;
      }
      return true;
    }
    if (ReduceOps().count(node.op_type) || node.op_type == "Pad") {
      if (node.inputs[0] != t) return false;
      for (size_t i = 1; i < node.inputs.size(); ++i) {
        if (node.inputs[i] == t || (node.inputs[i] >= 0 && !ConstantOf(node.inputs[i])))
          return false;
      }
      if (node.op_type == "Pad" && node.inputs.size() > 3 && node.inputs[3] >= 0) return false;
      if (node.op_type != "Pad" && node.inputs.size() < 2) return false;  // all axes
      return true;
    }
    return false;
  }

  // Reader `r` reads `source` instead of Transpose(source, perm) = `t`.
  void Take(int r, int t, int source, const Perm& perm, const std::vector<int>& producers) {
    Node& node = graph_.nodes[r];
    const Perm inverse = Inverse(perm);
    if (node.op_type == "Transpose") {
      const Perm theirs = *PermOf(node);
      Perm composed(theirs.size());
      for (size_t i = 0; i < theirs.size(); ++i) composed[i] = perm[theirs[i]];
      node.inputs[0] = source;
      if (IsIdentity(composed)) {
        node.op_type = "Identity";
        node.attributes = Attributes();
      } else {
        node.attributes.Set("perm", composed);
      }
      return;
    }
    std::vector<int> inputs = node.inputs;
    const size_t rank = perm.size();
    if (BinaryOps().count(node.op_type) || node.op_type == "Concat") {
      for (int& input : inputs) {
        if (input == t) {
          input = source;
        } else if (const Tensor* k = ConstantOf(input)) {
          input = PermutedConstant(*k, rank, inverse);
        } else if (auto theirs = TransposedBy(input, producers); theirs && *theirs == perm) {
          input = graph_.nodes[producers[input]].inputs[0];  // a same-perm Transpose's input
        } else {
          input = ExistingTranspose(input, inverse, r);  // CanTake found it
        }
      }
      if (node.op_type == "Concat") {
        int64_t axis = *node.attributes.GetInt("axis", 0);
        if (axis < 0) axis += static_cast<int64_t>(rank);
        node.attributes.Set("axis", perm[axis]);
      }
    } else {
      inputs[0] = source;
    }
    Perm after = perm;  // the Transpose the reader's output needs
    if (ReduceOps().count(node.op_type)) {
      const Tensor& axes_tensor = *ConstantOf(inputs[1]);
      std::vector<int64_t> axes(axes_tensor.data<int64_t>(),
                                axes_tensor.data<int64_t>() + axes_tensor.num_elements());
      std::set<int64_t> reduced;  // in source's axes
      for (int64_t& a : axes) {
        if (a < 0) a += static_cast<int64_t>(rank);
        a = perm[a];
        reduced.insert(a);
      }
      inputs[1] = Ints(axes);
      if (*node.attributes.GetInt("keepdims", 1) == 0) {
        // Kept axes: in source order out of the reader, wanted in t's order.
        std::vector<int64_t> kept_source, kept_wanted;
        for (size_t a = 0; a < rank; ++a) {
          if (!reduced.count(static_cast<int64_t>(a))) kept_source.push_back(a);
          if (!reduced.count(perm[a])) kept_wanted.push_back(perm[a]);
        }
        after.clear();
        for (int64_t w : kept_wanted) {
          after.push_back(std::find(kept_source.begin(), kept_source.end(), w) -
                          kept_source.begin());
        }
      }
    }
    if (node.op_type == "Pad") {
      const Tensor& pads = *ConstantOf(inputs[1]);
      std::vector<int64_t> moved(pads.num_elements());
      for (size_t i = 0; i < rank; ++i) {
        moved[perm[i]] = pads.data<int64_t>()[i];
        moved[rank + perm[i]] = pads.data<int64_t>()[rank + i];
      }
      inputs[1] = Ints(moved);
    }
    node.inputs = inputs;
    // The reader now computes in source's layout; a Transpose behind it
    // restores the layout its readers expect, under the same value id.
    const int y = node.outputs[0];
    const Value& typed = graph_.values[y];
    const int y0 = graph_.AddValue(typed.name + "_untransposed");
    Value& v0 = graph_.values[y0];
    const Value& v = graph_.values[y];
    v0.dtype = v.dtype;
    v0.typed = v.typed;
    v0.shape = v.shape;
    for (size_t j = 0; j < after.size(); ++j) v0.shape[after[j]] = v.shape[j];
    graph_.nodes[r].outputs[0] = y0;
    Node restore;
    restore.name = graph_.nodes[r].name + "/transpose";
    restore.op_type = "Transpose";
    restore.inputs = {y0};
    restore.outputs = {y};
    restore.attributes.Set("perm", after);
    if (IsIdentity(after)) {
      restore.op_type = "Identity";
      restore.attributes = Attributes();
    }
    graph_.nodes.insert(graph_.nodes.begin() + r + 1, std::move(restore));
  }

  // A broadcast operand of rank <= rank, as the same operand for the
  // untransposed layout: padded to `rank` and permuted by `inverse`.
  int PermutedConstant(const Tensor& k, size_t rank, const Perm& inverse) {
    Shape padded(rank - k.rank(), 1);
    padded.insert(padded.end(), k.shape().begin(), k.shape().end());
    Tensor moved = *k.Reshaped(padded).PermuteAxes(inverse);
    return graph_.AddConstant(absl::StrCat("sunk_constant_", graph_.values.size()),
                              std::move(moved));
  }
  int Ints(const std::vector<int64_t>& values) {
    Tensor t = *Tensor::Allocate(DType::kInt64, {static_cast<int64_t>(values.size())});
    std::copy(values.begin(), values.end(), t.data<int64_t>());
    return graph_.AddConstant(absl::StrCat("sunk_axes_", graph_.values.size()), std::move(t));
  }

  Graph& graph_;
};

}  // namespace

namespace passes {
bool IsLayoutAgnosticElementwise(const std::string& op_type) {
  return UnaryOps().count(op_type) > 0 || BinaryOps().count(op_type) > 0;
}
}  // namespace passes

Status SinkTransposes(Graph& graph) {
  Sinker sinker(graph);
  // Each step removes one Transpose from where it was; the bound only guards
  // against a cycle of rewrites that this pass's rules should never make.
  const size_t bound = 4 * graph.nodes.size() + 16;
  for (size_t step = 0; step < bound && sinker.Step(); ++step) {
  }
  return absl::OkStatus();
}

}  // namespace servekit
