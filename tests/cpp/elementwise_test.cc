// Elementwise kernels (kernels/elementwise.cc): Add, Sub, Mul, Div, Max, Min,
// Pow, the comparisons and Where with numpy broadcasting, and Cast between every
// supported dtype.
#include <cmath>
#include <functional>
#include <limits>

#include "test_util.h"

namespace servekit {
namespace {

using test::BatchFeed;
using test::Const;
using test::Feed;
using test::FeedAs;
using test::IsInvalid;
using test::RandomTensor;
using test::RunOp1;
using test::TensorNear;

// --- reference -------------------------------------------------------------------------

Shape RefBroadcastShape(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// The flat index into `shape` (right-aligned to `out`) of output index `index`.
int64_t BroadcastIndex(const Shape& shape, const Shape& out, const Shape& index) {
  const Shape strides = test::Strides(shape);
  int64_t flat = 0;
  const size_t skip = out.size() - shape.size();
  for (size_t d = 0; d < shape.size(); ++d) {
    const int64_t i = shape[d] == 1 ? 0 : index[d + skip];
    flat += i * strides[d];
  }
  return flat;
}

std::vector<double> RefBinary(const Tensor& a, const Tensor& b,
                              const std::function<double(double, double)>& f, Shape* out_shape) {
  *out_shape = RefBroadcastShape(a.shape(), b.shape());
  const std::vector<double> x = test::AsDoubles(a), y = test::AsDoubles(b);
  std::vector<double> out;
  test::ForEachIndex(*out_shape, [&](const Shape& index) {
    out.push_back(f(x[BroadcastIndex(a.shape(), *out_shape, index)],
                    y[BroadcastIndex(b.shape(), *out_shape, index)]));
  });
  return out;
}

struct BinaryOpCase {
  const char* op;
  std::function<double(double, double)> f;
};

const std::vector<BinaryOpCase>& FloatOps() {
  static const auto* ops = new std::vector<BinaryOpCase>{
      {"Add", [](double a, double b) { return a + b; }},
      {"Sub", [](double a, double b) { return a - b; }},
      {"Mul", [](double a, double b) { return a * b; }},
      {"Div", [](double a, double b) { return a / b; }},
      {"Max", [](double a, double b) { return std::max(a, b); }},
      {"Min", [](double a, double b) { return std::min(a, b); }},
  };
  return *ops;
}

// Divisors away from zero so Div's relative error stays at float precision.
Tensor Operand(const Shape& shape, uint32_t seed) {
  Tensor t = RandomTensor(shape, seed, 0.5f, 2.0f);
  for (int64_t i = 0; i < t.num_elements(); i += 2) t.data<float>()[i] = -t.data<float>()[i];
  return t;
}

struct BroadcastCase {
  const char* name;
  Shape a, b;
  bool a_batched = false;  // a's dim 0 is declared as N
  bool b_batched = false;
};

const BroadcastCase kBroadcastCases[] = {
    {"same shape", {2, 3, 4}, {2, 3, 4}},
    {"NCHW + C11", {2, 3, 4, 5}, {3, 1, 1}, true},
    {"C11 + NCHW", {3, 1, 1}, {2, 3, 4, 5}, false, true},
    {"NC + C", {4, 3}, {3}, true},
    {"C + NC", {3}, {4, 3}, false, true},
    {"tensor + scalar", {2, 3}, {}},
    {"scalar + tensor", {}, {2, 3}},
    {"scalar + scalar", {}, {}},
    {"[3,1] + [1,4]", {3, 1}, {1, 4}},
    {"[1,4] + [3,1]", {1, 4}, {3, 1}},
    {"[2,1,4] + [3,1]", {2, 1, 4}, {3, 1}},
    {"middle broadcast", {2, 3, 4}, {2, 1, 4}},
    {"[2,1,3,1] + [4,1,5]", {2, 1, 3, 1}, {4, 1, 5}},
    {"leading ones", {1, 1, 3}, {2, 3}},
    {"size-1 dims on both", {1, 3, 1}, {1, 3, 1}},
    {"both batched", {3, 2, 5}, {3, 2, 1}, true, true},
    {"batch 1 vs size-1 broadcast", {1, 4}, {1, 4}, true},
    {"[N,1] + [1,5]", {4, 1}, {1, 5}, true},
    // A block of the innermost dims repeated (kernels compute these in
    // stretches of the block laid out many times): periods that divide the
    // stretch and that do not, the block first and second, a remainder.
    {"NHWC + C", {2, 5, 7, 8}, {8}, true},
    {"C + NHWC", {8}, {2, 5, 7, 8}, false, true},
    {"NHWC + [1,1,C]", {3, 4, 4, 3}, {1, 1, 3}, true},
    {"[W,C] + NHWC", {7, 3}, {2, 9, 7, 3}, false, true},
    {"long rows + period 255", {5, 3, 255}, {255}, true},
    {"period 2 over an odd count", {2, 1, 77, 2}, {1, 2}, true},
    {"block with an inner broadcast", {2, 6, 5}, {6, 1}, true},
};

void PrintTo(const BroadcastCase& c, std::ostream* os) { *os << c.name; }

class BroadcastTest : public ::testing::TestWithParam<BroadcastCase> {};

TEST_P(BroadcastTest, FloatOpsMatchReference) {
  const BroadcastCase& c = GetParam();
  for (const BinaryOpCase& op : FloatOps()) {
    Tensor a = Operand(c.a, 1), b = Operand(c.b, 2);
    Shape shape;
    const std::vector<double> expected = RefBinary(a, b, op.f, &shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1(op.op, {c.a_batched ? BatchFeed(a) : Feed(a),
                                                       c.b_batched ? BatchFeed(b) : Feed(b)}));
    EXPECT_TRUE(TensorNear(out, shape, expected)) << op.op << " " << c.name;
  }
}

TEST_P(BroadcastTest, ConstantSecondOperand) {
  const BroadcastCase& c = GetParam();
  if (c.b_batched) GTEST_SKIP() << "a constant has no batch dim";
  Tensor a = Operand(c.a, 3), b = Operand(c.b, 4);
  Shape shape;
  const std::vector<double> expected = RefBinary(a, b, FloatOps()[2].f, &shape);
  SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                          RunOp1("Mul", {c.a_batched ? BatchFeed(a) : Feed(a), Const(b)}));
  EXPECT_TRUE(TensorNear(out, shape, expected)) << c.name;
}

INSTANTIATE_TEST_SUITE_P(Shapes, BroadcastTest, ::testing::ValuesIn(kBroadcastCases),
                         [](const ::testing::TestParamInfo<BroadcastCase>& info) {
                           return "case" + std::to_string(info.index);
                         });

TEST(ElementwiseTest, BatchSizesZeroOneAndMany) {
  // One session, several batch sizes: [N, 3, 2, 2] + [3, 1, 1].
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 2, 2}));
  const int bias = g.Constant("bias", test::Floats({3, 1, 1}, {10, 20, 30}));
  g.Output(g.Op("Add", {x, bias}));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  for (int64_t batch : {0, 1, 5, 2, 0, 3}) {
    Tensor in = RandomTensor({batch, 3, 2, 2}, static_cast<uint32_t>(batch));
    Shape shape;
    const std::vector<double> expected =
        RefBinary(in, test::Floats({3, 1, 1}, {10, 20, 30}), FloatOps()[0].f, &shape);
    SK_ASSERT_OK_AND_ASSIGN(std::vector<Tensor> out, session->Run({in}));
    EXPECT_TRUE(TensorNear(out[0], shape, expected)) << "batch " << batch;
  }
}

