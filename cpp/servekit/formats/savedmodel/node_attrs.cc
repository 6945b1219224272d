#include "servekit/formats/savedmodel/node_attrs.h"

#include "absl/container/inlined_vector.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "servekit/util/protobuf_wire.h"

namespace servekit {
namespace {

// Fields of a map entry (protobuf's encoding of map<K, V>).
constexpr uint32_t kKeyField = 1;
constexpr uint32_t kValueField = 2;

struct Entry {
  absl::string_view key;
  absl::InlinedVector<absl::string_view, 1> values;  // payloads of every field 2, in order
};

// One serialized entry's key and value payloads; false when the bytes are not
// well-formed fields. Fields of another number or wire type are skipped, as
// protobuf keeps them as unknown fields of the entry.
bool ReadEntry(absl::string_view bytes, Entry* entry) {
  entry->key = absl::string_view();
  entry->values.clear();
  return ForEachWireField(bytes, [entry](const WireField& field) {
    if (field.type != WireType::kLengthDelimited) return;
    if (field.number == kKeyField) entry->key = field.payload;
    if (field.number == kValueField) entry->values.push_back(field.payload);
  });
}

// The key is escaped: unlike protobuf's map keys, entries' keys are not
// checked to be UTF-8, and error messages must be.
Status Malformed(const NodeView& node, absl::string_view key) {
  return absl::InvalidArgumentError(
      absl::StrCat("node '", node.name(), "' has an attribute",
                   key.empty() ? "" : absl::StrCat(" '", absl::CHexEscape(key), "'"),
                   " that is not well-formed (corrupt)"));
}

// The entry's value; repeated occurrences of a message field merge, which is
// what parsing their concatenation does.
Status ParseValue(const NodeView& node, const Entry& entry, tensorflow::AttrValue* value) {
  bool parsed;
  if (entry.values.size() == 1) {
    parsed =
        value->ParseFromArray(entry.values[0].data(), static_cast<int>(entry.values[0].size()));
  } else {
    std::string joined;
    for (absl::string_view part : entry.values) joined.append(part.data(), part.size());
    parsed = value->ParseFromString(joined);
  }
  return parsed ? absl::OkStatus() : Malformed(node, entry.key);
}

}  // namespace

StatusOr<bool> FindNodeAttr(const NodeView& node, absl::string_view name,
                            tensorflow::AttrValue* value) {
  Entry entry, found;
  bool has = false;
  for (absl::string_view bytes : node.attrs()) {
    if (!ReadEntry(bytes, &entry)) return Malformed(node, "");
    if (entry.key == name) {
      found = entry;
      has = true;
    }
  }
  if (!has) return false;
  RETURN_IF_ERROR(ParseValue(node, found, value));
  return true;
}

void SetNodeAttr(tensorflow::NodeDef* node, absl::string_view name,
                 const tensorflow::AttrValue& value) {
  auto* attrs = node->mutable_attr();
  Entry entry;
  for (int i = attrs->size() - 1; i >= 0; --i) {
    if (ReadEntry(attrs->Get(i), &entry) && entry.key == name) attrs->DeleteSubrange(i, 1);
  }
  std::string* added = attrs->Add();
  AppendLengthDelimitedField(kKeyField, name, added);
  AppendLengthDelimitedField(kValueField, value.SerializeAsString(), added);
}

Status NodeAttrs::Read(const NodeView& node) {
  size_ = 0;
  by_key_.clear();
  Entry entry;
  for (absl::string_view bytes : node.attrs()) {
    if (!ReadEntry(bytes, &entry)) {
      size_ = 0;
      return Malformed(node, "");
    }
    if (absl::StartsWith(entry.key, "_")) continue;
    // Of two entries with one key the later wins, as in a parsed map.
    size_t slot = Slot(entry.key);
    if (slot == size_) {
      if (size_ == attrs_.size()) {
        if (arena_ == nullptr) {
          own_arena_ = std::make_unique<google::protobuf::Arena>();
          arena_ = own_arena_.get();
        }
        attrs_.emplace_back(absl::string_view(),
                            google::protobuf::Arena::CreateMessage<tensorflow::AttrValue>(arena_));
      }
      attrs_[size_].first = entry.key;
      if (!by_key_.empty() || size_ + 1 > kScannedKeys) {
        if (by_key_.empty()) {
          for (size_t i = 0; i < size_; ++i) by_key_.emplace(attrs_[i].first, i);
        }
        by_key_.emplace(entry.key, size_);
      }
      ++size_;
    }
    if (Status parsed = ParseValue(node, entry, attrs_[slot].second); !parsed.ok()) {
      size_ = 0;
      by_key_.clear();
      return parsed;
    }
  }
  return absl::OkStatus();
}

size_t NodeAttrs::Slot(absl::string_view name) const {
  if (!by_key_.empty()) {
    auto found = by_key_.find(name);
    return found == by_key_.end() ? size_ : found->second;
  }
  size_t slot = 0;
  while (slot < size_ && attrs_[slot].first != name) ++slot;
  return slot;
}

const tensorflow::AttrValue* NodeAttrs::Find(absl::string_view name) const {
  const size_t slot = Slot(name);
  return slot < size_ ? attrs_[slot].second : nullptr;
}

}  // namespace servekit
