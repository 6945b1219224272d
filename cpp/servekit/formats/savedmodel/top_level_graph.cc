#include "servekit/formats/savedmodel/top_level_graph.h"

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "servekit/formats/savedmodel/function_library.h"
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
  auto storage = std::make_unique<char[]>(total);
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
  parsed_.assign(nodes_.size(), nullptr);
  failed_.clear();
  arena_.reset();
  return absl::OkStatus();
}

StatusOr<const tensorflow::NodeDef*> TopLevelGraph::Find(absl::string_view name) const {
  auto found = by_name_.find(name);
  if (found == by_name_.end()) return nullptr;
  return Parse(found->second);
}

StatusOr<const tensorflow::NodeDef*> TopLevelGraph::Parse(size_t i) const {
  if (parsed_[i] == nullptr) {
    if (failed_.contains(i)) return Corrupt(i);  // not parsed again
    if (arena_ == nullptr) arena_ = NewParseArena();
    auto* node = google::protobuf::Arena::CreateMessage<tensorflow::NodeDef>(arena_.get());
    const absl::string_view bytes = nodes_[i].serialized;
    if (!node->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      failed_.insert(i);
      return Corrupt(i);
    }
    parsed_[i] = node;
  }
  return parsed_[i];
}

Status TopLevelGraph::Corrupt(size_t i) const {
  return absl::InvalidArgumentError(
      absl::StrCat("top-level node '", absl::CHexEscape(nodes_[i].name),
                   "' in saved_model.pb is not a valid NodeDef (corrupt)"));
}

}  // namespace servekit
