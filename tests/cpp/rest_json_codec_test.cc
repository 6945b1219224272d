// TF Serving REST bodies to and from tensors (server/predict_json.h).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "servekit/server/rest/json_request.h"
#include "servekit/server/rest/json_response.h"
#include "test_util.h"

namespace servekit {
namespace {

using test::IsError;
using test::IsInvalid;
using test::TensorNear;

constexpr int64_t kNoLimit = int64_t{1} << 30;
const Dim N = Dim::Batch();

TensorSpec Spec(std::string name, DType dtype, SymShape shape) {
  return TensorSpec{std::move(name), dtype, shape};
}

StatusOr<JsonPredictRequest> Parse(absl::string_view body, const std::vector<TensorSpec>& specs,
                                   int64_t max_elements = kNoLimit) {
  return ParsePredictRequest(body, specs, max_elements);
}

StatusOr<JsonPredictRequest> ParseExamples(absl::string_view body,
                                           const std::vector<TensorSpec>& specs,
                                           int64_t max_elements = kNoLimit) {
  return ParseExamplesRequest(body, specs, max_elements);
}

// The error of a body that must fail.
Status ParseError(absl::string_view body, const std::vector<TensorSpec>& specs,
                  int64_t max_elements = kNoLimit) {
  StatusOr<JsonPredictRequest> parsed = Parse(body, specs, max_elements);
  return parsed.ok() ? absl::OkStatus() : parsed.status();
}

std::string Predictions(bool row_format, const std::vector<TensorSpec>& specs,
                        const std::vector<Tensor>& outputs) {
  std::string out;
  AppendPredictResponse(row_format, specs, outputs, &out);
  return out;
}

std::string Base64Of(const void* data, size_t size) {
  return absl::Base64Escape(absl::string_view(static_cast<const char*>(data), size));
}

std::string Nested(int depth, absl::string_view innermost) {
  return std::string(depth, '[') + std::string(innermost) + std::string(depth, ']');
}

const std::vector<TensorSpec> kVector3 = {Spec("x", DType::kFloat32, {N, Dim::Fixed(3)})};

// ---------------------------------------------------------------------------------------
// Row format

TEST(PredictJsonRowTest, OneInputBareInstancesAreStacked) {
  auto r = Parse(R"({"instances": [[1, 2, 3], [4.5, -5, 6e-1]]})", kVector3);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->row_format);
  EXPECT_EQ(r->signature_name, "");
  ASSERT_EQ(r->inputs.size(), 1u);
  EXPECT_TRUE(TensorNear(r->inputs[0], {2, 3}, {1, 2, 3, 4.5, -5, 0.6}));
}

// TF Serving's documentation: half_plus_three, a model of shape [N].
TEST(PredictJsonRowTest, DocumentationScalarInstances) {
  const std::vector<TensorSpec> specs = {Spec("x", DType::kFloat32, {N})};
  auto r = Parse(R"({"signature_name": "serving_default", "instances": [1.0, 2.0, 5.0]})", specs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->signature_name, "serving_default");
  EXPECT_TRUE(TensorNear(r->inputs[0], {3}, {1, 2, 5}));
}

TEST(PredictJsonRowTest, OneInputNamedInstances) {
  auto r = Parse(R"({"instances": [{"x": [1, 2, 3]}, {"x": [4, 5, 6]}]})", kVector3);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(TensorNear(r->inputs[0], {2, 3}, {1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [{"y": [1, 2, 3]}]})", kVector3),
                        {"instances[0] names \"y\"", "not an input", "'x'"}));
}

// TF Serving's documentation example (its string "tag" replaced by an int64).
TEST(PredictJsonRowTest, DocumentationSeveralInputs) {
  const std::vector<TensorSpec> specs = {
      Spec("tag", DType::kInt64, {N}), Spec("signal", DType::kFloat32, {N, Dim::Fixed(5)}),
      Spec("sensor", DType::kInt32, {N, Dim::Fixed(2), Dim::Fixed(2)})};
  auto r = Parse(R"({
      "instances": [
        {"tag": 7, "signal": [1, 2, 3, 4, 5], "sensor": [[1, 2], [3, 4]]},
        {"sensor": [[4, 5], [6, 8]], "signal": [3, 4, 1, 2, 5], "tag": 9}
      ]})",
                 specs);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->inputs.size(), 3u);
  EXPECT_EQ(r->inputs[0].shape(), (Shape{2}));
  EXPECT_EQ(test::Values<int64_t>(r->inputs[0]), (std::vector<int64_t>{7, 9}));
  EXPECT_TRUE(TensorNear(r->inputs[1], {2, 5}, {1, 2, 3, 4, 5, 3, 4, 1, 2, 5}));
  EXPECT_EQ(r->inputs[2].shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(test::Values<int32_t>(r->inputs[2]), (std::vector<int32_t>{1, 2, 3, 4, 4, 5, 6, 8}));
}

TEST(PredictJsonRowTest, SeveralInputsNeedNamedInstances) {
  const std::vector<TensorSpec> specs = {Spec("a", DType::kFloat32, {N}),
                                         Spec("b", DType::kFloat32, {N})};
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [1, 2]})", specs),
                        {"instances[0]", "2 inputs", "'a', 'b'", "object"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [{"a": 1, "b": 2}, {"a": 3}]})", specs),
                        {"instances[1] is missing input 'b'"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [{"a": 1, "b": 2, "c": 3}]})", specs),
                        {"instances[0] names \"c\"", "not an input", "'a', 'b'"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [{"a": 1, "b": 2, "a": 3}]})", specs),
                        {"instances[0] names input 'a' twice"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [{"a": 1, "b": 2}, [3, 4]]})", specs),
                        {"instances[1]"}));
}

TEST(PredictJsonRowTest, InstancesMustBeANonEmptyList) {
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": []})", kVector3), {"'instances' is an empty list"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": {"x": [1, 2, 3]}})", kVector3),
                        {"'instances' must be a list", "an object"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": 5})", kVector3), {"'instances' must be a list", "5"}));
}

