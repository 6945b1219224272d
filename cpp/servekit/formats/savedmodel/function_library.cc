#include "servekit/formats/savedmodel/function_library.h"

#include <cstring>
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

std::unique_ptr<google::protobuf::Arena> NewParseArena(size_t first_block_bytes) {
  // A Keras model's meta graph or called functions take some 50-200 KB once
  // parsed, hence the default first block of 64 KB.
  google::protobuf::ArenaOptions options;
  options.start_block_size = first_block_bytes;
  options.max_block_size = size_t{1} << 20;
  return std::make_unique<google::protobuf::Arena>(options);
}

bool FunctionLibrary::Assign(const std::vector<absl::string_view>& function_defs) {
  size_t total = 0;
  for (absl::string_view f : function_defs) total += f.size();
  auto storage = std::make_unique<char[]>(total);
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

StatusOr<const tensorflow::FunctionDef*> FunctionLibrary::Find(absl::string_view name) const {
  auto found = functions_.find(name);
  if (found == functions_.end()) return nullptr;
  Entry& entry = found->second;
  if (entry.parsed == nullptr) {
    if (arena_ == nullptr) arena_ = NewParseArena();
    auto* parsed = google::protobuf::Arena::CreateMessage<tensorflow::FunctionDef>(arena_.get());
    if (!parsed->ParseFromArray(entry.serialized.data(),
                                static_cast<int>(entry.serialized.size()))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "function '", name, "' in saved_model.pb is not a valid FunctionDef (corrupt)"));
    }
    entry.parsed = parsed;
  }
  return entry.parsed;
}

}  // namespace servekit