TEST(ElementwiseTest, LargeContiguousAndBroadcastRuns) {
  // Long vectorised inner runs (Eigen paths) with a remainder.
  Tensor a = Operand({3, 1001}, 7), b = Operand({1001}, 8), s = Operand({}, 9);
  for (const BinaryOpCase& op : FloatOps()) {
    Shape shape;
    SK_ASSERT_OK_AND_ASSIGN(Tensor out1, RunOp1(op.op, {Feed(a), Feed(b)}));
    EXPECT_TRUE(TensorNear(out1, {3, 1001}, RefBinary(a, b, op.f, &shape))) << op.op;
    SK_ASSERT_OK_AND_ASSIGN(Tensor out2, RunOp1(op.op, {Feed(a), Feed(s)}));
    EXPECT_TRUE(TensorNear(out2, {3, 1001}, RefBinary(a, s, op.f, &shape)))
        << op.op << " tensor op scalar";
    SK_ASSERT_OK_AND_ASSIGN(Tensor out3, RunOp1(op.op, {Feed(s), Feed(a)}));
    EXPECT_TRUE(TensorNear(out3, {3, 1001}, RefBinary(s, a, op.f, &shape)))
        << op.op << " scalar op tensor";
  }
}

TEST(ElementwiseTest, FloatDivisionByZeroGivesInfinity) {
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Div", {Feed(test::Floats({3}, {1, -2, 0})),
                                                     Feed(test::Floats({3}, {0, 0, 4}))}));
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(TensorNear(out, {3}, {inf, -inf, 0}));
}

TEST(ElementwiseTest, Float64) {
  Tensor a = test::MakeTensor<double>({2, 2}, {1.5, -2.25, 1e10, 3});
  Tensor b = test::MakeTensor<double>({2}, {0.5, 4});
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Sub", {Feed(a), Feed(b)}));
  EXPECT_TRUE(TensorNear(out, DType::kFloat64, {2, 2}, {1.0, -6.25, 1e10 - 0.5, -1}, 0, 0));
}