TEST(PredictJsonRowTest, FixedBatchInputTakesExactlyItsRows) {
  const std::vector<TensorSpec> specs = {
      Spec("x", DType::kFloat32, {Dim::Fixed(2), Dim::Fixed(2)})};
  auto r = Parse(R"({"instances": [[1, 2], [3, 4]]})", specs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(TensorNear(r->inputs[0], {2, 2}, {1, 2, 3, 4}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [[1, 2], [3, 4], [5, 6]]})", specs),
                        {"'instances' has 3 entries", "input 'x'", "[2, 2]"}));
}

TEST(PredictJsonRowTest, ScalarInputNeedsColumnarFormat) {
  const std::vector<TensorSpec> specs = {Spec("s", DType::kFloat32, {})};
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": [1]})", specs), {"input 's' is a scalar", "'inputs'"}));
  auto r = Parse(R"({"inputs": 2.5})", specs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->row_format);
  EXPECT_TRUE(TensorNear(r->inputs[0], {}, {2.5}));
}

// ---------------------------------------------------------------------------------------
// Columnar format

TEST(PredictJsonColumnarTest, OneInputBareValue) {
  auto r = Parse(R"({"inputs": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]})", kVector3);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->row_format);
  EXPECT_TRUE(TensorNear(r->inputs[0], {3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  auto named = Parse(R"({"inputs": {"x": [[1, 2, 3]]}})", kVector3);
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_TRUE(TensorNear(named->inputs[0], {1, 3}, {1, 2, 3}));
}

// TF Serving's documentation example (its string "tag" replaced by an int64).
TEST(PredictJsonColumnarTest, DocumentationSeveralInputs) {
  const std::vector<TensorSpec> specs = {
      Spec("tag", DType::kInt64, {N}), Spec("signal", DType::kFloat32, {N, Dim::Fixed(5)}),
      Spec("sensor", DType::kInt32, {N, Dim::Fixed(2), Dim::Fixed(2)})};
  auto r = Parse(R"({
      "inputs": {
        "tag": [7, 9],
        "signal": [[1, 2, 3, 4, 5], [3, 4, 1, 2, 5]],
        "sensor": [[[1, 2], [3, 4]], [[4, 5], [6, 8]]]
      }})",
                 specs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(test::Values<int64_t>(r->inputs[0]), (std::vector<int64_t>{7, 9}));
  EXPECT_TRUE(TensorNear(r->inputs[1], {2, 5}, {1, 2, 3, 4, 5, 3, 4, 1, 2, 5}));
  EXPECT_EQ(r->inputs[2].shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(test::Values<int32_t>(r->inputs[2]), (std::vector<int32_t>{1, 2, 3, 4, 4, 5, 6, 8}));
}

TEST(PredictJsonColumnarTest, InputsMustAgreeOnTheBatchSize) {
  const std::vector<TensorSpec> specs = {Spec("a", DType::kFloat32, {N}),
                                         Spec("b", DType::kFloat32, {N, Dim::Fixed(2)})};
  EXPECT_TRUE(IsInvalid(ParseError(R"({"inputs": {"a": [1, 2, 3], "b": [[1, 2], [3, 4]]}})", specs),
                        {"disagree on the batch size", "'a' has batch size 3", "'b' has 2"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"inputs": [1, 2]})", specs),
                        {"2 inputs", "'inputs' must be an object"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"inputs": {"a": [1]}})", specs), {"'inputs' is missing input 'b'"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"inputs": {"a": [1], "b": [[1, 2]], "zz": 1}})", specs),
                        {"'inputs' names \"zz\"", "not an input"}));
}

// A batch-independent input (a lookup table, say) takes its fixed shape
// whatever the batch size.
TEST(PredictJsonColumnarTest, FixedInputBesideBatchInput) {
  const std::vector<TensorSpec> specs = {Spec("rows", DType::kFloat32, {N, Dim::Fixed(2)}),
                                         Spec("table", DType::kInt32, {Dim::Fixed(3)})};
  auto r = Parse(R"({"inputs": {"rows": [[1, 2], [3, 4], [5, 6], [7, 8]], "table": [10, 20, 30]}})",
                 specs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inputs[0].shape(), (Shape{4, 2}));
  EXPECT_EQ(test::Values<int32_t>(r->inputs[1]), (std::vector<int32_t>{10, 20, 30}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"inputs": {"rows": [[1, 2]], "table": [10, 20]}})", specs),
                        {"inputs.table", "expects shape [3]", "got [2]"}));
}

TEST(PredictJsonColumnarTest, WrongShapes) {
  EXPECT_TRUE(IsInvalid(
      ParseError(R"({"inputs": [[1, 2, 3], [4, 5]]})", kVector3),
      {"inputs: input 'x' expects shape [2, 3], but the lists are ragged", "inputs[1] has 2"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"inputs": [1, 2, 3]})", kVector3),
                        {"inputs: input 'x' expects shape [3, 3]; got [3]"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"inputs": 4})", kVector3), {"expects shape [N, 3]", "got 4"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"inputs": []})", kVector3), {"empty batch"}));
}

// ---------------------------------------------------------------------------------------
// The body

TEST(PredictJsonBodyTest, EmptyAndNonObjectBodies) {
  EXPECT_TRUE(IsInvalid(ParseError("", kVector3), {"empty"}));
  EXPECT_TRUE(IsInvalid(ParseError(" \n\t ", kVector3), {"empty"}));
  EXPECT_TRUE(
      IsInvalid(ParseError("[1, 2, 3]", kVector3), {"must be a JSON object", "a list of 3"}));
  EXPECT_TRUE(IsInvalid(ParseError("42", kVector3), {"must be a JSON object", "42"}));
  EXPECT_TRUE(IsInvalid(ParseError("null", kVector3), {"must be a JSON object", "null"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"("instances")", kVector3), {"must be a JSON object"}));
}

TEST(PredictJsonBodyTest, MalformedJsonSaysWhere) {
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [[1, 2, 3],})", kVector3),
                        {"malformed JSON at offset 25"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [[1, 2, 3]]} x)", kVector3),
                        {"malformed JSON at offset 27"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": [[1, 2, 3]]}{})", kVector3), {"malformed JSON"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(std::string(R"({"instances": [[1, 2, 3]]})") + '\0' + "junk", kVector3),
                {"NUL byte at offset 26"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({'instances': [[1, 2, 3]]})", kVector3),
                        {"malformed JSON at offset 1"}));
  // Trailing whitespace is not garbage.
  EXPECT_TRUE(Parse("{\"instances\": [[1, 2, 3]]}  \r\n", kVector3).ok());
}

