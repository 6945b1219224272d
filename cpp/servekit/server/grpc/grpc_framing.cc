#include "servekit/server/grpc/grpc_framing.h"

#include <zlib.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace servekit {

void AppendGrpcFrame(absl::string_view message, std::string* out) {
  const uint32_t length = static_cast<uint32_t>(message.size());
  const char prefix[kGrpcFrameHeaderBytes] = {
      0, static_cast<char>(length >> 24), static_cast<char>(length >> 16),
      static_cast<char>(length >> 8), static_cast<char>(length)};
  out->append(prefix, kGrpcFrameHeaderBytes);
  out->append(message.data(), message.size());
}

StatusOr<absl::Duration> ParseGrpcTimeout(absl::string_view text) {
  if (text.size() < 2 || text.size() > 9) {
    return absl::InvalidArgumentError(absl::StrCat("bad grpc-timeout '", text, "'"));
  }
  int64_t amount = 0;
  for (const char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9')
      return absl::InvalidArgumentError(absl::StrCat("bad grpc-timeout '", text, "'"));
    amount = amount * 10 + (c - '0');
  }
  switch (text.back()) {
    case 'H':
      return absl::Hours(amount);
    case 'M':
      return absl::Minutes(amount);
    case 'S':
      return absl::Seconds(amount);
    case 'm':
      return absl::Milliseconds(amount);
    case 'u':
      return absl::Microseconds(amount);
    case 'n':
      return absl::Nanoseconds(amount);
  }
  return absl::InvalidArgumentError(absl::StrCat("bad grpc-timeout '", text, "'"));
}

std::string PercentEncodeGrpcMessage(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte <= 0x7e && byte != '%') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
  return out;
}

Status GrpcFrameReader::Add(absl::string_view bytes, std::vector<std::string>* messages) {
  if (!error_.ok()) return error_;
  // Frames are read where the bytes are: in `bytes` itself when nothing is
  // buffered (a unary request's message usually arrives whole in one chunk,
  // and is then copied once, into its message), else after what is buffered.
  absl::string_view data = bytes;
  if (!buffer_.empty()) {
    buffer_.append(bytes.data(), bytes.size());
    data = buffer_;
  }
  size_t at = 0;
  while (data.size() - at >= kGrpcFrameHeaderBytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(data.data() + at);
    const size_t length =
        (size_t{p[1]} << 24) | (size_t{p[2]} << 16) | (size_t{p[3]} << 8) | size_t{p[4]};
    if (p[0] > 1) {
      error_ = absl::InvalidArgumentError(absl::StrCat("bad gRPC message flags ", int{p[0]}));
      break;
    }
    if (p[0] == 1 && encoding_ != "gzip" && encoding_ != "deflate") {
      error_ = absl::UnimplementedError(
          absl::StrCat("a compressed gRPC message with grpc-encoding '", encoding_,
                       "'; this server accepts ", kGrpcAcceptedEncodings));
      break;
    }
    if (length > max_message_bytes_) {
      // grpc++'s wording, so clients see the same message from either server.
      error_ = absl::ResourceExhaustedError(absl::StrCat("Received message larger than max (",
                                                         length, " vs. ", max_message_bytes_, ")"));
      break;
    }
    if (data.size() - at - kGrpcFrameHeaderBytes < length) break;
    const absl::string_view payload = data.substr(at + kGrpcFrameHeaderBytes, length);
    if (p[0] == 1) {
      StatusOr<std::string> message = Decompress(payload);
      if (!message.ok()) {
        error_ = message.status();
        break;
      }
      messages->push_back(*std::move(message));
    } else {
      messages->emplace_back(payload.data(), payload.size());
    }
    at += kGrpcFrameHeaderBytes + length;
  }
  if (!error_.ok()) {
    std::string().swap(buffer_);
    return error_;
  }
  if (buffer_.empty()) {
    buffer_.assign(data.data() + at, data.size() - at);  // the start of a message still to come
  } else {
    buffer_.erase(0, at);
  }
  return absl::OkStatus();
}

StatusOr<std::string> GrpcFrameReader::Decompress(absl::string_view data) const {
  z_stream stream{};
  // zlib's window bits: 15 for a zlib stream (grpc's "deflate"), +16 for gzip.
  if (inflateInit2(&stream, encoding_ == "gzip" ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK) {
    return absl::InternalError("cannot start zlib");
  }
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  std::string out;
  int rv = Z_OK;
  while (rv == Z_OK) {
    if (out.size() > max_message_bytes_) break;
    const size_t have = out.size();
    out.resize(have + std::max<size_t>(16 << 10, data.size() * 2));
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + have);
    stream.avail_out = static_cast<uInt>(out.size() - have);
    rv = inflate(&stream, Z_NO_FLUSH);
    out.resize(out.size() - stream.avail_out);
  }
  inflateEnd(&stream);
  if (out.size() > max_message_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the ", encoding_, "-compressed message inflates beyond the maximum size (",
                     max_message_bytes_, " bytes)"));
  }
  if (rv != Z_STREAM_END) {
    return absl::InvalidArgumentError(
        absl::StrCat("the message is not valid ", encoding_, " data"));
  }
  return out;
}

}  // namespace servekit
