#include "servekit/serving/session_loader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "servekit/formats/onnx/onnx_writer.h"
#include "test_util.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;

class SessionLoaderTest : public ::testing::Test {
 protected:
  // Writes version `v` as a real model.onnx computing relu(x).
  std::string WriteRelu(const std::string& v) {
    test::GraphBuilder g(17);
    g.Output(g.Op("Relu", {g.Input("x", test::BatchShape({1, 3}))}));
    auto bytes = WriteOnnxModel(g.Build(), "test", "relu");
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    fs::create_directories(dir_ / v);
    std::ofstream(dir_ / v / "model.onnx", std::ios::binary) << *bytes;
    return (dir_ / v).string();
  }
  test::TempDir temp_;
  const fs::path dir_ = temp_.path();
};

TEST_F(SessionLoaderTest, LoadsAnOnnxVersionWithOrWithoutAPlatform) {
  const LoadFunction load = SessionLoader(SessionOptions{});
  const std::string path = WriteRelu("1");
  for (const std::string platform : {"", "onnx"}) {
    auto loaded = load(path, platform);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ASSERT_EQ((*loaded)->signatures().size(), 1u);
    EXPECT_EQ((*loaded)->signatures()[0].name, "serving_default");
    auto out = (*loaded)->signatures()[0].session->Run({test::Floats({1, 3}, {-1, 0, 2})});
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(test::Values<float>((*out)[0]), (std::vector<float>{0, 0, 2}));
  }
}

TEST_F(SessionLoaderTest, ExplainsWhatItCannotLoad) {
  const LoadFunction load = SessionLoader(SessionOptions{});
  fs::create_directories(dir_ / "2");
  EXPECT_EQ(load((dir_ / "2").string(), "").status().code(), absl::StatusCode::kNotFound);
  std::ofstream(dir_ / "2" / "saved_model.pb") << "x";
  auto saved_model = load((dir_ / "2").string(), "");
  EXPECT_EQ(saved_model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(saved_model.status().message().find("saved_model.pb"), absl::string_view::npos)
      << saved_model.status();
  std::ofstream(dir_ / "2" / "model.onnx") << "not a protobuf";
  auto corrupt = load((dir_ / "2").string(), "onnx");
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(corrupt.status().message().find("model.onnx"), absl::string_view::npos)
      << corrupt.status();
}

}  // namespace
}  // namespace servekit
