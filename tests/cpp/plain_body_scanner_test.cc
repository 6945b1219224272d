// The hand-written reader of plain predict bodies (server/rest/plain_body_scanner.h):
// which bodies it takes, that it reads them exactly as the general path
// does, and that it declines the rest, on written cases and on random
// mutations of a plain body.
#include "servekit/server/rest/plain_body_scanner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "servekit/server/rest/json_request.h"

namespace servekit {
namespace {

constexpr int64_t kNoLimit = int64_t{1} << 30;
const Dim N = Dim::Batch();
const TensorSpec kVector = {"x", DType::kFloat32, {N, Dim::Fixed(3)}};
const TensorSpec kImage = {"x", DType::kFloat32, {N, Dim::Fixed(2), Dim::Fixed(3)}};
const TensorSpec kScalars = {"y", DType::kFloat64, {N}};

struct Scanned {
  bool taken = false;
  PlainPredictBody body;
  NumberQuotients values;
  std::string text;  // the padded copy the views point into
};

Scanned Scan(const std::string& body, const TensorSpec& spec, int64_t max_elements = kNoLimit) {
  Scanned out;
  out.text = body + std::string(kPlainBodyPadding, '\0');
  out.body.values = &out.values;
  out.taken = ScanPlainPredictBody(std::string_view(out.text.data(), body.size()), spec,
                                   max_elements, &out.body);
  return out;
}

// Whether a float32 input's caller refuses one of the values (as
// numeric_body_reader.cc does: finite and too large for a float32).
bool BeyondFloat32(const NumberQuotients& values) {
  for (const NumberQuotient& q : values) {
    const double value = std::fabs(q.numerator / q.divisor);
    if (std::isfinite(value) && value >= 0x1.ffffffp+127) return true;
  }
  return false;
}

// Scans `body`; where the scanner takes it, the general path must read the
// same format, signature, shape and values (bit for bit, after the division),
// or, for a float32 input, refuse a value that the caller refuses too (the
// scanner reads numbers as doubles; "1e50" is the caller's to turn down).
// Returns whether the scanner took it.
bool TakenAsTheGeneralPathReadsIt(const std::string& body, const TensorSpec& spec) {
  const Scanned scanned = Scan(body, spec);
  if (!scanned.taken) return false;
  StatusOr<JsonPredictRequest> general = ParsePredictDocument(body, {spec}, kNoLimit);
  if (!general.ok() && spec.dtype == DType::kFloat32 && BeyondFloat32(scanned.values)) {
    EXPECT_NE(general.status().message().find("expects float32 numbers"), std::string::npos)
        << body << ": " << general.status();
    return true;
  }
  EXPECT_TRUE(general.ok()) << body << ": " << general.status();
  if (!general.ok()) return true;
  EXPECT_EQ(scanned.body.row_format, general->row_format) << body;
  EXPECT_EQ(std::string(scanned.body.signature_name), general->signature_name) << body;
  const Tensor& tensor = general->inputs[0];
  EXPECT_EQ(scanned.body.rows, tensor.shape()[0]) << body;
  EXPECT_EQ(static_cast<int64_t>(scanned.values.size()), tensor.num_elements()) << body;
  if (static_cast<int64_t>(scanned.values.size()) != tensor.num_elements()) return true;
  for (size_t i = 0; i < scanned.values.size(); ++i) {
    const double value = scanned.values[i].numerator / scanned.values[i].divisor;
    if (spec.dtype == DType::kFloat32) {
      const float mine = static_cast<float>(value);
      EXPECT_EQ(0, std::memcmp(&mine, tensor.data<float>() + i, sizeof(float)))
          << body << " value " << i;
    } else {
      EXPECT_EQ(0, std::memcmp(&value, tensor.data<double>() + i, sizeof(double)))
          << body << " value " << i;
    }
  }
  return true;
}

TEST(PlainBodyScannerTest, LeavesFloat32OverflowToTheCaller) {
  const Scanned scanned = Scan(R"({"instances": [[1, 2, -1e39]]})", kVector);
  ASSERT_TRUE(scanned.taken);
  EXPECT_TRUE(BeyondFloat32(scanned.values));
  EXPECT_TRUE(TakenAsTheGeneralPathReadsIt(R"({"instances": [[1, 2, -1e39]]})", kVector));
}

TEST(PlainBodyScannerTest, TakesThePlainBodiesClientsSend) {
  EXPECT_TRUE(TakenAsTheGeneralPathReadsIt(R"({"instances": [[0.1234, -5, 12.5]]})", kVector));
  EXPECT_TRUE(TakenAsTheGeneralPathReadsIt(R"({"instances":[[1,2,3],[4,5,6]]})", kVector));
  EXPECT_TRUE(TakenAsTheGeneralPathReadsIt(
      R"({"inputs": [[1, 2.5, -3]], "signature_name": "serving_default"})", kVector));
  EXPECT_TRUE(TakenAsTheGeneralPathReadsIt(
      R"({"signature_name": "", "instances": [[[1, 2, 3], [4, 5, 6]]]})", kImage));
  EXPECT_TRUE(TakenAsTheGeneralPathReadsIt(
      "\r\n { \"instances\" :\t[ [ 0.5 ,\n-1.25\r,3 ] ] } \n\t", kVector));
  EXPECT_TRUE(TakenAsTheGeneralPathReadsIt(
      "{\n  \"instances\": [\n    [\n      0.25,\n      -1.5,\n      3\n    ]\n  ]\n}", kVector));
  // Edges of the short decimals: -0 (an integer: +0), -0.0, 19 digits, 15 characters.
  EXPECT_TRUE(TakenAsTheGeneralPathReadsIt(
      R"({"instances": [-0, -0.0, 0, 0.0, 9999999999999999999, -1234567890123456789,)"
      R"( 123456789.012345, 0.1, 0.7, 3.4028235, 16777217.5, 900719925474099.2]})",
      kScalars));
  EXPECT_TRUE(TakenAsTheGeneralPathReadsIt(R"({"instances": [[0.1, 0.7, 3.4028235]]})", kVector));
  // Tokens longer than 16 characters, up to 22 fraction digits (10^22 is the largest exact
  // divisor).
  EXPECT_TRUE(TakenAsTheGeneralPathReadsIt(
      R"({"instances": [0.0000000000000000000001, -0.0000000000000000000123, 1234567.890123456]})",
      kScalars));
  const Scanned scanned = Scan(R"({"signature_name": "tf-serving_v2", "inputs": [1]})", kScalars);
  ASSERT_TRUE(scanned.taken);
  EXPECT_EQ(scanned.body.signature_name, "tf-serving_v2");
  EXPECT_FALSE(scanned.body.row_format);
  EXPECT_EQ(scanned.body.rows, 1);
}

TEST(PlainBodyScannerTest, DeclinesWhatIsNotPlain) {
  const std::vector<std::string> others = {
      // Valid JSON, but not plain: another reader decides.
      R"({"instances": [[1, 2, 3e200]]})", R"({"instances": [[1, 2, 3E-200]]})",  // 3 digits
      R"({"instances": [[1, 2, 1.0000000000000000000000000000000000000e1]]})",    // 41 characters
      R"({"instances": [[1, 2, 12345678901234567890]]})",                         // 20 digits
      R"({"instances": [[1, 2, 0.1234567890123456789012]]})", R"({"\u0069nstances": [[1, 2, 3]]})",
      R"({"instances": [[1, 2, 3]], "signature_name": "\n"})",
      "{\"instances\": [[1, 2, 3]], \"signature_name\": \"caf\xc3\xa9\"}",
      R"({"instances": [[1, 2, 3]], "colour": 1})",
      R"({"signature_name": 7, "instances": [[1, 2, 3]]})",
      R"({"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]})",
      R"({"instances": [[1, 2, 3]], "instances": [[1, 2, 3]]})",
      R"({"signature_name": "a", "signature_name": "a", "instances": [[1, 2, 3]]})",
      R"({"instances": [[1, 2, NaN]]})", R"({"instances": [[1, 2, Infinity]]})",
      // Wrong shapes and sizes.
      R"({"instances": [[1, 2]]})", R"({"instances": [[1, 2, 3, 4]]})", R"({"instances": []})",
      R"({"instances": [[[1], [2], [3]]]})", R"({"instances": [1, 2, 3]})",
      R"({"instances": [[1, 2, 3], 4]})", R"({"instances": [[1, 2, true]]})",
      R"({"instances": [[1, 2, null]]})", R"({"instances": [[1, 2, "3"]]})",
      R"({"signature_name": "a"})", "{}", "",
      // Malformed.
      R"({"instances": [[1, 2 3]]})", R"({"instances": [[1,, 2, 3]]})",
      R"({"instances": [[1, 2, 3,]]})", R"({"instances": [[-, 2, 3]]})",
      R"({"instances": [[1., 2, 3]]})", R"({"instances": [[.5, 2, 3]]})",
      R"({"instances": [[01, 2, 3]]})", R"({"instances": [[1, 2, --3]]})",
      R"({"instances": [[1, 2, +3]]})", R"({"instances": [[1, 2, 1.2.3]]})",
      R"({"instances": [[1, 2, 3-]]})", R"({"instances": [[1, 2, 3]]x})",
      R"({"instances": [[1, 2, 0x3]]})", R"({"instances": [[1, 2, 3]]} x)",
      R"({"instances": [[1, 2, 3]])", R"({"instances": [[1, 2, 3)", R"({"instances": [[1, 2, 3.)",
      R"({"instances": [[1, 2, 3]], })", R"({"instances" [[1, 2, 3]]})",
      R"({instances: [[1, 2, 3]]})", R"({"instances": [[1, 2, 3]]]})", R"([[1, 2, 3]])",
      R"({"signature_name": "a)",
      std::string("{\"instances\": [[1, 2, 3]]}\0", 27),  // a NUL in the body
      std::string("{\"instances\": [[1, 2\0, 3]]}", 27),
      "\xef\xbb\xbf{\"instances\": [[1, 2, 3]]}",  // a byte order mark
      "{\"instances\": [[1, 2, 3]]}\f",            // not JSON whitespace
  };
  for (const std::string& body : others) {
    EXPECT_FALSE(Scan(body, kVector).taken) << body;
  }
}