TEST(PredictJsonBodyTest, ExactlyOneOfInstancesAndInputs) {
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]})", kVector3),
                {"both 'instances'", "'inputs'"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"signature_name": "serving_default"})", kVector3),
                        {"neither 'instances'", "nor 'inputs'"}));
  EXPECT_TRUE(IsInvalid(ParseError("{}", kVector3), {"neither 'instances'"}));
}

TEST(PredictJsonBodyTest, UnknownDuplicateAndMistypedKeys) {
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instance": [[1, 2, 3]]})", kVector3),
                        {"unknown key \"instance\"", "'signature_name', 'instances', 'inputs'"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": [[1, 2, 3]], "instances": [[1, 2, 3]]})", kVector3),
                {"'instances' twice"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"signature_name": 3, "instances": [[1, 2, 3]]})", kVector3),
                        {"'signature_name' must be a string", "got 3"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"signature_name": null, "instances": [[1, 2, 3]]})", kVector3),
                {"'signature_name' must be a string", "null"}));
  // A long unknown key is cut short in the message.
  const std::string long_key(500, 'k');
  const Status status = ParseError("{\"" + long_key + "\": 1}", kVector3);
  EXPECT_TRUE(IsInvalid(status, {"unknown key", "kkk\"..."}));
  EXPECT_LT(status.message().size(), 250u);
}

// Bodies nested deeper than any request needs are refused before parsing (the
// parser recurses per level); below that, the walk stops at the input's rank.
// Either way absurd nesting is a clean InvalidArgument, never a stack overflow.
TEST(PredictJsonBodyTest, DeepNestingIsAnErrorNotACrash) {
  const std::string deep = Nested(100000, "1");
  const std::vector<std::string> too_deep = {
      "{\"instances\": " + deep + "}",
      "{\"inputs\": " + deep + "}",
      "{\"instances\": [{\"x\": " + deep + "}]}",
      "{\"instances\": [[1, 2, " + deep + "]]}",
      "{\"other\": " + deep + "}",
      "{\"instances\": " + std::string(100000, '[') + "}",  // unbalanced
  };
  for (const std::string& body : too_deep) {
    EXPECT_TRUE(IsInvalid(ParseError(body, kVector3), {"nested deeper than 64 levels"}))
        << body.substr(0, 40);
  }
  std::string deep_objects;
  for (int i = 0; i < 100000; ++i) deep_objects += "{\"a\":";
  deep_objects += "1" + std::string(100000, '}');
  EXPECT_TRUE(IsInvalid(ParseError("{\"inputs\": " + deep_objects + "}", kVector3),
                        {"nested deeper than 64"}));
  // Brackets inside strings do not count.
  EXPECT_TRUE(IsInvalid(
      ParseError("{\"signature_name\": \"" + std::string(1000, '[') + "\\\"\", \"instances\": 1}",
                 kVector3),
      {"'instances' must be a list"}));

  // Deep but parseable: the walk stops at the input's rank.
  const std::string sixty = Nested(60, "1");
  EXPECT_TRUE(IsInvalid(ParseError("{\"instances\": " + sixty + "}", kVector3),
                        {"instances[0]: input 'x' expects shape [3] per instance; got [1, ...]"}));
  EXPECT_TRUE(IsInvalid(ParseError("{\"inputs\": " + sixty + "}", kVector3),
                        {"inputs: input 'x' expects shape [1, 3]; got [1, 1, ...]"}));
  EXPECT_TRUE(IsInvalid(ParseError("{\"instances\": [{\"x\": " + sixty + "}]}", kVector3),
                        {"instances[0].x"}));
  EXPECT_TRUE(IsInvalid(ParseError("{\"instances\": [[1, 2, " + sixty + "]]}", kVector3),
                        {"ragged", "instances[0][2] is a list where a single value belongs"}));
}

// ---------------------------------------------------------------------------------------
// Values

TEST(PredictJsonValueTest, NanAndInfinityTokens) {
  const std::vector<TensorSpec> specs = {Spec("f", DType::kFloat32, {N, Dim::Fixed(3)}),
                                         Spec("d", DType::kFloat64, {N, Dim::Fixed(3)})};
  auto r =
      Parse(R"({"inputs": {"f": [[NaN, Infinity, -Infinity]], "d": [[-Infinity, NaN, Infinity]]}})",
            specs);
  ASSERT_TRUE(r.ok()) << r.status();
  const float* f = r->inputs[0].data<float>();
  EXPECT_TRUE(std::isnan(f[0]));
  EXPECT_EQ(f[1], std::numeric_limits<float>::infinity());
  EXPECT_EQ(f[2], -std::numeric_limits<float>::infinity());
  const double* d = r->inputs[1].data<double>();
  EXPECT_EQ(d[0], -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(d[1]));
  EXPECT_EQ(d[2], std::numeric_limits<double>::infinity());
}

TEST(PredictJsonValueTest, NumbersTooLargeForADoubleAreErrors) {
  const std::vector<TensorSpec> specs = {Spec("d", DType::kFloat64, {N})};
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": [1e400]})", specs), {"malformed JSON at offset 15"}));
  // These pass RapidJSON's exponent check but still overflow.
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [1, 1.8e308]})", specs),
                        {"number at offset 18 is too large for a 64-bit float"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": [-1.8e308]})", specs), {"offset 15", "too large"}));
  EXPECT_TRUE(IsInvalid(ParseError("{\"instances\": [1" + std::string(400, '0') + "]}", specs),
                        {"offset 15"}));
  auto r = Parse(R"({"instances": [1.7976931348623157e308, -1e308, 5e-324]})", specs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(test::Values<double>(r->inputs[0]),
            (std::vector<double>{std::numeric_limits<double>::max(), -1e308, 5e-324}));
  // float32 inputs are parsed the faster way, which overflows differently.
  const std::vector<TensorSpec> floats = {Spec("f", DType::kFloat32, {N})};
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": [1.8e308]})", floats), {"offset 15", "too large"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": [-1.8e308]})", floats), {"offset 15", "too large"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": [1e400]})", floats), {"malformed JSON at offset 15"}));
}

