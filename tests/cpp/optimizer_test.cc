// OptimizeGraph and its passes (engine/optimizer.h, engine/passes/passes.h).
//
// Every rewrite is checked twice: structurally (which steps the session runs,
// or what the graph looks like after the pass) and numerically (the optimised
// session's outputs match a session built with LoadOptions.optimize = false).
#include "servekit/engine/optimizer.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_join.h"
#include "servekit/engine/image_layout.h"
#include "servekit/engine/op_registry.h"
#include "servekit/engine/passes/passes.h"
#include "servekit/engine/shape_inference.h"
#include "test_util.h"

namespace servekit {
namespace {

using test::Attrs;
using test::Float;
using test::GraphBuilder;
using test::Int;
using test::Ints;
using test::RandomTensor;
using test::Str;

using Steps = std::vector<std::string>;

// Random float inputs (other dtypes: zeros) for a session's inputs at `batch`.
std::vector<Tensor> RandomInputs(const Session& session, int64_t batch, uint32_t seed) {
  std::vector<Tensor> inputs;
  for (const TensorSpec& spec : session.inputs()) {
    const Shape shape = Evaluate(spec.shape, batch);
    if (spec.dtype == DType::kFloat32) {
      inputs.push_back(RandomTensor(shape, seed++, -2.0f, 2.0f));
    } else {
      auto t = Tensor::Allocate(spec.dtype, shape);
      std::memset(t->raw_data(), 0, t->num_bytes());
      inputs.push_back(*t);
    }
  }
  return inputs;
}

Steps OptimizedSteps(const Graph& graph) {
  auto session = BuildSession(graph, test::Options(true));
  EXPECT_TRUE(session.ok()) << session.status();
  return session.ok() ? (*session)->StepOpTypes() : Steps{"<load failed>"};
}

// Builds `graph` with and without optimisation and checks that both give the
// same outputs (names, dtypes, shapes, values) for every batch size.
::testing::AssertionResult SameOutputsOptimized(const Graph& graph,
                                                std::vector<int64_t> batches = {1, 3, 0}) {
  auto plain = BuildSession(graph, test::Options(false));
  if (!plain.ok()) return ::testing::AssertionFailure() << "unoptimised load: " << plain.status();
  auto optimized = BuildSession(graph, test::Options(true));
  if (!optimized.ok())
    return ::testing::AssertionFailure() << "optimised load: " << optimized.status();
  const auto& a = (*plain)->outputs();
  const auto& b = (*optimized)->outputs();
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "output counts differ";
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].name != b[k].name || a[k].dtype != b[k].dtype || a[k].shape != b[k].shape) {
      return ::testing::AssertionFailure() << "output " << k << " signature differs: " << a[k].name
                                           << " " << SymShapeToString(a[k].shape) << " vs "
                                           << b[k].name << " " << SymShapeToString(b[k].shape);
    }
  }
  for (int64_t batch : batches) {
    const std::vector<Tensor> inputs =
        RandomInputs(**plain, batch, 1000 + static_cast<uint32_t>(batch));
    auto expected = (*plain)->Run(inputs);
    if (!expected.ok())
      return ::testing::AssertionFailure() << "unoptimised run: " << expected.status();
    auto actual = (*optimized)->Run(inputs);
    if (!actual.ok()) return ::testing::AssertionFailure() << "optimised run: " << actual.status();
    for (size_t k = 0; k < expected->size(); ++k) {
      auto near = test::TensorsClose((*actual)[k], (*expected)[k], test::kRtol, test::kAtolSum);
      if (!near)
        return near << " (output " << k << " '" << a[k].name << "', batch " << batch << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

// Infers `graph` and runs one pass on it.
Graph InferAndRun(Graph graph, Status (*pass)(Graph&)) {
  const Status inferred = InferGraph(graph);
  EXPECT_TRUE(inferred.ok()) << inferred;
  const Status passed = pass(graph);
  EXPECT_TRUE(passed.ok()) << passed;
  return graph;
}

const Node* FindNode(const Graph& graph, const std::string& op_type) {
  for (const Node& n : graph.nodes) {
    if (n.op_type == op_type) return &n;
  }
  return nullptr;
}

// Batch-norm parameters as constants of `g`; returns the BN node's inputs 1..4.
std::vector<int> BnParams(GraphBuilder& g, int64_t channels, uint32_t seed) {
  return {g.Constant("scale", RandomTensor({channels}, seed, 0.5f, 2.0f)),
          g.Constant("shift", RandomTensor({channels}, seed + 1)),
          g.Constant("mean", RandomTensor({channels}, seed + 2)),
          g.Constant("var", RandomTensor({channels}, seed + 3, 0.2f, 2.0f))};
}

int AddBn(GraphBuilder& g, int x, int64_t channels, uint32_t seed, Attributes attributes = {}) {
  std::vector<int> inputs = {x};
  for (int p : BnParams(g, channels, seed)) inputs.push_back(p);
  return g.Op("BatchNormalization", inputs, std::move(attributes));
}

// --- RemoveIdentityNodes -----------------------------------------------------------------

TEST(RemoveIdentityTest, BetweenTwoOps) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 4}));
  g.Output(g.Op("Sigmoid", {g.Op("Identity", {g.Op("Relu", {x})})}));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Relu", "Sigmoid"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
  const Graph after = InferAndRun(g.Build(), RemoveIdentityNodes);
  EXPECT_EQ(FindNode(after, "Identity"), nullptr);
}

TEST(RemoveIdentityTest, TransposeThatKeepsEveryAxis) {
  // TensorFlow's Tensordot writes perm [0, 1, 2] before a Dense layer on 3-D inputs.
  for (bool on_input : {false, true}) {
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 3, 4}));
    const int in = on_input ? x : g.Op("Relu", {x});
    g.Output(g.Op("Sigmoid", {g.Op("Transpose", {in}, Attrs({{"perm", test::Ints({0, 1, 2})}}))}));
    const Steps expected = on_input ? Steps{"Sigmoid"} : Steps{"Relu", "Sigmoid"};
    EXPECT_EQ(OptimizedSteps(g.graph()), expected);
    EXPECT_TRUE(SameOutputsOptimized(g.graph()));
  }
  // Any other perm, or none (reversed axes), stays.
  for (const std::vector<int64_t>& perm : {std::vector<int64_t>{0, 2, 1}, std::vector<int64_t>{}}) {
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 3, 4}));
    Attributes attrs;
    if (!perm.empty()) attrs = Attrs({{"perm", test::Ints(perm)}});
    g.Output(g.Op("Sigmoid", {g.Op("Transpose", {g.Op("Relu", {x})}, attrs)}));
    const Steps steps = OptimizedSteps(g.graph());  // the transpose may sink past Sigmoid
    EXPECT_EQ(std::count(steps.begin(), steps.end(), "Transpose"), 1) << perm.size();
    EXPECT_TRUE(SameOutputsOptimized(g.graph()));
  }
}

TEST(RemoveIdentityTest, ChainOnAGraphInput) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 4}));
  g.Output(g.Op("Relu", {g.Op("Identity", {g.Op("Identity", {x})})}));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Relu"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

TEST(RemoveIdentityTest, GraphOutputKeepsItsName) {
  // Relu -> Identity -> output: Relu writes the output value directly.
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  const int y = g.Op("Identity", {g.Op("Relu", {x})}, {}, "named_output");
  g.Output(y);
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  EXPECT_EQ(session->StepOpTypes(), (Steps{"Relu"}));
  ASSERT_EQ(session->outputs().size(), 1u);
  EXPECT_EQ(session->outputs()[0].name, "named_output_out");
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

TEST(RemoveIdentityTest, IdentityOfAGraphInputToAGraphOutputStays) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  g.Output(g.Op("Identity", {x}));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Identity"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

TEST(RemoveIdentityTest, InputThatIsAlsoAGraphOutput) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  const int r = g.Op("Relu", {x});
  g.Output(r);
  g.Output(g.Op("Identity", {r}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

TEST(RemoveIdentityTest, Dropout) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 4}));
  const int ratio = g.Constant("ratio", test::Scalar(0.3f));
  g.Output(g.Op("Sigmoid", {g.Op("Dropout", {g.Op("Relu", {x}), ratio})}));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Relu", "Sigmoid"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

TEST(RemoveIdentityTest, DropoutWithUnusedMask) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 4}));
  const std::vector<int> outs = g.Node("Dropout", {g.Op("Relu", {x})}, 2);
  g.Output(g.Op("Tanh", {outs[0]}));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Relu", "Tanh"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

TEST(RemoveIdentityTest, DropoutWhoseMaskIsUsedStays) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 4}));
  const std::vector<int> outs = g.Node("Dropout", {g.Op("Relu", {x})}, 2);
  g.Output(outs[0]);
  g.Output(outs[1]);
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Relu", "Dropout"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

// --- FoldBatchNormalization --------------------------------------------------------------

Attributes Conv3x3(int64_t group = 1) {
  Attributes a = Attrs({{"pads", Ints({1, 1, 1, 1})}});
  if (group != 1) a.Set("group", group);
  return a;
}

TEST(FoldBatchNormTest, IntoConvWithBias) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 6, 6}));
  const int conv = g.Op(
      "Conv",
      {x, g.Constant("w", RandomTensor({4, 3, 3, 3}, 1)), g.Constant("b", RandomTensor({4}, 2))},
      Conv3x3());
  g.Output(AddBn(g, conv, 4, 10));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Conv"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
  const Graph after = InferAndRun(g.Build(), FoldBatchNormalization);
  EXPECT_EQ(FindNode(after, "BatchNormalization"), nullptr);
  ASSERT_NE(FindNode(after, "Conv"), nullptr);
  EXPECT_EQ(FindNode(after, "Conv")->inputs.size(), 3u);
}

