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

// `bytes` written into a FIFO by another thread while ReadFileToString reads it.
StatusOr<std::string> ReadThroughAPipe(const std::string& bytes, size_t max_bytes) {
  TempDir dir;
  const fs::path fifo = dir.path() / "fifo";
  EXPECT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] { Write(fifo, bytes); });
  auto read = ReadFileToString(fifo.string(), max_bytes);
  writer.join();
  return read;
}

TEST(ReadFileTest, ReadsAPipeToItsEnd) {
  const std::string bytes = RandomBytes(100000);
  auto read = ReadThroughAPipe(bytes, bytes.size());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, bytes);
}

TEST(ReadFileTest, APipeOverTheLimitIsRefused) {
  // 10,001 bytes fit the pipe's buffer: the writer finishes whatever the
  // reader does.
  EXPECT_TRUE(IsError(ReadThroughAPipe(RandomBytes(10001), 10000).status(),
                      absl::StatusCode::kInvalidArgument,
                      {"10001 bytes or more", "limit of 10000"}));
}

TEST(ReadFileTest, ReadsFilesThatReportNoSize) {
  // /proc files report size 0 but have content.
  auto read = ReadFileToString("/proc/self/status");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_NE(read->find("Name:"), std::string::npos);
}

TEST(ReadFileTest, RegularFilesOnlyWhenAsked) {
  TempDir dir;
  const fs::path path = dir.path() / "f";
  Write(path, RandomBytes(5000));
  auto read = ReadRegularFileToString(path.string(), 5000);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->size(), 5000u);
  // Nothing writes to this FIFO: opening it to read would wait forever.
  const fs::path fifo = dir.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_TRUE(IsError(ReadRegularFileToString(fifo.string(), 100).status(),
                      absl::StatusCode::kFailedPrecondition, {"fifo", "not a regular file"}));
  EXPECT_TRUE(IsError(ReadRegularFileToString("/dev/null", 100).status(),
                      absl::StatusCode::kFailedPrecondition, {"not a regular file"}));
  EXPECT_TRUE(IsError(ReadRegularFileToString(dir.path().string(), 100).status(),
                      absl::StatusCode::kFailedPrecondition, {"not a regular file"}));
  EXPECT_TRUE(IsError(ReadRegularFileToString((dir.path() / "missing").string(), 100).status(),
                      absl::StatusCode::kNotFound, {"missing"}));
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
