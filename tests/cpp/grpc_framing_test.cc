// gRPC message framing, compression and grpc-message encoding (server/grpc_framing.h).
#include "servekit/server/grpc/grpc_framing.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <vector>

namespace servekit {
namespace {

std::string Framed(const std::string& message) {
  std::string out;
  AppendGrpcFrame(message, &out);
  return out;
}

// `message` compressed as gzip (window bits 31) or zlib/"deflate" (15), flagged compressed.
std::string CompressedFrame(const std::string& message, bool gzip) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 31 : 15, 8,
                         Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string packed(deflateBound(&stream, message.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
  stream.avail_in = message.size();
  stream.next_out = reinterpret_cast<Bytef*>(packed.data());
  stream.avail_out = packed.size();
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  packed.resize(stream.total_out);
  deflateEnd(&stream);
  std::string frame = Framed(packed);
  frame[0] = 1;
  return frame;
}

TEST(GrpcFramingTest, PrefixIsFlagAndBigEndianLength) {
  const std::string frame = Framed(std::string(0x010203, 'x'));
  ASSERT_EQ(frame.size(), 5u + 0x010203);
  EXPECT_EQ(frame[0], 0);
  EXPECT_EQ(frame[1], 0);
  EXPECT_EQ(frame[2], 1);
  EXPECT_EQ(frame[3], 2);
  EXPECT_EQ(frame[4], 3);
  EXPECT_EQ(Framed(""), std::string(5, '\0'));
}

TEST(GrpcFramingTest, ReaderSplitsMessagesArrivingInAnyChunks) {
  const std::string stream = Framed("first") + Framed("") + Framed(std::string(1000, 'z'));
  for (size_t chunk : {1u, 2u, 5u, 7u, 4096u}) {
    GrpcFrameReader reader(1 << 20);
    std::vector<std::string> messages;
    for (size_t at = 0; at < stream.size(); at += chunk) {
      ASSERT_TRUE(reader.Add(absl::string_view(stream).substr(at, chunk), &messages).ok());
    }
    ASSERT_EQ(messages.size(), 3u) << "chunk " << chunk;
    EXPECT_EQ(messages[0], "first");
    EXPECT_EQ(messages[1], "");
    EXPECT_EQ(messages[2], std::string(1000, 'z'));
    EXPECT_TRUE(reader.at_boundary());
  }
}

// Whole messages are taken straight from the chunk they arrive in; only a
// cut-off message's start is kept, and then completed from the next chunk.
TEST(GrpcFramingTest, ReaderKeepsOnlyTheStartOfAMessageStillToCome) {
  const std::string third = Framed("ccc");
  const std::string first_chunk = Framed("a") + Framed("bb") + third.substr(0, 6);
  GrpcFrameReader reader(1 << 20);
  std::vector<std::string> messages;
  ASSERT_TRUE(reader.Add(first_chunk, &messages).ok());
  EXPECT_EQ(messages, (std::vector<std::string>{"a", "bb"}));
  EXPECT_EQ(reader.buffered_bytes(), 6u);
  // The rest of "ccc", a whole "dddd" and a prefix alone.
  const std::string second_chunk = third.substr(6) + Framed("dddd") + Framed("e").substr(0, 2);
  ASSERT_TRUE(reader.Add(second_chunk, &messages).ok());
  EXPECT_EQ(messages, (std::vector<std::string>{"a", "bb", "ccc", "dddd"}));
  EXPECT_EQ(reader.buffered_bytes(), 2u);
  ASSERT_TRUE(reader.Add(Framed("e").substr(2), &messages).ok());
  EXPECT_EQ(messages.back(), "e");
  EXPECT_TRUE(reader.at_boundary());
}

TEST(GrpcFramingTest, ReaderKnowsWhenAMessageIsCutOff) {
  GrpcFrameReader reader(1 << 20);
  std::vector<std::string> messages;
  const std::string frame = Framed("hello");
  ASSERT_TRUE(reader.Add(absl::string_view(frame).substr(0, 7), &messages).ok());
  EXPECT_TRUE(messages.empty());
  EXPECT_FALSE(reader.at_boundary());
}

TEST(GrpcFramingTest, OversizedMessageIsRefusedFromItsPrefix) {
  GrpcFrameReader reader(100);
  std::vector<std::string> messages;
  const std::string prefix = Framed(std::string(101, 'a')).substr(0, 5);
  const Status status = reader.Add(prefix, &messages);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("101 vs. 100"), std::string::npos) << status;
  // Sticky: later bytes get the same answer.
  EXPECT_EQ(reader.Add("more", &messages).code(), absl::StatusCode::kResourceExhausted);
  GrpcFrameReader exact(100);
  EXPECT_TRUE(exact.Add(Framed(std::string(100, 'a')), &messages).ok());
  EXPECT_EQ(messages.size(), 1u);
}

TEST(GrpcFramingTest, GzipAndDeflateMessagesAreDecompressed) {
  const std::string message(5000, 'q');
  for (bool gzip : {true, false}) {
    GrpcFrameReader reader(1 << 20, gzip ? "gzip" : "deflate");
    std::vector<std::string> messages;
    ASSERT_TRUE(reader.Add(CompressedFrame(message, gzip) + Framed("plain"), &messages).ok());
    ASSERT_EQ(messages.size(), 2u);
    EXPECT_EQ(messages[0], message);
    EXPECT_EQ(messages[1], "plain");
  }
}

TEST(GrpcFramingTest, CompressionProblemsAreClearErrors) {
  std::vector<std::string> messages;
  // Compressed without (or with an unknown) grpc-encoding.
  for (const char* encoding : {"", "identity", "snappy"}) {
    GrpcFrameReader reader(1 << 20, encoding);
    const Status status = reader.Add(CompressedFrame("x", true), &messages);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented) << encoding;
    EXPECT_NE(status.message().find("gzip"), std::string::npos) << status;
  }
  // Bytes that are not gzip.
  GrpcFrameReader garbage(1 << 20, "gzip");
  std::string bad = Framed("definitely not gzip");
  bad[0] = 1;
  EXPECT_EQ(garbage.Add(bad, &messages).code(), absl::StatusCode::kInvalidArgument);
  // A small message that inflates past the limit (a zip bomb).
  GrpcFrameReader bomb(1000, "gzip");
  const std::string frame = CompressedFrame(std::string(1 << 20, '\0'), true);
  ASSERT_LT(frame.size(), 5000u);
  EXPECT_EQ(bomb.Add(frame, &messages).code(), absl::StatusCode::kResourceExhausted);
  // Flags other than 0 and 1.
  GrpcFrameReader flags(1 << 20);
  std::string odd = Framed("x");
  odd[0] = 2;
  EXPECT_EQ(flags.Add(odd, &messages).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(messages.empty());
}

TEST(GrpcFramingTest, GrpcTimeoutUnits) {
  EXPECT_EQ(*ParseGrpcTimeout("1H"), absl::Hours(1));
  EXPECT_EQ(*ParseGrpcTimeout("2M"), absl::Minutes(2));
  EXPECT_EQ(*ParseGrpcTimeout("30S"), absl::Seconds(30));
  EXPECT_EQ(*ParseGrpcTimeout("100m"), absl::Milliseconds(100));
  EXPECT_EQ(*ParseGrpcTimeout("99999999u"), absl::Microseconds(99999999));
  EXPECT_EQ(*ParseGrpcTimeout("5n"), absl::Nanoseconds(5));
  for (const char* bad : {"", "S", "10", "10s", "-5S", "1.5S", "123456789S", "1 S"}) {
    EXPECT_EQ(ParseGrpcTimeout(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(GrpcFramingTest, GrpcMessageIsPercentEncoded) {
  EXPECT_EQ(PercentEncodeGrpcMessage("plain text: ok"), "plain text: ok");
  EXPECT_EQ(PercentEncodeGrpcMessage("100%"), "100%25");
  EXPECT_EQ(PercentEncodeGrpcMessage("a\nb"), "a%0Ab");
  EXPECT_EQ(PercentEncodeGrpcMessage("\xC3\xA9"), "%C3%A9");
  EXPECT_EQ(PercentEncodeGrpcMessage(""), "");
}

}  // namespace
}  // namespace servekit