// BiasAdd and Keras 3's batch norm arrive as per-channel Add and Mul.
TEST(FoldBatchNormTest, PerChannelAddAndMulFoldIntoConv) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 6, 6}));
  const int conv = g.Op("Conv", {x, g.Constant("w", RandomTensor({4, 3, 3, 3}, 1))}, Conv3x3());
  const int biased = g.Op("Add", {g.Constant("b", RandomTensor({1, 4, 1, 1}, 2)), conv});
  const int scaled = g.Op("Mul", {biased, g.Constant("k", RandomTensor({4, 1, 1}, 3))});
  g.Output(g.Op("Relu", {scaled}));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Conv"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

// A constant that broadcasts along another axis is not a per-channel map.
TEST(FoldBatchNormTest, ConstantsAlongOtherAxesStay) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 4, 4}));
  const int conv = g.Op("Conv", {x, g.Constant("w", RandomTensor({4, 3, 3, 3}, 1))}, Conv3x3());
  g.Output(g.Op("Add", {conv, g.Constant("b", RandomTensor({4}, 2))}));  // along W
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Conv", "Add"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

TEST(FoldBatchNormTest, IntoConvWithoutBiasAndEpsilon) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 2, 5, 7}));
  const int conv = g.Op("Conv", {x, g.Constant("w", RandomTensor({3, 2, 2, 3}, 3))},
                        Attrs({{"strides", Ints({2, 1})}}));
  g.Output(AddBn(g, conv, 3, 20, Attrs({{"epsilon", Float(0.1f)}})));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Conv"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

TEST(FoldBatchNormTest, IntoGroupedAndDepthwiseConv) {
  for (auto [channels, filters, group] :
       {std::tuple<int64_t, int64_t, int64_t>{4, 6, 2}, {3, 3, 3}, {3, 6, 3}}) {
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, channels, 5, 5}));
    const int conv = g.Op("Conv",
                          {x, g.Constant("w", RandomTensor({filters, channels / group, 3, 3}, 4)),
                           g.Constant("b", RandomTensor({filters}, 5))},
                          Conv3x3(group));
    g.Output(AddBn(g, conv, filters, 30));
    EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Conv"}))
        << "group " << group << " filters " << filters;
    EXPECT_TRUE(SameOutputsOptimized(g.graph())) << "group " << group << " filters " << filters;
  }
}

TEST(FoldBatchNormTest, IntoGemmEveryTransBAndBias) {
  const int64_t K = 5, N = 4;
  for (int64_t trans_b : {0, 1}) {
    for (const Shape& bias_shape : {Shape{}, Shape{N}, Shape{1, N}}) {
      GraphBuilder g;
      const int x = g.Input("x", test::BatchShape({1, K}));
      std::vector<int> inputs = {
          x, g.Constant("w", RandomTensor(trans_b ? Shape{N, K} : Shape{K, N}, 6))};
      const bool has_bias = !bias_shape.empty();
      if (has_bias) inputs.push_back(g.Constant("c", RandomTensor(bias_shape, 7)));
      const int gemm = g.Op("Gemm", inputs, Attrs({{"transB", Int(trans_b)}}));
      g.Output(AddBn(g, gemm, N, 40));
      const std::string what =
          absl::StrCat("transB=", trans_b, " bias ", has_bias ? ShapeToString(bias_shape) : "none");
      EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Gemm"})) << what;
      EXPECT_TRUE(SameOutputsOptimized(g.graph())) << what;
    }
  }
}

TEST(FoldBatchNormTest, GemmWithPerRowBias) {
  // C of shape [M, 1] is a per-row bias; with M == N it has N elements, the
  // same count as a per-column one, but it must not be folded as if it were.
  const int64_t M = 4, K = 3, N = 4;
  GraphBuilder g;
  const int x = g.Input("x", FixedShape({M, K}));
  const int gemm = g.Op("Gemm", {x, g.Constant("w", RandomTensor({K, N}, 8)),
                                 g.Constant("c", RandomTensor({M, 1}, 9))});
  g.Output(AddBn(g, gemm, N, 50));
  EXPECT_TRUE(SameOutputsOptimized(g.graph(), {0}));
}

TEST(FoldBatchNormTest, NotIntoGemmWithAlpha) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  const int gemm =
      g.Op("Gemm", {x, g.Constant("w", RandomTensor({3, 2}, 10))}, Attrs({{"alpha", Float(0.5f)}}));
  g.Output(AddBn(g, gemm, 2, 60));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Gemm", "BatchNormalization"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

TEST(FoldBatchNormTest, NotAfterOtherOps) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 4}));
  g.Output(AddBn(g, g.Op("Relu", {x}), 3, 70));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Relu", "BatchNormalization"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

TEST(FoldBatchNormTest, ThenActivationFusion) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 6, 6}));
  const int conv = g.Op("Conv", {x, g.Constant("w", RandomTensor({4, 3, 3, 3}, 11))}, Conv3x3());
  g.Output(g.Op("Relu", {AddBn(g, conv, 4, 80)}));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Conv"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

// A Conv whose output feeds the BatchNormalization and something else cannot
// absorb the BN. The pass must leave the BN node intact.
Graph ConvWithSharedOutputThenBn(bool conv_output_is_graph_output) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 2, 5, 5}));
  const int conv = g.Op(
      "Conv",
      {x, g.Constant("w", RandomTensor({3, 2, 3, 3}, 12)), g.Constant("b", RandomTensor({3}, 13))},
      Conv3x3(), "conv");
  g.Output(AddBn(g, conv, 3, 90));
  if (conv_output_is_graph_output) {
    g.Output(conv);
  } else {
    g.Output(g.Op("Sigmoid", {conv}));
  }
  return g.Build();
}

TEST(FoldBatchNormTest, SharedConvOutputLeavesTheBatchNormIntact) {
  for (bool as_output : {false, true}) {
    const Graph after = InferAndRun(ConvWithSharedOutputThenBn(as_output), FoldBatchNormalization);
    const Node* bn = FindNode(after, "BatchNormalization");
    ASSERT_NE(bn, nullptr) << "the BN cannot be folded";
    EXPECT_EQ(bn->inputs.size(), 5u)
        << "the BN node lost its parameters (conv output is "
        << (as_output ? "a graph output" : "read by another node") << ")";
    const Node* conv = FindNode(after, "Conv");
    ASSERT_NE(conv, nullptr);
    EXPECT_EQ(conv->attributes.all().size(), 1u) << "the conv is unchanged";
  }
}

TEST(FoldBatchNormTest, SharedConvOutputStillRunsCorrectly) {
  // Loads in a child process: the engine may crash here.
  for (bool as_output : {false, true}) {
    SK_EXPECT_IN_SUBPROCESS([&] {
      const auto result = SameOutputsOptimized(ConvWithSharedOutputThenBn(as_output));
      if (!result) std::fprintf(stderr, "%s\n", result.message());
      return static_cast<bool>(result);
    }) << "conv output is "
       << (as_output ? "a graph output" : "read by another node");
  }
}

// --- FuseMatMulAdd -----------------------------------------------------------------------

TEST(FuseMatMulAddTest, BiasOnEitherSideAndShapes) {
  for (bool bias_first : {false, true}) {
    for (const Shape& bias_shape : {Shape{5}, Shape{1, 5}}) {
      GraphBuilder g;
      const int x = g.Input("x", test::BatchShape({1, 3}));
      const int mm = g.Op("MatMul", {x, g.Constant("w", RandomTensor({3, 5}, 14))});
      const int b = g.Constant("b", RandomTensor(bias_shape, 15));
      g.Output(g.Op("Add", bias_first ? std::vector<int>{b, mm} : std::vector<int>{mm, b}));
      const std::string what = absl::StrCat(bias_first ? "b + MatMul" : "MatMul + b", ", bias ",
                                            ShapeToString(bias_shape));
      EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Gemm"})) << what;
      EXPECT_TRUE(SameOutputsOptimized(g.graph())) << what;
    }
  }
}

TEST(FuseMatMulAddTest, PassRewritesIntoGemm) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  const int mm = g.Op("MatMul", {x, g.Constant("w", RandomTensor({3, 2}, 16))});
  const int y = g.Op("Add", {mm, g.Constant("b", RandomTensor({2}, 17))}, {}, "add");
  g.Output(y);
  const Graph after = InferAndRun(g.Build(), FuseMatMulAdd);
  ASSERT_EQ(after.nodes.size(), 1u);
  EXPECT_EQ(after.nodes[0].op_type, "Gemm");
  EXPECT_EQ(after.nodes[0].inputs.size(), 3u);
  EXPECT_EQ(after.nodes[0].outputs, (std::vector<int>{y}));
}

TEST(FuseMatMulAddTest, RankThreeAndFourIntoMatMulWithBias) {
  // A transformer's Dense layers: [batch, tokens, features] x W + b.
  for (const Shape& bias_shape : {Shape{4}, Shape{1, 4}, Shape{1, 1, 4}}) {
    for (const Shape& x_shape : {Shape{1, 5, 3}, Shape{1, 2, 5, 3}}) {
      if (bias_shape.size() > x_shape.size()) continue;
      GraphBuilder g;
      const int x = g.Input("x", test::BatchShape(x_shape));
      const int mm = g.Op("MatMul", {x, g.Constant("w", RandomTensor({3, 4}, 40))});
      g.Output(g.Op("Add", {g.Constant("b", RandomTensor(bias_shape, 41)), mm}));
      const std::string what =
          absl::StrCat("x ", ShapeToString(x_shape), ", bias ", ShapeToString(bias_shape));
      const Graph after = InferAndRun(g.graph(), FuseMatMulAdd);
      ASSERT_EQ(after.nodes.size(), 1u) << what;
      EXPECT_EQ(after.nodes[0].op_type, "MatMul") << what;
      EXPECT_EQ(after.nodes[0].inputs.size(), 3u) << what;
      EXPECT_TRUE(SameOutputsOptimized(g.graph())) << what;
    }
  }
}

