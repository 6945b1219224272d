// Helpers for the serving-core tests: a tiny model whose answer tells which
// version served it, and a load function that reads versions from disk.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "servekit/serving/manager.h"
#include "test_util.h"

namespace servekit::test {

// y = x + version for x of shape [N, 1].
inline std::shared_ptr<const LoadedModel> VersionedModel(int64_t version) {
  GraphBuilder g;
  const int x = g.Input("x", BatchShape({1, 1}));
  g.Output(g.Op("Add", {x, g.Constant("version", Floats({1}, {static_cast<float>(version)}))}));
  auto session = BuildSession(g.Build(), Options());
  EXPECT_TRUE(session.ok()) << session.status();
  return LoadedModel::WithOneSignature(std::move(*session));
}

// What the model of `handle` answers for x.
inline float Answer(const ModelHandle& handle, float x) {
  auto out = handle.model().signatures().front().session->Run({Floats({1, 1}, {x})});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0].data<float>()[0] : -1.0f;
}

// Loads <base>/<version> as VersionedModel(version); fails, like a real
// loader, while the version's model.onnx is missing.
inline StatusOr<std::shared_ptr<const LoadedModel>> LoadVersionFromDisk(const std::string& path,
                                                                        const std::string&) {
  if (!std::filesystem::exists(std::filesystem::path(path) / "model.onnx")) {
    return absl::NotFoundError(absl::StrCat("no model file at '", path, "'"));
  }
  return VersionedModel(std::stoll(std::filesystem::path(path).filename().string()));
}

// Writes <base>/<version>/model.onnx (content irrelevant to LoadVersionFromDisk).
inline void PublishVersion(const std::filesystem::path& base, int64_t version) {
  std::filesystem::create_directories(base / std::to_string(version));
  std::ofstream(base / std::to_string(version) / "model.onnx") << "x";
}

}  // namespace servekit::test
