#include "servekit/serving/version_directory.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;

// A positive decimal number in canonical form and nothing else ("12"; not
// "+1", "1e3", "0", " 1", or "007", whose path VersionPath could not rebuild).
bool ParseVersion(const std::string& name, int64_t* version) {
  if (name.empty() || name[0] == '0' ||
      !std::all_of(name.begin(), name.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return false;
  }
  return absl::SimpleAtoi(name, version) && *version > 0;
}

Status FileSystemError(const std::error_code& error, const std::string& what) {
  const std::string message = absl::StrCat(what, ": ", error.message());
  if (error == std::errc::permission_denied) return absl::PermissionDeniedError(message);
  if (error == std::errc::no_such_file_or_directory) return absl::NotFoundError(message);
  return absl::UnavailableError(message);
}

}  // namespace

StatusOr<std::vector<int64_t>> ScanVersions(const std::string& base_path) {
  std::error_code error;
  const fs::file_status status = fs::status(base_path, error);
  if (error || !fs::exists(status)) {
    if (!error || error == std::errc::no_such_file_or_directory) {
      return absl::NotFoundError(absl::StrCat("base_path '", base_path, "' does not exist"));
    }
    return FileSystemError(error, absl::StrCat("cannot read base_path '", base_path, "'"));
  }
  if (!fs::is_directory(status)) {
    return absl::FailedPreconditionError(
        absl::StrCat("base_path '", base_path, "' is not a directory"));
  }
  std::vector<int64_t> versions;
  fs::directory_iterator it(base_path, error);
  for (; !error && it != fs::directory_iterator(); it.increment(error)) {
    int64_t version = 0;
    if (!ParseVersion(it->path().filename().string(), &version)) continue;
    std::error_code type_error;
    if (it->is_directory(type_error)) versions.push_back(version);
  }
  if (error) return FileSystemError(error, absl::StrCat("cannot list base_path '", base_path, "'"));
  std::sort(versions.begin(), versions.end());
  return versions;
}

std::string VersionPath(const std::string& base_path, int64_t version) {
  return (fs::path(base_path) / std::to_string(version)).string();
}

StatusOr<std::string> DetectPlatform(const std::string& version_path) {
  std::error_code error;
  if (fs::is_regular_file(fs::path(version_path) / "model.onnx", error)) return std::string("onnx");
  for (const char* name : {"saved_model.pb", "saved_model.pbtxt"}) {
    if (fs::is_regular_file(fs::path(version_path) / name, error)) return std::string("tensorflow");
  }
  return absl::NotFoundError(absl::StrCat(
      "'", version_path, "' holds no model.onnx (or saved_model.pb): not a model version yet"));
}

}  // namespace servekit