TEST(FuseMatMulAddTest, ThenActivation) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 6}));
  const int mm = g.Op("MatMul", {x, g.Constant("w", RandomTensor({6, 4}, 18))});
  g.Output(g.Op("Relu", {g.Op("Add", {mm, g.Constant("b", RandomTensor({4}, 19))})}));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Gemm"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

TEST(FuseMatMulAddTest, CasesThatMustNotFuse) {
  struct Case {
    std::string name;
    Graph graph;
  };
  std::vector<Case> cases;
  {  // a bias of higher rank than the product broadcasts its output up
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 2, 3}));
    g.Output(g.Op("Add", {g.Op("MatMul", {x, g.Constant("w", RandomTensor({3, 4}, 20))}),
                          g.Constant("b", RandomTensor({1, 1, 1, 4}, 21))}));
    cases.push_back({"rank-raising bias", g.Build()});
  }
  {  // a [N, 1] addend varies along rows, not columns
    GraphBuilder g;
    const int x = g.Input("x", FixedShape({4, 3}));
    g.Output(g.Op("Add", {g.Op("MatMul", {x, g.Constant("w", RandomTensor({3, 4}, 20))}),
                          g.Constant("b", RandomTensor({4, 1}, 21))}));
    cases.push_back({"[M, 1] addend", g.Build()});
  }
  {  // bias not constant
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 3}));
    const int b = g.Input("b", FixedShape({4}));
    g.Output(g.Op("Add", {g.Op("MatMul", {x, g.Constant("w", RandomTensor({3, 4}, 22))}), b}));
    cases.push_back({"runtime bias", g.Build()});
  }
  {  // weights not constant
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 3}));
    const int w = g.Input("w", FixedShape({3, 4}));
    g.Output(g.Op("Add", {g.Op("MatMul", {x, w}), g.Constant("b", RandomTensor({4}, 23))}));
    cases.push_back({"runtime weights", g.Build()});
  }
  {  // a full [M, N] addend is not a bias
    GraphBuilder g;
    const int x = g.Input("x", FixedShape({2, 3}));
    g.Output(g.Op("Add", {g.Op("MatMul", {x, g.Constant("w", RandomTensor({3, 4}, 24))}),
                          g.Constant("b", RandomTensor({2, 4}, 25))}));
    cases.push_back({"[M, N] addend", g.Build()});
  }
  {  // the MatMul output is read elsewhere too
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 3}));
    const int mm = g.Op("MatMul", {x, g.Constant("w", RandomTensor({3, 4}, 26))});
    g.Output(g.Op("Add", {mm, g.Constant("b", RandomTensor({4}, 27))}));
    g.Output(g.Op("Tanh", {mm}));
    cases.push_back({"shared MatMul output", g.Build()});
  }
  for (Case& c : cases) {
    const Steps steps = OptimizedSteps(c.graph);
    EXPECT_NE(std::find(steps.begin(), steps.end(), "MatMul"), steps.end()) << c.name;
    EXPECT_NE(std::find(steps.begin(), steps.end(), "Add"), steps.end()) << c.name;
    EXPECT_TRUE(SameOutputsOptimized(c.graph)) << c.name;
  }
}

// --- FuseErfGelu --------------------------------------------------------------------------

// How the argument of erf and the 1 +/- erf(...) are spelled.
enum class ErfForm {
  kDivSqrt2,       // 1 + erf(x / sqrt 2)
  kMulSqrtHalf,    // 1 + erf(x * 1/sqrt 2)
  kErfcOfNegX,     // 1 - erf(neg(x) * 1/sqrt 2): TensorFlow's erfc(-x / sqrt 2)
  kErfcNegScale,   // 1 - erf(x * -1/sqrt 2)
  kErfcDivOfNegX,  // 1 - erf(neg(x) / sqrt 2)
};
constexpr ErfForm kErfForms[] = {ErfForm::kDivSqrt2, ErfForm::kMulSqrtHalf, ErfForm::kErfcOfNegX,
                                 ErfForm::kErfcNegScale, ErfForm::kErfcDivOfNegX};

// 0.5 * x * (1 + erf(x / sqrt(2))) spelled out as exporters do, in `order`:
// 0: (x * (1 + erf)) * 0.5, 1: x * ((1 + erf) * 0.5), 2: (x * 0.5) * (1 + erf).
// `swap` puts each commutative node's operands the other way round.
int SpelledOutGelu(GraphBuilder& g, int x, int order, bool swap, ErfForm form, float half = 0.5f) {
  auto bin = [&](const char* op, int a, int b) {
    const bool commutes = std::string(op) == "Add" || std::string(op) == "Mul";
    return g.Op(op, swap && commutes ? std::vector<int>{b, a} : std::vector<int>{a, b});
  };
  static int counter = 0;
  auto scalar = [&](float v) {
    return g.Constant(absl::StrCat("c", counter++), test::Floats({}, {v}));
  };
  int one_plus = -1;
  switch (form) {
    case ErfForm::kDivSqrt2:
      one_plus = bin("Add", g.Op("Erf", {bin("Div", x, scalar(1.41421356f))}), scalar(1.0f));
      break;
    case ErfForm::kMulSqrtHalf:
      one_plus = bin("Add", g.Op("Erf", {bin("Mul", x, scalar(0.70710678f))}), scalar(1.0f));
      break;
    case ErfForm::kErfcOfNegX:
      one_plus = bin("Sub", scalar(1.0f),
                     g.Op("Erf", {bin("Mul", g.Op("Neg", {x}), scalar(0.70710678f))}));
      break;
    case ErfForm::kErfcNegScale:
      one_plus = bin("Sub", scalar(1.0f), g.Op("Erf", {bin("Mul", x, scalar(-0.70710678f))}));
      break;
    case ErfForm::kErfcDivOfNegX:
      one_plus = bin("Sub", scalar(1.0f),
                     g.Op("Erf", {bin("Div", g.Op("Neg", {x}), scalar(1.41421356f))}));
      break;
  }
  switch (order) {
    case 0:
      return bin("Mul", bin("Mul", x, one_plus), scalar(half));
    case 1:
      return bin("Mul", x, bin("Mul", one_plus, scalar(half)));
    default:
      return bin("Mul", bin("Mul", x, scalar(half)), one_plus);
  }
}

TEST(FuseErfGeluTest, EveryOrderBecomesOneGelu) {
  for (int order = 0; order < 3; ++order) {
    for (bool swap : {false, true}) {
      for (ErfForm form : kErfForms) {
        GraphBuilder g;
        const int x = g.Input("x", test::BatchShape({1, 7}));
        g.Output(SpelledOutGelu(g, x, order, swap, form));
        const std::string what = absl::StrCat("order ", order, swap ? ", swapped" : "", ", form ",
                                              static_cast<int>(form));
        const Graph after = InferAndRun(g.graph(), FuseErfGelu);
        ASSERT_EQ(after.nodes.size(), 1u) << what;
        EXPECT_EQ(after.nodes[0].op_type, "Gelu") << what;
        EXPECT_EQ(after.nodes[0].inputs, (std::vector<int>{x})) << what;
        EXPECT_TRUE(SameOutputsOptimized(g.graph())) << what;
      }
    }
  }
}

TEST(FuseErfGeluTest, ThenIntoTheDenseLayerBefore) {
  // A transformer's feed-forward layer: MatMul + bias, GELU, on [batch, tokens, features].
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 4, 6}));
  const int dense = g.Op("Add", {g.Op("MatMul", {x, g.Constant("w", RandomTensor({6, 8}, 50))}),
                                 g.Constant("b", RandomTensor({8}, 51))});
  g.Output(SpelledOutGelu(g, dense, 0, false, ErfForm::kErfcOfNegX));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"MatMul"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

