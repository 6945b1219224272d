// InferGraph (engine/shape_inference.h): schema checks, topological order,
// cycles, symbolic batch shapes, shape values and constant folding.
#include "servekit/engine/shape_inference.h"

#include "test_util.h"

namespace servekit {
namespace {

using test::Attrs;
using test::GraphBuilder;
using test::Int;
using test::Ints;
using test::IsInvalid;
using test::RandomTensor;

std::string ShapeOf(const Graph& graph, int id) { return SymShapeToString(graph.values[id].shape); }

TEST(InferGraphTest, UnknownOperator) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  g.Output(g.Op("FancyOp", {x}, {}, "mystery"));
  Graph graph = g.Build();
  EXPECT_TRUE(
      IsInvalid(InferGraph(graph), {"node 'mystery' (FancyOp)", "unsupported operator 'FancyOp'"}));
}

TEST(InferGraphTest, InputAndOutputCounts) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  g.Output(g.Op("Add", {x}, {}, "add"));
  Graph graph = g.Build();
  EXPECT_TRUE(IsInvalid(InferGraph(graph), {"node 'add' (Add)", "has 1 inputs; expected 2 to 2"}));

  GraphBuilder h;
  const int y = h.Input("y", test::BatchShape({1, 3}));
  h.Node("Relu", {y}, 2, {}, "relu");
  Graph graph2 = h.Build();
  EXPECT_TRUE(
      IsInvalid(InferGraph(graph2), {"node 'relu' (Relu)", "has 2 outputs; expected 1 to 1"}));
}

TEST(InferGraphTest, MissingRequiredInput) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  g.Output(g.Op("Mul", {x, -1}, {}, "mul"));
  Graph graph = g.Build();
  EXPECT_TRUE(IsInvalid(InferGraph(graph), {"node 'mul' (Mul)", "required input 1 is missing"}));
}

TEST(InferGraphTest, UnknownAttribute) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  g.Output(g.Op("Softmax", {x}, Attrs({{"axsi", Int(1)}}), "sm"));
  Graph graph = g.Build();
  EXPECT_TRUE(IsInvalid(InferGraph(graph),
                        {"node 'sm' (Softmax)", "unknown attribute 'axsi'", "accepted: axis"}));
}

TEST(InferGraphTest, MistypedAttribute) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  g.Output(g.Op("Softmax", {x}, Attrs({{"axis", test::Str("last")}}), "sm"));
  Graph graph = g.Build();
  EXPECT_TRUE(IsInvalid(InferGraph(graph), {"attribute 'axis' must be of type int"}));
}

TEST(InferGraphTest, SortsNodesTopologically) {
  // Nodes listed consumers first.
  Graph graph;
  graph.opset = 18;
  const int x = graph.AddValue("x");
  graph.values[x].dtype = DType::kFloat32;
  graph.values[x].shape = test::BatchShape({1, 3});
  graph.values[x].typed = true;
  graph.inputs = {x};
  const int a = graph.AddValue("a"), b = graph.AddValue("b"), c = graph.AddValue("c");
  graph.nodes.push_back(Node{"third", "Sigmoid", {b}, {c}, {}});
  graph.nodes.push_back(Node{"second", "Tanh", {a}, {b}, {}});
  graph.nodes.push_back(Node{"first", "Relu", {x}, {a}, {}});
  graph.outputs = {c};
  SK_ASSERT_OK(InferGraph(graph));
  ASSERT_EQ(graph.nodes.size(), 3u);
  EXPECT_EQ(graph.nodes[0].name, "first");
  EXPECT_EQ(graph.nodes[1].name, "second");
  EXPECT_EQ(graph.nodes[2].name, "third");
  EXPECT_EQ(ShapeOf(graph, c), "[N, 3]");
  // And the sorted graph runs.
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(graph, test::Options()));
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({test::Floats({1, 3}, {-1, 0, 1})}));
  const auto expect = [](double v) { return 1 / (1 + std::exp(-std::tanh(std::max(v, 0.0)))); };
  EXPECT_TRUE(test::TensorNear(out[0], {1, 3}, {expect(-1), expect(0), expect(1)}));
}