TEST(ElementwiseTest, Int64ArithmeticIsExact) {
  const int64_t big = int64_t{1} << 40;
  Tensor a = test::Int64s({2, 3}, {big, 7, -7, 100, 0, -1});
  Tensor b = test::Int64s({3}, {3, 2, 2});
  SK_ASSERT_OK_AND_ASSIGN(Tensor add, RunOp1("Add", {Feed(a), Feed(b)}));
  EXPECT_EQ(test::Values<int64_t>(add), (std::vector<int64_t>{big + 3, 9, -5, 103, 2, 1}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor mul, RunOp1("Mul", {Feed(a), Feed(b)}));
  EXPECT_EQ(test::Values<int64_t>(mul), (std::vector<int64_t>{3 * big, 14, -14, 300, 0, -2}));
  // Integer division truncates toward zero (C++ and onnxruntime semantics).
  SK_ASSERT_OK_AND_ASSIGN(Tensor div, RunOp1("Div", {Feed(a), Feed(b)}));
  EXPECT_EQ(test::Values<int64_t>(div), (std::vector<int64_t>{big / 3, 3, -3, 33, 0, 0}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor sub, RunOp1("Sub", {Feed(a), Feed(test::Scalar<int64_t>(5))}));
  EXPECT_EQ(test::Values<int64_t>(sub), (std::vector<int64_t>{big - 5, 2, -12, 95, -5, -6}));
}

TEST(ElementwiseTest, Int32Arithmetic) {
  Tensor a = test::MakeTensor<int32_t>({2, 2}, {10, -9, 8, 7});
  Tensor b = test::MakeTensor<int32_t>({2, 1}, {3, -2});
  SK_ASSERT_OK_AND_ASSIGN(Tensor div, RunOp1("Div", {Feed(a), Feed(b)}));
  EXPECT_EQ(test::Values<int32_t>(div), (std::vector<int32_t>{3, -3, -4, -3}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor sub, RunOp1("Sub", {Feed(b), Feed(a)}));
  EXPECT_EQ(test::Values<int32_t>(sub), (std::vector<int32_t>{-7, 12, -10, -9}));
}

// INT_MIN / -1 does not fit; like integer division by zero (which gives 0) it
// has a defined result rather than trapping: it wraps to INT_MIN, as two's
// complement negation does. At run time and when folded at load time.
template <typename T>
bool IntMinOverMinusOneWraps() {
  const T min = std::numeric_limits<T>::min();
  const Tensor a = test::MakeTensor<T>({4}, {min, min, 7, min + 1});
  const Tensor b = test::MakeTensor<T>({4}, {-1, 1, -1, -1});
  const std::vector<T> expected = {min, min, -7, std::numeric_limits<T>::max()};
  auto run = RunOp1("Div", {Feed(a), Feed(b)});
  if (!run.ok() || test::Values<T>(*run) != expected) {
    std::fprintf(stderr, "run time: %s\n",
                 run.ok() ? "wrong values" : std::string(run.status().message()).c_str());
    return false;
  }
  // Scalar divisor (the broadcast path).
  auto scalar = RunOp1("Div", {Feed(a), Feed(test::Scalar<T>(-1))});
  if (!scalar.ok() || test::Values<T>(*scalar)[0] != min) {
    std::fprintf(stderr, "scalar divisor failed\n");
    return false;
  }
  test::GraphBuilder g;
  const int x = g.Input("x", DTypeOf<T>(), {Dim::Fixed(4)});
  const int folded = g.Op("Div", {g.Constant("a", a), g.Constant("b", b)});
  g.Output(g.Op("Add", {x, folded}));
  auto session = BuildSession(g.Build(), test::Options(false));
  if (!session.ok()) {
    std::fprintf(stderr, "load: %s\n", std::string(session.status().message()).c_str());
    return false;
  }
  auto out = (*session)->Run({test::MakeTensor<T>({4}, {0, 0, 0, 0})});
  if (!out.ok() || test::Values<T>((*out)[0]) != expected) {
    std::fprintf(stderr, "folded: wrong values\n");
    return false;
  }
  return true;
}

TEST(ElementwiseTest, IntMinDividedByMinusOneWrapsInsteadOfTrapping) {
  SK_EXPECT_IN_SUBPROCESS(IntMinOverMinusOneWraps<int32_t>) << "int32";
  SK_EXPECT_IN_SUBPROCESS(IntMinOverMinusOneWraps<int64_t>) << "int64";
}

// Shape values that reach INT64_MIN / -1 through exporter-style shape
// arithmetic must not trap at load time either.
TEST(ElementwiseTest, ShapeValueDivisionOverflowDoesNotTrapAtLoad) {
  SK_EXPECT_IN_SUBPROCESS([] {
    test::GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 3}));
    const int shape = g.Op("Shape", {x});
    const int64_t min = std::numeric_limits<int64_t>::min();
    const int joined = g.Op("Concat", {shape, g.Constant("m", test::Int64s({1}, {min}))},
                            test::Attrs({{"axis", test::Int(0)}}));
    g.Output(g.Op("Div", {joined, g.Constant("minus_one", test::Int64s({1}, {-1}))}));
    auto session = BuildSession(g.Build(), test::Options(false));
    if (!session.ok()) {
      std::fprintf(stderr, "load: %s\n", std::string(session.status().message()).c_str());
      return false;
    }
    auto out = (*session)->Run({test::Floats({2, 3}, std::vector<float>(6))});
    if (!out.ok()) return false;
    return test::Values<int64_t>((*out)[0]) == std::vector<int64_t>{-2, -3, min};
  });
}

TEST(ElementwiseTest, ConstantInputsFoldAtLoadTime) {
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 2}));
  const int a = g.Constant("a", test::Floats({2}, {1, 2}));
  const int b = g.Constant("b", test::Floats({2}, {10, 20}));
  const int folded = g.Op("Add", {a, b});
  g.Output(g.Op("Mul", {x, folded}));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options(false)));
  EXPECT_EQ(session->StepOpTypes(), (std::vector<std::string>{"Mul"}));
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({test::Floats({1, 2}, {2, 3})}));
  EXPECT_TRUE(TensorNear(out[0], {1, 2}, {22, 66}));
}

