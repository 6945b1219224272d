#include "servekit/formats/savedmodel/variable_keys.h"

#include <deque>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "servekit/formats/savedmodel/node_attrs.h"

namespace servekit {
namespace {

constexpr char kVariableValue[] = "VARIABLE_VALUE";

// The checkpoint key of the trackable object's variable value, or "".
const std::string* VariableValueKey(const tensorflow::TrackableObjectGraph::TrackableObject& o) {
  for (const auto& attribute : o.attributes()) {
    if (attribute.name() == kVariableValue) return &attribute.checkpoint_key();
  }
  return nullptr;
}

// Saved object id -> checkpoint key, for the saved variables the two graphs
// share (walked together from their roots, children matched by local name).
absl::flat_hash_map<int, std::string> SavedVariableKeys(
    const tensorflow::SavedObjectGraph& saved, const tensorflow::TrackableObjectGraph& trackable) {
  absl::flat_hash_map<int, std::string> keys;
  if (saved.nodes_size() == 0 || trackable.nodes_size() == 0) return keys;
  std::vector<bool> visited(saved.nodes_size(), false);
  std::deque<std::pair<int, int>> pending = {{0, 0}};  // (saved id, trackable id)
  visited[0] = true;
  while (!pending.empty()) {
    const auto [saved_id, trackable_id] = pending.front();
    pending.pop_front();
    const auto& saved_node = saved.nodes(saved_id);
    const auto& trackable_node = trackable.nodes(trackable_id);
    if (saved_node.has_variable()) {
      if (const std::string* key = VariableValueKey(trackable_node)) keys[saved_id] = *key;
    }
    for (const auto& child : saved_node.children()) {
      const int next = child.node_id();
      if (next < 0 || next >= saved.nodes_size() || visited[next]) continue;
      for (const auto& candidate : trackable_node.children()) {
        if (candidate.local_name() == child.local_name() && candidate.node_id() >= 0 &&
            candidate.node_id() < trackable.nodes_size()) {
          visited[next] = true;
          pending.emplace_back(next, candidate.node_id());
          break;
        }
      }
    }
  }
  return keys;
}

// The data inputs of `node`, as top-level node names ("x:0" -> "x").
std::vector<absl::string_view> InputNodeNames(const NodeView& node) {
  std::vector<absl::string_view> names;
  for (absl::string_view input : node.inputs()) {
    if (input.empty() || input[0] == '^') continue;
    names.push_back(input.substr(0, input.find(':')));
  }
  return names;
}

}  // namespace

VariableCheckpointKeys::VariableCheckpointKeys(const SavedModelMetaGraph& meta_graph,
                                               const tensorflow::TrackableObjectGraph* object_graph)
    : object_graph_(object_graph), top_level_(meta_graph.top_level) {
  // Ops are read on the wire: only the calls are parsed here.
  const std::vector<TopLevelGraph::Node>& nodes = top_level_.nodes();
  std::vector<size_t> calls;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const absl::string_view op = nodes[i].op;
    if (op == "VariableV2" || op == "Variable") {
      keys_.emplace(std::string(nodes[i].name), std::string(nodes[i].name));
    }
    if (op == "VarHandleOp") handles_[nodes[i].name] = i;  // names are unique (TopLevelGraph)
    if (op == "StatefulPartitionedCall" || op == "PartitionedCall") calls.push_back(i);
  }
  if (object_graph == nullptr || handles_.empty()) return;

  // The object-graph route: calls' captured inputs -> saved objects -> keys.
  const tensorflow::SavedObjectGraph& saved = meta_graph.def->object_graph_def();
  const absl::flat_hash_map<int, std::string> saved_keys = SavedVariableKeys(saved, *object_graph);
  for (size_t call : calls) {
    // A malformed node or attribute is reported where a signature reaches it.
    StatusOr<const NodeView*> node = top_level_.Parse(call);
    if (!node.ok()) continue;
    tensorflow::AttrValue f;
    if (StatusOr<bool> has = FindNodeAttr(**node, "f", &f); !has.ok() || !*has || !f.has_func()) {
      continue;
    }
    auto concrete = saved.concrete_functions().find(f.func().name());
    if (concrete == saved.concrete_functions().end()) continue;
    const auto& bound = concrete->second.bound_inputs();
    const std::vector<absl::string_view> inputs = InputNodeNames(**node);
    if (bound.size() > static_cast<int>(inputs.size())) continue;
    const size_t first = inputs.size() - bound.size();
    for (int i = 0; i < bound.size(); ++i) {
      const absl::string_view input = inputs[first + i];
      auto key = saved_keys.find(bound[i]);
      if (key != saved_keys.end() && handles_.contains(input))
        keys_[std::string(input)] = key->second;
    }
  }
}

const std::string* VariableCheckpointKeys::Find(absl::string_view node) const {
  if (auto key = keys_.find(node); key != keys_.end()) return &key->second;
  // The fallback: shared_name == full_name. The full names are indexed the
  // first time a variable needs them (a Keras export's signatures read only
  // routed variables).
  auto handle = handles_.find(node);
  if (object_graph_ == nullptr || handle == handles_.end()) return nullptr;
  if (!by_full_name_) {
    by_full_name_.emplace();
    for (const auto& trackable : object_graph_->nodes()) {
      for (const auto& attribute : trackable.attributes()) {
        if (attribute.name() == kVariableValue && !attribute.full_name().empty())
          (*by_full_name_)[attribute.full_name()] = attribute.checkpoint_key();  // the later wins
      }
    }
  }
  StatusOr<const NodeView*> handle_node = top_level_.Parse(handle->second);
  if (!handle_node.ok()) return nullptr;  // reported where the inliner reached it
  tensorflow::AttrValue shared;
  if (StatusOr<bool> has = FindNodeAttr(**handle_node, "shared_name", &shared);
      !has.ok() || !*has) {
    return nullptr;
  }
  auto key = by_full_name_->find(shared.s());
  return key == by_full_name_->end() ? nullptr : &key->second;
}

}  // namespace servekit
