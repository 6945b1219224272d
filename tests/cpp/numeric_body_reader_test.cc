// The predict fast path (server/rest/numeric_body_reader.h): which bodies it
// takes, and that it reads exactly what the general path reads.
#include "servekit/server/rest/numeric_body_reader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace servekit {
namespace {

constexpr int64_t kNoLimit = int64_t{1} << 30;
const Dim N = Dim::Batch();

const std::vector<TensorSpec> kImage = {{"x", DType::kFloat32, {N, Dim::Fixed(2), Dim::Fixed(3)}}};
const std::vector<TensorSpec> kVector = {{"x", DType::kFloat32, {N, Dim::Fixed(3)}}};
const std::vector<TensorSpec> kScalars = {{"y", DType::kFloat64, {N}}};

// Reads `body` both ways; they must agree. Returns whether the fast path took it.
bool FastAndGeneralAgree(absl::string_view body, const std::vector<TensorSpec>& specs,
                         int64_t max_elements = kNoLimit) {
  std::optional<JsonPredictRequest> fast = ReadNumericPredictBody(body, specs, max_elements);
  if (!fast) return false;
  StatusOr<JsonPredictRequest> general = ParsePredictDocument(body, specs, max_elements);
  EXPECT_TRUE(general.ok()) << body << ": " << general.status();
  if (!general.ok()) return true;
  EXPECT_EQ(fast->row_format, general->row_format) << body;
  EXPECT_EQ(fast->signature_name, general->signature_name) << body;
  EXPECT_EQ(fast->inputs.size(), 1u);
  EXPECT_EQ(fast->inputs[0].dtype(), general->inputs[0].dtype());
  EXPECT_EQ(fast->inputs[0].shape(), general->inputs[0].shape()) << body;
  EXPECT_EQ(0, std::memcmp(fast->inputs[0].raw_data(), general->inputs[0].raw_data(),
                           general->inputs[0].num_bytes()))
      << body;
  return true;
}

TEST(NumericBodyReaderTest, TakesTheBodiesMostClientsSend) {
  EXPECT_TRUE(FastAndGeneralAgree(R"({"instances": [[1, 2.5, -3e2], [0.1, 1e-7, 4]]})", kVector));
  EXPECT_TRUE(FastAndGeneralAgree(
      R"({"inputs": [[1, 2.5, -3e2]], "signature_name": "serving_default"})", kVector));
  EXPECT_TRUE(FastAndGeneralAgree(R"({"instances": [[[1, 2, 3], [4, 5, 6]]]})", kImage));
  EXPECT_TRUE(FastAndGeneralAgree(R"({"instances": [1, 2.000000000000000000001, 3]})", kScalars));
  EXPECT_TRUE(FastAndGeneralAgree(R"({"instances": [-0, -0.0, 1e-99, -1e-99, 1E+99]})", kScalars));
  // Numbers whose float32 and float64 roundings differ, and long mantissas.
  EXPECT_TRUE(FastAndGeneralAgree(R"({"instances": [[0.1, 16777217, 3.4028234663852886e38],)"
                                  R"( [0.33333333333333333333333333, 1e-45, 9007199254740993]]})",
                                  kVector));
  // simdjson 3.0.1 reads these wrongly (its issues #2093, #2099); the fast path must not.
  EXPECT_TRUE(FastAndGeneralAgree(
      R"({"instances": [0.95000000000000000000, 1000000000.000000001, 0.0000000000000000000001234]})",
      kScalars));
  // Short decimals (read in one pass, util/short_decimal.h) and their edges.
  EXPECT_TRUE(FastAndGeneralAgree(
      R"({"instances": [0.1234, -0.5 , 12.75 ,-12, 0, -0, 9999999999999999999, -9999999999999999999,)"
      R"( 900719925474099.3, 900719925474099.25, 123456789012345678.9, 0.000000000000000000001]})",
      kScalars));
  EXPECT_TRUE(FastAndGeneralAgree(R"({"instances": [[0.1, 0.7, 3.4028235], [0.2, 16777217.5, 1]]})",
                                  kVector));
  // Integers just past uint64 (found by the fuzzer).
  EXPECT_TRUE(FastAndGeneralAgree(
      R"({"instances": [18446744073709551616, 18446744073709551617, 99999999999999999999]})",
      kScalars));
  EXPECT_TRUE(FastAndGeneralAgree(" \n{ \"inputs\" : [ 1 , 2 ] } \t", kScalars));
  EXPECT_TRUE(FastAndGeneralAgree(R"({"\u0069nputs": [1]})", kScalars))
      << "escaped keys read as keys";
  // The simdjson path (an escaped key) with numpy's long float32 decimals.
  EXPECT_TRUE(FastAndGeneralAgree(
      R"({"\u0069nputs": [0.4731886386871338, -0.03485250473022461, 0.12345678901234567,)"
      R"( 4503599627370496.5, 0.99999999999999994, 1234567.123456789012]})",
      kScalars));
}

// Pretty-printed bodies, and rows that mix short decimals with numbers that
// need the slower conversions.
TEST(NumericBodyReaderTest, ReadsPrettyPrintedAndMixedBodiesAsTheGeneralPathDoes) {
  EXPECT_TRUE(FastAndGeneralAgree(
      "{\n  \"instances\": [\n    [\n      0.25,\n      -1.5,\n      3\n    ]\n  ]\n}", kVector));
  EXPECT_TRUE(FastAndGeneralAgree("{\"instances\":[[1,\t2,\r\n3] ,[4,5,6] ] }", kVector));
  EXPECT_TRUE(FastAndGeneralAgree(R"({"instances": [[-0, -0.0, 0.0], [0, 1, -1]]})", kVector));
  EXPECT_TRUE(FastAndGeneralAgree(R"({"instances": [[[0.5, 1, 2], [3, 4, 5]]]})", kImage));
  EXPECT_TRUE(FastAndGeneralAgree(R"({"instances": [[0.5, 1, 2], [1e2, 3, 4]]})", kVector));
  EXPECT_TRUE(FastAndGeneralAgree(
      R"({"instances": [[0.5, 1, 2], [3, 4, 123456789012345678901234]]})", kVector));
  EXPECT_TRUE(FastAndGeneralAgree(R"({"instances": [0.5, 1, 2, 1E-3]})", kScalars));
}

TEST(NumericBodyReaderTest, LeavesEverythingElseToTheGeneralPath) {
  const std::vector<std::string> others = {
      R"({"instances": [{"x": [1, 2, 3]}]})",             // named instances
      R"({"instances": [{"b64": "AAAA"}]})",              // binary data
      R"({"instances": [[1, 2]]})",                       // wrong inner length
      R"({"instances": [[1, 2, 3, 4]]})",                 // wrong inner length
      R"({"instances": [[[1], [2], [3]]]})",              // too deep
      R"({"instances": [1, 2, 3]})",                      // too shallow
      R"({"instances": [[1, 2, 3], 4]})",                 // ragged
      R"({"instances": []})",                             // empty
      R"({"instances": [[1, 2, true]]})",                 // not a number
      R"({"instances": [[1, 2, null]]})",                 // not a number
      R"({"instances": [[1, 2, "3"]]})",                  // not a number
      R"({"instances": [[1, 2, 1e999]]})",                // beyond a double
      R"({"instances": [[1, 2, 1e39]]})",                 // beyond a float32
      R"({"instances": [[0.5, 2, 3.5e38]]})",             // beyond a float32, among short ones
      R"({"instances": [[1, 2, 0000000002001871731]]})",  // leading zeros (found by the fuzzer)
      R"({"instances": [[1, 2, 0000000000000000000000001.5]]})",  // leading zeros, long token
      R"({"instances": [[1, 2, 0e309]]})",     // RapidJSON refuses it (found by the fuzzer)
      R"({"instances": [[1, 2, 1.5e+100]]})",  // three-digit exponents: the general path's
      R"({"instances": [[1, 2, 0.1234567890123456789012345678901234567890]]})",  // over 40 chars
      R"({"instances": [[1, NaN, Infinity]]})",                   // tokens simdjson does not read
      R"({"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]})",     // both formats
      R"({"instances": [[1, 2, 3]], "instances": [[1, 2, 3]]})",  // a key twice
      // Bad grammar among short decimals.
      R"({"instances": [[1, 2 3]]})", R"({"instances": [[1,, 2, 3]]})",
      R"({"instances": [[1, 2, 3,]]})", R"({"instances": [[-, 2, 3]]})",
      R"({"instances": [[1., 2, 3]]})", R"({"instances": [[.5, 2, 3]]})",
      R"({"instances": [[01, 2, 3]]})", R"({"instances": [[1, 2, --3]]})",
      R"({"instances": [[1, 2, +3]]})", R"({"instances": [[1, 2, 3]x]})",
      R"({"instances": [[1, 2, 0x3]]})", R"({"instances": [[1, 2, 3\u0020]]})",
      R"({"instances": [[1, 2, 3]], "colour": 1})",           // unknown key
      R"({"signature_name": 7, "instances": [[1, 2, 3]]})",   // not a string
      R"({"signature_name": "a"})",                           // no tensor
      R"({"instances": [[1, 2, 3]]} x)",                      // trailing text
      R"({"instances": [[1, 2, 3]])",                         // cut short
      R"([[1, 2, 3]])",                                       // not an object
      "", std::string("{\"instances\": [[1, 2, 3]]}\0", 25),  // NUL byte
  };
  for (const std::string& body : others) {
    EXPECT_FALSE(ReadNumericPredictBody(body, kVector, kNoLimit).has_value()) << body;
  }
  // Models it does not take.
  const std::vector<TensorSpec> ints = {{"x", DType::kInt64, {N, Dim::Fixed(3)}}};
  const std::vector<TensorSpec> fixed = {{"x", DType::kFloat32, {Dim::Fixed(1), Dim::Fixed(3)}}};
  const std::vector<TensorSpec> two = {kVector[0], {"y", DType::kFloat32, {N}}};
  for (const auto* specs : {&ints, &fixed, &two}) {
    EXPECT_FALSE(
        ReadNumericPredictBody(R"({"instances": [[1, 2, 3]]})", *specs, kNoLimit).has_value());
  }
  // An inner dimension of 0: the general path's element limit may refuse the
  // body before it reaches the 0 (found in review).
  const std::vector<TensorSpec> empty_rows = {{"x", DType::kFloat32, {N, Dim::Fixed(0)}}};
  EXPECT_FALSE(ReadNumericPredictBody(R"({"instances": [[], []]})", empty_rows, 1).has_value());
  EXPECT_FALSE(ParsePredictRequest(R"({"instances": [[], []]})", empty_rows, 1).ok());
}