// Doubles printed in 17 digits read back exactly (RapidJSON's default number
// parsing gets each of these one ulp wrong).
TEST(PredictJsonValueTest, Float64ValuesAreExact) {
  const std::vector<TensorSpec> specs = {Spec("d", DType::kFloat64, {N})};
  auto r = Parse(R"({"instances": [0.0018301991017324326, 1.9063445990905166, 12.398721721023321,
                                   160.98115143179893, 0.010293521307175979]})",
                 specs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(test::Values<double>(r->inputs[0]),
            (std::vector<double>{0.0018301991017324326, 1.9063445990905166, 12.398721721023321,
                                 160.98115143179893, 0.010293521307175979}));
}

TEST(PredictJsonValueTest, Float32RangeAndRounding) {
  const std::vector<TensorSpec> specs = {Spec("f", DType::kFloat32, {N})};
  // FLT_MAX as printed in 9 digits is slightly above FLT_MAX as a double, yet rounds to it.
  auto r = Parse(R"({"instances": [3.4028235e38, -3.4028235e38, 0.1, 1e-46, 16777217]})", specs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(test::Values<float>(r->inputs[0]),
            (std::vector<float>{std::numeric_limits<float>::max(),
                                std::numeric_limits<float>::lowest(), 0.1f, 0.0f, 16777216.0f}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [1, 3.5e38]})", specs),
                        {"instances[1]: input 'f' expects float32 numbers; got 3.5e+38"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": [-1e39]})", specs), {"instances[0]", "float32"}));
}

TEST(PredictJsonValueTest, IntegersMustFitTheirDType) {
  const std::vector<TensorSpec> specs = {
      Spec("i8", DType::kInt8, {N}), Spec("u8", DType::kUInt8, {N}),
      Spec("i32", DType::kInt32, {N}), Spec("i64", DType::kInt64, {N})};
  auto r = Parse(R"({"inputs": {"i8": [-128, 127], "u8": [0, 255], "i32": [-2147483648, 2147483647],
                                "i64": [-9223372036854775808, 9223372036854775807]}})",
                 specs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(test::Values<int8_t>(r->inputs[0]), (std::vector<int8_t>{-128, 127}));
  EXPECT_EQ(test::Values<uint8_t>(r->inputs[1]), (std::vector<uint8_t>{0, 255}));
  EXPECT_EQ(test::Values<int32_t>(r->inputs[2]),
            (std::vector<int32_t>{std::numeric_limits<int32_t>::min(),
                                  std::numeric_limits<int32_t>::max()}));
  EXPECT_EQ(test::Values<int64_t>(r->inputs[3]),
            (std::vector<int64_t>{std::numeric_limits<int64_t>::min(),
                                  std::numeric_limits<int64_t>::max()}));

  const auto with = [](const std::string& i8, const std::string& u8, const std::string& i32,
                       const std::string& i64) {
    return "{\"inputs\": {\"i8\": [" + i8 + "], \"u8\": [" + u8 + "], \"i32\": [" + i32 +
           "], \"i64\": [" + i64 + "]}}";
  };
  EXPECT_TRUE(
      IsInvalid(ParseError(with("128", "0", "0", "0"), specs),
                {"inputs.i8[0]: input 'i8' expects int8 integers in [-128, 127]; got 128"}));
  EXPECT_TRUE(IsInvalid(ParseError(with("0", "-1", "0", "0"), specs),
                        {"inputs.u8[0]", "[0, 255]", "got -1"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(with("0", "256", "0", "0"), specs), {"inputs.u8[0]", "got 256"}));
  EXPECT_TRUE(IsInvalid(ParseError(with("0", "0", "2147483648", "0"), specs),
                        {"inputs.i32[0]", "got 2147483648"}));
  EXPECT_TRUE(IsInvalid(ParseError(with("0", "0", "0", "9223372036854775808"), specs),
                        {"inputs.i64[0]", "got 9223372036854775808"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(with("0", "0", "0", "-9223372036854775809"), specs), {"inputs.i64[0]"}));
  // Floats are not integers, even whole ones.
  EXPECT_TRUE(IsInvalid(ParseError(with("0", "0", "1.5", "0"), specs),
                        {"inputs.i32[0]", "int32 integers", "1.5"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(with("0", "0", "0", "2.0"), specs), {"inputs.i64[0]", "got 2.0"}));
  EXPECT_TRUE(IsInvalid(ParseError(with("0", "0", "0", "1e3"), specs), {"inputs.i64[0]"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(with("NaN", "0", "0", "0"), specs), {"inputs.i8[0]", "got NaN"}));
}

TEST(PredictJsonValueTest, IntegersAreFineForFloatInputs) {
  const std::vector<TensorSpec> specs = {Spec("d", DType::kFloat64, {N})};
  auto r = Parse(R"({"instances": [1, -2, 9007199254740993, 18446744073709551615]})", specs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(test::Values<double>(r->inputs[0]),
            (std::vector<double>{1.0, -2.0, 9007199254740992.0, 18446744073709551616.0}));
}

TEST(PredictJsonValueTest, BoolsOnlyForBoolInputs) {
  const std::vector<TensorSpec> specs = {Spec("b", DType::kBool, {N, Dim::Fixed(2)})};
  auto r = Parse(R"({"instances": [[true, false], [false, true]]})", specs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(test::Values<bool>(r->inputs[0]), (std::vector<bool>{true, false, false, true}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [[true, 1]]})", specs),
                        {"instances[0][1]: input 'b' expects true or false; got 1"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [[1, 2, true]]})", kVector3),
                        {"instances[0][2]: input 'x' expects float32 numbers; got true"}));
}

TEST(PredictJsonValueTest, StringsNullsAndObjectsAreNotNumbers) {
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [[1, 2, 3], [4, "5", 6]]})", kVector3),
                        {"instances[1][1]: input 'x' expects float32 numbers; got \"5\""}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [[1, null, 3]]})", kVector3),
                        {"instances[0][1]", "got null"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [[1, {"v": 2}, 3]]})", kVector3),
                        {"instances[0][1]: input 'x' got an object", "{\"b64\""}));
}

