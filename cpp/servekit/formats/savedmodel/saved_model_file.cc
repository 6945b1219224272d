#include "servekit/formats/savedmodel/saved_model_file.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <optional>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "servekit/formats/savedmodel/parse_arena.h"
#include "servekit/proto/tf/saved_model.pb.h"
#include "servekit/util/protobuf_wire.h"
#include "servekit/util/read_file.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> SortedTags(const tensorflow::MetaGraphDef& meta_graph) {
  std::vector<std::string> tags(meta_graph.meta_info_def().tags().begin(),
                                meta_graph.meta_info_def().tags().end());
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  return tags;
}

// Field numbers on the path from SavedModel to the parts left unparsed.
constexpr uint32_t kMetaGraphsField = 2;       // SavedModel.meta_graphs
constexpr uint32_t kMetaInfoDefField = 1;      // MetaGraphDef.meta_info_def
constexpr uint32_t kStrippedOpListField = 2;   // MetaInfoDef.stripped_op_list
constexpr uint32_t kGraphDefField = 2;         // MetaGraphDef.graph_def
constexpr uint32_t kNodeField = 1;             // GraphDef.node
constexpr uint32_t kLibraryField = 2;          // GraphDef.library
constexpr uint32_t kLibraryFunctionField = 1;  // FunctionDefLibrary.function

// A serialized meta graph split in three: its top-level graph's serialized
// nodes, its library's serialized functions, and the rest of it.
struct SplitMetaGraph {
  std::string rest;
  std::vector<absl::string_view> nodes;
  std::vector<absl::string_view> functions;
};

// `message` with every occurrence of length-delimited field `number` left
// out (into `kept`, unless null); the payloads left out go to `removed`
// (unless null). False when `message` is not well-formed.
bool WithoutField(absl::string_view message, uint32_t number, std::string* kept,
                  std::vector<absl::string_view>* removed) {
  return ForEachWireField(message, [&](const WireField& field) {
    if (field.number == number && field.type == WireType::kLengthDelimited) {
      if (removed != nullptr) removed->push_back(field.payload);
    } else if (kept != nullptr) {
      kept->append(field.encoded.data(), field.encoded.size());
    }
  });
}

// Message fields may occur several times (protobuf merges them), so every
// occurrence of meta_info_def, graph_def and library is visited. Fields with
// another wire type than a message's are unknown fields to protobuf and are
// kept as they are.
bool Split(absl::string_view meta_graph, SplitMetaGraph* split) {
  bool parts_well_formed = true;
  const bool well_formed = ForEachWireField(meta_graph, [&](const WireField& field) {
    const bool message = field.type == WireType::kLengthDelimited;
    if (message && field.number == kMetaInfoDefField) {
      std::string kept;
      parts_well_formed &= WithoutField(field.payload, kStrippedOpListField, &kept, nullptr);
      AppendLengthDelimitedField(field.number, kept, &split->rest);
    } else if (message && field.number == kGraphDefField) {
      std::string kept;
      std::vector<absl::string_view> libraries;
      parts_well_formed &= ForEachWireField(field.payload, [&](const WireField& part) {
        const bool part_message = part.type == WireType::kLengthDelimited;
        if (part_message && part.number == kNodeField) {
          split->nodes.push_back(part.payload);
        } else if (part_message && part.number == kLibraryField) {
          libraries.push_back(part.payload);
        } else {
          kept.append(part.encoded.data(), part.encoded.size());
        }
      });
      for (absl::string_view library : libraries) {
        parts_well_formed &= ForEachWireField(library, [&](const WireField& entry) {
          if (entry.number == kLibraryFunctionField && entry.type == WireType::kLengthDelimited) {
            split->functions.push_back(entry.payload);
          }
          // gradient (2) and registered_gradients (3): training only
        });
      }
      AppendLengthDelimitedField(field.number, kept, &split->rest);
    } else {
      split->rest.append(field.encoded.data(), field.encoded.size());
    }
  });
  return well_formed && parts_well_formed;
}