TEST(ElementwiseTest, Errors) {
  EXPECT_TRUE(IsInvalid(RunOp1("Add", {Feed(test::Floats({2, 3}, std::vector<float>(6))),
                                       Feed(test::Floats({4}, std::vector<float>(4)))})
                            .status(),
                        {"node 'op' (Add)", "[2, 3]", "[4]", "do not broadcast"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Mul", {Feed(test::Floats({2}, {1, 2})), Feed(test::Int64s({2}, {1, 2}))}).status(),
      {"different dtypes", "float32", "int64"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Add", {Feed(test::MakeTensor<bool>({2}, {true, false})),
                                       Feed(test::MakeTensor<bool>({2}, {true, true}))})
                            .status(),
                        {"dtype bool"}));
  // The batch dim against a fixed 3: only N == 3 would work, so refuse at load.
  EXPECT_TRUE(IsInvalid(RunOp1("Add", {BatchFeed(test::Floats({3, 2}, std::vector<float>(6))),
                                       Feed(test::Floats({3, 2}, std::vector<float>(6)))})
                            .status(),
                        {"do not broadcast"}));
  EXPECT_TRUE(
      IsInvalid(RunOp1("Add", {Feed(test::Floats({2}, {1, 2}))}).status(), {"has 1 inputs"}));
}

// --- Pow, comparisons, Where over every broadcast case -------------------------------------

// Operand rounded to halves, so that the comparisons meet ties.
Tensor Halves(const Shape& shape, uint32_t seed) {
  Tensor t = RandomTensor(shape, seed, -2.0f, 2.0f);
  for (int64_t i = 0; i < t.num_elements(); ++i)
    t.data<float>()[i] = std::round(t.data<float>()[i] * 2) / 2;
  return t;
}

const std::vector<BinaryOpCase>& Comparisons() {
  static const auto* ops = new std::vector<BinaryOpCase>{
      {"Equal", [](double a, double b) -> double { return a == b; }},
      {"Greater", [](double a, double b) -> double { return a > b; }},
      {"Less", [](double a, double b) -> double { return a < b; }},
      {"GreaterOrEqual", [](double a, double b) -> double { return a >= b; }},
      {"LessOrEqual", [](double a, double b) -> double { return a <= b; }},
  };
  return *ops;
}

// Where(c, x, y) in double, broadcasting all three.
std::vector<double> RefWhere(const Tensor& c, const Tensor& x, const Tensor& y, Shape* out_shape) {
  *out_shape = RefBroadcastShape(RefBroadcastShape(c.shape(), x.shape()), y.shape());
  const std::vector<double> cv = test::AsDoubles(c), xv = test::AsDoubles(x),
                            yv = test::AsDoubles(y);
  std::vector<double> out;
  test::ForEachIndex(*out_shape, [&](const Shape& index) {
    out.push_back(cv[BroadcastIndex(c.shape(), *out_shape, index)] != 0
                      ? xv[BroadcastIndex(x.shape(), *out_shape, index)]
                      : yv[BroadcastIndex(y.shape(), *out_shape, index)]);
  });
  return out;
}

Tensor RandomBools(const Shape& shape, uint32_t seed) {
  const Tensor r = RandomTensor(shape, seed);
  std::vector<bool> v;
  for (int64_t i = 0; i < r.num_elements(); ++i) v.push_back(r.data<float>()[i] > 0);
  Tensor t = *Tensor::Allocate(DType::kBool, shape);
  for (size_t i = 0; i < v.size(); ++i) t.data<bool>()[i] = v[i];
  return t;
}

TEST_P(BroadcastTest, Pow) {
  const BroadcastCase& c = GetParam();
  // Positive bases: a float exponent of a negative base is NaN (checked below).
  const Tensor a = RandomTensor(c.a, 21, 0.25f, 3.0f), b = RandomTensor(c.b, 22, -2.0f, 2.0f);
  Shape shape;
  const std::vector<double> expected = RefBinary(
      a, b, [](double x, double y) { return std::pow(x, y); }, &shape);
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Pow", {c.a_batched ? BatchFeed(a) : Feed(a),
                                                     c.b_batched ? BatchFeed(b) : Feed(b)}));
  EXPECT_TRUE(TensorNear(out, shape, expected)) << c.name;
}

TEST_P(BroadcastTest, Comparisons) {
  const BroadcastCase& c = GetParam();
  const Tensor a = Halves(c.a, 23), b = Halves(c.b, 24);
  for (const BinaryOpCase& op : Comparisons()) {
    Shape shape;
    const std::vector<double> expected = RefBinary(a, b, op.f, &shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1(op.op, {c.a_batched ? BatchFeed(a) : Feed(a),
                                                       c.b_batched ? BatchFeed(b) : Feed(b)}));
    EXPECT_TRUE(TensorNear(out, DType::kBool, shape, expected, 0, 0)) << op.op << " " << c.name;
  }
}