// ---------------------------------------------------------------------------------------
// Shapes

TEST(PredictJsonShapeTest, RaggedInstances) {
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [[1, 2, 3], [4, 5]]})", kVector3),
                        {"instances[1]: input 'x' expects shape [3] per instance; got [2]"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": [[1, 2, 3], 4]})", kVector3),
                {"instances[1]: input 'x' expects shape [3] per instance; got a single value"}));
  const std::vector<TensorSpec> specs = {
      Spec("m", DType::kFloat32, {N, Dim::Fixed(2), Dim::Fixed(2)})};
  EXPECT_TRUE(IsInvalid(
      ParseError(R"({"instances": [[[1, 2], [3]]]})", specs),
      {"instances[0]: input 'm' expects shape [2, 2] per instance, but the lists are ragged: "
       "instances[0][1] has 1 element where 2 belong"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [[[1, 2], 3]]})", specs),
                        {"ragged", "instances[0][1] is 3 where a list of 2 belongs"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [[[1, 2], [3, [4]]]]})", specs),
                        {"ragged", "instances[0][1][1] is a list where a single value belongs"}));
}

TEST(PredictJsonShapeTest, WrongRank) {
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [[[1, 2, 3]]]})", kVector3),
                        {"instances[0]: input 'x' expects shape [3] per instance; got [1, ...]"}));
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": [1, 2, 3]})", kVector3),
                {"instances[0]: input 'x' expects shape [3] per instance; got a single value"}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [[1, 2, 3, 4]]})", kVector3),
                        {"expects shape [3] per instance; got [4]"}));
  const std::vector<TensorSpec> scalar_rows = {Spec("x", DType::kFloat32, {N})};
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": [1, [2]]})", scalar_rows),
                {"instances[1]: input 'x' expects a single value per instance; got a list of 1"}));
}

// ---------------------------------------------------------------------------------------
// {"b64": ...}

TEST(PredictJsonBase64Test, WholeImagePerInstance) {
  const std::vector<TensorSpec> specs = {
      Spec("image", DType::kUInt8, {N, Dim::Fixed(28), Dim::Fixed(28)})};
  std::vector<uint8_t> first(784), second(784);
  for (int i = 0; i < 784; ++i) {
    first[i] = static_cast<uint8_t>(i * 7);
    second[i] = static_cast<uint8_t>(255 - i);
  }
  const std::string body = R"({"instances": [{"b64": ")" + Base64Of(first.data(), 784) +
                           R"("}, {"image": {"b64": ")" + Base64Of(second.data(), 784) + R"("}}]})";
  auto r = Parse(body, specs);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->inputs[0].shape(), (Shape{2, 28, 28}));
  const std::vector<uint8_t> got = test::Values<uint8_t>(r->inputs[0]);
  EXPECT_TRUE(std::equal(first.begin(), first.end(), got.begin()));
  EXPECT_TRUE(std::equal(second.begin(), second.end(), got.begin() + 784));
  EXPECT_TRUE(IsInvalid(
      ParseError(R"({"instances": [{"b64": ")" + Base64Of(first.data(), 783) + R"("}]})", specs),
      {"instances[0]: input 'image' expects 784 bytes of uint8 data here (shape [28, 28])",
       "decodes to 783 bytes"}));
}

TEST(PredictJsonBase64Test, SubTensorsAndSingleElements) {
  const std::vector<TensorSpec> specs = {
      Spec("m", DType::kFloat32, {N, Dim::Fixed(2), Dim::Fixed(3)})};
  const float row0[3] = {1.5f, -2.0f, 0.1f};
  const float row1[3] = {4.0f, 5.0f, 6.0f};
  const float one = 7.25f;
  const std::string body = R"({"instances": [[{"b64": ")" + Base64Of(row0, sizeof row0) +
                           R"("}, [{"b64": ")" + Base64Of(&one, 4) +
                           R"("}, 8, 9]], [[1, 2, 3], {"b64": ")" + Base64Of(row1, sizeof row1) +
                           R"("}]]})";
  auto r = Parse(body, specs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(test::Values<float>(r->inputs[0]),
            (std::vector<float>{1.5f, -2.0f, 0.1f, 7.25f, 8, 9, 1, 2, 3, 4, 5, 6}));
}

TEST(PredictJsonBase64Test, WebSafeAndUnpaddedAlphabets) {
  const std::vector<TensorSpec> specs = {Spec("u", DType::kUInt8, {N, Dim::Fixed(4)})};
  // Bytes fb ff bf 00: standard "+/+/AA==", web-safe "-_-_AA".
  auto standard = Parse(R"({"instances": [{"b64": "+/+/AA=="}]})", specs);
  ASSERT_TRUE(standard.ok()) << standard.status();
  EXPECT_EQ(test::Values<uint8_t>(standard->inputs[0]),
            (std::vector<uint8_t>{0xfb, 0xff, 0xbf, 0x00}));
  auto web_safe = Parse(R"({"instances": [{"b64": "-_-_AA"}]})", specs);
  ASSERT_TRUE(web_safe.ok()) << web_safe.status();
  EXPECT_EQ(test::Values<uint8_t>(web_safe->inputs[0]),
            (std::vector<uint8_t>{0xfb, 0xff, 0xbf, 0x00}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [{"b64": "not base64!"}]})", specs),
                        {"instances[0]: the \"b64\" string for input 'u' is not valid base64"}));
}

TEST(PredictJsonBase64Test, ColumnarBatchFromTheByteCount) {
  const std::vector<TensorSpec> specs = {Spec("x", DType::kInt32, {N, Dim::Fixed(2)})};
  const int32_t values[6] = {1, -2, 3, -4, 5, 2147483647};
  auto r = Parse(R"({"inputs": {"b64": ")" + Base64Of(values, sizeof values) + R"("}})", specs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inputs[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(test::Values<int32_t>(r->inputs[0]),
            (std::vector<int32_t>{1, -2, 3, -4, 5, 2147483647}));
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"inputs": {"b64": ")" + Base64Of(values, 20) + R"("}})", specs),
                {"inputs: input 'x' has shape [N, 2]", "whole number of 8-byte rows", "20 bytes"}));
}

