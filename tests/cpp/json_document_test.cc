// Untrusted JSON texts into RapidJSON documents (server/json_document.h).
#include "servekit/util/json_document.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "test_util.h"

namespace servekit {
namespace {

using test::IsInvalid;

// The single value of `[value]`.
StatusOr<rapidjson::Value> ParseOne(absl::string_view value, rapidjson::Document* doc) {
  RETURN_IF_ERROR(ParseJsonDocument(absl::StrCat("[", value, "]"), doc));
  if (!doc->IsArray() || doc->Size() != 1) return absl::InternalError("not one value");
  return std::move((*doc)[0]);
}

double DoubleOf(absl::string_view value) {
  rapidjson::Document doc;
  StatusOr<rapidjson::Value> v = ParseOne(value, &doc);
  EXPECT_TRUE(v.ok()) << value << ": " << v.status();
  if (!v.ok()) return -12345;
  EXPECT_TRUE(v->IsDouble()) << value;
  return v->GetDouble();
}

Status ErrorOf(absl::string_view text) {
  rapidjson::Document doc;
  return ParseJsonDocument(text, &doc);
}

// CVE-2024-38517: Debian 12's RapidJSON indexes its power-of-ten table out
// of bounds for these exponents (the first one crashed the server).
TEST(JsonDocumentTest, HugeExponentsNeverCrash) {
  EXPECT_EQ(DoubleOf("0.0000000001e-2147483639"), 0.0);
  EXPECT_EQ(DoubleOf("1e-2147483648"), 0.0);
  EXPECT_EQ(DoubleOf("-1e-99999999999999999999"), 0.0);
  EXPECT_EQ(DoubleOf("0.1e-2147483647"), 0.0);
  EXPECT_EQ(DoubleOf("123456789012345678901234567890e-2147483600"), 0.0);
  EXPECT_EQ(DoubleOf("1e-400"), 0.0);
  EXPECT_EQ(DoubleOf("4.9e-324"), 5e-324);  // the smallest subnormal
  EXPECT_TRUE(IsInvalid(ErrorOf("[1e2147483647]"), {"offset 1"}));
  EXPECT_TRUE(IsInvalid(ErrorOf("[0.2e309]"), {"offset 1", "too large for a 64-bit float"}));
  EXPECT_TRUE(
      IsInvalid(ErrorOf("[1, -0.00002e313]"), {"offset 4", "too large for a 64-bit float"}));
}

TEST(JsonDocumentTest, ThousandsOfDigits) {
  // Exact: from_chars rounds correctly however many digits follow.
  EXPECT_EQ(DoubleOf("0." + std::string(5000, '3')), 1.0 / 3.0);
  EXPECT_EQ(DoubleOf("1." + std::string(5000, '0') + "1"), 1.0);
  EXPECT_EQ(DoubleOf("0." + std::string(3000, '0') + "1e3000"), 0.1);
  EXPECT_TRUE(IsInvalid(ErrorOf("[1" + std::string(400, '0') + "]"), {"offset 1"}));
  EXPECT_TRUE(IsInvalid(ErrorOf("[9" + std::string(4000, '9') + ".5]"), {"offset 1"}));
}

TEST(JsonDocumentTest, IntegersStayIntegers) {
  rapidjson::Document doc;
  ASSERT_TRUE(
      ParseJsonDocument("[0, -0, 7, -2147483649, 9223372036854775807, -9223372036854775808, "
                        "18446744073709551615, 18446744073709551616, 1.0, 1e2]",
                        &doc)
          .ok());
  EXPECT_TRUE(doc[0].IsInt() && doc[0].GetInt() == 0);
  EXPECT_TRUE(doc[1].IsInt() && doc[1].GetInt() == 0);
  EXPECT_TRUE(doc[2].IsInt() && doc[2].IsUint() && doc[2].GetInt() == 7);
  EXPECT_TRUE(doc[3].IsInt64() && !doc[3].IsInt() && doc[3].GetInt64() == -2147483649LL);
  EXPECT_EQ(doc[4].GetInt64(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(doc[5].GetInt64(), std::numeric_limits<int64_t>::min());
  EXPECT_TRUE(doc[6].IsUint64() && !doc[6].IsInt64());
  EXPECT_EQ(doc[6].GetUint64(), std::numeric_limits<uint64_t>::max());
  EXPECT_TRUE(doc[7].IsDouble() && doc[7].GetDouble() == 18446744073709551616.0);
  EXPECT_TRUE(doc[8].IsDouble() && doc[8].GetDouble() == 1.0);
  EXPECT_TRUE(doc[9].IsDouble() && doc[9].GetDouble() == 100.0);
}

TEST(JsonDocumentTest, NanAndInfinityTokens) {
  EXPECT_TRUE(std::isnan(DoubleOf("NaN")));
  EXPECT_TRUE(std::isnan(DoubleOf("-NaN")));
  EXPECT_EQ(DoubleOf("Infinity"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(DoubleOf("-Infinity"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(DoubleOf("Inf"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(DoubleOf("-Inf"), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(IsInvalid(ErrorOf("[nan]"), {"malformed JSON at offset"}));
  EXPECT_TRUE(IsInvalid(ErrorOf("[Infin]"), {"malformed JSON"}));
}

// The reader's grammar, not from_chars' laxer one, decides what is a number.
TEST(JsonDocumentTest, NumberGrammarIsJson) {
  for (const char* bad :
       {"[+1]", "[01]", "[1.]", "[.5]", "[1e]", "[0x10]", "[1_000]", "[--1]", "[1e+]"}) {
    EXPECT_TRUE(IsInvalid(ErrorOf(bad), {"malformed JSON"})) << bad;
  }
}

TEST(JsonDocumentTest, GuardsBeforeParsing) {
  EXPECT_TRUE(IsInvalid(ErrorOf(" \n"), {"empty"}));
  EXPECT_TRUE(IsInvalid(ErrorOf(std::string("{\"a\": 1}\0garbage", 16)), {"NUL byte at offset 8"}));
  EXPECT_TRUE(
      IsInvalid(ErrorOf(std::string(65, '[') + std::string(65, ']')), {"nested deeper than 64"}));
  rapidjson::Document doc;
  EXPECT_TRUE(ParseJsonDocument(std::string(64, '[') + std::string(64, ']'), &doc).ok());
}

}  // namespace
}  // namespace servekit
