// Elementwise math kernels (kernels/math.cc): Sqrt, Reciprocal, Exp, Log, Abs,
// Neg, Softplus, Elu, Selu, Floor, Ceil, Sign.
#include <cmath>
#include <functional>
#include <iterator>
#include <limits>

#include "test_util.h"

namespace servekit {
namespace {

using test::Attrs;
using test::BatchFeed;
using test::Const;
using test::Feed;
using test::Float;
using test::IsInvalid;
using test::RunFolded1;
using test::RunOp1;
using test::TensorNear;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr double kSeluAlpha = 1.67326319217681884765625;
constexpr double kSeluGamma = 1.05070102214813232421875;

// The reference in double, rounded to float as an exact float32 result would be
// (so that overflow to inf and underflow to 0 are expected, not tolerated).
std::vector<double> Reference(const Tensor& t, const std::function<double(double)>& f) {
  std::vector<double> out;
  for (double x : test::AsDoubles(t)) out.push_back(static_cast<float>(f(x)));
  return out;
}

double Softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
double Sign(double x) { return std::isnan(x) ? x : (x > 0) - (x < 0); }

struct MathCase {
  const char* op;
  Attributes attributes;
  std::function<double(double)> f;
  bool positive_only = false;  // random inputs in (0, 10) rather than (-6, 6)
};

std::vector<MathCase> Cases() {
  return {
      {"Sqrt", {}, [](double x) { return std::sqrt(x); }, true},
      {"Reciprocal", {}, [](double x) { return 1.0 / x; }},
      {"Exp", {}, [](double x) { return std::exp(x); }},
      {"Log", {}, [](double x) { return std::log(x); }, true},
      {"Abs", {}, [](double x) { return std::fabs(x); }},
      {"Neg", {}, [](double x) { return -x; }},
      {"Softplus", {}, Softplus},
      {"Elu", {}, [](double x) { return x < 0 ? std::expm1(x) : x; }},
      {"Elu", Attrs({{"alpha", Float(0.5f)}}),
       [](double x) { return x < 0 ? double{0.5f} * std::expm1(x) : x; }},
      {"Selu",
       {},
       [](double x) { return x > 0 ? kSeluGamma * x : kSeluGamma * kSeluAlpha * std::expm1(x); }},
      {"Selu", Attrs({{"alpha", Float(2.0f)}, {"gamma", Float(0.5f)}}),
       [](double x) { return x > 0 ? 0.5 * x : 0.5 * 2.0 * std::expm1(x); }},
      {"Floor", {}, [](double x) { return std::floor(x); }},
      {"Ceil", {}, [](double x) { return std::ceil(x); }},
      {"Sign", {}, Sign},
  };
}

// Random values plus the edges: zeros of both signs, halves, huge, tiny,
// infinities and NaN. 1003 elements: vectorised runs and a remainder.
Tensor Inputs(const Shape& shape, uint32_t seed, bool positive_only) {
  Tensor t = positive_only ? test::RandomTensor(shape, seed, 0.0f, 10.0f)
                           : test::RandomTensor(shape, seed, -6.0f, 6.0f);
  const float inf = std::numeric_limits<float>::infinity();
  const float special[] = {0.0f,    -0.0f, 1.0f,   -1.0f, 0.5f,   -2.5f,   2.5f,    -0.5f,  100.f,
                           -100.0f, inf,   -inf,   NAN,   1e-30f, -1e-30f, 3.0e38f, -3e38f, -88.5f,
                           -95.0f,  88.5f, -1e-6f, 7.0f,  -7.0f,  88.7f,   -88.7f,  -104.0f};
  for (int64_t i = 0; i < t.num_elements() && i < static_cast<int64_t>(std::size(special)); ++i)
    t.data<float>()[i] = special[i];
  // Specials again at the end (the scalar tail after the vectorised blocks).
  for (int64_t i = 0; i < 4 && i < t.num_elements(); ++i)
    t.data<float>()[t.num_elements() - 1 - i] = special[8 + i];
  return t;
}

TEST(MathTest, EveryOpMatchesReference) {
  for (const MathCase& c : Cases()) {
    for (const Shape& shape : {Shape{1003}, Shape{3, 7, 5}, Shape{1}}) {
      const Tensor x = Inputs(shape, 11, c.positive_only);
      SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1(c.op, {BatchFeed(x)}, c.attributes));
      EXPECT_TRUE(TensorNear(out, shape, Reference(x, c.f))) << c.op << " " << ShapeToString(shape);
    }
  }
}

TEST(MathTest, HandPickedValues) {
  const Tensor x = test::Floats({6}, {-2.5f, -0.5f, 0.0f, 0.5f, 1.5f, 4.0f});
  auto run = [&](const char* op) {
    auto out = RunOp1(op, {Feed(x)});
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? test::Values<float>(*out) : std::vector<float>{};
  };
  EXPECT_EQ(run("Floor"), (std::vector<float>{-3, -1, 0, 0, 1, 4}));
  EXPECT_EQ(run("Ceil"), (std::vector<float>{-2, -0.0f, 0, 1, 2, 4}));
  EXPECT_EQ(run("Sign"), (std::vector<float>{-1, -1, 0, 1, 1, 1}));
  EXPECT_EQ(run("Abs"), (std::vector<float>{2.5f, 0.5f, 0, 0.5f, 1.5f, 4}));
  EXPECT_EQ(run("Neg"), (std::vector<float>{2.5f, 0.5f, -0.0f, -0.5f, -1.5f, -4}));
  EXPECT_EQ(run("Reciprocal"), (std::vector<float>{-0.4f, -2, kInfF, 2, 1 / 1.5f, 0.25f}));
  const std::vector<float> sqrt = run("Sqrt");
  ASSERT_EQ(sqrt.size(), 6u);
  EXPECT_TRUE(std::isnan(sqrt[0]) && std::isnan(sqrt[1]));
  EXPECT_EQ(sqrt[2], 0.0f);
  EXPECT_EQ(sqrt[5], 2.0f);
  const std::vector<float> log = run("Log");
  ASSERT_EQ(log.size(), 6u);
  EXPECT_TRUE(std::isnan(log[0]));
  EXPECT_EQ(log[2], -kInf);
  EXPECT_FLOAT_EQ(log[5], std::log(4.0f));
  // exp(-inf) is exactly 0 (masks built with -inf), exp(0) exactly 1.
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor e, RunOp1("Exp", {Feed(test::Floats({10}, {-kInfF, 0, -kInfF, -kInfF, -kInfF, -kInfF,
                                                        -kInfF, -kInfF, -kInfF, -kInfF}))}));
  EXPECT_EQ(test::Values<float>(e), (std::vector<float>{0, 1, 0, 0, 0, 0, 0, 0, 0, 0}));
  // Softplus of large arguments is the argument, not inf (no overflow of e^x).
  SK_ASSERT_OK_AND_ASSIGN(Tensor sp,
                          RunOp1("Softplus", {Feed(test::Floats({3}, {100.0f, 1e30f, 0.0f}))}));
  EXPECT_TRUE(TensorNear(sp, {3}, {100.0, 1e30, std::log(2.0)}));
  // Selu's defaults at -1 and 1.
  SK_ASSERT_OK_AND_ASSIGN(Tensor selu, RunOp1("Selu", {Feed(test::Floats({2}, {-1.0f, 1.0f}))}));
  EXPECT_TRUE(TensorNear(selu, {2}, {-1.1113307378125628, 1.0507009873554805}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor elu, RunOp1("Elu", {Feed(test::Floats({2}, {-1.0f, 2.0f}))},
                                             Attrs({{"alpha", Float(2.0f)}})));
  EXPECT_TRUE(TensorNear(elu, {2}, {2.0 * (std::exp(-1.0) - 1.0), 2.0}));
}

TEST(MathTest, NaNPropagates) {
  for (const MathCase& c : Cases()) {
    SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                            RunOp1(c.op, {Feed(test::Floats({2}, {NAN, NAN}))}, c.attributes));
    EXPECT_TRUE(TensorNear(out, {2}, {kNaN, kNaN})) << c.op;
  }
}