TEST_P(BroadcastTest, Where) {
  // The condition takes a's shape, X b's, Y each of a few others.
  const BroadcastCase& c = GetParam();
  const Tensor cond = RandomBools(c.a, 25), x = Operand(c.b, 26);
  for (const Shape& y_shape : {Shape{}, Shape{1}, Shape{1, 1, 1}}) {
    const Tensor y = Operand(y_shape, 27);
    Shape shape;
    const std::vector<double> expected = RefWhere(cond, x, y, &shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                            RunOp1("Where", {c.a_batched ? BatchFeed(cond) : Feed(cond),
                                             c.b_batched ? BatchFeed(x) : Feed(x), Feed(y)}));
    EXPECT_TRUE(TensorNear(out, shape, expected, 0, 0))
        << c.name << " Y " << ShapeToString(y_shape);
    // Y in the middle position of the broadcast: Where(c, y, x) picks the other way.
    const std::vector<double> swapped = RefWhere(cond, y, x, &shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out2,
                            RunOp1("Where", {c.a_batched ? BatchFeed(cond) : Feed(cond), Feed(y),
                                             c.b_batched ? BatchFeed(x) : Feed(x)}));
    EXPECT_TRUE(TensorNear(out2, shape, swapped, 0, 0)) << c.name << " swapped";
  }
}

// --- Max, Min ----------------------------------------------------------------------------

TEST(MaxMinTest, NaNPropagatesFromEitherSide) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor a = test::Floats({4}, {NAN, 1, NAN, -3});
  const Tensor b = test::Floats({4}, {2, NAN, NAN, 5});
  for (const char* op : {"Max", "Min"}) {
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1(op, {Feed(a), Feed(b)}));
    EXPECT_TRUE(TensorNear(out, {4}, {nan, nan, nan, op[1] == 'a' ? 5.0 : -3.0})) << op;
    // A NaN scalar against a tensor, and a tensor against a NaN scalar.
    SK_ASSERT_OK_AND_ASSIGN(Tensor s1, RunOp1(op, {Feed(test::Scalar(NAN)), Feed(b)}));
    EXPECT_TRUE(TensorNear(s1, {4}, {nan, nan, nan, nan})) << op;
    SK_ASSERT_OK_AND_ASSIGN(Tensor s2, RunOp1(op, {Feed(b), Feed(test::Scalar(NAN))}));
    EXPECT_TRUE(TensorNear(s2, {4}, {nan, nan, nan, nan})) << op;
  }
}

TEST(MaxMinTest, IntegersAtTheirLimits) {
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  const Tensor a = test::Int64s({2, 3}, {lo, hi, -1, 0, (int64_t{1} << 53) + 1, 7});
  const Tensor b = test::Int64s({3}, {hi, lo, int64_t{1} << 53});
  SK_ASSERT_OK_AND_ASSIGN(Tensor max, RunOp1("Max", {Feed(a), Feed(b)}));
  EXPECT_EQ(test::Values<int64_t>(max),
            (std::vector<int64_t>{hi, hi, int64_t{1} << 53, hi, (int64_t{1} << 53) + 1,
                                  int64_t{1} << 53}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor min, RunOp1("Min", {Feed(a), Feed(b)}));
  EXPECT_EQ(test::Values<int64_t>(min), (std::vector<int64_t>{lo, lo, -1, 0, lo, 7}));
  const Tensor c = test::MakeTensor<int32_t>({3}, {-5, 9, std::numeric_limits<int32_t>::min()});
  SK_ASSERT_OK_AND_ASSIGN(Tensor max32, RunOp1("Max", {Feed(c), Feed(test::Scalar<int32_t>(0))}));
  EXPECT_EQ(test::Values<int32_t>(max32), (std::vector<int32_t>{0, 9, 0}));
}

// Max of a shape value with itself keeps the batch size symbolic; against
// another dim it could not (max(N, 1) is not N when N is 0), so it is left out.
TEST(MaxMinTest, ShapeValuesPropagate) {
  test::GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 6}));
  const int shape = g.Op("Shape", {x});
  const int same = g.Op("Max", {shape, shape});
  g.Output(g.Op("Reshape", {x, same}));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  for (int64_t batch : {1, 3}) {
    const Tensor in = RandomTensor({batch, 6}, 3);
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
    EXPECT_TRUE(test::TensorsEqual(out[0], in)) << "batch " << batch;
  }
  // Fixed shape values compute exactly (and fold): Min([N, 6], [N, 4]) on dim 1.
  test::GraphBuilder h;
  const int y = h.Input("y", test::BatchShape({1, 6}));
  const int dims = h.Op("Shape", {y}, test::Attrs({{"start", test::Int(1)}}));
  const int lower = h.Op("Min", {dims, h.Constant("four", test::Int64s({1}, {4}))});
  const int upper = h.Op("Max", {dims, h.Constant("nine", test::Int64s({1}, {9}))});
  h.Output(lower);
  h.Output(upper);
  SK_ASSERT_OK_AND_ASSIGN(auto s2, BuildSession(h.Build(), test::Options()));
  EXPECT_TRUE(s2->StepOpTypes().empty());
  SK_ASSERT_OK_AND_ASSIGN(auto out, s2->Run({RandomTensor({2, 6}, 4)}));
  EXPECT_EQ(test::Values<int64_t>(out[0]), (std::vector<int64_t>{4}));
  EXPECT_EQ(test::Values<int64_t>(out[1]), (std::vector<int64_t>{9}));
}

