// The on-disk layout of a model: <base_path>/<N>/ holds version N.
//
// ScanVersions lists the versions under a base path: subdirectories named by a
// positive integer written canonically. Everything else (files, "tmp", "007",
// "3.partial", ".hidden") is ignored, so tools can stage a version under another
// name and rename it into place. DetectPlatform tells what a version directory
// holds. Both only read the file system and are safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "servekit/util/status.h"

namespace servekit {

// Versions in ascending order. NotFound if base_path does not exist,
// FailedPrecondition if it is not a directory, PermissionDenied or Unavailable
// if it cannot be read. An existing, empty base_path gives an empty list.
StatusOr<std::vector<int64_t>> ScanVersions(const std::string& base_path);

// The directory of version `version`.
std::string VersionPath(const std::string& base_path, int64_t version);

// "onnx" when the directory holds model.onnx, "tensorflow" for a SavedModel
// (saved_model.pb or saved_model.pbtxt); NotFound otherwise.
StatusOr<std::string> DetectPlatform(const std::string& version_path);

}  // namespace servekit
