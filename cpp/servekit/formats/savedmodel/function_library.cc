#include "servekit/formats/savedmodel/function_library.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "servekit/util/protobuf_wire.h"

namespace servekit {
namespace {

// Field numbers: FunctionDef.signature (an OpDef) and OpDef.name.
constexpr uint32_t kFunctionSignatureField = 1;
constexpr uint32_t kOpDefNameField = 1;

// The name protobuf would parse from a serialized FunctionDef: the last
// OpDef.name of the last occurrence that sets one (repeated occurrences of a
// message field merge, and a later string replaces an earlier one).
std::optional<std::string> FunctionName(absl::string_view function_def) {
  std::string name;
  bool signatures_well_formed = true;
  const bool well_formed = ForEachWireField(function_def, [&](const WireField& field) {
    if (field.number != kFunctionSignatureField || field.type != WireType::kLengthDelimited) return;
    signatures_well_formed &= ForEachWireField(field.payload, [&](const WireField& op_field) {
      if (op_field.number == kOpDefNameField && op_field.type == WireType::kLengthDelimited) {
        name.assign(op_field.payload.data(), op_field.payload.size());
      }
    });
  });
  if (!well_formed || !signatures_well_formed) return std::nullopt;
  return name;
}

}  // namespace

std::unique_ptr<google::protobuf::Arena> NewParseArena() {
  // A Keras model's meta graph or called functions take some 50-200 KB once
  // parsed; blocks start at 64 KB and double up to 1 MB.
  google::protobuf::ArenaOptions options;
  options.start_block_size = size_t{64} << 10;
  options.max_block_size = size_t{1} << 20;
  return std::make_unique<google::protobuf::Arena>(options);
}

bool FunctionLibrary::AddSerialized(absl::string_view function_def) {
  std::optional<std::string> name = FunctionName(function_def);
  if (!name) return false;
  functions_[*name] = Entry{std::string(function_def), nullptr};
  return true;
}

StatusOr<const tensorflow::FunctionDef*> FunctionLibrary::Find(const std::string& name) const {
  auto found = functions_.find(name);
  if (found == functions_.end()) return nullptr;
  Entry& entry = found->second;
  if (entry.parsed == nullptr) {
    if (arena_ == nullptr) arena_ = NewParseArena();
    auto* parsed = google::protobuf::Arena::CreateMessage<tensorflow::FunctionDef>(arena_.get());
    if (!parsed->ParseFromString(entry.serialized)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "function '", name, "' in saved_model.pb is not a valid FunctionDef (corrupt)"));
    }
    entry.parsed = parsed;
    entry.serialized = std::string();  // parsed once; the bytes are not needed again
  }
  return entry.parsed;
}

}  // namespace servekit