// --- Pow ---------------------------------------------------------------------------------

TEST(PowTest, EdgeValues) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor base = test::Floats({8}, {-2, -2, 0, 0, NAN, 4, 2, -8});
  const Tensor exponent = test::Floats({8}, {3, 0.5f, 0, -1, 0, 0.5f, -2, 2});
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Pow", {Feed(base), Feed(exponent)}));
  // C's pow: (-2)^3 exact, (-2)^0.5 NaN, 0^0 = 1, 0^-1 = inf, NaN^0 = 1.
  EXPECT_TRUE(TensorNear(out, {8}, {-8, nan, 1, inf, 1, 2, 0.25, 64}, 0, 0));
  SK_ASSERT_OK_AND_ASSIGN(Tensor sq,
                          RunOp1("Pow", {BatchFeed(test::Floats({2, 2}, {1.5f, -3, 0.5f, 10})),
                                         Const(test::Scalar(2.0f))}));
  EXPECT_TRUE(TensorNear(sq, {2, 2}, {2.25, 9, 0.25, 100}));
}

TEST(PowTest, OnlyFloat32) {
  EXPECT_TRUE(IsInvalid(
      RunOp1("Pow", {Feed(test::Int64s({2}, {2, 3})), Feed(test::Int64s({2}, {2, 2}))}).status(),
      {"node 'op' (Pow)", "dtype int64", "float32"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Pow", {Feed(test::Floats({2}, {2, 3})), Feed(test::Int64s({2}, {2, 2}))}).status(),
      {"different dtypes"}));
}

// --- Comparisons -------------------------------------------------------------------------

TEST(CompareTest, NaNComparesFalse) {
  const Tensor a = test::Floats({3}, {NAN, 1, NAN});
  const Tensor b = test::Floats({3}, {NAN, NAN, 1});
  for (const BinaryOpCase& op : Comparisons()) {
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1(op.op, {Feed(a), Feed(b)}));
    EXPECT_EQ(test::Values<bool>(out), (std::vector<bool>{false, false, false})) << op.op;
  }
}

