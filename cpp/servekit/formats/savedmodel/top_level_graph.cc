#include "servekit/formats/savedmodel/top_level_graph.h"

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "servekit/util/protobuf_wire.h"

namespace servekit {
namespace {

// NodeDef's field numbers.
constexpr uint32_t kNameField = 1;
constexpr uint32_t kOpField = 2;

}  // namespace

Status TopLevelGraph::Assign(const std::vector<absl::string_view>& serialized_nodes) {
  size_t total = 0;
  for (absl::string_view node : serialized_nodes) total += node.size();
  // Not zero-filled: every byte is copied over next.
  std::unique_ptr<char[]> storage(new char[total]);
  std::vector<Node> nodes;
  nodes.reserve(serialized_nodes.size());
  size_t at = 0;
  for (absl::string_view serialized : serialized_nodes) {
    if (!serialized.empty()) std::memcpy(storage.get() + at, serialized.data(), serialized.size());
    Node node;
    node.serialized = absl::string_view(storage.get() + at, serialized.size());
    at += serialized.size();
    const bool well_formed = ForEachWireField(node.serialized, [&node](const WireField& field) {
      if (field.type != WireType::kLengthDelimited) return;  // protobuf keeps it as unknown
      if (field.number == kNameField) node.name = field.payload;
      if (field.number == kOpField) node.op = field.payload;
    });
    if (!well_formed) {
      return absl::InvalidArgumentError(
          "saved_model.pb is not a valid SavedModel protobuf (truncated or corrupt)");
    }
    nodes.push_back(node);
  }
  // TensorFlow refuses a graph in which two nodes share a name; so does this
  // reader, rather than choose one of them.
  absl::flat_hash_map<absl::string_view, size_t> by_name;
  by_name.reserve(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!by_name.try_emplace(nodes[i].name, i).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "saved_model.pb: two top-level nodes are named '", absl::CHexEscape(nodes[i].name), "'"));
    }
  }
  storage_ = std::move(storage);
  nodes_ = std::move(nodes);
  by_name_ = std::move(by_name);
  parsed_.clear();
  parsed_.resize(nodes_.size());
  failed_.clear();
  return absl::OkStatus();
}

StatusOr<const NodeView*> TopLevelGraph::Find(absl::string_view name) const {
  auto found = by_name_.find(name);
  if (found == by_name_.end()) return nullptr;
  return Parse(found->second);
}

StatusOr<const NodeView*> TopLevelGraph::Parse(size_t i) const {
  if (parsed_[i] == nullptr) {
    if (failed_.contains(i)) return Corrupt(i);  // not parsed again
    auto node = std::make_unique<NodeView>();
    if (!node->Read(nodes_[i].serialized)) {
      failed_.insert(i);
      return Corrupt(i);
    }
    parsed_[i] = std::move(node);
  }
  return parsed_[i].get();
}

Status TopLevelGraph::Corrupt(size_t i) const {
  return absl::InvalidArgumentError(
      absl::StrCat("top-level node '", absl::CHexEscape(nodes_[i].name),
                   "' in saved_model.pb is not a valid NodeDef (corrupt)"));
}

}  // namespace servekit