// Rows of 8: the scanner reads numbers four at a time where it can (one
// lane each); every kind of token is tried in every lane of a batch.
const TensorSpec kRowOf8 = {"x", DType::kFloat32, {N, Dim::Fixed(8)}};

std::string RowOf8With(const std::string& token, int position) {
  std::string body = R"({"instances": [[)";
  for (int i = 0; i < 8; ++i) {
    if (i > 0) body += ", ";
    body += i == position ? token : "0.5";
  }
  return body + "]]}";
}

TEST(PlainBodyScannerTest, ReadsEveryTokenInEveryLaneAsTheGeneralPath) {
  const std::vector<std::string> numbers = {
      "0", "-0", "0.0", "-0.0", "7", "-7", "12345678", "-12345678", "99999999", "1234.5678",
      "-1.234567", "0.1234567", "0.0000001", "10.5", "100", "0.10", "3.4028235", "123456789",
      "-123456789", "0.12345678", " 1", "  1", "1 ", "\t2.5", "\n-3", "0.5\n", "16777217", "-0.00",
      "9.9999999", "1.0000000",
      // Long: numpy's float32 tolist() through json.dumps, and the edges of
      // an exact quotient (over 2^53 or 22 fraction digits: from_chars).
      "0.4731886386871338", "0.03485250473022461", "-0.9504636526107788", "0.12345678901234567",
      "900719925474099.3", "9007199254740993", "-9007199254740993.5", "0.00000000000000000000001",
      "0.0000000000000000000000000000001", "1234567.123456789012", "16777217.000000001",
      "123456789012345678.9", " 0.4731886386871338 ", "9999999999999999999", "1.000000000000000001",
      // An exponent of one or two digits (Python: values below 1e-4).
      "3e2", "3E-2", "1e-05", "-5.960464477539063e-08", "6.02E+23", "0e0", "-0e-0", "1.5e37",
      "9.999999999999999e-99", "0.4731886386871338e-05", " 1e-05 ", "1E+00",
      "1.000000000000000000000000000000000000e1", "1.234567890123e5", "0.4731886386871338e0"};
  const std::vector<std::string> not_numbers = {
      "01", "-01", "00", "1.", ".5", "-.5", "-", "--1", "+1", "1.2.3", "0x1", "1-", "1..2", "1.-2",
      "\"1\"", "", "1 2", "- 1", "0.0.", "1.5.", "12-34", "a", "1,", "1]",
      // Exponents: cut short, misplaced, three digits.
      "1e", "1e+", "1e-", "e5", "1.e5", "01e5", "1e5.5", "1ee5", "1e100", "-e5", "1e+-5", "1e5e5",
      "1e 5", "1E5x", ".5e1", "1e-100"};
  // Long ones, read word by word.
  const std::vector<std::string> long_not_numbers = {
      "0.12345678901234567.8", "01234567890.5",         "0.123456789012345-6",
      "12345678901.",          "-.12345678901",         "1234567890123456789012345",
      "0.47318863868 71338",   "0.4731886386871338e123"};

  for (int position = 0; position < 8; ++position) {
    for (const std::string& token : numbers) {
      EXPECT_TRUE(TakenAsTheGeneralPathReadsIt(RowOf8With(token, position), kRowOf8))
          << "'" << token << "' at " << position;
    }
    for (const auto* list : {&not_numbers, &long_not_numbers}) {
      for (const std::string& token : *list) {
        const std::string body = RowOf8With(token, position);
        EXPECT_FALSE(Scan(body, kRowOf8).taken) << body;
      }
    }
  }
}

