// util/read_file.h: whole files of any size (read straight into the string
// when their size is known), pipes, the size limit, and errors that name the
// path.
#include "servekit/util/read_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "test_util.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;
using test::IsError;
using test::TempDir;

std::string RandomBytes(size_t size) {
  std::mt19937 rng(static_cast<unsigned>(size));
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  return bytes;
}

void Write(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST(ReadFileTest, ReadsFilesOfEverySize) {
  TempDir dir;
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, size_t{70000}, size_t{1} << 20}) {
    const fs::path path = dir.path() / "f";
    const std::string bytes = RandomBytes(size);
    Write(path, bytes);
    auto read = ReadFileToString(path.string());
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, bytes) << size;
  }
}

TEST(ReadFileTest, ReadsAPipeToItsEnd) {
  TempDir dir;
  const fs::path fifo = dir.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string bytes = RandomBytes(100000);
  std::thread writer([&] { Write(fifo, bytes); });
  auto read = ReadFileToString(fifo.string());
  writer.join();
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, bytes);
}

TEST(ReadFileTest, LimitsAndErrorsNameThePath) {
  TempDir dir;
  const fs::path path = dir.path() / "f";
  Write(path, RandomBytes(5000));
  EXPECT_TRUE(IsError(ReadFileToString(path.string(), 4999).status(),
                      absl::StatusCode::kInvalidArgument, {path.string(), "5000 bytes"}));
  EXPECT_TRUE(ReadFileToString(path.string(), 5000).ok());
  EXPECT_TRUE(IsError(ReadFileToString((dir.path() / "missing").string()).status(),
                      absl::StatusCode::kNotFound, {"missing"}));
  EXPECT_TRUE(IsError(ReadFileToString(dir.path().string()).status(),
                      absl::StatusCode::kFailedPrecondition, {dir.path().string()}));
}

}  // namespace
}  // namespace servekit