TEST(FuseErfGeluTest, LookalikesStay) {
  struct Case {
    std::string name;
    Graph graph;
  };
  std::vector<Case> cases;
  {
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 5}));
    g.Output(SpelledOutGelu(g, x, 0, false, ErfForm::kDivSqrt2, /*half=*/0.6f));
    cases.push_back({"0.6 instead of 0.5", g.Build()});
  }
  {  // the erf is read elsewhere too
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 5}));
    const int erf =
        g.Op("Erf", {g.Op("Div", {x, g.Constant("s", test::Floats({}, {1.41421356f}))})});
    const int one_plus = g.Op("Add", {erf, g.Constant("one", test::Floats({}, {1.0f}))});
    g.Output(g.Op("Mul", {g.Op("Mul", {x, one_plus}), g.Constant("h", test::Floats({}, {0.5f}))}));
    g.Output(erf);
    cases.push_back({"shared erf", g.Build()});
  }
  {  // erf of x, but the product with another tensor
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 5}));
    const int y = g.Input("y", test::BatchShape({1, 5}));
    const int erf =
        g.Op("Erf", {g.Op("Div", {x, g.Constant("s", test::Floats({}, {1.41421356f}))})});
    const int one_plus = g.Op("Add", {erf, g.Constant("one", test::Floats({}, {1.0f}))});
    g.Output(g.Op("Mul", {g.Op("Mul", {y, one_plus}), g.Constant("h", test::Floats({}, {0.5f}))}));
    cases.push_back({"y * (1 + erf(x / sqrt 2))", g.Build()});
  }
  {  // 1 - erf(x / sqrt 2) is erfc of +x: not GELU
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 5}));
    const int erf =
        g.Op("Erf", {g.Op("Div", {x, g.Constant("s", test::Floats({}, {1.41421356f}))})});
    const int one_minus = g.Op("Sub", {g.Constant("one", test::Floats({}, {1.0f})), erf});
    g.Output(g.Op("Mul", {g.Op("Mul", {x, one_minus}), g.Constant("h", test::Floats({}, {0.5f}))}));
    cases.push_back({"1 - erf(x / sqrt 2)", g.Build()});
  }
  {  // sqrt(2) / x is not x / sqrt(2)
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 5}));
    const int erf =
        g.Op("Erf", {g.Op("Div", {g.Constant("s", test::Floats({}, {1.41421356f})), x})});
    const int one_plus = g.Op("Add", {erf, g.Constant("one", test::Floats({}, {1.0f}))});
    g.Output(g.Op("Mul", {g.Op("Mul", {x, one_plus}), g.Constant("h", test::Floats({}, {0.5f}))}));
    cases.push_back({"sqrt(2) / x", g.Build()});
  }
  for (Case& c : cases) {
    const Steps steps = OptimizedSteps(c.graph);
    EXPECT_EQ(std::find(steps.begin(), steps.end(), "Gelu"), steps.end()) << c.name;
    EXPECT_NE(std::find(steps.begin(), steps.end(), "Erf"), steps.end()) << c.name;
    EXPECT_TRUE(SameOutputsOptimized(c.graph)) << c.name;
  }
}

// --- FuseLayerNormalization ---------------------------------------------------------------

struct LayerNormSpelling {
  bool tensorflow = false;  // x * s + (beta - mean * s), else (x - mean) / std * gamma + beta
  bool reciprocal = false;  // ONNX form: d * Reciprocal(Sqrt(.)) instead of d / Sqrt(.)
  bool pow = false;         // Pow(d, 2) instead of d * d
  bool gamma = true, beta = true;
  int shift = 0;               // TensorFlow form: 0 Neg(mean) * s + beta, 1 beta - mean * s
  int axes = 1;                // how many trailing axes are normalised
  bool axes_as_input = false;  // ReduceMean's axes as input 1 (opset 18), else an attribute
};

// A layer norm over the last `axes` axes of x [N, 3, 8], spelled as `how` says.
int SpelledOutLayerNorm(GraphBuilder& g, int x, const LayerNormSpelling& how, uint32_t seed) {
  static int counter = 0;
  auto name = [&](const char* base) { return absl::StrCat(base, counter++); };
  const std::vector<int64_t> axes =
      how.axes == 1 ? std::vector<int64_t>{-1} : std::vector<int64_t>{1, 2};
  auto mean_of = [&](int v) {
    if (how.axes_as_input) {
      return g.Op(
          "ReduceMean",
          {v, g.Constant(name("axes"), test::Int64s({static_cast<int64_t>(axes.size())}, axes))});
    }
    return g.Op("ReduceMean", {v}, Attrs({{"axes", test::Ints(axes)}}));
  };
  const Shape param_shape = how.axes == 1 ? Shape{8} : Shape{3, 8};
  const int gamma = g.Constant(name("gamma"), RandomTensor(param_shape, seed, 0.5f, 1.5f));
  const int beta = g.Constant(name("beta"), RandomTensor(param_shape, seed + 1));
  const int eps = g.Constant(name("eps"), test::Floats({}, {1e-3f}));
  const int mean = mean_of(x);
  const int d = g.Op("Sub", {x, mean});
  const int squared = how.pow ? g.Op("Pow", {d, g.Constant(name("two"), test::Floats({}, {2.0f}))})
                              : g.Op("Mul", {d, d});
  const int std_dev = g.Op("Sqrt", {g.Op("Add", {mean_of(squared), eps})});
  if (!how.tensorflow) {
    int y = how.reciprocal ? g.Op("Mul", {d, g.Op("Reciprocal", {std_dev})})
                           : g.Op("Div", {d, std_dev});
    if (how.gamma) y = g.Op("Mul", {y, gamma});
    if (how.beta) y = g.Op("Add", {beta, y});
    return y;
  }
  int s = g.Op("Reciprocal", {std_dev});
  if (how.gamma) s = g.Op("Mul", {gamma, s});
  int shift;
  if (how.shift == 1 && how.beta) {
    shift = g.Op("Sub", {beta, g.Op("Mul", {mean, s})});
  } else {
    shift = g.Op("Mul", {g.Op("Neg", {mean}), s});
    if (how.beta) shift = g.Op("Add", {shift, beta});
  }
  return g.Op("Add", {g.Op("Mul", {x, s}), shift});
}

std::vector<LayerNormSpelling> LayerNormSpellings() {
  std::vector<LayerNormSpelling> all;
  for (bool tensorflow : {false, true}) {
    for (int variant = 0; variant < 4; ++variant) {
      for (bool gamma : {true, false}) {
        for (bool beta : {true, false}) {
          LayerNormSpelling s;
          s.tensorflow = tensorflow;
          s.reciprocal = variant & 1;
          s.shift = variant & 1;
          s.pow = variant & 2;
          s.axes = variant == 3 ? 2 : 1;
          s.axes_as_input = variant == 2;
          s.gamma = gamma;
          s.beta = beta;
          all.push_back(s);
        }
      }
    }
  }
  return all;
}

std::string Describe(const LayerNormSpelling& s) {
  return absl::StrCat(s.tensorflow ? "TensorFlow form" : "ONNX form",
                      s.reciprocal ? ", reciprocal" : "", s.pow ? ", Pow" : "",
                      s.gamma ? ", gamma" : "", s.beta ? ", beta" : "", ", shift ", s.shift,
                      ", axes ", s.axes, s.axes_as_input ? " (input)" : "");
}

TEST(FuseLayerNormTest, EverySpellingBecomesOneNode) {
  uint32_t seed = 60;
  for (const LayerNormSpelling& how : LayerNormSpellings()) {
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 3, 8}));
    g.Output(g.Op("Tanh", {SpelledOutLayerNorm(g, x, how, seed += 2)}));
    EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"LayerNormalization", "Tanh"})) << Describe(how);
    EXPECT_TRUE(SameOutputsOptimized(g.graph())) << Describe(how);
  }
}

TEST(FuseLayerNormTest, LookalikesStayApart) {
  struct Case {
    std::string name;
    Graph graph;
    Steps steps;  // after optimisation
  };
  std::vector<Case> cases;
  {  // the statistics are read elsewhere too
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 3, 8}));
    const int y = SpelledOutLayerNorm(g, x, LayerNormSpelling(), 80);
    g.Output(y);
    g.Output(
        g.Op("ReduceMean", {x}, Attrs({{"axes", test::Ints({-1})}})));  // a separate mean: fine
    cases.push_back(
        {"control: a separate mean", g.Build(), Steps{"ReduceMean", "LayerNormalization"}});
  }
  {  // a middle axis is not a layer norm's
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 3, 8}));
    const int mean = g.Op("ReduceMean", {x}, Attrs({{"axes", test::Ints({1})}}));
    const int d = g.Op("Sub", {x, mean});
    const int var = g.Op("ReduceMean", {g.Op("Mul", {d, d})}, Attrs({{"axes", test::Ints({1})}}));
    g.Output(g.Op(
        "Div",
        {d, g.Op("Sqrt", {g.Op("Add", {var, g.Constant("eps", test::Floats({}, {1e-3f}))})})}));
    cases.push_back({"middle axis", g.Build(),
                     Steps{"ReduceMean", "Sub", "Mul", "ReduceMean", "Add", "Sqrt", "Div"}});
  }
  {  // the deviation is also a graph output
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 3, 8}));
    const int mean = g.Op("ReduceMean", {x}, Attrs({{"axes", test::Ints({-1})}}));
    const int d = g.Op("Sub", {x, mean});
    const int var = g.Op("ReduceMean", {g.Op("Mul", {d, d})}, Attrs({{"axes", test::Ints({-1})}}));
    g.Output(g.Op(
        "Div",
        {d, g.Op("Sqrt", {g.Op("Add", {var, g.Constant("eps", test::Floats({}, {1e-3f}))})})}));
    g.Output(d);
    cases.push_back({"shared deviation", g.Build(),
                     Steps{"ReduceMean", "Sub", "Mul", "ReduceMean", "Add", "Sqrt", "Div"}});
  }
  {  // variance of another tensor
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 3, 8}));
    const int z = g.Input("z", test::BatchShape({1, 3, 8}));
    const int mean = g.Op("ReduceMean", {x}, Attrs({{"axes", test::Ints({-1})}}));
    const int d = g.Op("Sub", {x, mean});
    const int dz = g.Op("Sub", {z, mean});
    const int var =
        g.Op("ReduceMean", {g.Op("Mul", {dz, dz})}, Attrs({{"axes", test::Ints({-1})}}));
    g.Output(g.Op(
        "Div",
        {d, g.Op("Sqrt", {g.Op("Add", {var, g.Constant("eps", test::Floats({}, {1e-3f}))})})}));
    cases.push_back({"variance of z", g.Build(),
                     Steps{"ReduceMean", "Sub", "Sub", "Mul", "ReduceMean", "Add", "Sqrt", "Div"}});
  }
  {  // a gamma that varies along rows stays outside
    GraphBuilder g;
    const int x = g.Input("x", FixedShape({2, 3, 8}));
    const int mean = g.Op("ReduceMean", {x}, Attrs({{"axes", test::Ints({-1})}}));
    const int d = g.Op("Sub", {x, mean});
    const int var = g.Op("ReduceMean", {g.Op("Mul", {d, d})}, Attrs({{"axes", test::Ints({-1})}}));
    const int n =
        g.Op("Div",
             {d, g.Op("Sqrt", {g.Op("Add", {var, g.Constant("eps", test::Floats({}, {1e-3f}))})})});
    g.Output(g.Op("Mul", {n, g.Constant("gamma", RandomTensor({3, 8}, 81))}));
    cases.push_back({"gamma per row", g.Build(), Steps{"LayerNormalization", "Mul"}});
  }
  for (const Case& c : cases) {
    EXPECT_EQ(OptimizedSteps(c.graph), c.steps) << c.name;
    EXPECT_TRUE(SameOutputsOptimized(c.graph)) << c.name;
  }
}