// "{serve, gpu}"; "{}" for an untagged meta graph.
std::string TagSetString(const std::vector<std::string>& tags) {
  return absl::StrCat("{", absl::StrJoin(tags, ", "), "}");
}

}  // namespace

bool IsSavedModelDirectory(const std::string& dir) {
  std::error_code error;
  return fs::is_regular_file(fs::path(dir) / kSavedModelFilename, error);
}

StatusOr<SavedModelMetaGraph> ParseSavedModelMetaGraph(absl::string_view bytes,
                                                       const SavedModelOptions& options) {
  if (bytes.empty()) return absl::InvalidArgumentError("saved_model.pb is empty");
  const size_t limit = std::min<size_t>(options.max_file_bytes, std::numeric_limits<int>::max());
  if (bytes.size() > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("saved_model.pb has ", bytes.size(), " bytes, over the limit of ", limit));
  }
  const Status corrupt = absl::InvalidArgumentError(
      "saved_model.pb is not a valid SavedModel protobuf (truncated or corrupt)");
  std::vector<absl::string_view> meta_graphs;
  if (!WithoutField(bytes, kMetaGraphsField, nullptr, &meta_graphs)) return corrupt;
  if (meta_graphs.empty()) {
    return absl::InvalidArgumentError(
        "saved_model.pb holds no meta graph (truncated, or not a SavedModel)");
  }
  std::vector<std::string> wanted = options.tags;
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  std::vector<std::string> available;
  std::optional<SavedModelMetaGraph> chosen;
  for (absl::string_view serialized : meta_graphs) {
    SplitMetaGraph split;
    std::unique_ptr<google::protobuf::Arena> arena = NewParseArena();
    auto* def = google::protobuf::Arena::CreateMessage<tensorflow::MetaGraphDef>(arena.get());
    if (!Split(serialized, &split) || !def->ParseFromString(split.rest)) return corrupt;
    const std::vector<std::string> tags = SortedTags(*def);
    if (tags == wanted && !chosen) {  // the first of that tag set, as before
      chosen.emplace();
      chosen->arena = std::move(arena);
      chosen->def = def;
      if (!chosen->functions.Assign(split.functions)) return corrupt;
      RETURN_IF_ERROR(chosen->top_level.Assign(split.nodes));
    }
    available.push_back(TagSetString(tags));
  }
  if (chosen) return *std::move(chosen);
  return absl::InvalidArgumentError(
      absl::StrCat("saved_model.pb has no meta graph tagged ", TagSetString(wanted),
                   "; its tag sets are ", absl::StrJoin(available, ", "),
                   " (servekit serves the meta graph tagged {serve}, as TensorFlow Serving does)"));
}

StatusOr<SavedModelMetaGraph> ReadSavedModelMetaGraph(const std::string& dir,
                                                      const SavedModelOptions& options) {
  const fs::path path = fs::path(dir) / kSavedModelFilename;
  // Read without asking first whether it exists: a load's every system call
  // counts (a reload of a small model is a few hundred microseconds).
  StatusOr<std::string> bytes = ReadRegularFileToString(path.string(), options.max_file_bytes);
  std::error_code error;
  if (absl::IsNotFound(bytes.status()) && !fs::exists(path, error)) {
    std::string hint;
    if (fs::exists(fs::path(dir) / "saved_model.pbtxt", error)) {
      hint = " (it has saved_model.pbtxt, the text format, which servekit does not read)";
    }
    return absl::NotFoundError(
        absl::StrCat("no SavedModel at '", dir, "': ", path.string(), " does not exist", hint));
  }
  if (!bytes.ok()) return bytes.status();
  auto meta_graph = ParseSavedModelMetaGraph(*bytes, options);
  if (!meta_graph.ok()) {
    return Status(meta_graph.status().code(),
                  absl::StrCat(path.string(), ": ", meta_graph.status().message()));
  }
  return meta_graph;
}

}  // namespace servekit
