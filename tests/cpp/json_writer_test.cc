// JSON text output (server/json_writer.h).
#include "servekit/util/json_writer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace servekit {
namespace {

std::string FloatText(float value) {
  std::string out;
  JsonWriter(&out).Float(value);
  return out;
}

std::string DoubleText(double value) {
  std::string out;
  JsonWriter(&out).Double(value);
  return out;
}

TEST(JsonWriterTest, FloatsAreShortestRoundTrip) {
  EXPECT_EQ(FloatText(0.1f), "0.1");  // not 0.10000000149011612, the double nearest the float
  EXPECT_EQ(FloatText(1.0f / 3.0f), "0.33333334");
  EXPECT_EQ(FloatText(-2.5f), "-2.5");
  EXPECT_EQ(FloatText(1e20f), "1e+20");
  EXPECT_EQ(FloatText(1.5e-7f), "1.5e-07");
  EXPECT_EQ(FloatText(std::numeric_limits<float>::max()), "3.4028235e+38");
  EXPECT_EQ(FloatText(std::numeric_limits<float>::denorm_min()), "1e-45");
  EXPECT_EQ(DoubleText(0.1), "0.1");
  EXPECT_EQ(DoubleText(0.1f), "0.10000000149011612");
  EXPECT_EQ(DoubleText(1e300), "1e+300");
}

// A ".0" keeps whole numbers floats for clients that infer types from tokens.
TEST(JsonWriterTest, WholeFloatsKeepAFraction) {
  EXPECT_EQ(FloatText(3.0f), "3.0");
  EXPECT_EQ(FloatText(0.0f), "0.0");
  EXPECT_EQ(FloatText(-0.0f), "-0.0");
  EXPECT_EQ(FloatText(16777216.0f), "16777216.0");
  EXPECT_EQ(DoubleText(-7.0), "-7.0");
  EXPECT_EQ(DoubleText(-0.0), "-0.0");
}

TEST(JsonWriterTest, NanAndInfinityAreBareTokens) {
  EXPECT_EQ(FloatText(std::numeric_limits<float>::quiet_NaN()), "NaN");
  EXPECT_EQ(FloatText(-std::numeric_limits<float>::quiet_NaN()), "NaN");
  EXPECT_EQ(FloatText(std::numeric_limits<float>::infinity()), "Infinity");
  EXPECT_EQ(FloatText(-std::numeric_limits<float>::infinity()), "-Infinity");
  EXPECT_EQ(DoubleText(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(DoubleText(-std::numeric_limits<double>::infinity()), "-Infinity");
}

TEST(JsonWriterTest, IntegersBoolsAndNull) {
  std::string out;
  JsonWriter(&out)
      .BeginArray()
      .Int(0)
      .Int(-42)
      .Int(std::numeric_limits<int64_t>::min())
      .Int(std::numeric_limits<int64_t>::max())
      .Uint(std::numeric_limits<uint64_t>::max())
      .Bool(true)
      .Bool(false)
      .Null()
      .EndArray();
  EXPECT_EQ(
      out, "[0,-42,-9223372036854775808,9223372036854775807,18446744073709551615,true,false,null]");
}

TEST(JsonWriterTest, StringEscapes) {
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote(""), "\"\"");
  EXPECT_EQ(JsonQuote("say \"hi\" \\ bye"), R"("say \"hi\" \\ bye")");
  EXPECT_EQ(JsonQuote("a\nb\rc\td"), R"("a\nb\rc\td")");
  EXPECT_EQ(JsonQuote(absl::string_view("\x00\x01\x08\x0c\x1f", 5)),
            R"("\u0000\u0001\u0008\u000c\u001f")");
  EXPECT_EQ(JsonQuote("/ and \x7f pass"), "\"/ and \x7f pass\"");
}

TEST(JsonWriterTest, ValidUtf8PassesThrough) {
  EXPECT_EQ(JsonQuote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // é, 2 bytes
  EXPECT_EQ(JsonQuote("\xe6\x97\xa5\xe6\x9c\xac"),
            "\"\xe6\x97\xa5\xe6\x9c\xac\"");                         // 日本, 3 bytes each
  EXPECT_EQ(JsonQuote("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");  // U+1F600, 4 bytes
  EXPECT_EQ(JsonQuote("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"");  // U+10FFFF, the last
}

TEST(JsonWriterTest, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(JsonQuote("a\xff"
                      "b"),
            R"("a\ufffdb")");
  EXPECT_EQ(JsonQuote("\x80"), R"("\ufffd")");                      // a lone continuation byte
  EXPECT_EQ(JsonQuote("x\xe6\x97"), R"("x\ufffd\ufffd")");          // truncated at the end
  EXPECT_EQ(JsonQuote("\xe6\x97z"), R"("\ufffd\ufffdz")");          // truncated before ASCII
  EXPECT_EQ(JsonQuote("\xc0\xaf"), R"("\ufffd\ufffd")");            // overlong '/'
  EXPECT_EQ(JsonQuote("\xe0\x80\xaf"), R"("\ufffd\ufffd\ufffd")");  // overlong, 3 bytes
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // a UTF-16 surrogate
  EXPECT_EQ(JsonQuote("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // past U+10FFFF
  EXPECT_EQ(JsonQuote("\xf8\x88\x80\x80\x80"),
            R"("\ufffd\ufffd\ufffd\ufffd\ufffd")");  // 5-byte form
}

TEST(JsonWriterTest, KeysAreEscapedToo) {
  std::string out;
  JsonWriter(&out).BeginObject().Key("a\"b\n").Int(1).EndObject();
  EXPECT_EQ(out, R"({"a\"b\n":1})");
}

TEST(JsonWriterTest, CommasInNestedStructures) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("a")
      .BeginArray()
      .Int(1)
      .BeginObject()
      .Key("b")
      .BeginArray()
      .EndArray()
      .EndObject()
      .BeginArray()
      .EndArray();
  w.BeginArray()
      .BeginArray()
      .Int(2)
      .EndArray()
      .BeginArray()
      .Int(3)
      .Int(4)
      .EndArray()
      .EndArray()
      .EndArray();
  w.Key("c").BeginObject().EndObject();
  w.Key("d").String("x");
  w.Key("e").Raw("[1, 2]");
  w.Key("f").Float(1.5f);
  w.EndObject();
  EXPECT_EQ(out, R"({"a":[1,{"b":[]},[],[[2],[3,4]]],"c":{},"d":"x","e":[1, 2],"f":1.5})");
}

TEST(JsonWriterTest, TopLevelValuesAndEmptyContainers) {
  std::string out;
  JsonWriter(&out).BeginArray().EndArray();
  EXPECT_EQ(out, "[]");
  out.clear();
  JsonWriter(&out).BeginObject().EndObject();
  EXPECT_EQ(out, "{}");
  out.clear();
  JsonWriter(&out).String("s");
  EXPECT_EQ(out, "\"s\"");
}

TEST(JsonWriterTest, AppendsToExistingText) {
  std::string out = "x=";
  JsonWriter(&out).BeginArray().Int(1).EndArray();
  EXPECT_EQ(out, "x=[1]");
}

}  // namespace
}  // namespace servekit