TEST(PlainBodyScannerTest, StopsAtTheValueLimit) {
  const std::string body = R"({"instances": [[1, 2, 3], [4, 5, 6]]})";
  EXPECT_TRUE(Scan(body, kVector, 6).taken);
  EXPECT_FALSE(Scan(body, kVector, 5).taken);
  EXPECT_FALSE(Scan(body, kVector, 0).taken);
}

TEST(PlainBodyScannerTest, DeclinesAnInputWithAZeroInnerDimension) {
  // The general path may refuse these at the element limit (it multiplies
  // the dimensions as it goes): not this reader's to answer.
  const TensorSpec empty_rows = {"x", DType::kFloat32, {N, Dim::Fixed(0)}};
  EXPECT_FALSE(Scan(R"({"instances": [[], []]})", empty_rows).taken);
  EXPECT_FALSE(Scan(R"({"instances": [[], []]})", empty_rows, 1).taken);
}

TEST(PlainBodyScannerTest, DeepNestingStopsAtTheInputsRank) {
  const std::string deep =
      "{\"instances\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_FALSE(Scan(deep, kVector).taken);
}

// A plain body with one byte changed, inserted or removed, 20000 times over:
// whatever the scanner still takes, the general path must read the same.
// Returns how many of the mutated bodies it took.
int TakenMutations(const std::string& plain, const TensorSpec& spec, uint32_t seed) {
  std::string alphabet = "0123456789.-+eE,[]{}\": \t\n\rxn\\\x80";
  alphabet.push_back('\0');
  std::mt19937 rng(seed);
  int taken = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string body = plain;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const size_t at = rng() % body.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          body[at] = c;
          break;
        case 1:
          body.insert(body.begin() + static_cast<ptrdiff_t>(at), c);
          break;
        default:
          body.erase(at, 1);
          break;
      }
    }
    taken += TakenAsTheGeneralPathReadsIt(body, spec);
    if (::testing::Test::HasFailure()) break;
  }
  return taken;
}

