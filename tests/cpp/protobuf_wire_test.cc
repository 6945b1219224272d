// Protobuf's wire format read without a schema (util/protobuf_wire.h): every
// wire type protobuf accepts is walked with its exact extent, and everything
// a protobuf parser refuses at one level is refused.
#include "servekit/util/protobuf_wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "servekit/proto/tf/function.pb.h"

namespace servekit {
namespace {

struct Seen {
  uint32_t number;
  WireType type;
  std::string encoded;
  std::string payload;
};

bool Walk(const std::string& bytes, std::vector<Seen>* seen) {
  return ForEachWireField(bytes, [&](const WireField& field) {
    seen->push_back(
        {field.number, field.type, std::string(field.encoded), std::string(field.payload)});
  });
}

TEST(ProtobufWireTest, WalksEveryWireTypeWithItsExactBytes) {
  const std::string varint("\x08\x96\x01", 3);  // 1: varint 150
  const std::string fixed64(
      "\x11"
      "abcdefgh",
      9);                                          // 2: fixed64
  const std::string bytes("\x1a\x03xyz", 5);       // 3: length-delimited
  const std::string group("\x23\x08\x01\x24", 4);  // 4: group holding 1: varint 1
  const std::string fixed32(
      "\x2d"
      "abcd",
      5);                                                       // 5: fixed32
  const std::string big_number("\xf8\xff\xff\xff\x0f\x00", 6);  // 2^29-1: varint 0
  std::vector<Seen> seen;
  ASSERT_TRUE(Walk(varint + fixed64 + bytes + group + fixed32 + big_number, &seen));
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_EQ(seen[0].number, 1u);
  EXPECT_EQ(seen[0].type, WireType::kVarint);
  EXPECT_EQ(seen[0].encoded, varint);
  EXPECT_EQ(seen[1].type, WireType::kFixed64);
  EXPECT_EQ(seen[1].encoded, fixed64);
  EXPECT_EQ(seen[2].type, WireType::kLengthDelimited);
  EXPECT_EQ(seen[2].payload, "xyz");
  EXPECT_EQ(seen[2].encoded, bytes);
  EXPECT_EQ(seen[3].type, WireType::kStartGroup);
  EXPECT_EQ(seen[3].encoded, group);
  EXPECT_EQ(seen[4].type, WireType::kFixed32);
  EXPECT_EQ(seen[4].encoded, fixed32);
  EXPECT_EQ(seen[5].number, (1u << 29) - 1);
  EXPECT_TRUE(Walk("", &seen));
}

TEST(ProtobufWireTest, RefusesWhatAParserRefuses) {
  const std::vector<std::string> bad = {
      std::string("\x08", 1),      // varint cut off
      std::string("\x08\x80", 2),  // varint continues past the end
      std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12),  // 11-byte varint
      std::string("\x11"
                  "abc",
                  4),                 // fixed64 cut off
      std::string("\x1a\x05xyz", 5),  // length past the end
      std::string("\x2d"
                  "ab",
                  3),                                  // fixed32 cut off
      std::string("\x00\x01", 2),                      // field number 0
      std::string("\x0e", 1),                          // wire type 6
      std::string("\x0f", 1),                          // wire type 7
      std::string("\x0c", 1),                          // an end-group tag without its start
      std::string("\x0b\x08\x01", 3),                  // a group never ended
      std::string("\x0b\x14", 2),                      // a group ended by another number's tag
      std::string("\x88\x80\x80\x80\x80\x01\x01", 7),  // a tag of 6 bytes
  };
  for (const std::string& bytes : bad) {
    std::vector<Seen> seen;
    EXPECT_FALSE(Walk(bytes, &seen)) << testing::PrintToString(bytes);
    tensorflow::OpDef message;  // protobuf refuses each of them too
    EXPECT_FALSE(message.ParseFromString(bytes)) << testing::PrintToString(bytes);
  }
  // A 5-byte tag keeps its low 32 bits, as protobuf's parser does: this is
  // field 1, a varint.
  std::vector<Seen> wide;
  ASSERT_TRUE(Walk(std::string("\x88\x80\x80\x80\x10\x07", 6), &wide));
  ASSERT_EQ(wide.size(), 1u);
  EXPECT_EQ(wide[0].number, 1u);
  EXPECT_EQ(wide[0].type, WireType::kVarint);
  tensorflow::OpDef parsed_by_protobuf;  // field 1 is OpDef.name, a string: a varint is unknown
  EXPECT_TRUE(parsed_by_protobuf.ParseFromString(std::string("\x88\x80\x80\x80\x10\x07", 6)));
  // Groups nested 100 deep are read; 101 are refused, as protobuf's parser
  // stops at 100 levels.
  auto nested = [](int depth) { return std::string(depth, '\x0b') + std::string(depth, '\x0c'); };
  std::vector<Seen> seen;
  EXPECT_TRUE(Walk(nested(100), &seen));
  EXPECT_FALSE(Walk(nested(101), &seen));
}

TEST(ProtobufWireTest, AppendedFieldsParseAsTheMessageTheyBuild) {
  tensorflow::OpDef op;
  op.set_name(std::string(300, 'n'));  // a two-byte length
  op.add_input_arg()->set_name("x");
  std::string signature;
  ASSERT_TRUE(op.SerializeToString(&signature));
  std::string function_def;
  AppendLengthDelimitedField(1, signature, &function_def);  // FunctionDef.signature
  tensorflow::FunctionDef parsed;
  ASSERT_TRUE(parsed.ParseFromString(function_def));
  EXPECT_EQ(parsed.signature().name(), op.name());
  EXPECT_EQ(parsed.signature().input_arg(0).name(), "x");
  std::vector<Seen> seen;
  ASSERT_TRUE(Walk(function_def, &seen));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].payload, signature);
}

}  // namespace
}  // namespace servekit