// --- UnflattenMatMul ---------------------------------------------------------------------

// TensorFlow's Tensordot: x [N, 5, 6] -> [N*5, 6] -> MatMul W [6, 4] -> [N, 5, 4].
int Tensordot(GraphBuilder& g, int x, int w) {
  const int flat = g.Op("Reshape", {x, g.Constant("flat_shape", test::Int64s({2}, {-1, 6}))});
  const int product = g.Op("MatMul", {flat, w});
  return g.Op("Reshape", {product, g.Constant("out_shape", test::Int64s({3}, {-1, 5, 4}))});
}

TEST(UnflattenMatMulTest, TensordotThenBiasAndGeluFoldIntoOneMatMul) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 5, 6}));
  const int dense = Tensordot(g, x, g.Constant("w", RandomTensor({6, 4}, 90)));
  g.Output(g.Op("Gelu", {g.Op("Add", {dense, g.Constant("b", RandomTensor({4}, 91))})}));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"MatMul"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

TEST(UnflattenMatMulTest, OtherReshapesStay) {
  {  // the output is not x's leading dims: [N, 5, 6] -> [N*5, 6] -> [N*5, 4] -> [N*20]
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 5, 6}));
    const int flat = g.Op("Reshape", {x, g.Constant("flat_shape", test::Int64s({2}, {-1, 6}))});
    const int product = g.Op("MatMul", {flat, g.Constant("w", RandomTensor({6, 4}, 92))});
    g.Output(g.Op("Reshape", {product, g.Constant("out_shape", test::Int64s({1}, {-1}))}));
    const Steps steps = OptimizedSteps(g.graph());
    EXPECT_EQ(std::count(steps.begin(), steps.end(), "Reshape"), 2);
    EXPECT_TRUE(SameOutputsOptimized(g.graph()));
  }
  {  // the flattened rows are read elsewhere too
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 5, 6}));
    const int flat = g.Op("Reshape", {x, g.Constant("flat_shape", test::Int64s({2}, {-1, 6}))});
    const int product = g.Op("MatMul", {flat, g.Constant("w", RandomTensor({6, 4}, 93))});
    g.Output(g.Op("Reshape", {product, g.Constant("out_shape", test::Int64s({3}, {-1, 5, 4}))}));
    g.Output(g.Op("Relu", {flat}));
    const Steps steps = OptimizedSteps(g.graph());
    EXPECT_EQ(std::count(steps.begin(), steps.end(), "Reshape"), 2);
    EXPECT_TRUE(SameOutputsOptimized(g.graph()));
  }
}

// --- FuseConvResidual --------------------------------------------------------------------

// x -> Conv -> Relu -> Conv -> Add(skip) -> Relu, skip = `skip_from_input` ? x : the first
// Relu's output; 8 channels, so both convolutions keep the shape.
Graph ResidualBlock(bool skip_from_input, bool relu_after) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 8, 6, 6}));
  auto conv = [&](int in, uint32_t seed) {
    return g.Op(
        "Conv",
        {in, g.Constant(absl::StrCat("w", seed), RandomTensor({8, 8, 3, 3}, seed, -0.3f, 0.3f)),
         g.Constant(absl::StrCat("b", seed), RandomTensor({8}, seed + 1))},
        Conv3x3());
  };
  const int h = g.Op("Relu", {conv(x, 100)});
  int y = g.Op("Add", {conv(h, 102), skip_from_input ? x : h});
  if (relu_after) y = g.Op("Relu", {y});
  g.Output(y);
  return g.Build();
}

TEST(FuseConvResidualTest, TheSkipAddAndItsReluRunInTheConv) {
  for (bool skip_from_input : {false, true}) {
    for (bool relu_after : {true, false}) {
      const Graph graph = ResidualBlock(skip_from_input, relu_after);
      const Steps steps = OptimizedSteps(graph);
      const std::string what = absl::StrCat(skip_from_input ? "skip from x" : "skip from h",
                                            relu_after ? ", Relu after" : "");
      EXPECT_EQ(std::count(steps.begin(), steps.end(), "Add"), 0)
          << what << ": " << absl::StrJoin(steps, " ");
      EXPECT_EQ(std::count(steps.begin(), steps.end(), "Relu"), 0) << what;
      EXPECT_EQ(std::count(steps.begin(), steps.end(), "Conv"), 2) << what;
      EXPECT_TRUE(SameOutputsOptimized(graph)) << what;
    }
  }
}

TEST(FuseConvResidualTest, AddsThatAreNoSkipConnectionStay) {
  {  // a broadcast addend
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 8, 6, 6}));
    const int c = g.Op("Conv", {x, g.Constant("w", RandomTensor({8, 8, 3, 3}, 110))}, Conv3x3());
    g.Output(g.Op("Add", {c, g.Input("r", FixedShape({1, 8, 1, 1}))}));
    const Steps steps = OptimizedSteps(g.graph());
    EXPECT_EQ(std::count(steps.begin(), steps.end(), "Add"), 1);
    EXPECT_TRUE(SameOutputsOptimized(g.graph()));
  }
  {  // the conv's output is read elsewhere too
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 8, 6, 6}));
    const int c = g.Op("Conv", {x, g.Constant("w", RandomTensor({8, 8, 3, 3}, 111))}, Conv3x3());
    g.Output(g.Op("Add", {c, x}));
    g.Output(g.Op("Sigmoid", {c}));
    const Steps steps = OptimizedSteps(g.graph());
    EXPECT_EQ(std::count(steps.begin(), steps.end(), "Add"), 1);
    EXPECT_TRUE(SameOutputsOptimized(g.graph()));
  }
  {  // the residual is computed after the conv: the conv cannot read it
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 8, 6, 6}));
    const int c = g.Op("Conv", {x, g.Constant("w", RandomTensor({8, 8, 3, 3}, 112))}, Conv3x3());
    g.Output(g.Op("Add", {c, g.Op("Tanh", {x})}));
    const Steps steps = OptimizedSteps(g.graph());
    EXPECT_EQ(std::count(steps.begin(), steps.end(), "Add"), 1);
    EXPECT_TRUE(SameOutputsOptimized(g.graph()));
  }
}

// --- FuseActivations ---------------------------------------------------------------------

struct ActivationCase {
  std::string name;
  std::string op;
  Attributes attributes;
  std::vector<Tensor> bounds;  // Clip's min/max constants; empty Tensor: omitted
};

std::vector<ActivationCase> FusableActivations() {
  return {
      {"Relu", "Relu", {}, {}},
      {"LeakyRelu", "LeakyRelu", Attrs({{"alpha", Float(0.3f)}}), {}},
      {"LeakyRelu default alpha", "LeakyRelu", {}, {}},
      {"Sigmoid", "Sigmoid", {}, {}},
      {"Tanh", "Tanh", {}, {}},
      {"Gelu", "Gelu", {}, {}},
      {"Clip 0..6", "Clip", {}, {test::Scalar(0.0f), test::Scalar(6.0f)}},
      {"Clip min only", "Clip", {}, {test::Scalar(-0.5f)}},
      {"Clip max only", "Clip", {}, {Tensor(), test::Scalar(0.25f)}},
  };
}

int AddActivation(GraphBuilder& g, int x, const ActivationCase& a) {
  std::vector<int> inputs = {x};
  for (size_t i = 0; i < a.bounds.size(); ++i) {
    inputs.push_back(a.bounds[i].dtype() == DType::kUndefined
                         ? -1
                         : g.Constant(absl::StrCat("bound", i), a.bounds[i]));
  }
  return g.Op(a.op, inputs, a.attributes);
}

TEST(FuseActivationsTest, IntoConvGemmAndMatMul) {
  for (const ActivationCase& a : FusableActivations()) {
    {
      GraphBuilder g;
      const int x = g.Input("x", test::BatchShape({1, 2, 5, 5}));
      const int conv = g.Op("Conv",
                            {x, g.Constant("w", RandomTensor({3, 2, 3, 3}, 30)),
                             g.Constant("b", RandomTensor({3}, 31))},
                            Conv3x3());
      g.Output(AddActivation(g, conv, a));
      EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Conv"})) << a.name;
      EXPECT_TRUE(SameOutputsOptimized(g.graph())) << "Conv + " << a.name;
    }
    {
      GraphBuilder g;
      const int x = g.Input("x", test::BatchShape({1, 4}));
      const int gemm = g.Op(
          "Gemm",
          {x, g.Constant("w", RandomTensor({3, 4}, 32)), g.Constant("b", RandomTensor({3}, 33))},
          Attrs({{"transB", Int(1)}}));
      g.Output(AddActivation(g, gemm, a));
      EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Gemm"})) << a.name;
      EXPECT_TRUE(SameOutputsOptimized(g.graph())) << "Gemm + " << a.name;
    }
    {
      GraphBuilder g;
      const int x = g.Input("x", test::BatchShape({1, 2, 4}));
      const int mm = g.Op("MatMul", {x, g.Constant("w", RandomTensor({4, 3}, 34))});
      g.Output(AddActivation(g, mm, a));
      EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"MatMul"})) << a.name;
      EXPECT_TRUE(SameOutputsOptimized(g.graph())) << "MatMul + " << a.name;
    }
  }
}