TEST(PlainBodyScannerTest, MutatedBodiesAreTakenOnlyAsTheGeneralPathReadsThem) {
  const std::string plain =
      R"({"signature_name": "s", "instances": [[0.25, -1.5, 3], [12.0625, -0, 7.5]]})";
  ASSERT_TRUE(TakenAsTheGeneralPathReadsIt(plain, kVector));
  // Many mutations (a digit for a digit, a space added) leave the body plain.
  EXPECT_GT(TakenMutations(plain, kVector, 7), 1000);
}

// The same over a body as Python clients send numpy's float32 values
// (json.dumps of tolist(): 16 or 17 digits each), read word by word.
TEST(PlainBodyScannerTest, MutatedLongNumbersAreTakenOnlyAsTheGeneralPathReadsThem) {
  const std::string plain =
      R"({"instances": [[0.4731886386871338, 0.03485250473022461, -0.9504636526107788],)"
      R"( [0.12345678901234567, 900719925474099.3, 1234567.123456789012]]})";
  ASSERT_TRUE(TakenAsTheGeneralPathReadsIt(plain, kVector));
  EXPECT_GT(TakenMutations(plain, kVector, 13), 1000);
}

// The same over rows of 8 numbers, which are read four at a time.
TEST(PlainBodyScannerTest, MutatedWideBodiesAreTakenOnlyAsTheGeneralPathReadsThem) {
  const std::string plain = R"({"instances": [[0.25, -1.5, 3, 0.1234, 7, -0.0, 12.0625, 99999999],)"
                            R"( [0.5, 1, 2, 3, 4.25, -5, 6, 0]]})";
  ASSERT_TRUE(TakenAsTheGeneralPathReadsIt(plain, kRowOf8));
  EXPECT_GT(TakenMutations(plain, kRowOf8, 11), 1000);
}

}  // namespace
}  // namespace servekit
