// The response head HttpServer writes (server/http/response_head.h), read
// back by Beast's parser as a client would read it.
#include "servekit/server/http/response_head.h"

#include <gtest/gtest.h>

#include <boost/beast/http.hpp>
#include <string>

namespace servekit {
namespace {

namespace http = boost::beast::http;

struct Parsed {
  http::response<http::string_body> message;
  bool ok = false;
};

// Head + the body as HttpServer sends them, parsed; `head_request` as for a
// response to HEAD (no body follows whatever Content-Length says).
Parsed Parse(const HttpResponse& response, bool keep_alive, bool head_request = false) {
  std::string wire;
  AppendResponseHead(response, "Reason", keep_alive, &wire);
  if (!response.bodiless) wire += response.body;
  http::response_parser<http::string_body> parser;
  parser.skip(head_request);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t used = parser.put(boost::asio::buffer(wire), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  Parsed out;
  out.ok = !ec && parser.is_done() && used == wire.size();
  out.message = parser.release();
  return out;
}

TEST(ResponseHeadTest, AJsonAnswerOnAKeptConnection) {
  HttpResponse response;
  response.body = R"({"predictions": [1]})";
  std::string wire;
  AppendResponseHead(response, "OK", true, &wire);
  EXPECT_EQ(wire,
            "HTTP/1.1 200 OK\r\nServer: servekit\r\nContent-Type: application/json\r\n"
            "Content-Length: 20\r\n\r\n");
  const Parsed parsed = Parse(response, true);
  ASSERT_TRUE(parsed.ok);
  EXPECT_EQ(parsed.message.result_int(), 200u);
  EXPECT_TRUE(parsed.message.keep_alive());
  EXPECT_EQ(parsed.message.body(), response.body);
}

TEST(ResponseHeadTest, ClosingAConnectionSaysSo) {
  HttpResponse response;
  response.status = 404;
  response.body = "{}";
  const Parsed parsed = Parse(response, false);
  ASSERT_TRUE(parsed.ok);
  EXPECT_EQ(parsed.message.result_int(), 404u);
  EXPECT_EQ(parsed.message.reason(), "Reason");
  EXPECT_FALSE(parsed.message.keep_alive());
  EXPECT_EQ(parsed.message[http::field::connection], "close");
}

TEST(ResponseHeadTest, TheServerWritesTheFieldsThatFrameTheMessage) {
  HttpResponse response;
  response.content_type = "";
  response.body = "hello";
  response.headers = {{"content-type", "text/plain"},
                      {"X-Request-Id", "7"},
                      {"CONTENT-LENGTH", "999"},
                      {"Connection", "keep-alive"},
                      {"transfer-encoding", "chunked"},
                      {"server", "other"},
                      {"Set-Cookie", "a=1"},
                      {"Set-Cookie", "b=2"}};
  const Parsed parsed = Parse(response, true);
  ASSERT_TRUE(parsed.ok);
  const auto& m = parsed.message;
  EXPECT_EQ(m[http::field::content_type], "text/plain");
  EXPECT_EQ(m[http::field::content_length], "5");
  EXPECT_EQ(m[http::field::server], "servekit");
  EXPECT_EQ(m["X-Request-Id"], "7");
  EXPECT_EQ(m.count(http::field::set_cookie), 2u);
  EXPECT_EQ(m.count(http::field::connection), 0u);
  EXPECT_EQ(m.count(http::field::transfer_encoding), 0u);
  EXPECT_EQ(m.count(http::field::content_length), 1u);
  EXPECT_EQ(m.count(http::field::server), 1u);
  EXPECT_EQ(m.body(), "hello");
}

TEST(ResponseHeadTest, ABodilessAnswerCarriesTheGivenLengthExceptFor204And1xx) {
  HttpResponse head_answer;
  head_answer.bodiless = true;
  head_answer.body = "not sent";
  head_answer.headers = {{"Content-Length", "42"}};
  Parsed parsed = Parse(head_answer, true, /*head_request=*/true);
  ASSERT_TRUE(parsed.ok);
  EXPECT_EQ(parsed.message[http::field::content_length], "42");
  EXPECT_EQ(parsed.message.body(), "");

  for (int status : {204, 101}) {
    HttpResponse response = head_answer;
    response.status = status;
    std::string wire;
    AppendResponseHead(response, "Reason", true, &wire);
    EXPECT_EQ(wire.find("Content-Length"), std::string::npos) << status;
  }
  HttpResponse not_modified = head_answer;
  not_modified.status = 304;
  std::string wire;
  AppendResponseHead(not_modified, "Not Modified", true, &wire);
  EXPECT_NE(wire.find("Content-Length: 42\r\n"), std::string::npos);
}

TEST(ResponseHeadTest, AnEmptyAnswerWithAStatusThatForbidsABodySaysNoLength) {
  // Not marked bodiless, body empty: 1xx and 204 get no Content-Length (RFC
  // 9110 8.6), a 304 only the one its headers give, never a made-up 0.
  for (int status : {204, 103, 304}) {
    HttpResponse response;
    response.status = status;
    std::string wire;
    AppendResponseHead(response, "Reason", true, &wire);
    EXPECT_EQ(wire.find("Content-Length"), std::string::npos) << status << ": " << wire;
  }
  HttpResponse not_modified;
  not_modified.status = 304;
  not_modified.headers = {{"Content-Length", "17"}};
  std::string wire;
  AppendResponseHead(not_modified, "Not Modified", true, &wire);
  EXPECT_NE(wire.find("Content-Length: 17\r\n"), std::string::npos) << wire;
  // A 200 with an empty body still says 0, so the client knows the message ended.
  HttpResponse empty_ok;
  wire.clear();
  AppendResponseHead(empty_ok, "OK", true, &wire);
  EXPECT_NE(wire.find("Content-Length: 0\r\n"), std::string::npos) << wire;
}

}  // namespace
}  // namespace servekit
