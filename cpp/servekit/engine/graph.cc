#include "servekit/engine/graph.h"

namespace servekit {

std::string Node::Describe() const { return absl::StrCat("node '", name, "' (", op_type, ")"); }

int Graph::FindValue(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : it->second;
}

int Graph::AddValue(const std::string& name) {
  std::string unique = name;
  for (int suffix = 1; index_.count(unique) > 0; ++suffix) unique = absl::StrCat(name, "_", suffix);
  const int id = static_cast<int>(values.size());
  Value value;
  value.name = unique;
  values.push_back(std::move(value));
  index_[unique] = id;
  return id;
}

int Graph::AddConstant(const std::string& name, Tensor tensor) {
  const int id = AddValue(name);
  Value& v = values[id];
  v.dtype = tensor.dtype();
  v.shape = FixedShape(tensor.shape());
  v.typed = true;
  v.constant = std::move(tensor);
  return id;
}

std::vector<int> Graph::CountUses() const {
  std::vector<int> uses(values.size(), 0);
  for (const Node& node : nodes) {
    if (node.op_type.empty()) continue;  // removed by a pass, not yet compacted
    for (int id : node.inputs) {
      if (id >= 0) ++uses[id];
    }
  }
  for (int id : outputs) ++uses[id];
  return uses;
}

std::vector<int> Graph::Producers() const {
  std::vector<int> producer(values.size(), -1);
  for (size_t n = 0; n < nodes.size(); ++n) {
    if (nodes[n].op_type.empty()) continue;  // removed by a pass, not yet compacted
    for (int id : nodes[n].outputs) producer[id] = static_cast<int>(n);
  }
  return producer;
}

}  // namespace servekit