TEST(PredictJsonBase64Test, BoolBytesMustBeZeroOrOne) {
  const std::vector<TensorSpec> specs = {Spec("b", DType::kBool, {N, Dim::Fixed(3)})};
  const uint8_t good[3] = {1, 0, 1};
  auto r = Parse(R"({"instances": [{"b64": ")" + Base64Of(good, 3) + R"("}]})", specs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(test::Values<bool>(r->inputs[0]), (std::vector<bool>{true, false, true}));
  const uint8_t bad[3] = {1, 2, 0};
  EXPECT_TRUE(
      IsInvalid(ParseError(R"({"instances": [{"b64": ")" + Base64Of(bad, 3) + R"("}]})", specs),
                {"instances[0]: bool data for input 'b' must be bytes 0 or 1; byte 1", "is 2"}));
}

TEST(PredictJsonBase64Test, B64ObjectsMustBeExact) {
  const std::vector<TensorSpec> specs = {Spec("u", DType::kUInt8, {N, Dim::Fixed(1)})};
  // With another key it is an object naming inputs, and "b64" is not one.
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [{"b64": "AA==", "extra": 1}]})", specs),
                        {"instances[0] names \"b64\""}));
  EXPECT_TRUE(IsInvalid(ParseError(R"({"instances": [[{"b64": 5}]]})", specs),
                        {"instances[0][0]: input 'u' got an object"}));
}

// ---------------------------------------------------------------------------------------
// max_elements

TEST(PredictJsonLimitTest, MaxElementsIsResourceExhausted) {
  const std::string body = R"({"instances": [[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 2, 3]]})";
  EXPECT_TRUE(Parse(body, kVector3, 12).ok());
  EXPECT_TRUE(IsError(ParseError(body, kVector3, 11), absl::StatusCode::kResourceExhausted,
                      {"more than 11 values", "'x' [4, 3]"}));
  const std::vector<TensorSpec> two = {Spec("a", DType::kFloat32, {N, Dim::Fixed(3)}),
                                       Spec("b", DType::kFloat32, {N, Dim::Fixed(3)})};
  const std::string pair =
      R"({"inputs": {"a": [[1, 2, 3], [4, 5, 6]], "b": [[1, 2, 3], [4, 5, 6]]}})";
  EXPECT_TRUE(Parse(pair, two, 12).ok());
  EXPECT_TRUE(
      IsError(ParseError(pair, two, 11), absl::StatusCode::kResourceExhausted, {"more than 11"}));
}

// The limit applies before any allocation: a fixed dimension of 2^40 would not fit in memory.
TEST(PredictJsonLimitTest, HugeShapesFailBeforeAllocating) {
  const std::vector<TensorSpec> specs = {
      Spec("x", DType::kFloat32, {N, Dim::Fixed(int64_t{1} << 40)})};
  EXPECT_TRUE(IsError(ParseError(R"({"instances": [[1]]})", specs, kNoLimit),
                      absl::StatusCode::kResourceExhausted, {"more than"}));
  const std::vector<TensorSpec> squares = {
      Spec("x", DType::kFloat32, {N, Dim::Fixed(int64_t{1} << 40), Dim::Fixed(int64_t{1} << 40)})};
  EXPECT_TRUE(
      IsError(ParseError(R"({"instances": [[1]]})", squares, std::numeric_limits<int64_t>::max()),
              absl::StatusCode::kResourceExhausted, {"more than"}));
}

// ---------------------------------------------------------------------------------------
// Responses

TEST(PredictJsonResponseTest, RowFormatOneOutput) {
  const std::vector<TensorSpec> specs = {Spec("y", DType::kFloat32, {N, Dim::Fixed(2)})};
  EXPECT_EQ(Predictions(true, specs, {test::Floats({2, 2}, {1, 2.5f, 0.1f, -3})}),
            R"({"predictions":[[1.0,2.5],[0.1,-3.0]]})");
  const std::vector<TensorSpec> vector = {Spec("y", DType::kFloat32, {N})};
  EXPECT_EQ(Predictions(true, vector, {test::Floats({3}, {2.5f, 3, 4.5f})}),
            R"({"predictions":[2.5,3.0,4.5]})");
}

TEST(PredictJsonResponseTest, RowFormatSeveralOutputs) {
  const std::vector<TensorSpec> specs = {Spec("scores", DType::kFloat32, {N, Dim::Fixed(2)}),
                                         Spec("label", DType::kInt64, {N}),
                                         Spec("flag", DType::kBool, {N, Dim::Fixed(1)})};
  const std::vector<Tensor> outputs = {test::Floats({2, 2}, {0.25f, 0.75f, 1, 0}),
                                       test::Int64s({2}, {1, 0}),
                                       test::MakeTensor<bool>({2, 1}, {true, false})};
  EXPECT_EQ(Predictions(true, specs, outputs),
            R"({"predictions":[{"scores":[0.25,0.75],"label":1,"flag":[true]},)"
            R"({"scores":[1.0,0.0],"label":0,"flag":[false]}]})");
}

// A batch-independent output (a scalar, a fixed table) cannot be split into
// rows; each row repeats it.
TEST(PredictJsonResponseTest, RowFormatRepeatsBatchIndependentOutputs) {
  const std::vector<TensorSpec> specs = {Spec("y", DType::kFloat32, {N}),
                                         Spec("t", DType::kFloat32, {}),
                                         Spec("table", DType::kInt32, {Dim::Fixed(2)})};
  const std::vector<Tensor> outputs = {test::Floats({2}, {1, 2}), test::Scalar(0.5f),
                                       test::MakeTensor<int32_t>({2}, {7, 8})};
  EXPECT_EQ(Predictions(true, specs, outputs),
            R"({"predictions":[{"y":1.0,"t":0.5,"table":[7,8]},{"y":2.0,"t":0.5,"table":[7,8]}]})");
}

TEST(PredictJsonResponseTest, RowFormatFixedShapeModelSplitsTheFirstDimension) {
  const std::vector<TensorSpec> specs = {Spec("y", DType::kInt32, {Dim::Fixed(2), Dim::Fixed(2)})};
  EXPECT_EQ(Predictions(true, specs, {test::MakeTensor<int32_t>({2, 2}, {1, 2, 3, 4})}),
            R"({"predictions":[[1,2],[3,4]]})");
}

