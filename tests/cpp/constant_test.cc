// Constant (kernels/constant.cc): every value attribute, folded at load time.
#include "test_util.h"

namespace servekit {
namespace {

using test::Attrs;
using test::Int;
using test::Ints;
using test::IsInvalid;
using test::RunOp1;
using test::TensorNear;

TEST(ConstantTest, EveryValueAttribute) {
  struct Case {
    Attributes attributes;
    DType dtype;
    Shape shape;
    std::vector<double> values;
  };
  const std::vector<Case> cases = {
      {Attrs({{"value", AttributeValue(test::Floats({2}, {1.5, -2}))}}),
       DType::kFloat32,
       {2},
       {1.5, -2}},
      {Attrs({{"value_float", test::Float(3.25f)}}), DType::kFloat32, {}, {3.25}},
      {Attrs({{"value_floats", AttributeValue(std::vector<float>{1, 2, 3})}}),
       DType::kFloat32,
       {3},
       {1, 2, 3}},
      {Attrs({{"value_int", Int(-7)}}), DType::kInt64, {}, {-7}},
      {Attrs({{"value_ints", Ints({4, 5})}}), DType::kInt64, {2}, {4, 5}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    test::GraphBuilder g;
    const int x = g.Input("x", cases[i].dtype, test::BatchShape({1}));
    const int k = g.Op("Constant", {}, cases[i].attributes);
    g.Output(k);
    g.Output(g.Op("Identity", {x}));
    SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
    EXPECT_EQ(session->num_steps(), 1) << "the Constant node never runs";
    Tensor in = cases[i].dtype == DType::kInt64 ? test::Int64s({1}, {0}) : test::Floats({1}, {0});
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
    EXPECT_TRUE(TensorNear(out[0], cases[i].dtype, cases[i].shape, cases[i].values, 0, 0))
        << "case " << i;
  }
}

TEST(ConstantTest, Errors) {
  EXPECT_TRUE(IsInvalid(RunOp1("Constant", {}).status(), {"exactly one value attribute"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Constant", {}, Attrs({{"value_int", Int(1)}, {"value_float", test::Float(1)}}))
          .status(),
      {"exactly one value attribute"}));
}

}  // namespace
}  // namespace servekit