TEST(InferGraphTest, CycleIsAnErrorNamingANodeOnIt) {
  Graph graph;
  graph.opset = 18;
  const int x = graph.AddValue("x");
  graph.values[x].dtype = DType::kFloat32;
  graph.values[x].shape = FixedShape({3});
  graph.values[x].typed = true;
  graph.inputs = {x};
  const int a = graph.AddValue("a"), b = graph.AddValue("b"), c = graph.AddValue("c");
  graph.nodes.push_back(Node{"start", "Relu", {x}, {a}, {}});
  graph.nodes.push_back(Node{"loop1", "Add", {a, c}, {b}, {}});
  graph.nodes.push_back(Node{"loop2", "Tanh", {b}, {c}, {}});
  graph.outputs = {c};
  const Status status = InferGraph(graph);
  EXPECT_TRUE(IsInvalid(status, {"cycle"}));
  EXPECT_TRUE(status.message().find("loop1") != absl::string_view::npos ||
              status.message().find("loop2") != absl::string_view::npos)
      << status;
}

TEST(InferGraphTest, SelfLoop) {
  Graph graph;
  graph.opset = 18;
  const int x = graph.AddValue("x");
  graph.values[x].dtype = DType::kFloat32;
  graph.values[x].shape = FixedShape({3});
  graph.values[x].typed = true;
  graph.inputs = {x};
  const int a = graph.AddValue("a");
  graph.nodes.push_back(Node{"self", "Add", {x, a}, {a}, {}});
  graph.outputs = {a};
  EXPECT_TRUE(IsInvalid(InferGraph(graph), {"node 'self' (Add)", "cycle"}));
}

TEST(InferGraphTest, InputWithoutType) {
  Graph graph;
  graph.opset = 18;
  const int x = graph.AddValue("x");  // neither an input, a constant nor produced
  const int y = graph.AddValue("y");
  graph.nodes.push_back(Node{"r", "Relu", {x}, {y}, {}});
  graph.outputs = {y};
  EXPECT_TRUE(IsInvalid(InferGraph(graph), {"node 'r' (Relu)", "input 'x' has no type"}));
}

TEST(InferGraphTest, OutputNeverComputed) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  g.Output(g.Op("Relu", {x}));
  const int orphan = g.graph().AddValue("orphan");
  g.Output(orphan);
  Graph graph = g.Build();
  EXPECT_TRUE(IsInvalid(InferGraph(graph), {"graph output 'orphan' is never computed"}));
}

TEST(InferGraphTest, ValuesTooLargeToRun) {
  GraphBuilder g;
  const int x = g.Input(
      "x", SymShape{Dim::Batch(), Dim::Fixed(int64_t{1} << 20), Dim::Fixed(int64_t{1} << 20)});
  g.Output(g.Op("Relu", {x}));
  Graph graph = g.Build();
  EXPECT_TRUE(
      IsInvalid(InferGraph(graph), {"value 'x'", "[N, 1048576, 1048576]", "too large to run"}));
}

TEST(InferGraphTest, NegativeDimsAreRejected) {
  GraphBuilder g;
  const int x = g.Input("x", SymShape{Dim::Batch(), Dim::Fixed(-2)});
  g.Output(g.Op("Relu", {x}));
  Graph graph = g.Build();
  EXPECT_TRUE(IsInvalid(InferGraph(graph), {"value 'x'", "negative dimension"}));
}

