// TensorProto <-> Tensor (server/tensor_proto_codec.h).
#include "servekit/formats/tf_tensor_proto.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "test_util.h"

namespace servekit {
namespace {

using tensorflow::TensorProto;
using test::IsError;
using test::IsInvalid;
using test::MakeTensor;
using test::TensorsEqual;

constexpr int64_t kNoLimit = int64_t{1} << 40;
const Dim N = Dim::Batch();

TensorSpec Spec(DType dtype, const SymShape& shape) { return TensorSpec{"x", dtype, shape}; }

TensorProto ProtoOf(tensorflow::DataType dtype, const std::vector<int64_t>& dims) {
  TensorProto proto;
  proto.set_dtype(dtype);
  for (int64_t d : dims) proto.mutable_tensor_shape()->add_dim()->set_size(d);
  return proto;
}

// The raw bytes of `values`, as tensor_content carries them.
template <typename T>
std::string BytesOf(const std::vector<T>& values) {
  std::string bytes(values.size() * sizeof(T), '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    const T value = values[i];  // one at a time: std::vector<bool> has no data()
    std::memcpy(&bytes[i * sizeof(T)], &value, sizeof(T));
  }
  return bytes;
}

Status DecodeError(const TensorProto& proto, const TensorSpec& spec,
                   int64_t max_elements = kNoLimit) {
  StatusOr<Tensor> t = TensorFromProto(proto, spec, max_elements);
  return t.ok() ? absl::OkStatus() : t.status();
}

// ---------------------------------------------------------------------------------------
// Type names

TEST(TensorProtoCodecTest, DataTypesMapToTensorFlowNumbersAndNames) {
  struct Case {
    DType dtype;
    tensorflow::DataType tf;
    int number;
    const char* name;
  };
  const Case cases[] = {
      {DType::kFloat32, tensorflow::DT_FLOAT, 1, "DT_FLOAT"},
      {DType::kFloat64, tensorflow::DT_DOUBLE, 2, "DT_DOUBLE"},
      {DType::kInt32, tensorflow::DT_INT32, 3, "DT_INT32"},
      {DType::kUInt8, tensorflow::DT_UINT8, 4, "DT_UINT8"},
      {DType::kInt8, tensorflow::DT_INT8, 6, "DT_INT8"},
      {DType::kInt64, tensorflow::DT_INT64, 9, "DT_INT64"},
      {DType::kBool, tensorflow::DT_BOOL, 10, "DT_BOOL"},
      {DType::kUndefined, tensorflow::DT_INVALID, 0, "DT_INVALID"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ToTfDataType(c.dtype), c.tf) << DTypeName(c.dtype);
    EXPECT_EQ(static_cast<int>(ToTfDataType(c.dtype)), c.number) << DTypeName(c.dtype);
    EXPECT_EQ(TfDataTypeName(c.dtype), c.name);
  }
}

// ---------------------------------------------------------------------------------------
// Tensor -> TensorProto

template <typename T>
void ExpectEncodes(const std::vector<T>& values, tensorflow::DataType tf_dtype) {
  SCOPED_TRACE(tensorflow::DataType_Name(tf_dtype));
  const Tensor tensor = MakeTensor<T>({2, 3}, values);
  TensorProto proto;
  TensorToProto(tensor, &proto);
  EXPECT_EQ(proto.dtype(), tf_dtype);
  ASSERT_EQ(proto.tensor_shape().dim_size(), 2);
  EXPECT_EQ(proto.tensor_shape().dim(0).size(), 2);
  EXPECT_EQ(proto.tensor_shape().dim(1).size(), 3);
  EXPECT_FALSE(proto.tensor_shape().unknown_rank());
  EXPECT_EQ(proto.tensor_content(), BytesOf(values));
  EXPECT_EQ(proto.float_val_size() + proto.double_val_size() + proto.int_val_size() +
                proto.int64_val_size() + proto.bool_val_size(),
            0);
}

TEST(TensorProtoCodecTest, EncodesEveryDTypeAsTensorContent) {
  ExpectEncodes<float>({0.5f, -1.25f, 3.0f, 1e-7f, -0.0f, 65504.0f}, tensorflow::DT_FLOAT);
  ExpectEncodes<double>({0.1, -2.5, 1e300, -1e-300, 7.0, 0.0}, tensorflow::DT_DOUBLE);
  ExpectEncodes<int32_t>({1, -2, 2147483647, -2147483647 - 1, 0, 42}, tensorflow::DT_INT32);
  ExpectEncodes<uint8_t>({0, 1, 127, 128, 254, 255}, tensorflow::DT_UINT8);
  ExpectEncodes<int8_t>({-128, -1, 0, 1, 100, 127}, tensorflow::DT_INT8);
  ExpectEncodes<int64_t>({int64_t{1} << 40, -3, 0, std::numeric_limits<int64_t>::max(),
                          std::numeric_limits<int64_t>::min(), 9},
                         tensorflow::DT_INT64);
  ExpectEncodes<bool>({true, false, false, true, true, false}, tensorflow::DT_BOOL);
}

TEST(TensorProtoCodecTest, TensorContentIsLittleEndian) {
  TensorProto proto;
  TensorToProto(MakeTensor<float>({2}, {1.0f, -2.0f}), &proto);
  EXPECT_EQ(proto.tensor_content(), std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8));
  TensorToProto(MakeTensor<int64_t>({1}, {0x0102030405060708}), &proto);
  EXPECT_EQ(proto.tensor_content(), std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
  TensorToProto(MakeTensor<bool>({3}, {true, false, true}), &proto);
  EXPECT_EQ(proto.tensor_content(), std::string("\x01\x00\x01", 3));
}

TEST(TensorProtoCodecTest, EncodesScalarsAndEmptyTensors) {
  TensorProto proto;
  TensorToProto(MakeTensor<int32_t>({}, {-7}), &proto);
  EXPECT_EQ(proto.dtype(), tensorflow::DT_INT32);
  EXPECT_TRUE(proto.has_tensor_shape());
  EXPECT_EQ(proto.tensor_shape().dim_size(), 0);
  EXPECT_EQ(proto.tensor_content(), std::string("\xf9\xff\xff\xff", 4));

  TensorToProto(MakeTensor<float>({0, 4}, {}), &proto);
  ASSERT_EQ(proto.tensor_shape().dim_size(), 2);
  EXPECT_EQ(proto.tensor_shape().dim(0).size(), 0);
  EXPECT_EQ(proto.tensor_shape().dim(1).size(), 4);
  EXPECT_TRUE(proto.tensor_content().empty());
}

TEST(TensorProtoCodecTest, EncodingReplacesWhatTheProtoHeld) {
  TensorProto proto = ProtoOf(tensorflow::DT_DOUBLE, {5, 5, 5});
  proto.add_float_val(1.0f);
  proto.set_version_number(3);
  TensorToProto(MakeTensor<uint8_t>({2}, {9, 10}), &proto);
  EXPECT_EQ(proto.dtype(), tensorflow::DT_UINT8);
  ASSERT_EQ(proto.tensor_shape().dim_size(), 1);
  EXPECT_EQ(proto.tensor_shape().dim(0).size(), 2);
  EXPECT_EQ(proto.float_val_size(), 0);
  EXPECT_EQ(proto.version_number(), 0);
  EXPECT_EQ(proto.tensor_content(), std::string("\x09\x0a", 2));
}

// ---------------------------------------------------------------------------------------
// TensorProto -> Tensor: tensor_content

template <typename T>
void ExpectRoundTrips(const std::vector<T>& values) {
  SCOPED_TRACE(DTypeName(DTypeOf<T>()));
  const Tensor tensor = MakeTensor<T>({2, 3}, values);
  TensorProto proto;
  TensorToProto(tensor, &proto);
  StatusOr<Tensor> decoded =
      TensorFromProto(proto, Spec(DTypeOf<T>(), {N, Dim::Fixed(3)}), kNoLimit);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(decoded->is_owner());
  EXPECT_NE(decoded->raw_data(), tensor.raw_data());
  EXPECT_TRUE(TensorsEqual(*decoded, tensor));
}

TEST(TensorProtoCodecTest, EveryDTypeRoundTripsThroughTensorContent) {
  ExpectRoundTrips<float>({0.5f, -1.25f, 3.0f, 1e-7f, -0.0f, 65504.0f});
  ExpectRoundTrips<double>({0.1, -2.5, 1e300, -1e-300, 7.0, 0.0});
  ExpectRoundTrips<int32_t>({1, -2, 2147483647, -2147483647 - 1, 0, 42});
  ExpectRoundTrips<uint8_t>({0, 1, 127, 128, 254, 255});
  ExpectRoundTrips<int8_t>({-128, -1, 0, 1, 100, 127});
  ExpectRoundTrips<int64_t>({int64_t{1} << 40, -3, 0, std::numeric_limits<int64_t>::max(),
                             std::numeric_limits<int64_t>::min(), 9});
  ExpectRoundTrips<bool>({true, false, false, true, true, false});
}

TEST(TensorProtoCodecTest, DecodesLittleEndianTensorContent) {
  TensorProto proto = ProtoOf(tensorflow::DT_FLOAT, {2});
  proto.set_tensor_content(std::string("\x00\x00\x80\x3f\x00\x00\x20\xc1", 8));
  StatusOr<Tensor> t = TensorFromProto(proto, Spec(DType::kFloat32, {N}), kNoLimit);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(TensorsEqual(*t, MakeTensor<float>({2}, {1.0f, -10.0f})));
}

TEST(TensorProtoCodecTest, BoolTensorContentTreatsAnyNonZeroByteAsTrue) {
  TensorProto proto = ProtoOf(tensorflow::DT_BOOL, {4});
  proto.set_tensor_content(std::string("\x00\x02\x01\xff", 4));
  StatusOr<Tensor> t = TensorFromProto(proto, Spec(DType::kBool, {Dim::Fixed(4)}), kNoLimit);
  ASSERT_TRUE(t.ok()) << t.status();
  const uint8_t* bytes = static_cast<const uint8_t*>(t->raw_data());
  EXPECT_EQ(std::vector<uint8_t>(bytes, bytes + 4), (std::vector<uint8_t>{0, 1, 1, 1}));
}

TEST(TensorProtoCodecTest, ZeroElementTensorsNeedNoValues) {
  const TensorProto proto = ProtoOf(tensorflow::DT_FLOAT, {0, 3});
  StatusOr<Tensor> t = TensorFromProto(proto, Spec(DType::kFloat32, {N, Dim::Fixed(3)}), kNoLimit);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DType::kFloat32);
  EXPECT_EQ(t->shape(), (Shape{0, 3}));
  EXPECT_EQ(t->num_elements(), 0);
}

// ---------------------------------------------------------------------------------------
// TensorProto -> Tensor: typed fields

TEST(TensorProtoCodecTest, DecodesTheTypedFieldOfEveryDType) {
  const SymShape shape = {N, Dim::Fixed(2)};
  {
    TensorProto p = ProtoOf(tensorflow::DT_FLOAT, {2, 2});
    for (float v : {1.5f, -2.0f, 0.0f, 3.25f}) p.add_float_val(v);
    StatusOr<Tensor> t = TensorFromProto(p, Spec(DType::kFloat32, shape), kNoLimit);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(TensorsEqual(*t, MakeTensor<float>({2, 2}, {1.5f, -2.0f, 0.0f, 3.25f})));
  }
  {
    TensorProto p = ProtoOf(tensorflow::DT_DOUBLE, {2, 2});
    for (double v : {0.1, -1e200, 2.0, 1e-310}) p.add_double_val(v);
    StatusOr<Tensor> t = TensorFromProto(p, Spec(DType::kFloat64, shape), kNoLimit);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(TensorsEqual(*t, MakeTensor<double>({2, 2}, {0.1, -1e200, 2.0, 1e-310})));
  }
  {
    TensorProto p = ProtoOf(tensorflow::DT_INT32, {2, 2});
    for (int32_t v : {7, -8, 2147483647, -2147483647 - 1}) p.add_int_val(v);
    StatusOr<Tensor> t = TensorFromProto(p, Spec(DType::kInt32, shape), kNoLimit);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(
        TensorsEqual(*t, MakeTensor<int32_t>({2, 2}, {7, -8, 2147483647, -2147483647 - 1})));
  }
  {
    TensorProto p = ProtoOf(tensorflow::DT_UINT8, {2, 2});
    for (int32_t v : {0, 255, 128, 17}) p.add_int_val(v);
    StatusOr<Tensor> t = TensorFromProto(p, Spec(DType::kUInt8, shape), kNoLimit);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(TensorsEqual(*t, MakeTensor<uint8_t>({2, 2}, {0, 255, 128, 17})));
  }
  {
    TensorProto p = ProtoOf(tensorflow::DT_INT8, {2, 2});
    for (int32_t v : {-128, 127, 0, -5}) p.add_int_val(v);
    StatusOr<Tensor> t = TensorFromProto(p, Spec(DType::kInt8, shape), kNoLimit);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(TensorsEqual(*t, MakeTensor<int8_t>({2, 2}, {-128, 127, 0, -5})));
  }
  {
    TensorProto p = ProtoOf(tensorflow::DT_INT64, {2, 2});
    for (int64_t v :
         {int64_t{1} << 50, int64_t{-3}, int64_t{0}, std::numeric_limits<int64_t>::min()}) {
      p.add_int64_val(v);
    }
    StatusOr<Tensor> t = TensorFromProto(p, Spec(DType::kInt64, shape), kNoLimit);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(TensorsEqual(
        *t, MakeTensor<int64_t>({2, 2},
                                {int64_t{1} << 50, -3, 0, std::numeric_limits<int64_t>::min()})));
  }
  {
    TensorProto p = ProtoOf(tensorflow::DT_BOOL, {2, 2});
    for (bool v : {true, false, false, true}) p.add_bool_val(v);
    StatusOr<Tensor> t = TensorFromProto(p, Spec(DType::kBool, shape), kNoLimit);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(TensorsEqual(*t, MakeTensor<bool>({2, 2}, {true, false, false, true})));
  }
}

TEST(TensorProtoCodecTest, ASingleTypedValueFillsTheWholeTensor) {
  {
    TensorProto p = ProtoOf(tensorflow::DT_FLOAT, {2, 3});
    p.add_float_val(2.5f);
    StatusOr<Tensor> t = TensorFromProto(p, Spec(DType::kFloat32, {N, Dim::Fixed(3)}), kNoLimit);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(TensorsEqual(*t, MakeTensor<float>({2, 3}, std::vector<float>(6, 2.5f))));
  }
  {
    TensorProto p = ProtoOf(tensorflow::DT_UINT8, {4});
    p.add_int_val(200);
    StatusOr<Tensor> t = TensorFromProto(p, Spec(DType::kUInt8, {N}), kNoLimit);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(TensorsEqual(*t, MakeTensor<uint8_t>({4}, {200, 200, 200, 200})));
  }
  {
    TensorProto p = ProtoOf(tensorflow::DT_BOOL, {3});
    p.add_bool_val(true);
    StatusOr<Tensor> t = TensorFromProto(p, Spec(DType::kBool, {N}), kNoLimit);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(TensorsEqual(*t, MakeTensor<bool>({3}, {true, true, true})));
  }
  {
    TensorProto p = ProtoOf(tensorflow::DT_INT64, {1, 1});
    p.add_int64_val(-9);
    StatusOr<Tensor> t = TensorFromProto(p, Spec(DType::kInt64, {N, Dim::Fixed(1)}), kNoLimit);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(TensorsEqual(*t, MakeTensor<int64_t>({1, 1}, {-9})));
  }
}

TEST(TensorProtoCodecTest, AProtoWithoutAShapeIsAScalar) {
  TensorProto p;
  p.set_dtype(tensorflow::DT_DOUBLE);
  p.add_double_val(-4.5);
  const SymShape scalar;
  StatusOr<Tensor> t = TensorFromProto(p, Spec(DType::kFloat64, scalar), kNoLimit);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(TensorsEqual(*t, MakeTensor<double>({}, {-4.5})));
  // ... so it does not fit an input of rank 1.
  EXPECT_TRUE(IsInvalid(DecodeError(p, Spec(DType::kFloat64, {N})), {"rank 0", "rank 1"}));
}

TEST(TensorProtoCodecTest, BatchDimensionTakesAnyMultipleOfItsFactor) {
  const TensorSpec spec = Spec(DType::kInt32, {Dim::Batch(2), Dim::Fixed(1)});
  TensorProto p = ProtoOf(tensorflow::DT_INT32, {4, 1});
  for (int32_t v : {1, 2, 3, 4}) p.add_int_val(v);
  StatusOr<Tensor> t = TensorFromProto(p, spec, kNoLimit);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(TensorsEqual(*t, MakeTensor<int32_t>({4, 1}, {1, 2, 3, 4})));

  TensorProto odd = ProtoOf(tensorflow::DT_INT32, {3, 1});
  for (int32_t v : {1, 2, 3}) odd.add_int_val(v);
  EXPECT_TRUE(
      IsInvalid(DecodeError(odd, spec), {"[3, 1]", "2*N", "dimension 0 is 3", "multiple of 2"}));
}

// ---------------------------------------------------------------------------------------
// Errors

TEST(TensorProtoCodecTest, RefusesADTypeOtherThanTheInputs) {
  TensorProto p = ProtoOf(tensorflow::DT_INT32, {2});
  p.add_int_val(1);
  p.add_int_val(2);
  EXPECT_TRUE(IsInvalid(DecodeError(p, Spec(DType::kFloat32, {N})), {"DT_INT32", "DT_FLOAT"}));
  // int8 and uint8 share int_val, but not their dtype.
  p.set_dtype(tensorflow::DT_INT8);
  EXPECT_TRUE(IsInvalid(DecodeError(p, Spec(DType::kUInt8, {N})), {"DT_INT8", "DT_UINT8"}));
}

TEST(TensorProtoCodecTest, RefusesUnsupportedDTypesByName) {
  TensorProto s = ProtoOf(tensorflow::DT_STRING, {1});
  s.add_string_val("hello");
  EXPECT_TRUE(IsInvalid(DecodeError(s, Spec(DType::kFloat32, {N})),
                        {"DT_STRING", "not supported", "DT_FLOAT"}));

  TensorProto h = ProtoOf(tensorflow::DT_HALF, {1});
  h.add_half_val(0x3c00);
  EXPECT_TRUE(IsInvalid(DecodeError(h, Spec(DType::kFloat32, {N})), {"DT_HALF", "not supported"}));

  EXPECT_TRUE(
      IsInvalid(DecodeError(ProtoOf(tensorflow::DT_INVALID, {1}), Spec(DType::kFloat32, {N})),
                {"DT_INVALID", "not supported"}));
  EXPECT_TRUE(IsInvalid(
      DecodeError(ProtoOf(static_cast<tensorflow::DataType>(57), {1}), Spec(DType::kFloat32, {N})),
      {"DataType 57", "not supported"}));
}

TEST(TensorProtoCodecTest, RefusesAShapeThatDoesNotFitTheInput) {
  const TensorSpec spec = Spec(DType::kFloat32, {N, Dim::Fixed(3)});
  TensorProto wrong_dim = ProtoOf(tensorflow::DT_FLOAT, {2, 4});
  wrong_dim.add_float_val(0.0f);
  EXPECT_TRUE(IsInvalid(DecodeError(wrong_dim, spec),
                        {"[2, 4]", "[N, 3]", "dimension 1 is 4, expected 3"}));

  TensorProto wrong_rank = ProtoOf(tensorflow::DT_FLOAT, {6});
  wrong_rank.add_float_val(0.0f);
  EXPECT_TRUE(IsInvalid(DecodeError(wrong_rank, spec), {"[6]", "rank 1", "rank 2", "[N, 3]"}));

  TensorProto negative = ProtoOf(tensorflow::DT_FLOAT, {-1, 3});
  negative.add_float_val(0.0f);
  EXPECT_TRUE(IsInvalid(DecodeError(negative, spec), {"dimension 0", "size -1"}));
}

TEST(TensorProtoCodecTest, RefusesUnknownRank) {
  TensorProto p = ProtoOf(tensorflow::DT_FLOAT, {});
  p.mutable_tensor_shape()->set_unknown_rank(true);
  p.add_float_val(1.0f);
  EXPECT_TRUE(IsInvalid(DecodeError(p, Spec(DType::kFloat32, {N})), {"unknown_rank"}));
}

TEST(TensorProtoCodecTest, RefusesTensorContentOfTheWrongSize) {
  const TensorSpec spec = Spec(DType::kFloat32, {N, Dim::Fixed(3)});
  TensorProto short_content = ProtoOf(tensorflow::DT_FLOAT, {2, 3});
  short_content.set_tensor_content(std::string(20, '\0'));
  EXPECT_TRUE(IsInvalid(DecodeError(short_content, spec),
                        {"tensor_content holds 20 bytes", "[2, 3]", "needs 24"}));

  TensorProto long_content = ProtoOf(tensorflow::DT_FLOAT, {2, 3});
  long_content.set_tensor_content(std::string(28, '\0'));
  EXPECT_TRUE(
      IsInvalid(DecodeError(long_content, spec), {"tensor_content holds 28 bytes", "needs 24"}));

  TensorProto int64_content = ProtoOf(tensorflow::DT_INT64, {3});
  int64_content.set_tensor_content(std::string(12, '\0'));  // three int32s, not int64s
  EXPECT_TRUE(IsInvalid(DecodeError(int64_content, Spec(DType::kInt64, {N})),
                        {"holds 12 bytes", "needs 24"}));
}

TEST(TensorProtoCodecTest, RefusesATypedValueCountThatIsNeitherOneNorTheElementCount) {
  const TensorSpec spec = Spec(DType::kFloat32, {N, Dim::Fixed(3)});
  TensorProto five = ProtoOf(tensorflow::DT_FLOAT, {2, 3});
  for (int i = 0; i < 5; ++i) five.add_float_val(1.0f);
  EXPECT_TRUE(
      IsInvalid(DecodeError(five, spec), {"float_val holds 5 values", "[2, 3]", "needs 6"}));

  TensorProto seven = ProtoOf(tensorflow::DT_FLOAT, {2, 3});
  for (int i = 0; i < 7; ++i) seven.add_float_val(1.0f);
  EXPECT_TRUE(IsInvalid(DecodeError(seven, spec), {"float_val holds 7 values", "needs 6"}));

  // No values at all for a tensor that has elements (TensorFlow would zero-fill).
  EXPECT_TRUE(IsInvalid(DecodeError(ProtoOf(tensorflow::DT_FLOAT, {2, 3}), spec),
                        {"float_val holds 0 values"}));

  TensorProto two = ProtoOf(tensorflow::DT_BOOL, {3});
  two.add_bool_val(true);
  two.add_bool_val(false);
  EXPECT_TRUE(
      IsInvalid(DecodeError(two, Spec(DType::kBool, {N})), {"bool_val holds 2 values", "needs 3"}));
}

TEST(TensorProtoCodecTest, RefusesIntValuesOutOfRangeForUInt8AndInt8) {
  const auto decode = [](tensorflow::DataType tf, DType dtype, std::vector<int32_t> values) {
    TensorProto p = ProtoOf(tf, {static_cast<int64_t>(values.size())});
    for (int32_t v : values) p.add_int_val(v);
    return DecodeError(p, Spec(dtype, {N}));
  };
  EXPECT_TRUE(IsInvalid(decode(tensorflow::DT_UINT8, DType::kUInt8, {0, 256}),
                        {"int_val[1] is 256", "DT_UINT8", "[0, 255]"}));
  EXPECT_TRUE(IsInvalid(decode(tensorflow::DT_UINT8, DType::kUInt8, {-1, 3}),
                        {"int_val[0] is -1", "DT_UINT8"}));
  EXPECT_TRUE(IsInvalid(decode(tensorflow::DT_INT8, DType::kInt8, {5, 6, 128}),
                        {"int_val[2] is 128", "DT_INT8", "[-128, 127]"}));
  EXPECT_TRUE(IsInvalid(decode(tensorflow::DT_INT8, DType::kInt8, {-129, 0}),
                        {"int_val[0] is -129", "DT_INT8"}));

  // A single out-of-range value is refused before it fills the tensor.
  TensorProto fill = ProtoOf(tensorflow::DT_UINT8, {3});
  fill.add_int_val(300);
  EXPECT_TRUE(IsInvalid(DecodeError(fill, Spec(DType::kUInt8, {N})), {"int_val[0] is 300"}));

  // The full int32 range is fine for DT_INT32.
  EXPECT_TRUE(decode(tensorflow::DT_INT32, DType::kInt32, {256, -129, 2147483647}).ok());
}

TEST(TensorProtoCodecTest, RefusesValuesInMoreThanOnePlaceOrInTheWrongField) {
  const TensorSpec spec = Spec(DType::kFloat32, {N});
  TensorProto both = ProtoOf(tensorflow::DT_FLOAT, {1});
  both.set_tensor_content(BytesOf<float>({1.0f}));
  both.add_float_val(1.0f);
  EXPECT_TRUE(IsInvalid(DecodeError(both, spec), {"tensor_content", "float_val"}));

  TensorProto wrong_field = ProtoOf(tensorflow::DT_FLOAT, {2});
  wrong_field.add_int_val(1);
  wrong_field.add_int_val(2);
  EXPECT_TRUE(IsInvalid(DecodeError(wrong_field, spec),
                        {"DT_FLOAT values belong in float_val", "int_val"}));
}

TEST(TensorProtoCodecTest, RefusesMoreThanMaxElementsBeforeAllocating) {
  const TensorSpec spec = Spec(DType::kFloat32, {N, Dim::Fixed(3)});
  TensorProto p = ProtoOf(tensorflow::DT_FLOAT, {4, 3});
  p.add_float_val(1.0f);
  EXPECT_TRUE(
      IsError(DecodeError(p, spec, 11), absl::StatusCode::kResourceExhausted, {"[4, 3]", "11"}));
  EXPECT_TRUE(DecodeError(p, spec, 12).ok());

  // 2^64 elements: the limit answers, not the allocator, and nothing overflows.
  const TensorSpec wide = Spec(DType::kFloat32, {N, Dim::Fixed(int64_t{1} << 32)});
  TensorProto huge = ProtoOf(tensorflow::DT_FLOAT, {int64_t{1} << 32, int64_t{1} << 32});
  huge.add_float_val(0.0f);
  EXPECT_TRUE(IsError(DecodeError(huge, wide, 1000), absl::StatusCode::kResourceExhausted,
                      {"more than 1000 elements"}));
  EXPECT_TRUE(IsError(DecodeError(huge, wide, std::numeric_limits<int64_t>::max()),
                      absl::StatusCode::kResourceExhausted, {"elements"}));
  // An empty batch of the same width holds nothing.
  EXPECT_TRUE(DecodeError(ProtoOf(tensorflow::DT_FLOAT, {0, int64_t{1} << 32}), wide, 1000).ok());
}

TEST(TensorProtoCodecTest, InputsThatDependOnTheBatchBeyondDimensionZeroAreUnimplemented) {
  TensorProto p = ProtoOf(tensorflow::DT_FLOAT, {3, 2});
  p.add_float_val(0.0f);
  EXPECT_TRUE(IsError(DecodeError(p, Spec(DType::kFloat32, {Dim::Fixed(3), N})),
                      absl::StatusCode::kUnimplemented, {"[3, N]", "dimension 1"}));
}

}  // namespace
}  // namespace servekit
