#include "servekit/serving/model_status.h"

#include "absl/strings/str_cat.h"

namespace servekit {

StatusOr<std::vector<VersionStatus>> GetModelStatus(const ServerCore& core, const ModelSpec& spec) {
  ASSIGN_OR_RETURN(std::vector<VersionStatus> versions, core.manager().GetStatus(spec.name));
  std::optional<int64_t> only = spec.version;
  if (spec.label) {
    ASSIGN_OR_RETURN(only, core.LabelVersion(spec.name, *spec.label));
  }
  if (!only) return versions;
  std::vector<VersionStatus> selected;
  for (VersionStatus& v : versions) {
    if (v.version == *only) selected.push_back(std::move(v));
  }
  if (selected.empty()) {
    return absl::NotFoundError(
        absl::StrCat("Could not find version ", *only, " of model ", spec.name));
  }
  return selected;
}

}  // namespace servekit