TEST(CompareTest, IntegersAreComparedExactly) {
  // 2^53 + 1 and 2^53 are one float64 apart from nothing: equal as doubles.
  const int64_t big = int64_t{1} << 53;
  const Tensor a = test::Int64s({3}, {big + 1, std::numeric_limits<int64_t>::min(), 5});
  const Tensor b = test::Int64s({3}, {big, std::numeric_limits<int64_t>::max(), 5});
  SK_ASSERT_OK_AND_ASSIGN(Tensor eq, RunOp1("Equal", {Feed(a), Feed(b)}));
  EXPECT_EQ(test::Values<bool>(eq), (std::vector<bool>{false, false, true}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor gt, RunOp1("Greater", {Feed(a), Feed(b)}));
  EXPECT_EQ(test::Values<bool>(gt), (std::vector<bool>{true, false, false}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor le, RunOp1("LessOrEqual", {Feed(a), Feed(b)}));
  EXPECT_EQ(test::Values<bool>(le), (std::vector<bool>{false, true, true}));
  const Tensor c = test::MakeTensor<int32_t>({2, 2}, {-1, 0, 1, 2});
  SK_ASSERT_OK_AND_ASSIGN(Tensor ge,
                          RunOp1("GreaterOrEqual", {BatchFeed(c), Feed(test::Scalar<int32_t>(1))}));
  EXPECT_EQ(ge.dtype(), DType::kBool);
  EXPECT_EQ(test::Values<bool>(ge), (std::vector<bool>{false, false, true, true}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor lt, RunOp1("Less", {Feed(test::Scalar<int32_t>(0)), Feed(c)}));
  EXPECT_EQ(test::Values<bool>(lt), (std::vector<bool>{false, false, true, true}));
}

TEST(CompareTest, EqualOnBools) {
  const Tensor a = test::MakeTensor<bool>({4}, {true, true, false, false});
  const Tensor b = test::MakeTensor<bool>({4}, {true, false, true, false});
  SK_ASSERT_OK_AND_ASSIGN(Tensor eq, RunOp1("Equal", {Feed(a), Feed(b)}));
  EXPECT_EQ(test::Values<bool>(eq), (std::vector<bool>{true, false, false, true}));
  EXPECT_TRUE(IsInvalid(RunOp1("Greater", {Feed(a), Feed(b)}).status(),
                        {"node 'op' (Greater)", "dtype bool"}));
}

TEST(CompareTest, EmptyAndErrors) {
  SK_ASSERT_OK_AND_ASSIGN(Tensor empty, RunOp1("Less", {BatchFeed(test::Floats({0, 3}, {})),
                                                        Feed(test::Floats({3}, {1, 2, 3}))}));
  EXPECT_EQ(empty.shape(), (Shape{0, 3}));
  EXPECT_EQ(empty.dtype(), DType::kBool);
  EXPECT_TRUE(IsInvalid(
      RunOp1("Equal", {Feed(test::Floats({2}, {1, 2})), Feed(test::Int64s({2}, {1, 2}))}).status(),
      {"different dtypes", "float32", "int64"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Less", {Feed(test::Floats({2}, {1, 2})), Feed(test::Floats({3}, {1, 2, 3}))})
          .status(),
      {"do not broadcast"}));
}

// --- Where -------------------------------------------------------------------------------

TEST(WhereTest, DtypesOfXAndY) {
  const Tensor cond = test::MakeTensor<bool>({2, 1}, {true, false});
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor i64,
      RunOp1("Where", {Feed(cond), Feed(test::Int64s({3}, {1, 2, 3})),
                       Feed(test::Scalar<int64_t>(std::numeric_limits<int64_t>::min()))}));
  const int64_t lo = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(i64.shape(), (Shape{2, 3}));
  EXPECT_EQ(test::Values<int64_t>(i64), (std::vector<int64_t>{1, 2, 3, lo, lo, lo}));
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor b, RunOp1("Where", {Feed(cond), Feed(test::MakeTensor<bool>({2}, {true, false})),
                                 Feed(test::MakeTensor<bool>({2}, {false, true}))}));
  EXPECT_EQ(test::Values<bool>(b), (std::vector<bool>{true, false, false, true}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor i32,
                          RunOp1("Where", {Feed(test::MakeTensor<bool>({}, {false})),
                                           Feed(test::MakeTensor<int32_t>({2}, {1, 2})),
                                           Feed(test::MakeTensor<int32_t>({2}, {-1, -2}))}));
  EXPECT_EQ(test::Values<int32_t>(i32), (std::vector<int32_t>{-1, -2}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor d,
                          RunOp1("Where", {Feed(cond), Feed(test::MakeTensor<double>({1}, {0.1})),
                                           Feed(test::MakeTensor<double>({1}, {1e300}))}));
  EXPECT_EQ(test::Values<double>(d), (std::vector<double>{0.1, 1e300}));
}

TEST(WhereTest, BatchSizesAndEmpty) {
  // A batched condition against a constant X and Y: [N, 3] from [N, 1], [3], [].
  test::GraphBuilder g;
  const int cond = g.Input("cond", DType::kBool, test::BatchShape({1, 1}));
  const int x = g.Constant("x", test::Floats({3}, {1, 2, 3}));
  const int y = g.Constant("y", test::Scalar(-1.0f));
  g.Output(g.Op("Where", {cond, x, y}));
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  SK_ASSERT_OK_AND_ASSIGN(auto out,
                          session->Run({test::MakeTensor<bool>({3, 1}, {true, false, true})}));
  EXPECT_TRUE(TensorNear(out[0], {3, 3}, {1, 2, 3, -1, -1, -1, 1, 2, 3}, 0, 0));
  SK_ASSERT_OK_AND_ASSIGN(auto empty, session->Run({test::MakeTensor<bool>({0, 1}, {})}));
  EXPECT_EQ(empty[0].shape(), (Shape{0, 3}));
}

TEST(WhereTest, Errors) {
  const Tensor f = test::Floats({2}, {1, 2});
  EXPECT_TRUE(IsInvalid(RunOp1("Where", {Feed(f), Feed(f), Feed(f)}).status(),
                        {"node 'op' (Where)", "dtype float32", "expected bool"}));
  const Tensor cond = test::MakeTensor<bool>({2}, {true, false});
  EXPECT_TRUE(
      IsInvalid(RunOp1("Where", {Feed(cond), Feed(f), Feed(test::Int64s({2}, {1, 2}))}).status(),
                {"X and Y have different dtypes", "float32", "int64"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Where", {Feed(test::MakeTensor<bool>({3}, {true, false, true})), Feed(f), Feed(f)})
          .status(),
      {"do not broadcast"}));
}

// --- load-time folding of the new operators ----------------------------------------------

TEST(ElementwiseTest, NewOpsFoldAtLoadTime) {
  using test::RunFolded1;
  const Tensor a = test::Floats({2, 3}, {1, -2, 3, 0.5f, 4, -1});
  const Tensor b = test::Floats({3}, {2, -2, 0.5f});
  const Tensor positive = test::Floats({2, 3}, {1, 2, 3, 0.5f, 4, 1});
  const std::vector<std::pair<BinaryOpCase, Tensor>> arithmetic = {
      {FloatOps()[4], a},  // Max
      {FloatOps()[5], a},  // Min
      {{"Pow", [](double x, double y) { return std::pow(x, y); }}, positive},
  };
  for (const auto& [op, base] : arithmetic) {
    Shape shape;
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunFolded1(op.op, {Const(base), Const(b)}));
    EXPECT_TRUE(TensorNear(out, {2, 3}, RefBinary(base, b, op.f, &shape))) << op.op;
  }
  for (const BinaryOpCase& op : Comparisons()) {
    Shape shape;
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunFolded1(op.op, {Const(a), Const(b)}));
    EXPECT_TRUE(TensorNear(out, DType::kBool, {2, 3}, RefBinary(a, b, op.f, &shape), 0, 0))
        << op.op;
  }
  const Tensor cond = test::MakeTensor<bool>({3}, {true, false, true});
  SK_ASSERT_OK_AND_ASSIGN(Tensor where, RunFolded1("Where", {Const(cond), Const(a), Const(b)}));
  EXPECT_TRUE(TensorNear(where, {2, 3}, {1, -2, 3, 0.5, -2, -1}, 0, 0));
}

// --- Cast -------------------------------------------------------------------------------

StatusOr<Tensor> RunCast(const Tensor& in, DType to) {
  return RunOp1("Cast", {BatchFeed(in)},
                test::Attrs({{"to", test::Int(static_cast<int64_t>(to))}}));
}

TEST(CastTest, FloatToIntegersTruncatesTowardZero) {
  Tensor in = test::Floats({6}, {0.0f, 1.0f, -2.0f, 3.7f, -3.7f, 100.5f});
  SK_ASSERT_OK_AND_ASSIGN(Tensor i32, RunCast(in, DType::kInt32));
  EXPECT_EQ(test::Values<int32_t>(i32), (std::vector<int32_t>{0, 1, -2, 3, -3, 100}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor i64, RunCast(in, DType::kInt64));
  EXPECT_EQ(test::Values<int64_t>(i64), (std::vector<int64_t>{0, 1, -2, 3, -3, 100}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor i8, RunCast(in, DType::kInt8));
  EXPECT_EQ(test::Values<int8_t>(i8), (std::vector<int8_t>{0, 1, -2, 3, -3, 100}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor u8,
                          RunCast(test::Floats({4}, {0.0f, 1.9f, 200.2f, 255.0f}), DType::kUInt8));
  EXPECT_EQ(test::Values<uint8_t>(u8), (std::vector<uint8_t>{0, 1, 200, 255}));
}

TEST(CastTest, ToBoolIsNonZero) {
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor b, RunCast(test::Floats({5}, {0.0f, 1.0f, -2.0f, 0.25f, -0.0f}), DType::kBool));
  EXPECT_EQ(test::Values<bool>(b), (std::vector<bool>{false, true, true, true, false}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor bi, RunCast(test::Int64s({3}, {0, 5, -1}), DType::kBool));
  EXPECT_EQ(test::Values<bool>(bi), (std::vector<bool>{false, true, true}));
}

TEST(CastTest, FromBool) {
  Tensor in = test::MakeTensor<bool>({3}, {true, false, true});
  SK_ASSERT_OK_AND_ASSIGN(Tensor f, RunCast(in, DType::kFloat32));
  EXPECT_EQ(test::Values<float>(f), (std::vector<float>{1, 0, 1}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor i, RunCast(in, DType::kInt64));
  EXPECT_EQ(test::Values<int64_t>(i), (std::vector<int64_t>{1, 0, 1}));
}

TEST(CastTest, IntegersAndFloats) {
  const int64_t big = (int64_t{1} << 40) + 1;
  SK_ASSERT_OK_AND_ASSIGN(Tensor d, RunCast(test::Int64s({3}, {big, -3, 0}), DType::kFloat64));
  EXPECT_EQ(test::Values<double>(d), (std::vector<double>{static_cast<double>(big), -3, 0}));
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor f, RunCast(test::MakeTensor<int32_t>({3}, {-7, 16777216, 5}), DType::kFloat32));
  EXPECT_EQ(test::Values<float>(f), (std::vector<float>{-7, 16777216.0f, 5}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor l,
                          RunCast(test::MakeTensor<int32_t>({2}, {-7, 2147483647}), DType::kInt64));
  EXPECT_EQ(test::Values<int64_t>(l), (std::vector<int64_t>{-7, 2147483647}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor u,
                          RunCast(test::MakeTensor<uint8_t>({2}, {200, 7}), DType::kFloat32));
  EXPECT_EQ(test::Values<float>(u), (std::vector<float>{200, 7}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor s,
                          RunCast(test::MakeTensor<int8_t>({2}, {-128, 127}), DType::kInt32));
  EXPECT_EQ(test::Values<int32_t>(s), (std::vector<int32_t>{-128, 127}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor n,
                          RunCast(test::MakeTensor<double>({2}, {0.1, -1e30}), DType::kFloat32));
  EXPECT_EQ(test::Values<float>(n), (std::vector<float>{0.1f, -1e30f}));
  SK_ASSERT_OK_AND_ASSIGN(Tensor same, RunCast(test::Floats({2}, {1.5f, -2.5f}), DType::kFloat32));
  EXPECT_EQ(test::Values<float>(same), (std::vector<float>{1.5f, -2.5f}));
}

TEST(CastTest, BatchZeroAndShape) {
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunCast(test::Floats({0, 3}, {}), DType::kInt64));
  EXPECT_EQ(out.dtype(), DType::kInt64);
  EXPECT_EQ(out.shape(), (Shape{0, 3}));
}

TEST(CastTest, UnsupportedTarget) {
  EXPECT_TRUE(IsInvalid(RunCast(test::Floats({1}, {1}), static_cast<DType>(10)).status(),
                        {"node 'op' (Cast)", "cast to ONNX data type 10 is not supported"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Cast", {Feed(test::Floats({1}, {1}))}).status(), {"data type 0"}));
}

}  // namespace
}  // namespace servekit
