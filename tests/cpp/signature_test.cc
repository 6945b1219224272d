// serving/signature.h: finding a version's signature by name, as TF Serving
// does (empty = serving_default), among one or several.
#include "servekit/serving/signature.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "serving_test_util.h"

namespace servekit {
namespace {

using test::BatchShape;
using test::GraphBuilder;
using test::Options;

// y = op(x) for x of shape [N, 1].
std::shared_ptr<const Session> Unary(const char* op, const char* output) {
  GraphBuilder g;
  const int x = g.Input("x", BatchShape({1, 1}));
  g.Output(g.Op(op, {x}, {}, output));
  auto session = BuildSession(g.Build(), Options());
  EXPECT_TRUE(session.ok()) << session.status();
  return std::shared_ptr<const Session>(std::move(*session));
}

TEST(SignatureTest, AnOnnxVersionHasServingDefaultOnly) {
  auto model = LoadedModel::WithOneSignature(Unary("Relu", "y"));
  for (const std::string name : {"", "serving_default"}) {
    auto found = FindSignature(*model, name);
    ASSERT_TRUE(found.ok()) << found.status();
    EXPECT_EQ(found->name, "serving_default");
    EXPECT_EQ(found->method_name, "tensorflow/serving/predict");
    EXPECT_EQ(found->session, model->signatures()[0].session.get());
  }
  auto other = FindSignature(*model, "serve");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(other.status().message(),
            "Serving signature name: \"serve\" not found in signature def");
}

TEST(SignatureTest, EachSignatureOfSeveralViewsItsOwnSession) {
  const LoadedModel model({{"negate", kPredictMethodName, Unary("Sigmoid", "negated")},
                           {"serving_default", kPredictMethodName, Unary("Relu", "relu")}});
  auto negate = FindSignature(model, "negate");
  ASSERT_TRUE(negate.ok()) << negate.status();
  EXPECT_EQ(negate->outputs[0].name, "negated_out");
  EXPECT_EQ(negate->session, model.signatures()[0].session.get());
  auto fallback = FindSignature(model, "");
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ(fallback->outputs[0].name, "relu_out");
  const std::vector<ModelSignature> all = SignaturesOf(model);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "negate");
  EXPECT_EQ(all[1].name, "serving_default");
}

TEST(SignatureTest, WithoutServingDefaultARequestMustNameOne) {
  const LoadedModel model({{"negate", kPredictMethodName, Unary("Sigmoid", "negated")}});
  auto found = FindSignature(model, "");
  EXPECT_EQ(found.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StrContains(found.status().message(), "Default serving signature key not found"))
      << found.status();
}

}  // namespace
}  // namespace servekit