TEST(PredictJsonResponseTest, ColumnarFormat) {
  const std::vector<TensorSpec> one = {Spec("y", DType::kFloat32, {N, Dim::Fixed(2)})};
  EXPECT_EQ(Predictions(false, one, {test::Floats({2, 2}, {1, 2, 3, 4})}),
            R"({"outputs":[[1.0,2.0],[3.0,4.0]]})");
  const std::vector<TensorSpec> two = {Spec("a", DType::kFloat64, {N}),
                                       Spec("b", DType::kUInt8, {N, Dim::Fixed(1)})};
  const std::vector<Tensor> outputs = {test::MakeTensor<double>({2}, {0.1, 1e300}),
                                       test::MakeTensor<uint8_t>({2, 1}, {0, 255})};
  EXPECT_EQ(Predictions(false, two, outputs), R"({"outputs":{"a":[0.1,1e+300],"b":[[0],[255]]}})");
  EXPECT_EQ(Predictions(false, {Spec("s", DType::kInt8, {})}, {test::Scalar<int8_t>(-7)}),
            R"({"outputs":-7})");
}

TEST(PredictJsonResponseTest, NanInfinityAndSpecialFloats) {
  const std::vector<TensorSpec> specs = {Spec("y", DType::kFloat32, {N})};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(Predictions(true, specs, {test::Floats({5}, {nan, inf, -inf, -0.0f, 1e20f})}),
            R"({"predictions":[NaN,Infinity,-Infinity,-0.0,1e+20]})");
}

// What the response writes, a request reads back bit for bit.
TEST(PredictJsonResponseTest, FloatsRoundTrip) {
  const std::vector<float> values = {0.1f,
                                     1.0f / 3.0f,
                                     std::numeric_limits<float>::max(),
                                     std::numeric_limits<float>::min(),
                                     std::numeric_limits<float>::denorm_min(),
                                     -123456.789f,
                                     16777216.0f};
  const std::vector<TensorSpec> specs = {Spec("y", DType::kFloat32, {N})};
  std::string body = Predictions(true, specs, {test::Floats({7}, values)});
  body.replace(body.find("predictions"), 11, "instances");
  auto r = Parse(body, specs);
  ASSERT_TRUE(r.ok()) << r.status() << " " << body;
  EXPECT_EQ(test::Values<float>(r->inputs[0]), values);
}

TEST(PredictJsonResponseTest, AppendsWithoutClearing) {
  std::string out = "prefix";
  AppendPredictResponse(false, {Spec("y", DType::kInt64, {N})}, {test::Int64s({1}, {3})}, &out);
  EXPECT_EQ(out, R"(prefix{"outputs":[3]})");
}

TEST(PredictJsonResponseTest, ErrorBodiesAreEscaped) {
  std::string out;
  AppendErrorResponse("input 'x': got \"a\\b\"\nline two\x01 \xff end", &out);
  EXPECT_EQ(out, R"({"error":"input 'x': got \"a\\b\"\nline two\u0001 \ufffd end"})");
}

// ---------------------------------------------------------------------------------------
// :classify and :regress

TEST(ExamplesJsonTest, ClassifyHappyPath) {
  const std::vector<TensorSpec> inputs = {Spec("x", DType::kFloat32, {N, Dim::Fixed(2)})};
  const std::vector<TensorSpec> outputs = {Spec("scores", DType::kFloat32, {N, Dim::Fixed(3)})};
  EXPECT_TRUE(CheckExampleApiSignature(ExampleApi::kClassify, outputs).ok());
  auto r = ParseExamples(
      R"({"signature_name": "classify", "examples": [{"x": [1, 2]}, {"x": [3, 4]}]})", inputs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->signature_name, "classify");
  EXPECT_TRUE(r->row_format);
  EXPECT_TRUE(TensorNear(r->inputs[0], {2, 2}, {1, 2, 3, 4}));
  std::string out;
  AppendExamplesResponse(ExampleApi::kClassify,
                         test::Floats({2, 3}, {0.1f, 0.2f, 0.7f, 0.5f, 0.25f, 0.25f}), &out);
  EXPECT_EQ(out,
            R"({"results":[[["0",0.1],["1",0.2],["2",0.7]],[["0",0.5],["1",0.25],["2",0.25]]]})");
}

// The context supplies features every example shares; an example's own wins.
TEST(ExamplesJsonTest, RegressWithContext) {
  const std::vector<TensorSpec> inputs = {Spec("a", DType::kFloat32, {N, Dim::Fixed(1)}),
                                          Spec("b", DType::kInt64, {N, Dim::Fixed(2)})};
  auto r = ParseExamples(R"({"context": {"b": [5, 6], "unused": "text"},
                              "examples": [{"a": 1.5}, {"a": [2.5], "b": [7, 8], "label": 1}]})",
                         inputs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(TensorNear(r->inputs[0], {2, 1}, {1.5, 2.5}));
  EXPECT_EQ(test::Values<int64_t>(r->inputs[1]), (std::vector<int64_t>{5, 6, 7, 8}));
  EXPECT_TRUE(
      CheckExampleApiSignature(ExampleApi::kRegress, {Spec("y", DType::kFloat32, {N})}).ok());
  EXPECT_TRUE(CheckExampleApiSignature(ExampleApi::kRegress,
                                       {Spec("y", DType::kFloat32, {N, Dim::Fixed(1)})})
                  .ok());
  std::string out;
  AppendExamplesResponse(ExampleApi::kRegress, test::Floats({2, 1}, {0.5f, -1}), &out);
  EXPECT_EQ(out, R"({"results":[0.5,-1.0]})");
  out.clear();
  AppendExamplesResponse(ExampleApi::kRegress, test::MakeTensor<double>({2}, {0.1, 2}), &out);
  EXPECT_EQ(out, R"({"results":[0.1,2.0]})");
}