template <typename T>
void CheckIntegerOps() {
  const T min = std::numeric_limits<T>::min(), max = std::numeric_limits<T>::max();
  const Tensor x = test::MakeTensor<T>({2, 3}, {min, -7, 0, 1, max, min + 1});
  SK_ASSERT_OK_AND_ASSIGN(Tensor abs, RunOp1("Abs", {BatchFeed(x)}));
  // |INT_MIN| does not fit: it wraps to itself, as in numpy.
  EXPECT_EQ(test::Values<T>(abs), (std::vector<T>{min, 7, 0, 1, max, max}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor neg, RunOp1("Neg", {BatchFeed(x)}));
  EXPECT_EQ(test::Values<T>(neg), (std::vector<T>{min, 7, 0, -1, min + 1, max}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor sign, RunOp1("Sign", {BatchFeed(x)}));
  EXPECT_EQ(test::Values<T>(sign), (std::vector<T>{-1, -1, 0, 1, 1, -1}));
  EXPECT_EQ(abs.shape(), (Shape{2, 3}));
}

TEST(MathTest, IntegerAbsNegSign) {
  CheckIntegerOps<int32_t>();
  CheckIntegerOps<int64_t>();
}

TEST(MathTest, EmptyAndScalar) {
  for (const MathCase& c : Cases()) {
    SK_ASSERT_OK_AND_ASSIGN(Tensor empty,
                            RunOp1(c.op, {BatchFeed(test::Floats({0, 4}, {}))}, c.attributes));
    EXPECT_EQ(empty.shape(), (Shape{0, 4})) << c.op;
    const Tensor s = test::Scalar(2.25f);
    SK_ASSERT_OK_AND_ASSIGN(Tensor scalar, RunOp1(c.op, {Feed(s)}, c.attributes));
    EXPECT_TRUE(TensorNear(scalar, {}, Reference(s, c.f))) << c.op;
  }
  SK_ASSERT_OK_AND_ASSIGN(Tensor empty_int, RunOp1("Neg", {BatchFeed(test::Int64s({0, 2}, {}))}));
  EXPECT_EQ(empty_int.shape(), (Shape{0, 2}));
  EXPECT_EQ(empty_int.dtype(), DType::kInt64);
}

TEST(MathTest, FoldedAtLoadTime) {
  for (const MathCase& c : Cases()) {
    const Tensor x = Inputs({2, 9}, 5, c.positive_only);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunFolded1(c.op, {Const(x)}, c.attributes));
    EXPECT_TRUE(TensorNear(out, {2, 9}, Reference(x, c.f))) << c.op;
  }
  SK_ASSERT_OK_AND_ASSIGN(Tensor neg,
                          RunFolded1("Neg", {Const(test::MakeTensor<int32_t>({2}, {3, -4}))}));
  EXPECT_EQ(test::Values<int32_t>(neg), (std::vector<int32_t>{-3, 4}));
}

TEST(MathTest, Errors) {
  const Tensor ints = test::Int64s({2}, {1, 4});
  for (const char* op :
       {"Sqrt", "Reciprocal", "Exp", "Log", "Softplus", "Elu", "Selu", "Floor", "Ceil"}) {
    EXPECT_TRUE(IsInvalid(RunOp1(op, {Feed(ints)}).status(),
                          {absl::StrCat("node 'op' (", op, ")"), "dtype int64", "float32"}))
        << op;
  }
  EXPECT_TRUE(IsInvalid(RunOp1("Abs", {Feed(test::MakeTensor<bool>({1}, {true}))}).status(),
                        {"dtype bool"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Sqrt", {Feed(test::Floats({1}, {1}))}, Attrs({{"alpha", Float(1)}})).status(),
      {"unknown attribute 'alpha'"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Elu", {Feed(test::Floats({1}, {1}))}, Attrs({{"gamma", Float(1)}})).status(),
      {"unknown attribute 'gamma'"}));
}

}  // namespace
}  // namespace servekit