TEST(InferGraphTest, BatchDimPropagatesThroughACnn) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 8, 8}));
  const int conv = g.Op("Conv", {x, g.Constant("w", RandomTensor({16, 3, 3, 3}, 1))},
                        Attrs({{"strides", Ints({2, 2})}, {"pads", Ints({1, 1, 1, 1})}}));
  const int pool =
      g.Op("MaxPool", {conv}, Attrs({{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}}));
  const int flat = g.Op("Flatten", {pool});
  const int flat0 = g.Op("Flatten", {pool}, Attrs({{"axis", Int(0)}}));
  const int dense = g.Op("Gemm", {flat, g.Constant("w2", RandomTensor({10, 64}, 2))},
                         Attrs({{"transB", Int(1)}}));
  const int t = g.Op("Transpose", {pool}, Attrs({{"perm", Ints({2, 3, 0, 1})}}));
  const int mean = g.Op("ReduceMean", {pool}, Attrs({{"axes", Ints({0})}, {"keepdims", Int(0)}}));
  const int arg = g.Op("ArgMax", {dense}, Attrs({{"axis", Int(1)}, {"keepdims", Int(0)}}));
  for (int id : {dense, flat0, t, mean, arg}) g.Output(id);
  Graph graph = g.Build();
  SK_ASSERT_OK(InferGraph(graph));
  EXPECT_EQ(ShapeOf(graph, conv), "[N, 16, 4, 4]");
  EXPECT_EQ(ShapeOf(graph, pool), "[N, 16, 2, 2]");
  EXPECT_EQ(ShapeOf(graph, flat), "[N, 64]");
  EXPECT_EQ(ShapeOf(graph, flat0), "[1, 64*N]");
  EXPECT_EQ(ShapeOf(graph, dense), "[N, 10]");
  EXPECT_EQ(ShapeOf(graph, t), "[2, 2, N, 16]");
  EXPECT_EQ(ShapeOf(graph, mean), "[16, 2, 2]");
  EXPECT_EQ(ShapeOf(graph, arg), "[N]");
  EXPECT_EQ(graph.values[arg].dtype, DType::kInt64);
}

TEST(InferGraphTest, BatchTimesBatchIsRejected) {
  // [N, 3] x [3, N] = [N, N]: flattening it would need N * N.
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  const int xt = g.Op("Transpose", {x});
  const int nn = g.Op("MatMul", {x, xt});
  g.Output(g.Op("Flatten", {nn}, Attrs({{"axis", Int(0)}}), "flat"));
  Graph graph = g.Build();
  EXPECT_TRUE(IsInvalid(InferGraph(graph),
                        {"node 'flat' (Flatten)", "multiplies the batch dimension by itself"}));
}

TEST(InferGraphTest, ShapeValuesResolveExporterReshape) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 4}));
  const int shape = g.Op("Shape", {x});
  const int n = g.Op("Gather", {shape, g.Constant("i0", test::Scalar<int64_t>(0))});
  const int c = g.Op("Gather", {shape, g.Constant("i2", test::Scalar<int64_t>(2))});
  const int n1 = g.Op("Unsqueeze", {n, g.Constant("ax", test::Int64s({1}, {0}))});
  const int c1 = g.Op("Unsqueeze", {c, g.Constant("ax2", test::Int64s({1}, {0}))});
  const int target = g.Op("Concat", {n1, g.Constant("m1", test::Int64s({1}, {-1})), c1},
                          Attrs({{"axis", Int(0)}}));
  const int y = g.Op("Reshape", {x, target});
  g.Output(y);
  Graph graph = g.Build();
  SK_ASSERT_OK(InferGraph(graph));
  ASSERT_TRUE(graph.values[shape].shape_value.has_value());
  EXPECT_EQ(SymShapeToString(*graph.values[shape].shape_value), "[N, 3, 4]");
  EXPECT_EQ(SymShapeToString(*graph.values[target].shape_value), "[N, -1, 4]");
  EXPECT_EQ(ShapeOf(graph, y), "[N, 3, 4]");
  // The fixed part of the shape (dim 2) is folded into an ordinary constant.
  ASSERT_TRUE(graph.values[c].constant.has_value());
  EXPECT_EQ(test::Values<int64_t>(*graph.values[c].constant), (std::vector<int64_t>{4}));
  EXPECT_FALSE(graph.values[n].constant.has_value()) << "N is not known at load time";
}