// A tf.Example feature is a flat list; a multi-dimensional row may come flat.
TEST(ExamplesJsonTest, FlatFeaturesFillMultiDimensionalRows) {
  const std::vector<TensorSpec> inputs = {
      Spec("m", DType::kFloat32, {N, Dim::Fixed(2), Dim::Fixed(2)})};
  auto r = ParseExamples(R"({"examples": [{"m": [1, 2, 3, 4]}, {"m": [[5, 6], [7, 8]]}]})", inputs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(TensorNear(r->inputs[0], {2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_TRUE(IsInvalid(ParseExamples(R"({"examples": [{"m": [1, 2, 3]}]})", inputs).status(),
                        {"examples[0].m"}));
}

TEST(ExamplesJsonTest, MalformedExamples) {
  const std::vector<TensorSpec> inputs = {Spec("a", DType::kFloat32, {N})};
  EXPECT_TRUE(IsInvalid(ParseExamples(R"({"examples": [{"b": 1}]})", inputs).status(),
                        {"examples[0] is missing feature 'a'"}));
  EXPECT_TRUE(IsInvalid(ParseExamples(R"({"examples": [1]})", inputs).status(),
                        {"examples[0] must be an object"}));
  EXPECT_TRUE(IsInvalid(ParseExamples(R"({"examples": []})", inputs).status(),
                        {"'examples' is an empty list"}));
  EXPECT_TRUE(
      IsInvalid(ParseExamples(R"({"context": {"a": 1}})", inputs).status(), {"no 'examples'"}));
  EXPECT_TRUE(
      IsInvalid(ParseExamples(R"({"context": [1], "examples": [{"a": 1}]})", inputs).status(),
                {"'context' must be an object"}));
  EXPECT_TRUE(IsInvalid(ParseExamples(R"({"instances": [1]})", inputs).status(),
                        {"unknown key \"instances\"", "'examples'"}));
  EXPECT_TRUE(IsInvalid(ParseExamples(R"({"examples": [{"a": "x"}]})", inputs).status(),
                        {"examples[0].a: input 'a' expects float32 numbers"}));
  EXPECT_TRUE(
      IsInvalid(ParseExamples(R"({"context": {"a": "x"}, "examples": [{}]})", inputs).status(),
                {"context.a: input 'a' expects float32 numbers"}));
}

TEST(ExamplesJsonTest, SignatureMismatchNamesTheApi) {
  const std::vector<TensorSpec> two = {Spec("a", DType::kFloat32, {N, Dim::Fixed(3)}),
                                       Spec("b", DType::kFloat32, {N, Dim::Fixed(3)})};
  EXPECT_TRUE(IsInvalid(CheckExampleApiSignature(ExampleApi::kClassify, two),
                        {":classify", "[N, K]", "'a' float32 [N, 3], 'b' float32 [N, 3]"}));
  EXPECT_TRUE(
      IsInvalid(CheckExampleApiSignature(ExampleApi::kClassify, {Spec("y", DType::kFloat32, {N})}),
                {":classify"}));
  EXPECT_TRUE(IsInvalid(CheckExampleApiSignature(ExampleApi::kClassify,
                                                 {Spec("y", DType::kInt64, {N, Dim::Fixed(3)})}),
                        {":classify", "int64"}));
  EXPECT_TRUE(IsInvalid(CheckExampleApiSignature(ExampleApi::kRegress,
                                                 {Spec("y", DType::kFloat32, {N, Dim::Fixed(2)})}),
                        {":regress", "[N] or [N, 1]", "'y' float32 [N, 2]"}));
  EXPECT_TRUE(IsInvalid(CheckExampleApiSignature(ExampleApi::kRegress, {}), {":regress", "none"}));
}

// The bound is what lets an oversized answer be refused before it is built:
// it must never be below what is written, for the longest values of each dtype.
TEST(PredictJsonResponseTest, AnswerBoundIsNeverBelowTheAnswer) {
  const float worst_float = -1.17549435e-38f;
  const double worst_double = -2.2250738585072014e-308;
  struct Case {
    std::vector<TensorSpec> specs;
    std::vector<Tensor> outputs;
  };
  const std::vector<Case> cases = {
      {{Spec("y", DType::kFloat32, {N, Dim::Fixed(3)})},
       {test::Floats({4, 3}, std::vector<float>(12, worst_float))}},
      {{Spec("y", DType::kFloat32, {N, Dim::Fixed(1), Dim::Fixed(1)})},
       {test::Floats({5, 1, 1}, std::vector<float>(5, -std::numeric_limits<float>::infinity()))}},
      {{Spec("a_long_output_name", DType::kFloat64, {N}), Spec("t", DType::kFloat32, {}),
        Spec("table", DType::kInt64, {Dim::Fixed(3)}), Spec("b", DType::kBool, {N, Dim::Fixed(2)})},
       {test::MakeTensor<double>({3}, std::vector<double>(3, worst_double)),
        test::Scalar(worst_float),
        test::Int64s({3}, std::vector<int64_t>(3, std::numeric_limits<int64_t>::min())),
        test::MakeTensor<bool>({3, 2}, std::vector<bool>(6, false))}},
      {{Spec("pairs", DType::kInt8, {Dim::Batch(2)})},
       {test::MakeTensor<int8_t>({4}, {-128, -128, -128, -128})}},
  };
  for (const Case& c : cases) {
    for (bool row_format : {true, false}) {
      const std::string written = Predictions(row_format, c.specs, c.outputs);
      EXPECT_LE(written.size(), JsonAnswerBytesBound(std::nullopt, c.specs, c.outputs)) << written;
    }
  }
  const Tensor scores = test::Floats({3, 4}, std::vector<float>(12, worst_float));
  for (ExampleApi api : {ExampleApi::kClassify, ExampleApi::kRegress}) {
    std::string written;
    AppendExamplesResponse(api, scores, &written);
    EXPECT_LE(written.size(),
              JsonAnswerBytesBound(api, {Spec("s", DType::kFloat32, {N, Dim::Fixed(4)})}, {scores}))
        << written;
  }
  // And not wildly above it: a typical answer's bound is within a few times its size.
  const Tensor typical = test::Floats({100, 10}, std::vector<float>(1000, 0.123456789f));
  const std::vector<TensorSpec> spec = {Spec("y", DType::kFloat32, {N, Dim::Fixed(10)})};
  EXPECT_LT(JsonAnswerBytesBound(std::nullopt, spec, {typical}),
            3 * Predictions(true, spec, {typical}).size());
}

}  // namespace
}  // namespace servekit
