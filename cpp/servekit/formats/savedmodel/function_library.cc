#include "servekit/formats/savedmodel/function_library.h"

#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "servekit/util/protobuf_wire.h"

namespace servekit {
namespace {

// Field numbers: FunctionDef.signature (an OpDef), FunctionDef.node_def and
// OpDef.name.
constexpr uint32_t kFunctionSignatureField = 1;
constexpr uint32_t kFunctionNodeDefField = 3;
constexpr uint32_t kOpDefNameField = 1;

// FunctionDef's bytes fields that serving never reads: attr (5), control_ret
// (6), arg_attr (7), resource_arg_unique_id (8).
bool IsUnreadAnnotation(uint32_t field) { return field >= 5 && field <= 8; }

// The name protobuf would parse from a serialized FunctionDef: the last
// OpDef.name of the last occurrence that sets one (repeated occurrences of a
// message field merge, and a later string replaces an earlier one); a view
// into `function_def`.
std::optional<absl::string_view> FunctionName(absl::string_view function_def) {
  absl::string_view name;
  bool signatures_well_formed = true;
  const bool well_formed = ForEachWireField(function_def, [&](const WireField& field) {
    if (field.number != kFunctionSignatureField || field.type != WireType::kLengthDelimited) return;
    signatures_well_formed &= ForEachWireField(field.payload, [&](const WireField& op_field) {
      if (op_field.number == kOpDefNameField && op_field.type == WireType::kLengthDelimited) {
        name = op_field.payload;
      }
    });
  });
  if (!well_formed || !signatures_well_formed) return std::nullopt;
  return name;
}

}  // namespace

bool FunctionLibrary::Assign(const std::vector<absl::string_view>& function_defs) {
  size_t total = 0;
  for (absl::string_view f : function_defs) total += f.size();
  // Not zero-filled: every byte is copied over next.
  std::unique_ptr<char[]> storage(new char[total]);
  absl::flat_hash_map<absl::string_view, Entry> functions;
  size_t at = 0;
  for (absl::string_view f : function_defs) {
    if (!f.empty()) std::memcpy(storage.get() + at, f.data(), f.size());
    const absl::string_view copy(storage.get() + at, f.size());
    at += f.size();
    std::optional<absl::string_view> name = FunctionName(copy);
    if (!name) return false;
    functions[*name] = Entry{copy, nullptr};  // of two with one name, the later
  }
  storage_ = std::move(storage);
  functions_ = std::move(functions);
  arena_.reset();
  return true;
}

StatusOr<const LibraryFunction*> FunctionLibrary::Find(absl::string_view name) const {
  auto found = functions_.find(name);
  if (found == functions_.end()) return nullptr;
  Entry& entry = found->second;
  if (entry.read == nullptr) {
    // The body's nodes are read in place; the annotations are dropped (bytes
    // fields: protobuf checks no more than their framing, which the walk
    // checks); the rest (the signature, ret) goes to protobuf.
    auto function = std::make_unique<LibraryFunction>();
    std::string rest;
    bool nodes_valid = true;
    const bool well_formed = ForEachWireField(entry.serialized, [&](const WireField& field) {
      const bool bytes = field.type == WireType::kLengthDelimited;
      if (bytes && field.number == kFunctionNodeDefField) {
        nodes_valid &= function->nodes.emplace_back().Read(field.payload);
      } else if (!bytes || !IsUnreadAnnotation(field.number)) {
        rest.append(field.encoded.data(), field.encoded.size());
      }
    });
    // Without their bodies and annotations, a model's called functions take a
    // few KB.
    if (arena_ == nullptr) arena_ = NewParseArena(size_t{16} << 10);
    auto* def = google::protobuf::Arena::CreateMessage<tensorflow::FunctionDef>(arena_.get());
    if (!well_formed || !nodes_valid || !def->ParseFromString(rest)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "function '", name, "' in saved_model.pb is not a valid FunctionDef (corrupt)"));
    }
    function->def = def;
    entry.read = std::move(function);
  }
  return entry.read.get();
}

}  // namespace servekit