TEST(InferGraphTest, ShapeArithmeticOnShapeValues) {
  // Reshape(x, [N * 2, C / 2]) built with Mul and Div on shape values.
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 6}));
  const int shape = g.Op("Shape", {x});
  const int mul = g.Op("Mul", {shape, g.Constant("k", test::Int64s({2}, {2, 1}))});
  const int div = g.Op("Div", {mul, g.Constant("d", test::Int64s({2}, {1, 2}))});
  const int y = g.Op("Reshape", {x, div});
  g.Output(y);
  Graph graph = g.Build();
  SK_ASSERT_OK(InferGraph(graph));
  EXPECT_EQ(SymShapeToString(*graph.values[div].shape_value), "[2*N, 3]");
  EXPECT_EQ(ShapeOf(graph, y), "[2*N, 3]");
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({RandomTensor({3, 6}, 1)}));
  EXPECT_EQ(out[0].shape(), (Shape{6, 3}));
}

// TensorFlow's Tensordot: [N, 3, 4] -> [N * 3, 4] with Prod over a slice of
// the int32 shape, Pack (Unsqueeze + Concat) and Reshape.
TEST(InferGraphTest, ProductsOfShapeValues) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 4}));
  const int shape = g.Op("Cast", {g.Op("Shape", {x})}, Attrs({{"to", Int(6)}}));  // int32
  const int free = g.Op("Gather", {shape, g.Constant("free", test::Int64s({2}, {0, 1}))});
  const int rows = g.Op("ReduceProd", {free, g.Constant("all", test::Int64s({1}, {0}))},
                        Attrs({{"keepdims", Int(0)}}));
  const int target = g.Op("Concat",
                          {g.Op("Unsqueeze", {rows, g.Constant("a0", test::Int64s({1}, {0}))}),
                           g.Constant("d", test::MakeTensor<int32_t>({1}, {4}))},
                          Attrs({{"axis", Int(0)}}));
  const int y = g.Op("Reshape", {x, g.Op("Cast", {target}, Attrs({{"to", Int(7)}}))});
  g.Output(y);
  Graph graph = g.Build();
  SK_ASSERT_OK(InferGraph(graph));
  EXPECT_EQ(SymShapeToString(*graph.values[rows].shape_value), "[3*N]");
  EXPECT_EQ(ShapeOf(graph, y), "[3*N, 4]");
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({RandomTensor({2, 3, 4}, 1)}));
  EXPECT_EQ(out[0].shape(), (Shape{6, 4}));
}

TEST(InferGraphTest, ConstantFolding) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 2}));
  const int a = g.Constant("a", test::Floats({2}, {1, 2}));
  const int b = g.Constant("b", test::Floats({2}, {3, 4}));
  const int sum = g.Op("Add", {a, b});
  const int t =
      g.Op("Transpose", {g.Op("Reshape", {sum, g.Constant("s", test::Int64s({2}, {2, 1}))})});
  const int y = g.Op("Mul", {x, t});
  g.Output(y);
  Graph graph = g.Build();
  SK_ASSERT_OK(InferGraph(graph));
  ASSERT_TRUE(graph.values[sum].constant.has_value());
  EXPECT_EQ(test::Values<float>(*graph.values[sum].constant), (std::vector<float>{4, 6}));
  ASSERT_TRUE(graph.values[t].constant.has_value());
  EXPECT_EQ(graph.values[t].constant->shape(), (Shape{1, 2}));
  EXPECT_FALSE(graph.values[y].constant.has_value());
}

TEST(InferGraphTest, ErrorsFromOpInference) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3, 8, 8}));
  g.Output(g.Op("Conv", {x, g.Constant("w", RandomTensor({4, 2, 3, 3}, 1))}, {}, "conv1"));
  Graph graph = g.Build();
  EXPECT_TRUE(IsInvalid(InferGraph(graph),
                        {"node 'conv1' (Conv)", "expect 2 input channels; the input has 3"}));
}

}  // namespace
}  // namespace servekit
