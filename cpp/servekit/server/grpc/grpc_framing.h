// gRPC's message framing over HTTP/2 (the "Length-Prefixed-Message" of the
// gRPC wire protocol): a 1-byte compressed flag, a 4-byte big-endian length,
// then the serialized message. And the percent-encoding of grpc-message.
// Pure functions and a small incremental reader: no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "servekit/util/status.h"

namespace servekit {

inline constexpr size_t kGrpcFrameHeaderBytes = 5;

// Appends `message` with its 5-byte prefix (uncompressed) to `out`.
void AppendGrpcFrame(absl::string_view message, std::string* out);

// grpc-message's value: bytes outside printable ASCII, and '%', as %XX.
std::string PercentEncodeGrpcMessage(absl::string_view text);

// grpc-timeout's value: 1 to 8 digits and a unit, H M S m u n (hours to
// nanoseconds). InvalidArgument for anything else.
StatusOr<absl::Duration> ParseGrpcTimeout(absl::string_view text);

// The request encodings a server accepts (grpc-accept-encoding).
inline constexpr char kGrpcAcceptedEncodings[] = "identity,deflate,gzip";

// Splits a request stream's DATA bytes, arriving in any chunks, into messages,
// and decompresses those flagged compressed with the stream's grpc-encoding
// (gzip or deflate). A message longer than `max_message_bytes`, before or
// after decompression, is ResourceExhausted (refused as soon as its prefix
// arrives, without buffering it); a compressed message with no or an unknown
// encoding is Unimplemented; one that does not decompress is InvalidArgument.
class GrpcFrameReader {
 public:
  explicit GrpcFrameReader(size_t max_message_bytes, std::string encoding = "")
      : max_message_bytes_(max_message_bytes), encoding_(std::move(encoding)) {}
  void set_encoding(std::string encoding) { encoding_ = std::move(encoding); }

  // Adds bytes; complete messages are appended to `messages`. After an error,
  // every later call returns the same error.
  Status Add(absl::string_view bytes, std::vector<std::string>* messages);
  // True when no partial message is buffered.
  bool at_boundary() const { return buffer_.empty(); }
  // Bytes of a partial message held.
  size_t buffered_bytes() const { return buffer_.size(); }
  // Drops what is buffered; later calls fail with `why`.
  void Discard(const Status& why) {
    std::string().swap(buffer_);
    if (error_.ok()) error_ = why;
  }

 private:
  StatusOr<std::string> Decompress(absl::string_view data) const;

  const size_t max_message_bytes_;
  std::string encoding_;
  std::string buffer_;  // a prefix and/or part of a message
  Status error_;
};

}  // namespace servekit