TEST(FuseActivationsTest, OnlyOneActivationPerLayer) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 4}));
  const int gemm = g.Op("Gemm", {x, g.Constant("w", RandomTensor({4, 3}, 35))});
  g.Output(g.Op("Sigmoid", {g.Op("Relu", {gemm})}));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Gemm", "Sigmoid"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

TEST(FuseActivationsTest, NotAfterOtherOps) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 4}));
  g.Output(g.Op("Relu", {g.Op("Add", {x, x})}));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Add", "Relu"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

// The layer's output is read by the activation and by something else: the
// activation cannot be fused and must keep computing what it computed.
TEST(FuseActivationsTest, SharedLayerOutputKeepsTheActivation) {
  for (const ActivationCase& a : FusableActivations()) {
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 2, 4, 4}));
    const int conv =
        g.Op("Conv", {x, g.Constant("w", RandomTensor({3, 2, 3, 3}, 36))}, Conv3x3(), "conv");
    g.Output(AddActivation(g, conv, a));
    g.Output(conv);
    const Steps steps = OptimizedSteps(g.graph());
    EXPECT_EQ(steps, (Steps{"Conv", a.op})) << a.name;
    EXPECT_TRUE(SameOutputsOptimized(g.graph()))
        << a.name << " after a conv whose output is also a graph output";

    GraphBuilder h;
    const int y = h.Input("x", test::BatchShape({1, 4}));
    const int gemm = h.Op("Gemm", {y, h.Constant("w", RandomTensor({4, 3}, 37))});
    h.Output(AddActivation(h, gemm, a));
    h.Output(h.Op("Tanh", {gemm}));
    EXPECT_TRUE(SameOutputsOptimized(h.graph()))
        << a.name << " after a gemm whose output is read twice";
  }
}

TEST(FuseActivationsTest, FailedFusionKeepsClipBounds) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  const int gemm = g.Op("Gemm", {x, g.Constant("w", RandomTensor({3, 2}, 38))});
  const int clip = g.Op(
      "Clip", {gemm, g.Constant("lo", test::Scalar(0.0f)), g.Constant("hi", test::Scalar(0.1f))});
  g.Output(clip);
  g.Output(gemm);
  const Graph after = InferAndRun(g.Build(), FuseActivations);
  const Node* node = FindNode(after, "Clip");
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->inputs.size(), 3u)
      << "Clip lost its min/max inputs when the fusion was abandoned";
}

// --- RemoveDeadNodes ---------------------------------------------------------------------

// PyTorch's flatten: x.view(x.size(0), -1) exports as
// Shape -> Gather(0) -> Unsqueeze -> Concat([.., -1]) -> Reshape.
Graph ExporterReshape() {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 2, 2}));
  const int shape = g.Op("Shape", {x});
  const int n = g.Op("Gather", {shape, g.Constant("zero", test::Scalar<int64_t>(0))},
                     Attrs({{"axis", Int(0)}}));
  const int n1 = g.Op("Unsqueeze", {n, g.Constant("axes", test::Int64s({1}, {0}))});
  const int target = g.Op("Concat", {n1, g.Constant("minus_one", test::Int64s({1}, {-1}))},
                          Attrs({{"axis", Int(0)}}));
  g.Output(g.Op("Reshape", {x, target}));
  return g.Build();
}

TEST(RemoveDeadNodesTest, ExporterShapeSubgraphDisappears) {
  const Graph graph = ExporterReshape();
  SK_ASSERT_OK_AND_ASSIGN(auto plain, BuildSession(graph, test::Options(false)));
  EXPECT_EQ(plain->StepOpTypes(), (Steps{"Shape", "Gather", "Unsqueeze", "Concat", "Reshape"}));
  SK_ASSERT_OK_AND_ASSIGN(auto optimized, BuildSession(graph, test::Options(true)));
  EXPECT_EQ(optimized->StepOpTypes(), (Steps{"Reshape"}));
  EXPECT_EQ(SymShapeToString(optimized->outputs()[0].shape), "[N, 12]");
  EXPECT_TRUE(SameOutputsOptimized(graph, {1, 4, 0, 2}));
}

TEST(RemoveDeadNodesTest, UnusedBranchesAndTheirConstantsGo) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  const int unused_w = g.Constant("unused_w", RandomTensor({3, 3}, 40));
  g.Op("Sigmoid", {g.Op("MatMul", {x, unused_w})});
  const int shape_const = g.Constant("target", test::Int64s({3}, {0, 1, 3}));
  g.Output(g.Op("Reshape", {g.Op("Relu", {x}), shape_const}));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Relu", "Reshape"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
  const Graph after = InferAndRun(g.Build(), RemoveDeadNodes);
  EXPECT_EQ(after.nodes.size(), 2u);
  EXPECT_FALSE(after.values[unused_w].constant.has_value())
      << "a constant nothing reads is released";
  EXPECT_TRUE(after.values[shape_const].constant.has_value())
      << "load-time inputs stay for the kernels";
}

TEST(RemoveDeadNodesTest, FoldedBatchNormParametersAreReleased) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 4, 4}));
  const int conv = g.Op("Conv", {x, g.Constant("w", RandomTensor({2, 3, 1, 1}, 41))});
  const std::vector<int> params = BnParams(g, 2, 42);
  g.Output(g.Op("BatchNormalization", {conv, params[0], params[1], params[2], params[3]}));
  Graph graph = g.Build();
  SK_ASSERT_OK(InferGraph(graph));
  SK_ASSERT_OK(OptimizeGraph(graph));
  for (int id : params)
    EXPECT_FALSE(graph.values[id].constant.has_value()) << graph.values[id].name;
}

// --- The whole pipeline ------------------------------------------------------------------

Graph SmallCnn() {
  GraphBuilder g;
  const int x = g.Input("image", test::BatchShape({1, 3, 8, 8}));
  int h = g.Op("Conv",
               {x, g.Constant("w1", RandomTensor({8, 3, 3, 3}, 50)),
                g.Constant("b1", RandomTensor({8}, 51))},
               Conv3x3());
  h = g.Op("Relu", {AddBn(g, h, 8, 52)});
  h = g.Op("MaxPool", {h}, Attrs({{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}}));
  h = g.Op("Conv", {h, g.Constant("w2", RandomTensor({8, 1, 3, 3}, 53))}, Conv3x3(8));
  h = AddBn(g, h, 8, 54, Attrs({{"epsilon", Float(1e-3f)}}));
  h = g.Op("Clip", {h, g.Constant("lo", test::Scalar(0.0f)), g.Constant("hi", test::Scalar(6.0f))});
  h = g.Op("GlobalAveragePool", {h});
  h = g.Op("Flatten", {h});
  h = g.Op("MatMul", {h, g.Constant("w3", RandomTensor({8, 10}, 55))});
  h = g.Op("Add", {h, g.Constant("b3", RandomTensor({10}, 56))});
  h = g.Op("Relu", {h});
  h = g.Op("Dropout", {h});
  h = g.Op("Identity", {h});
  h = g.Op(
      "Gemm",
      {h, g.Constant("w4", RandomTensor({5, 10}, 57)), g.Constant("b4", RandomTensor({5}, 58))},
      Attrs({{"transB", Int(1)}}));
  g.Output(g.Op("Softmax", {h}, {}, "probabilities"));
  return g.Build();
}

// Whether this build's Conv kernel computes in NHWC (the channels-last pass
// then rewrites convolution chains; engine/passes/channels_last.cc).
bool ConvPrefersChannelsLast() { return OpRegistry::Global().Find("Conv")->prefers_channels_last; }

TEST(OptimizeGraphTest, SmallCnnIsFusedAndNumericallyUnchanged) {
  const Graph graph = SmallCnn();
  if (ConvPrefersChannelsLast()) {
    // One reorder into NHWC before the first convolution and one out after the
    // global pool (Flatten needs NCHW).
    EXPECT_EQ(OptimizedSteps(graph),
              (Steps{"Transpose", "Conv", "MaxPool", "Conv", "GlobalAveragePool", "Transpose",
                     "Flatten", "Gemm", "Gemm", "Softmax"}));
  } else {
    EXPECT_EQ(OptimizedSteps(graph), (Steps{"Conv", "MaxPool", "Conv", "GlobalAveragePool",
                                            "Flatten", "Gemm", "Gemm", "Softmax"}));
  }
  EXPECT_TRUE(SameOutputsOptimized(graph, {1, 2, 5, 0, 1}));
}

TEST(OptimizeGraphTest, KeepsInputsOutputsAndTopologicalOrder) {
  Graph graph = SmallCnn();
  SK_ASSERT_OK(InferGraph(graph));
  const std::vector<int> inputs = graph.inputs, outputs = graph.outputs;
  const std::string output_name = graph.values[outputs[0]].name;
  SK_ASSERT_OK(OptimizeGraph(graph));
  EXPECT_EQ(graph.inputs, inputs);
  EXPECT_EQ(graph.outputs, outputs);
  EXPECT_EQ(graph.values[graph.outputs[0]].name, output_name);
  // Every node input is a graph input, a constant, or written by an earlier node.
  std::vector<bool> available(graph.values.size(), false);
  for (int id : graph.inputs) available[id] = true;
  for (size_t id = 0; id < graph.values.size(); ++id)
    available[id] = available[id] || graph.values[id].constant.has_value();
  for (const Node& node : graph.nodes) {
    for (int id : node.inputs) {
      if (id >= 0) {
        EXPECT_TRUE(available[id])
            << node.Describe() << " reads '" << graph.values[id].name << "' too early";
      }
    }
    for (int id : node.outputs) available[id] = true;
  }
  for (int id : graph.outputs) EXPECT_TRUE(available[id]);
}

