#include "servekit/formats/savedmodel/saved_model_file.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "servekit/proto/tf/saved_model.pb.h"
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

// "{serve, gpu}"; "{}" for an untagged meta graph.
std::string TagSetString(const std::vector<std::string>& tags) {
  return absl::StrCat("{", absl::StrJoin(tags, ", "), "}");
}

}  // namespace

bool IsSavedModelDirectory(const std::string& dir) {
  std::error_code error;
  return fs::is_regular_file(fs::path(dir) / kSavedModelFilename, error);
}

StatusOr<tensorflow::MetaGraphDef> ParseSavedModelMetaGraph(absl::string_view bytes,
                                                            const SavedModelOptions& options) {
  if (bytes.empty()) return absl::InvalidArgumentError("saved_model.pb is empty");
  const size_t limit = std::min<size_t>(options.max_file_bytes, std::numeric_limits<int>::max());
  if (bytes.size() > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("saved_model.pb has ", bytes.size(), " bytes, over the limit of ", limit));
  }
  tensorflow::SavedModel saved_model;
  if (!saved_model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(
        "saved_model.pb is not a valid SavedModel protobuf (truncated or corrupt)");
  }
  if (saved_model.meta_graphs_size() == 0) {
    return absl::InvalidArgumentError(
        "saved_model.pb holds no meta graph (truncated, or not a SavedModel)");
  }
  std::vector<std::string> wanted = options.tags;
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  std::vector<std::string> available;
  for (tensorflow::MetaGraphDef& meta_graph : *saved_model.mutable_meta_graphs()) {
    const std::vector<std::string> tags = SortedTags(meta_graph);
    if (tags == wanted) return std::move(meta_graph);
    available.push_back(TagSetString(tags));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("saved_model.pb has no meta graph tagged ", TagSetString(wanted),
                   "; its tag sets are ", absl::StrJoin(available, ", "),
                   " (servekit serves the meta graph tagged {serve}, as TensorFlow Serving does)"));
}

StatusOr<tensorflow::MetaGraphDef> ReadSavedModelMetaGraph(const std::string& dir,
                                                           const SavedModelOptions& options) {
  const fs::path path = fs::path(dir) / kSavedModelFilename;
  std::error_code error;
  if (!fs::exists(path, error)) {
    std::string hint;
    if (fs::exists(fs::path(dir) / "saved_model.pbtxt", error)) {
      hint = " (it has saved_model.pbtxt, the text format, which servekit does not read)";
    }
    return absl::NotFoundError(
        absl::StrCat("no SavedModel at '", dir, "': ", path.string(), " does not exist", hint));
  }
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path.string(), options.max_file_bytes));
  auto meta_graph = ParseSavedModelMetaGraph(bytes, options);
  if (!meta_graph.ok()) {
    return Status(meta_graph.status().code(),
                  absl::StrCat(path.string(), ": ", meta_graph.status().message()));
  }
  return meta_graph;
}

}  // namespace servekit
