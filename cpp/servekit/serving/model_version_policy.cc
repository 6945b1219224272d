#include "servekit/serving/model_version_policy.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace servekit {

Status ModelVersionPolicy::Validate() const {
  switch (kind) {
    case Kind::kLatest:
      if (num_versions < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("latest { num_versions } must be at least 1; got ", num_versions));
      }
      return absl::OkStatus();
    case Kind::kAll:
      return absl::OkStatus();
    case Kind::kSpecific:
      if (versions.empty())
        return absl::InvalidArgumentError("specific {} must name at least one version");
      for (int64_t v : versions) {
        if (v < 1)
          return absl::InvalidArgumentError(
              absl::StrCat("version ", v, " is not a positive number"));
      }
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

std::string ModelVersionPolicy::ToString() const {
  switch (kind) {
    case Kind::kLatest:
      return absl::StrCat("latest { num_versions: ", num_versions, " }");
    case Kind::kAll:
      return "all {}";
    case Kind::kSpecific: {
      std::string out = "specific {";
      for (int64_t v : versions) absl::StrAppend(&out, " versions: ", v);
      return out + " }";
    }
  }
  return "";
}

std::vector<int64_t> SelectAspiredVersions(const ModelVersionPolicy& policy,
                                           absl::Span<const int64_t> on_disk) {
  std::vector<int64_t> sorted(on_disk.begin(), on_disk.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  switch (policy.kind) {
    case ModelVersionPolicy::Kind::kLatest: {
      const size_t keep = static_cast<size_t>(std::max<int64_t>(policy.num_versions, 0));
      if (sorted.size() > keep) sorted.erase(sorted.begin(), sorted.end() - keep);
      return sorted;
    }
    case ModelVersionPolicy::Kind::kAll:
      return sorted;
    case ModelVersionPolicy::Kind::kSpecific: {
      std::vector<int64_t> out;
      for (int64_t v : sorted) {
        if (std::find(policy.versions.begin(), policy.versions.end(), v) != policy.versions.end())
          out.push_back(v);
      }
      return out;
    }
  }
  return {};
}

std::vector<int64_t> ApplyVersionOverrides(absl::Span<const int64_t> selected,
                                           absl::Span<const int64_t> on_disk,
                                           const VersionOverrides& overrides) {
  std::set<int64_t> out(selected.begin(), selected.end());
  for (int64_t v : on_disk) {
    if (overrides.loaded.count(v) > 0) out.insert(v);
  }
  for (int64_t v : overrides.unloaded) out.erase(v);
  return {out.begin(), out.end()};
}

}  // namespace servekit