// --- SinkTransposes ----------------------------------------------------------------------

int TransposeOp(GraphBuilder& g, int x, std::vector<int64_t> perm) {
  return g.Op("Transpose", {x}, Attrs({{"perm", Ints(std::move(perm))}}));
}
const std::vector<int64_t> kToNchw = {0, 3, 1, 2}, kToNhwc = {0, 2, 3, 1};

int CountOps(const Steps& steps, const std::string& op) {
  return static_cast<int>(std::count(steps.begin(), steps.end(), op));
}

// What formats/savedmodel makes of an NHWC Conv2D + BiasAdd + Relu + MaxPool
// when Conv does not prefer channels-last (and what an NCHW export of a
// TensorFlow model looks like): a Transpose pair around each image op. Only
// the first and the last stay.
TEST(SinkTransposesTest, PairsBetweenImageOpsCancel) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 6, 6, 3}));
  const int conv = TransposeOp(
      g,
      g.Op("Conv", {TransposeOp(g, x, kToNchw), g.Constant("w", RandomTensor({4, 3, 3, 3}, 1))},
           Conv3x3()),
      kToNhwc);
  const int biased = g.Op("Add", {conv, g.Constant("b", RandomTensor({4}, 2))});
  const int relu = g.Op("Relu", {biased});
  const int pool = g.Op("MaxPool", {TransposeOp(g, relu, kToNchw)},
                        Attrs({{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}}));
  g.Output(TransposeOp(g, pool, kToNhwc));
  const Graph sunk = InferAndRun(g.graph(), SinkTransposes);
  EXPECT_EQ(std::count_if(sunk.nodes.begin(), sunk.nodes.end(),
                          [](const Node& n) { return n.op_type == "Transpose"; }),
            2);
  // With channels-last kernels the whole pipeline runs the model in NHWC, its
  // input's layout: no Transpose at all.
  const Steps steps = OptimizedSteps(g.graph());
  EXPECT_EQ(CountOps(steps, "Transpose"), ConvPrefersChannelsLast() ? 0 : 2)
      << testing::PrintToString(steps);
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

// What formats/savedmodel makes of a Keras 3 Conv2D block when Conv prefers
// channels-last: NHWC nodes with no Transposes, the bias (BiasAdd: [C]) and
// the inference batch norm (Mul and Add of [1,1,1,C] constants) after the
// Conv. Each is per channel on the last axis, so each folds into the Conv.
TEST(FoldBatchNormTest, PerChannelConstantsFoldIntoAnNhwcConv) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 6, 6, 3}));
  Attributes nhwc = Conv3x3();
  nhwc.Set(kImageLayoutAttribute, std::string("NHWC"));
  const int conv = g.Op("Conv", {x, g.Constant("w", RandomTensor({4, 3, 3, 3}, 1))}, nhwc);
  const int biased = g.Op("Add", {conv, g.Constant("b", RandomTensor({4}, 2))});
  const int scaled = g.Op("Mul", {g.Constant("a", RandomTensor({1, 1, 1, 4}, 3)), biased});
  const int shifted = g.Op("Add", {scaled, g.Constant("c", RandomTensor({1, 1, 4}, 4))});
  const int relu = g.Op("Relu", {shifted});
  Attributes pool = Attrs({{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}});
  pool.Set(kImageLayoutAttribute, std::string("NHWC"));
  g.Output(g.Op("MaxPool", {relu}, pool));
  EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Conv", "MaxPool"}));
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

// A constant as long as the channels but not on the last axis ([4, 1]: one
// value per column) is not a per-channel map of an NHWC Conv, nor is a
// [4, 1, 1] constant, which would be one of an NCHW Conv.
TEST(FoldBatchNormTest, ConstantsOnOtherAxesStayAfterAnNhwcConv) {
  for (const Shape& shape : {Shape{4, 1}, Shape{4, 1, 1}}) {
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 4, 4, 3}));
    Attributes nhwc = Conv3x3();
    nhwc.Set(kImageLayoutAttribute, std::string("NHWC"));
    const int conv = g.Op("Conv", {x, g.Constant("w", RandomTensor({4, 3, 3, 3}, 1))}, nhwc);
    g.Output(g.Op("Mul", {conv, g.Constant("k", RandomTensor(shape, 2))}));
    EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Conv", "Mul"})) << ShapeToString(shape);
    EXPECT_TRUE(SameOutputsOptimized(g.graph())) << ShapeToString(shape);
  }
}

// GlobalAveragePooling2D is Mean over axes 1, 2 of NHWC: over 2, 3 of NCHW,
// with [N, C] out in the same order, so no Transpose is left behind it.
TEST(SinkTransposesTest, ReductionsTakeTheTransposeAlong) {
  for (int64_t keepdims : {0, 1}) {
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 4, 5, 6}));  // NCHW
    const int nhwc = TransposeOp(g, g.Op("Relu", {x}), kToNhwc);
    g.Output(g.Op("ReduceMean", {nhwc, g.Constant("axes", test::Int64s({2}, {1, 2}))},
                  Attrs({{"keepdims", Int(keepdims)}})));
    const Steps steps = OptimizedSteps(g.graph());
    EXPECT_EQ(CountOps(steps, "Transpose"), keepdims ? 1 : 0) << testing::PrintToString(steps);
    EXPECT_TRUE(SameOutputsOptimized(g.graph())) << "keepdims " << keepdims;
  }
}

// Two NCHW branches joined in NHWC (Concat on channels, a residual Add, a
// constant multiplier of rank 4, Pad) and taken back to NCHW: no Transpose stays.
TEST(SinkTransposesTest, ConcatAddPadAndConstantsOfEveryRank) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 2, 4, 4}));
  const int a = TransposeOp(g, g.Op("Relu", {x}), kToNhwc);
  const int b = TransposeOp(g, g.Op("Sigmoid", {x}), kToNhwc);
  const int joined = g.Op("Concat", {a, b}, Attrs({{"axis", Int(-1)}}));
  const int scaled = g.Op("Mul", {joined, g.Constant("k", RandomTensor({1, 4, 1, 4}, 3))});
  const int summed = g.Op("Add", {scaled, g.Op("Concat", {b, a}, Attrs({{"axis", Int(3)}}))});
  const int padded =
      g.Op("Pad", {summed, g.Constant("pads", test::Int64s({8}, {0, 1, 0, 0, 0, 0, 2, 0}))});
  g.Output(TransposeOp(g, g.Op("Sub", {g.Constant("one", RandomTensor({}, 4)), padded}), kToNchw));
  const Steps steps = OptimizedSteps(g.graph());
  EXPECT_EQ(CountOps(steps, "Transpose"), 0) << testing::PrintToString(steps);
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

// A residual block on an NHWC input: the Add reads the input itself and the
// convolution's output; the graph transposes the input for the convolution
// anyway, so the Add takes that and the block runs NCHW throughout.
TEST(SinkTransposesTest, ResidualAddReusesTheInputsTranspose) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 5, 5, 3}));
  const int conv = TransposeOp(
      g,
      g.Op("Conv", {TransposeOp(g, x, kToNchw), g.Constant("w", RandomTensor({3, 3, 3, 3}, 1))},
           Conv3x3()),
      kToNhwc);
  const int sum = g.Op("Add", {x, conv});
  const int conv2 =
      g.Op("Conv", {TransposeOp(g, sum, kToNchw), g.Constant("w2", RandomTensor({2, 3, 3, 3}, 2))},
           Conv3x3());
  g.Output(TransposeOp(g, conv2, kToNhwc));
  const Graph sunk = InferAndRun(g.graph(), SinkTransposes);
  EXPECT_EQ(std::count_if(sunk.nodes.begin(), sunk.nodes.end(),
                          [](const Node& n) { return n.op_type == "Transpose"; }),
            2);
  const Steps steps = OptimizedSteps(g.graph());
  EXPECT_EQ(CountOps(steps, "Transpose"), ConvPrefersChannelsLast() ? 0 : 2)
      << testing::PrintToString(steps);
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

// A Transpose whose reader needs the layout (here Reshape) stays where it is.
TEST(SinkTransposesTest, StopsAtOpsThatNeedTheLayout) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 2, 3, 3}));
  const int nhwc = TransposeOp(g, x, kToNhwc);
  g.Output(
      g.Op("Reshape", {g.Op("Relu", {nhwc}), g.Constant("shape", test::Int64s({2}, {0, -1}))}));
  const Steps steps = OptimizedSteps(g.graph());
  EXPECT_EQ(CountOps(steps, "Transpose"), 1) << testing::PrintToString(steps);
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

