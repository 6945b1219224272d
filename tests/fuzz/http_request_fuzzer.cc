// Fuzzes how HttpServer's connections read HTTP/1.1 requests: Beast's
// request parser with its header fields in the connection's RequestArena
// (server/http/request_arena.h), one request after another on one
// connection, the arena reset and the body's buffer handed on between
// requests as HttpSession does. The bytes arrive in chunks at points the
// input chooses, as a socket delivers them. A request's fields and body are
// read back whole; a malformed request ends the connection, as it does in the
// server (400, then close).
//
// Input layout: byte 0 seeds the chunking; the rest is the byte stream.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include "servekit/server/http/request_arena.h"

namespace {

namespace http = boost::beast::http;
using RequestParser = http::request_parser<http::string_body, servekit::ArenaAllocator<char>>;

constexpr size_t kMaxBodyBytes = 64 << 10;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint32_t seed = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  servekit::RequestArena arena;  // before the parser, which frees into it
  std::optional<RequestParser> parser;
  std::string received;  // bytes delivered and not yet parsed
  for (int request = 0; request < 64; ++request) {
    std::string body;
    if (parser) {
      body = std::move(parser->get().body());
      body.clear();
    }
    parser.reset();
    arena.Reset();
    parser.emplace(std::piecewise_construct, std::forward_as_tuple(std::move(body)),
                   std::forward_as_tuple(servekit::ArenaAllocator<char>(&arena)));
    parser->body_limit(kMaxBodyBytes);
    while (!parser->is_done()) {
      boost::beast::error_code error;
      size_t used = 0;
      if (!received.empty()) used = parser->put(boost::asio::buffer(received), error);
      received.erase(0, used);
      if (error && error != http::error::need_more) return 0;  // 400 (or 413, 431) and close
      if (!error && used > 0) continue;
      if (rest.empty()) return 0;  // the client stopped mid-request
      // 1 to 64 bytes (or the rest) from a small linear congruential sequence.
      seed = seed * 1103515245u + 12345u;
      const size_t chunk = (seed >> 16) % 8 == 0 ? rest.size() : 1 + (seed >> 8) % 64;
      const std::string_view piece = rest.substr(0, chunk);
      received.append(piece.data(), piece.size());
      rest.remove_prefix(piece.size());
    }
    // What the handler reads (HttpRequest and HttpRequestExtras).
    const auto& message = parser->get();
    size_t bytes = message.method_string().size() + message.target().size();
    for (const auto& field : message) bytes += field.name_string().size() + field.value().size();
    if (message.body().size() > kMaxBodyBytes) __builtin_trap();  // the limit must hold
    for (const char c : message.body()) bytes += static_cast<unsigned char>(c) & 1;
    if (bytes == SIZE_MAX) __builtin_trap();  // keeps the reads
    if (!message.keep_alive()) return 0;
  }
  return 0;
}
