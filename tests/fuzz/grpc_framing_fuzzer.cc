// Fuzzes gRPC's message framing (server/grpc_framing.h): a request stream's
// DATA bytes split into chunks at points the input chooses, read with a
// GrpcFrameReader whose encoding (identity, gzip, deflate, an unknown one)
// the input also chooses, with a small message limit so that decompression
// bombs must be refused; and grpc-timeout parsing on a prefix.
//
// Input layout: byte 0 picks the encoding, byte 1 the timeout prefix length,
// byte 2 the chunking seed; the rest is the stream.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "servekit/server/grpc/grpc_framing.h"

namespace {
constexpr size_t kMaxMessageBytes = 64 << 10;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  static const char* const kEncodings[] = {"", "identity", "gzip", "deflate", "snappy"};
  const std::string encoding = kEncodings[data[0] % 5];
  const size_t timeout_length = data[1] % 16;
  uint32_t seed = data[2];
  absl::string_view rest(reinterpret_cast<const char*>(data) + 3, size - 3);

  (void)servekit::ParseGrpcTimeout(rest.substr(0, timeout_length));
  (void)servekit::PercentEncodeGrpcMessage(rest.substr(0, 64));

  servekit::GrpcFrameReader reader(kMaxMessageBytes, encoding);
  std::vector<std::string> messages;
  while (!rest.empty()) {
    // A small linear congruential sequence picks chunk sizes of 1 to 64 bytes
    // (or the rest), so the same input always splits the same way.
    seed = seed * 1103515245u + 12345u;
    const size_t chunk = (seed >> 16) % 8 == 0 ? rest.size() : 1 + (seed >> 8) % 64;
    const absl::string_view piece = rest.substr(0, chunk);
    rest.remove_prefix(piece.size());
    servekit::Status status = reader.Add(piece, &messages);
    for (const std::string& message : messages) {
      if (message.size() > kMaxMessageBytes)
        __builtin_trap();  // the limit must hold after decompression
    }
    messages.clear();
    if (!status.ok()) {
      // Errors are sticky.
      if (reader.Add("x", &messages).ok()) __builtin_trap();
      break;
    }
  }
  return 0;
}
