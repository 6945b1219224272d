// Pass-through kernels (kernels/identity.cc): Identity and Dropout.
#include "test_util.h"

namespace servekit {
namespace {

using test::BatchFeed;
using test::Const;
using test::Feed;
using test::IsInvalid;
using test::Omitted;
using test::RandomTensor;
using test::RunOp;
using test::RunOp1;
using test::TensorsEqual;

TEST(IdentityTest, CopiesEveryDtype) {
  for (const Tensor& x :
       {RandomTensor({2, 3}, 1), test::Int64s({3}, {1, -2, 3}),
        test::MakeTensor<bool>({2, 2}, {true, false, false, true}), test::Floats({0, 4}, {})}) {
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Identity", {BatchFeed(x)}));
    EXPECT_TRUE(TensorsEqual(out, x));
    EXPECT_NE(out.raw_data(), x.raw_data()) << "the output must not alias the caller's input";
  }
}

TEST(DropoutTest, PassesThroughAtInference) {
  const Tensor x = RandomTensor({3, 4}, 2);
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Dropout", {BatchFeed(x), Const(test::Scalar(0.5f))}));
  EXPECT_TRUE(TensorsEqual(out, x));
  SK_ASSERT_OK_AND_ASSIGN(Tensor out2, RunOp1("Dropout", {BatchFeed(x), Const(test::Scalar(0.5f)),
                                                          Const(test::Scalar(false))}));
  EXPECT_TRUE(TensorsEqual(out2, x));
}

TEST(DropoutTest, MaskIsAllTrue) {
  const Tensor x = RandomTensor({2, 3}, 3);
  SK_ASSERT_OK_AND_ASSIGN(std::vector<Tensor> outs, RunOp("Dropout", {BatchFeed(x)}, {}, 2));
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_TRUE(TensorsEqual(outs[0], x));
  EXPECT_EQ(outs[1].dtype(), DType::kBool);
  EXPECT_EQ(test::Values<bool>(outs[1]), std::vector<bool>(6, true));
}

TEST(DropoutTest, TrainingModeIsRejected) {
  EXPECT_TRUE(IsInvalid(
      RunOp1("Dropout", {Feed(RandomTensor({2}, 1)), Omitted(), Const(test::Scalar(true))})
          .status(),
      {"training_mode=true is not supported"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Dropout", {Feed(RandomTensor({2}, 1)), Omitted(), Feed(test::Scalar(false))})
          .status(),
      {"training_mode must be a constant boolean scalar"}));
}

}  // namespace
}  // namespace servekit
