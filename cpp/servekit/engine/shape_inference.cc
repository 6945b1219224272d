#include "servekit/engine/shape_inference.h"

#include <algorithm>
#include <deque>

#include "absl/strings/str_join.h"
#include "servekit/engine/evaluate_node.h"
#include "servekit/engine/op_registry.h"

namespace servekit {
namespace {

// Folding is skipped for outputs larger than this, to keep model files' size
// and load time proportional to what they store.
constexpr int64_t kMaxFoldedElements = int64_t{1} << 26;
// 4 Gi elements (16 GiB of float32) for one batch item of one tensor.
constexpr int64_t kMaxElementsPerItem = int64_t{1} << 32;

Status CheckSchema(const Node& node, const OpSchema& schema) {
  const int n_in = static_cast<int>(node.inputs.size());
  const int n_out = static_cast<int>(node.outputs.size());
  if (n_in < schema.min_inputs || n_in > schema.max_inputs) {
    return absl::InvalidArgumentError(absl::StrCat(node.Describe(), ": has ", n_in,
                                                   " inputs; expected ", schema.min_inputs, " to ",
                                                   schema.max_inputs));
  }
  if (n_out < schema.min_outputs || n_out > schema.max_outputs) {
    return absl::InvalidArgumentError(absl::StrCat(node.Describe(), ": has ", n_out,
                                                   " outputs; expected ", schema.min_outputs,
                                                   " to ", schema.max_outputs));
  }
  for (int i = 0; i < schema.min_inputs; ++i) {
    if (node.inputs[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(node.Describe(), ": required input ", i, " is missing"));
    }
  }
  for (const auto& [name, value] : node.attributes.all()) {
    if (std::find(schema.attributes.begin(), schema.attributes.end(), name) ==
        schema.attributes.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          node.Describe(), ": unknown attribute '", name, "' (accepted: ",
          schema.attributes.empty() ? "none" : absl::StrJoin(schema.attributes, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

// Kahn's algorithm over value dependencies; keeps the file's order where it is valid.
Status SortTopologically(Graph& graph) {
  const size_t n = graph.nodes.size();
  std::vector<int> producer = graph.Producers();
  std::vector<std::vector<int>> consumers(n);
  std::vector<int> pending(n, 0);
  for (size_t i = 0; i < n; ++i) {
    for (int id : graph.nodes[i].inputs) {
      if (id < 0 || producer[id] < 0) continue;
      consumers[producer[id]].push_back(static_cast<int>(i));
      ++pending[i];
    }
  }
  std::deque<int> ready;
  for (size_t i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push_back(static_cast<int>(i));
  }
  std::vector<Node> sorted;
  sorted.reserve(n);
  while (!ready.empty()) {
    int i = ready.front();
    ready.pop_front();
    for (int c : consumers[i]) {
      if (--pending[c] == 0) ready.push_back(c);
    }
    sorted.push_back(std::move(graph.nodes[i]));
  }
  if (sorted.size() != n) {
    for (size_t i = 0; i < n; ++i) {
      if (pending[i] > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(graph.nodes[i].Describe(), ": the graph has a cycle through this node"));
      }
    }
  }
  graph.nodes = std::move(sorted);
  return absl::OkStatus();
}

bool AllRuntimeInputsConstant(const Node& node, const OpSchema& schema, const Graph& graph) {
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const int id = node.inputs[i];
    if (id < 0 || schema.IsLoadTimeInput(static_cast<int>(i))) continue;
    if (!graph.values[id].constant.has_value()) return false;
  }
  return true;
}

Status FoldIfConstant(Node& node, const OpSchema& schema, Graph& graph) {
  bool all_known = true;
  for (int id : node.outputs) {
    Value& v = graph.values[id];
    // Shape arithmetic that needs no batch size becomes an ordinary constant.
    if (!v.constant && v.shape_value && IsFixed(*v.shape_value) && v.dtype == DType::kInt64) {
      ASSIGN_OR_RETURN(Tensor t, Tensor::Allocate(DType::kInt64, Evaluate(v.shape, 0)));
      for (size_t k = 0; k < v.shape_value->size(); ++k) {
        t.data<int64_t>()[k] = (*v.shape_value)[k].value();
      }
      if (t.num_elements() == static_cast<int64_t>(v.shape_value->size()))
        v.constant = std::move(t);
    }
    all_known = all_known && v.constant.has_value();
  }
  if (all_known || !AllRuntimeInputsConstant(node, schema, graph)) return absl::OkStatus();
  for (int id : node.outputs) {
    const Value& v = graph.values[id];
    // Checked: NumElements of a hostile shape could overflow and look small.
    if (!IsFixed(v.shape) || !CheckedNumElements(Evaluate(v.shape, 0), kMaxFoldedElements).ok()) {
      return absl::OkStatus();
    }
  }
  ASSIGN_OR_RETURN(std::vector<Tensor> results, EvaluateNode(node, graph));
  for (size_t k = 0; k < results.size(); ++k)
    graph.values[node.outputs[k]].constant = std::move(results[k]);
  return absl::OkStatus();
}

}  // namespace

Status InferGraph(Graph& graph) {
  const OpRegistry& registry = OpRegistry::Global();
  for (const Node& node : graph.nodes) {
    const OpSchema* schema = registry.Find(node.op_type);
    if (schema == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(node.Describe(), ": unsupported operator '", node.op_type, "'"));
    }
    RETURN_IF_ERROR(CheckSchema(node, *schema));
  }
  RETURN_IF_ERROR(SortTopologically(graph));

  for (Node& node : graph.nodes) {
    const OpSchema& schema = *registry.Find(node.op_type);
    for (int id : node.inputs) {
      if (id >= 0 && !graph.values[id].typed) {
        return absl::InvalidArgumentError(
            absl::StrCat(node.Describe(), ": input '", graph.values[id].name, "' has no type"));
      }
    }
    InferenceContext ctx(graph, node);
    RETURN_IF_ERROR(schema.infer(ctx));
    for (int id : node.outputs) {
      if (!graph.values[id].typed) {
        return absl::InternalError(absl::StrCat(node.Describe(), ": output '",
                                                graph.values[id].name, "' was not inferred"));
      }
    }
    RETURN_IF_ERROR(FoldIfConstant(node, schema, graph));
  }
  // Per batch item, no value may be absurdly large (hostile or broken dims).
  for (const Value& v : graph.values) {
    if (!v.typed) continue;
    auto elements = CheckedNumElements(Evaluate(v.shape, 1), kMaxElementsPerItem);
    if (!elements.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("value '", v.name, "' has shape ", SymShapeToString(v.shape),
                       ", too large to run: ", elements.status().message()));
    }
  }
  for (int id : graph.outputs) {
    if (!graph.values[id].typed) {
      return absl::InvalidArgumentError(
          absl::StrCat("graph output '", graph.values[id].name, "' is never computed"));
    }
  }
  return absl::OkStatus();
}

}  // namespace servekit