// Reshapes and Transposes that move no element and give back the shape they
// started from are no-ops; one that reorders elements stays, even when the
// shape comes back.
TEST(RemoveIdentityNodesTest, ShapeRoundTripsGo) {
  {
    // A one-channel NHWC image reshaped to NCHW, then transposed back to NHWC.
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 5, 5, 1}));
    const int nchw =
        g.Op("Reshape", {g.Op("Relu", {x}), g.Constant("nchw", test::Int64s({4}, {-1, 1, 5, 5}))});
    g.Output(g.Op("Sigmoid", {TransposeOp(g, nchw, kToNhwc)}));
    EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Relu", "Sigmoid"}));
    EXPECT_TRUE(SameOutputsOptimized(g.graph()));
  }
  {
    // A Reshape to the shape it reads.
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 4, 3}));
    g.Output(g.Op(
        "Sigmoid",
        {g.Op("Reshape", {g.Op("Relu", {x}), g.Constant("same", test::Int64s({3}, {0, 4, 3}))})}));
    EXPECT_EQ(OptimizedSteps(g.graph()), (Steps{"Relu", "Sigmoid"}));
    EXPECT_TRUE(SameOutputsOptimized(g.graph()));
  }
  {
    // [N,2,3] -> [N,3,2] -> Transpose -> [N,2,3]: the shape comes back, the
    // order does not.
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 2, 3}));
    const int r =
        g.Op("Reshape", {g.Op("Relu", {x}), g.Constant("swap", test::Int64s({3}, {0, 3, 2}))});
    g.Output(g.Op("Sigmoid", {TransposeOp(g, r, {0, 2, 1})}));
    const Steps steps = OptimizedSteps(g.graph());
    EXPECT_EQ(CountOps(steps, "Reshape"), 1) << testing::PrintToString(steps);
    EXPECT_EQ(CountOps(steps, "Transpose"), 1) << testing::PrintToString(steps);
    EXPECT_TRUE(SameOutputsOptimized(g.graph()));
  }
}

// --- UseChannelsLast ----------------------------------------------------------------------

int CountLayout(const Graph& graph, const std::string& op_type) {
  int count = 0;
  for (const Node& n : graph.nodes) {
    if (n.op_type == op_type && n.attributes.Has("_layout")) ++count;
  }
  return count;
}

int CountTransposes(const Graph& graph) {
  return static_cast<int>(std::count_if(graph.nodes.begin(), graph.nodes.end(),
                                        [](const Node& n) { return n.op_type == "Transpose"; }));
}

// An NCHW residual network: the convolutions, their pools and the adds between
// them run in NHWC, with one reorder at each edge.
TEST(UseChannelsLastTest, ChainsRunInNHWCWithReordersAtTheEdges) {
  if (!ConvPrefersChannelsLast()) GTEST_SKIP() << "this build's Conv prefers NCHW";
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 4, 9, 9}));
  int h = g.Op("Relu", {g.Op("Conv",
                             {x, g.Constant("w1", RandomTensor({6, 4, 3, 3}, 1)),
                              g.Constant("b1", RandomTensor({6}, 2))},
                             Conv3x3())});
  h = g.Op("MaxPool", {h}, Attrs({{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}}));
  const int branch = g.Op("Conv", {h, g.Constant("w2", RandomTensor({6, 6, 3, 3}, 3))}, Conv3x3());
  h = g.Op("Relu", {g.Op("Add", {h, branch})});
  h = g.Op("AveragePool", {h},
           Attrs({{"kernel_shape", Ints({3, 3})},
                  {"pads", Ints({1, 1, 1, 1})},
                  {"count_include_pad", Int(1)}}));
  h = g.Op("Conv", {h, g.Constant("w3", RandomTensor({6, 1, 3, 3}, 4))}, Conv3x3(6));
  g.Output(g.Op("GlobalAveragePool", {h}));
  Graph graph = g.Build();
  SK_ASSERT_OK(InferGraph(graph));
  SK_ASSERT_OK(OptimizeGraph(graph));
  EXPECT_EQ(CountLayout(graph, "Conv"), 3);
  EXPECT_EQ(CountLayout(graph, "MaxPool"), 1);
  // It reads the residual Add of two NHWC values (through a Relu): NHWC too.
  EXPECT_EQ(CountLayout(graph, "AveragePool"), 1);
  EXPECT_EQ(CountTransposes(graph), 2);  // one at each edge
  EXPECT_TRUE(SameOutputsOptimized(g.graph(), {1, 3, 0, 2}));
}

// A batch norm after the ReLU (Keras's Conv2D(activation="relu") then
// BatchNormalization, exported as Mul and Add by per-channel constants) does
// not fold into the convolution; the pool after it runs in NHWC all the same,
// with no Transposes around it.
TEST(UseChannelsLastTest, PoolAfterABatchNormRunsInNHWC) {
  if (!ConvPrefersChannelsLast()) GTEST_SKIP() << "this build's Conv prefers NCHW";
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 10, 10}));
  int h = g.Op("Relu", {g.Op("Conv",
                             {x, g.Constant("w1", RandomTensor({8, 3, 3, 3}, 5)),
                              g.Constant("b1", RandomTensor({8}, 6))},
                             Conv3x3())});
  h = g.Op("Mul", {h, g.Constant("scale", RandomTensor({8, 1, 1}, 7))});
  h = g.Op("Add", {h, g.Constant("shift", RandomTensor({8, 1, 1}, 8))});
  h = g.Op("MaxPool", {h}, Attrs({{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}}));
  h = g.Op("Conv", {h, g.Constant("w2", RandomTensor({4, 8, 3, 3}, 9))}, Conv3x3());
  g.Output(g.Op("MaxPool", {h}, Attrs({{"kernel_shape", Ints({2, 2})}})));
  Graph graph = g.Build();
  SK_ASSERT_OK(InferGraph(graph));
  SK_ASSERT_OK(OptimizeGraph(graph));
  EXPECT_EQ(CountLayout(graph, "MaxPool"), 2);
  EXPECT_EQ(CountTransposes(graph), 2);  // the input's and the output's
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

// The same chain with the batch norm's output also a graph output: its
// restoring Transpose cannot move, so a pool behind it in NHWC would only add
// two more; the pool stays NCHW.
TEST(UseChannelsLastTest, PoolBehindAValueReadElsewhereStaysNCHW) {
  if (!ConvPrefersChannelsLast()) GTEST_SKIP() << "this build's Conv prefers NCHW";
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 10, 10}));
  int h = g.Op("Conv", {x, g.Constant("w1", RandomTensor({8, 3, 3, 3}, 11))}, Conv3x3());
  // The ReLU keeps the Mul from folding into the convolution.
  h = g.Op("Relu",
           {g.Op("Conv", {h, g.Constant("w2", RandomTensor({8, 8, 3, 3}, 12))}, Conv3x3())});
  const int normed = g.Op("Mul", {h, g.Constant("scale", RandomTensor({8, 1, 1}, 13))});
  g.Output(normed);
  g.Output(g.Op("MaxPool", {normed}, Attrs({{"kernel_shape", Ints({2, 2})}})));
  Graph graph = g.Build();
  SK_ASSERT_OK(InferGraph(graph));
  SK_ASSERT_OK(OptimizeGraph(graph));
  EXPECT_EQ(CountLayout(graph, "Conv"), 2);
  EXPECT_EQ(CountLayout(graph, "MaxPool"), 0);
  EXPECT_EQ(CountTransposes(graph), 2);  // the input's, and the one before the Mul's readers
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

// An exporter's Flatten of NCHW features: a Transpose to NHWC, then a Reshape
// whose shape a Shape subgraph computes. Once shape inference has folded that
// shape, the Shape node is dead; it must not keep the last pool's restoring
// Transpose in place, which cancels against the exporter's.
TEST(UseChannelsLastTest, DeadShapeReadersDoNotHoldTransposes) {
  if (!ConvPrefersChannelsLast()) GTEST_SKIP() << "this build's Conv prefers NCHW";
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 2, 8, 8}));
  int h = g.Op("Conv", {x, g.Constant("w1", RandomTensor({4, 2, 3, 3}, 10))}, Conv3x3());
  h = g.Op("MaxPool", {h}, Attrs({{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}}));
  const int batch = g.Op("Gather", {g.Op("Shape", {h}), g.Constant("zero", test::Int64s({1}, {0}))},
                         Attrs({{"axis", Int(0)}}));
  const int shape = g.Op("Concat", {batch, g.Constant("rest", test::Int64s({1}, {-1}))},
                         Attrs({{"axis", Int(0)}}));
  g.Output(g.Op("Reshape", {TransposeOp(g, h, kToNhwc), shape}));
  Graph graph = g.Build();
  SK_ASSERT_OK(InferGraph(graph));
  SK_ASSERT_OK(OptimizeGraph(graph));
  EXPECT_EQ(CountTransposes(graph), 1);  // the input's
  EXPECT_TRUE(SameOutputsOptimized(g.graph()));
}

// A lone convolution between NCHW neighbours gains nothing from NHWC (the
// Transposes would replace oneDNN's own reorders): the pass leaves it.
TEST(UseChannelsLastTest, LoneConvolutionStaysNCHW) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 6, 6}));
  g.Output(g.Op("Conv", {x, g.Constant("w", RandomTensor({4, 3, 3, 3}, 1))}, Conv3x3()));
  const Graph graph = InferAndRun(g.graph(), UseChannelsLast);
  EXPECT_EQ(CountLayout(graph, "Conv"), 0);
  EXPECT_EQ(graph.nodes.size(), 1u);
}

// Convolutions whose weights arrive at run time keep NCHW.
TEST(UseChannelsLastTest, RuntimeWeightsStayNCHW) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 6, 6}));
  const int w = g.Input("w", {Dim::Fixed(3), Dim::Fixed(3), Dim::Fixed(3), Dim::Fixed(3)});
  g.Output(g.Op("Conv", {g.Op("Conv", {x, w}, Conv3x3()), w}, Conv3x3()));
  const Graph graph = InferAndRun(g.graph(), UseChannelsLast);
  EXPECT_EQ(CountLayout(graph, "Conv"), 0);
}

}  // namespace
}  // namespace servekit