// Float32 values are converted four at a time: a value beyond a float32 is
// refused in every lane, and in-range values at the edge agree in every lane.
TEST(NumericBodyReaderTest, EveryLaneOfTheFloatConversion) {
  const std::vector<TensorSpec> row_of_6 = {{"x", DType::kFloat32, {N, Dim::Fixed(6)}}};
  for (int position = 0; position < 6; ++position) {
    auto row = [&](const std::string& value) {
      std::string body = R"({"instances": [[)";
      for (int i = 0; i < 6; ++i) body += (i ? ", " : "") + (i == position ? value : "0.5");
      return body + "]]}";
    };
    for (const char* too_large : {"3.5e38", "-1e39", "3.4028235677973366e38"}) {
      EXPECT_FALSE(ReadNumericPredictBody(row(too_large), row_of_6, kNoLimit)) << row(too_large);
    }
    for (const char* fits :
         {"3.4028234663852886e38", "-3.4028235e38", "1e-46", "-0.0", "16777217", "0.1"}) {
      EXPECT_TRUE(FastAndGeneralAgree(row(fits), row_of_6)) << row(fits);
    }
  }
}

TEST(NumericBodyReaderTest, TheValueLimitSendsLargeBodiesToTheGeneralPath) {
  EXPECT_TRUE(FastAndGeneralAgree(R"({"instances": [[1, 2, 3], [4, 5, 6]]})", kVector, 6));
  EXPECT_FALSE(ReadNumericPredictBody(R"({"instances": [[1, 2, 3], [4, 5, 6]]})", kVector, 5));
  EXPECT_EQ(
      ParsePredictRequest(R"({"instances": [[1, 2, 3], [4, 5, 6]]})", kVector, 5).status().code(),
      absl::StatusCode::kResourceExhausted);
}

TEST(NumericBodyReaderTest, DeepNestingStopsAtTheInputsRank) {
  const std::string deep =
      "{\"instances\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_FALSE(ReadNumericPredictBody(deep, kVector, kNoLimit).has_value());
}

}  // namespace
}  // namespace servekit
