// Session (engine/session.h): input validation, batch sizes, outputs that are
// inputs or constants, fresh output buffers, errors, and concurrent Run calls.
#include "servekit/engine/session.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>

#include "test_util.h"

namespace servekit {
namespace {

using test::Attrs;
using test::GraphBuilder;
using test::Int;
using test::IsInvalid;
using test::RandomTensor;
using test::TensorNear;

// y = relu(x W1 + b1) W2 (+ softmax as a second output), x: [N, 4].
struct Mlp {
  Tensor w1 = RandomTensor({4, 8}, 1), b1 = RandomTensor({8}, 2), w2 = RandomTensor({8, 3}, 3);

  Graph Build() const {
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 4}));
    const int h = g.Op(
        "Relu", {g.Op("Add", {g.Op("MatMul", {x, g.Constant("w1", w1)}), g.Constant("b1", b1)})});
    const int logits = g.Op("MatMul", {h, g.Constant("w2", w2)}, {}, "logits");
    g.Output(logits);
    g.Output(g.Op("Softmax", {logits}, {}, "probs"));
    return g.Build();
  }

  // Reference logits and probabilities, in double.
  void Reference(const Tensor& x_t, std::vector<double>* logits, std::vector<double>* probs) const {
    const std::vector<double> x = test::AsDoubles(x_t), a = test::AsDoubles(w1),
                              b = test::AsDoubles(b1), c = test::AsDoubles(w2);
    const int64_t n = x_t.dim(0);
    logits->assign(n * 3, 0.0);
    probs->assign(n * 3, 0.0);
    for (int64_t i = 0; i < n; ++i) {
      double h[8];
      for (int j = 0; j < 8; ++j) {
        double s = b[j];
        for (int k = 0; k < 4; ++k) s += x[i * 4 + k] * a[k * 8 + j];
        h[j] = s > 0 ? s : 0;
      }
      double max = -1e300, sum = 0;
      for (int j = 0; j < 3; ++j) {
        double s = 0;
        for (int k = 0; k < 8; ++k) s += h[k] * c[k * 3 + j];
        (*logits)[i * 3 + j] = s;
        max = std::max(max, s);
      }
      for (int j = 0; j < 3; ++j) sum += std::exp((*logits)[i * 3 + j] - max);
      for (int j = 0; j < 3; ++j) (*probs)[i * 3 + j] = std::exp((*logits)[i * 3 + j] - max) / sum;
    }
  }

  ::testing::AssertionResult Check(const std::vector<Tensor>& out, const Tensor& x) const {
    if (out.size() != 2) return ::testing::AssertionFailure() << out.size() << " outputs";
    std::vector<double> logits, probs;
    Reference(x, &logits, &probs);
    const int64_t n = x.dim(0);
    auto a = TensorNear(out[0], {n, 3}, logits, test::kRtol, test::kAtolSum);
    if (!a) return a << " (logits)";
    auto b = TensorNear(out[1], {n, 3}, probs, test::kRtol, test::kAtolSum);
    if (!b) return b << " (probs)";
    return ::testing::AssertionSuccess();
  }
};

std::unique_ptr<Session> Load(Graph graph, int threads = 1) {
  auto session = BuildSession(std::move(graph), test::Options(true, threads));
  EXPECT_TRUE(session.ok()) << session.status();
  return session.ok() ? *std::move(session) : nullptr;
}

TEST(SessionTest, Signature) {
  auto session = Load(Mlp().Build());
  ASSERT_NE(session, nullptr);
  ASSERT_EQ(session->inputs().size(), 1u);
  EXPECT_EQ(session->inputs()[0].name, "x");
  EXPECT_EQ(session->inputs()[0].dtype, DType::kFloat32);
  EXPECT_EQ(SymShapeToString(session->inputs()[0].shape), "[N, 4]");
  ASSERT_EQ(session->outputs().size(), 2u);
  EXPECT_EQ(session->outputs()[0].name, "logits_out");
  EXPECT_EQ(session->outputs()[1].name, "probs_out");
  EXPECT_EQ(SymShapeToString(session->outputs()[1].shape), "[N, 3]");
  EXPECT_EQ(session->StepOpTypes(), (std::vector<std::string>{"Gemm", "MatMul", "Softmax"}));
  EXPECT_EQ(session->num_steps(), 3);
}

TEST(SessionTest, RunProfiledMatchesRun) {
  const Mlp mlp;
  auto session = Load(mlp.Build());
  ASSERT_NE(session, nullptr);
  const std::vector<std::string> descriptions = session->StepDescriptions();
  ASSERT_EQ(descriptions.size(), 3u);
  EXPECT_EQ(descriptions[1], "node 'logits' (MatMul)");
  EXPECT_EQ(descriptions[2], "node 'probs' (Softmax)");
  std::vector<double> micros;
  for (int64_t batch : {4, 0, 2}) {
    const Tensor x = RandomTensor({batch, 4}, 50 + static_cast<uint32_t>(batch));
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->RunProfiled({x}, micros));
    EXPECT_TRUE(mlp.Check(out, x)) << "batch " << batch;
    ASSERT_EQ(micros.size(), 3u);
    for (double m : micros) EXPECT_GE(m, 0.0);
  }
  EXPECT_FALSE(session->RunProfiled({test::Floats({1, 2}, {1, 2})}, micros).ok());
}

TEST(SessionTest, BatchSizesZeroOneAndChanging) {
  const Mlp mlp;
  auto session = Load(mlp.Build());
  ASSERT_NE(session, nullptr);
  uint32_t seed = 10;
  for (int64_t batch : {1, 0, 7, 1, 3, 0, 7, 64, 2}) {
    const Tensor x = RandomTensor({batch, 4}, ++seed);
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({x}));
    EXPECT_TRUE(mlp.Check(out, x)) << "batch " << batch;
  }
}

TEST(SessionTest, InputValidationMessages) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  const int y = g.Input("y", DType::kInt64, test::BatchShape({1, 2}));
  g.Output(g.Op("Relu", {x}));
  g.Output(g.Op("Identity", {y}));
  auto session = Load(g.Build());
  ASSERT_NE(session, nullptr);
  const Tensor good_x = RandomTensor({2, 3}, 1);
  const Tensor good_y = test::Int64s({2, 2}, {1, 2, 3, 4});

  EXPECT_TRUE(IsInvalid(session->Run({good_x}).status(), {"the model takes 2 inputs; got 1"}));
  EXPECT_TRUE(
      IsInvalid(session->Run({good_x, good_y, good_y}).status(), {"takes 2 inputs; got 3"}));
  EXPECT_TRUE(IsInvalid(session->Run({}).status(), {"takes 2 inputs; got 0"}));
  EXPECT_TRUE(IsInvalid(session->Run({good_y, good_y}).status(),
                        {"input 'x' expects dtype float32; got int64"}));
  EXPECT_TRUE(IsInvalid(session->Run({good_x, RandomTensor({2, 2}, 2)}).status(),
                        {"input 'y' expects dtype int64; got float32"}));
  EXPECT_TRUE(IsInvalid(session->Run({RandomTensor({2, 4}, 3), good_y}).status(),
                        {"input 'x' expects shape [N, 3]",
                         "N = batch size, the same for every input", "got [2, 4]"}));
  EXPECT_TRUE(IsInvalid(session->Run({RandomTensor({6}, 3), good_y}).status(),
                        {"input 'x' expects shape [N, 3]", "got [6]"}));
  EXPECT_TRUE(
      IsInvalid(session->Run({RandomTensor({2, 3, 1}, 3), good_y}).status(), {"got [2, 3, 1]"}));
  // Both inputs carry N; they must agree.
  EXPECT_TRUE(IsInvalid(session->Run({good_x, test::Int64s({3, 2}, {1, 2, 3, 4, 5, 6})}).status(),
                        {"input 'y' expects shape [N, 2]", "got [3, 2]"}));
  // A valid call after all the invalid ones.
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({good_x, good_y}));
  EXPECT_TRUE(test::TensorsEqual(out[1], good_y));
}

TEST(SessionTest, NegativeDimsInAnInputAreRejected) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  g.Output(g.Op("Relu", {x}));
  auto session = Load(g.Build());
  ASSERT_NE(session, nullptr);
  float data[6] = {};
  const Status status = session->Run({Tensor::View(DType::kFloat32, {-2, 3}, data)}).status();
  EXPECT_TRUE(IsInvalid(status, {"negative dimension"})) << status;
  SK_ASSERT_OK(session->Run({Tensor::View(DType::kFloat32, {2, 3}, data)}).status());
}

TEST(SessionTest, BatchFactorInputs) {
  // An input declared [2*N, 3] must have an even first dim, matching the other input's N.
  GraphBuilder g;
  const int x = g.Input("x", SymShape{Dim::Batch(2), Dim::Fixed(3)});
  const int y = g.Input("y", test::BatchShape({1, 3}));
  g.Output(g.Op("Relu", {x}));
  g.Output(g.Op("Relu", {y}));
  auto session = Load(g.Build());
  ASSERT_NE(session, nullptr);
  SK_ASSERT_OK_AND_ASSIGN(auto out,
                          session->Run({RandomTensor({4, 3}, 1), RandomTensor({2, 3}, 2)}));
  EXPECT_EQ(out[0].shape(), (Shape{4, 3}));
  EXPECT_TRUE(IsInvalid(session->Run({RandomTensor({3, 3}, 1), RandomTensor({2, 3}, 2)}).status(),
                        {"input 'x' expects shape [2*N, 3]", "got [3, 3]"}));
  EXPECT_TRUE(IsInvalid(session->Run({RandomTensor({4, 3}, 1), RandomTensor({3, 3}, 2)}).status(),
                        {"input 'y' expects shape [N, 3]"}));
}

TEST(SessionTest, FixedShapeModel) {
  GraphBuilder g;
  const int x = g.Input("x", FixedShape({2, 2}));
  g.Output(g.Op("Mul", {x, g.Constant("k", test::Scalar(3.0f))}));
  auto session = Load(g.Build());
  ASSERT_NE(session, nullptr);
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({test::Floats({2, 2}, {1, 2, 3, 4})}));
  EXPECT_TRUE(TensorNear(out[0], {2, 2}, {3, 6, 9, 12}));
  EXPECT_TRUE(
      IsInvalid(session->Run({test::Floats({1, 2}, {1, 2})}).status(), {"expects shape [2, 2]"}));
}

TEST(SessionTest, InputsAreReadInPlaceFromViews) {
  const Mlp mlp;
  auto session = Load(mlp.Build());
  ASSERT_NE(session, nullptr);
  std::vector<float> buffer(5 * 4);
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = std::sin(static_cast<float>(i));
  const Tensor view = Tensor::View(DType::kFloat32, {5, 4}, buffer.data());
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({view}));
  EXPECT_TRUE(mlp.Check(out, view));
}

TEST(SessionTest, OutputThatIsAnInput) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  g.Output(x);
  g.Output(g.Op("Relu", {x}));
  auto session = Load(g.Build());
  ASSERT_NE(session, nullptr);
  EXPECT_EQ(session->outputs()[0].name, "x");
  for (int64_t batch : {2, 0, 1}) {
    Tensor in = RandomTensor({batch, 3}, 5 + static_cast<uint32_t>(batch));
    const std::vector<double> original = test::AsDoubles(in);
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
    EXPECT_TRUE(TensorNear(out[0], {batch, 3}, original, 0, 0));
    if (batch > 0) {
      EXPECT_NE(out[0].raw_data(), in.raw_data())
          << "the output must be a copy, not the caller's buffer";
      in.data<float>()[0] = 1234.0f;
      EXPECT_EQ(out[0].data<float>()[0], static_cast<float>(original[0]));
    }
  }
}

TEST(SessionTest, OutputThatIsAConstant) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 2}));
  const Tensor table = test::Floats({3}, {1, 2, 3});
  g.Output(g.Op("Relu", {x}));
  g.Output(g.Constant("table", table));
  auto session = Load(g.Build());
  ASSERT_NE(session, nullptr);
  for (int run = 0; run < 3; ++run) {
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({RandomTensor({2, 2}, 6)}));
    ASSERT_EQ(out.size(), 2u);
    EXPECT_TRUE(test::TensorsEqual(out[1], table)) << "run " << run;
    out[1].data<float>()[0] =
        -99.0f;  // the caller owns its copy; the model's constant is untouched
  }
}

TEST(SessionTest, OutputThatIsAFoldedConstant) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 2}));
  g.Output(g.Op("Relu", {x}));
  g.Output(g.Op("Add", {g.Constant("a", test::Floats({2}, {1, 2})),
                        g.Constant("b", test::Floats({2}, {10, 20}))}));
  auto session = Load(g.Build());
  ASSERT_NE(session, nullptr);
  EXPECT_EQ(session->StepOpTypes(), (std::vector<std::string>{"Relu"}));
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({RandomTensor({2, 2}, 7)}));
  EXPECT_TRUE(TensorNear(out[1], {2}, {11, 22}));
}

TEST(SessionTest, IntermediateThatIsAlsoAnOutput) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 3}));
  const int h = g.Op("Mul", {x, g.Constant("two", test::Scalar(2.0f))});
  const int y = g.Op("Sub", {g.Op("Relu", {h}), x});
  g.Output(y);
  g.Output(h);
  auto session = Load(g.Build());
  ASSERT_NE(session, nullptr);
  for (int64_t batch : {3, 1, 0}) {
    const Tensor in = RandomTensor({batch, 3}, 8);
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
    std::vector<double> ey, eh;
    for (double v : test::AsDoubles(in)) {
      eh.push_back(2 * v);
      ey.push_back(std::max(2 * v, 0.0) - v);
    }
    EXPECT_TRUE(TensorNear(out[0], {batch, 3}, ey));
    EXPECT_TRUE(TensorNear(out[1], {batch, 3}, eh));
  }
}

TEST(SessionTest, SameValueListedTwiceAsOutput) {
  SK_EXPECT_IN_SUBPROCESS([] {
    GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 3}));
    const int r = g.Op("Relu", {x});
    g.Output(r);
    g.Output(r);
    auto session = BuildSession(g.Build(), test::Options());
    if (!session.ok()) {
      std::fprintf(stderr, "load failed: %s\n", std::string(session.status().message()).c_str());
      return false;
    }
    const Tensor in = test::Floats({2, 3}, {-1, 2, -3, 4, -5, 6});
    auto out = (*session)->Run({in});
    if (!out.ok()) {
      std::fprintf(stderr, "run failed: %s\n", std::string(out.status().message()).c_str());
      return false;
    }
    const std::vector<float> expected = {0, 2, 0, 4, 0, 6};
    return out->size() == 2 && test::Values<float>((*out)[0]) == expected &&
           test::Values<float>((*out)[1]) == expected;
  });
}

TEST(SessionTest, OutputsAreFreshBuffersEachRun) {
  const Mlp mlp;
  auto session = Load(mlp.Build());
  ASSERT_NE(session, nullptr);
  const Tensor x1 = RandomTensor({3, 4}, 20), x2 = RandomTensor({3, 4}, 21);
  SK_ASSERT_OK_AND_ASSIGN(auto out1, session->Run({x1}));
  SK_ASSERT_OK_AND_ASSIGN(auto out2, session->Run({x2}));
  EXPECT_NE(out1[0].raw_data(), out2[0].raw_data());
  EXPECT_TRUE(out1[0].is_owner());
  EXPECT_TRUE(mlp.Check(out1, x1)) << "the first results were overwritten by the second run";
  EXPECT_TRUE(mlp.Check(out2, x2));
}

TEST(SessionTest, KernelErrorNamesTheNodeAndTheSessionRecovers) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 4}));
  const int idx = g.Input("idx", DType::kInt64, FixedShape({1}));
  const int h = g.Op("Relu", {x});
  const int picked = g.Op("Gather", {h, idx}, Attrs({{"axis", Int(1)}}), "pick");
  g.Output(g.Op("Sigmoid", {picked}));
  auto session = Load(g.Build());
  ASSERT_NE(session, nullptr);
  const Tensor in = test::Floats({2, 4}, {1, -2, 3, -4, 5, -6, 7, -8});
  for (int round = 0; round < 2; ++round) {
    EXPECT_TRUE(IsInvalid(session->Run({in, test::Int64s({1}, {9})}).status(),
                          {"node 'pick' (Gather)", "index 9 is out of range"}));
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in, test::Int64s({1}, {2})}));
    EXPECT_TRUE(TensorNear(out[0], {2, 1}, {1 / (1 + std::exp(-3.0)), 1 / (1 + std::exp(-7.0))}));
  }
}

TEST(SessionTest, ModelWithoutSteps) {
  // Every output is an input or a constant: nothing runs.
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 2}));
  g.Output(x);
  g.Output(g.Constant("c", test::Scalar(5.0f)));
  auto session = Load(g.Build());
  ASSERT_NE(session, nullptr);
  EXPECT_EQ(session->num_steps(), 0);
  const Tensor in = test::Floats({1, 2}, {7, 8});
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
  EXPECT_TRUE(test::TensorsEqual(out[0], in));
  EXPECT_TRUE(TensorNear(out[1], {}, {5}));
}

TEST(SessionTest, TooLargeBatchIsRefused) {
  // The working memory for this batch would exceed the per-request limit.
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 1}));
  const int big = g.Op("MatMul", {x, g.Constant("w", RandomTensor({1, 1 << 16}, 1))});
  g.Output(g.Op("ReduceMean", {big}, Attrs({{"axes", test::Ints({1})}})));
  auto session = Load(g.Build());
  ASSERT_NE(session, nullptr);
  // 2^17 rows * 2^16 floats * 4 bytes = 32 GiB of intermediate; the input itself is 512 KiB.
  const Tensor in = test::Floats({1 << 17, 1}, std::vector<float>(1 << 17, 1.0f));
  const Status status = session->Run({in}).status();
  EXPECT_TRUE(test::IsError(status, absl::StatusCode::kResourceExhausted, {"working memory"}))
      << status;
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({test::Floats({2, 1}, {1, 2})}));
  EXPECT_EQ(out[0].shape(), (Shape{2, 1}));
}

// A small model file can describe a huge batch-1 output (found by the ONNX
// fuzzer: a MatMul with K = 0 against a 9-d initializer holding no values
// yields 774M floats per row). The cap is configurable so that a process
// with less memory than the default 16 GiB (the fuzzer) refuses such a run.
TEST(SessionTest, MaxRequestBytesBoundsOutputsAndWorkingMemory) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 1}));
  const int wide =
      g.Op("MatMul", {x, g.Constant("w", RandomTensor({1, 1 << 16}, 1))});  // [N, 2^16]
  g.Output(g.Op("ReduceMean", {wide}, Attrs({{"axes", test::Ints({1})}})));
  g.Output(wide);
  LoadOptions options = test::Options(true, 1);
  options.session.max_request_bytes = size_t{1} << 20;
  SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), options));
  // 2 rows: 512 KiB of output; 4 rows: 1 MiB of output plus the reduced one.
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({test::Floats({2, 1}, {1, 2})}));
  const Status status = session->Run({test::Floats({4, 1}, {1, 2, 3, 4})}).status();
  EXPECT_TRUE(
      test::IsError(status, absl::StatusCode::kResourceExhausted, {"1 MiB of working memory"}))
      << status;
}

// Found by the ONNX fuzzer: a MatMul whose output has no elements still looped
// over its broadcast batch dims, one empty GEMM each. Here 2^30 of them (6.6 s
// per request before the fix, in a release build; ONNX files can reach 2^31 per
// MatMul), from a weight that holds no values. Empty outputs now run nothing.
TEST(SessionTest, ReshapesShareTheirInputsBuffer) {
  // out = reshape(relu(x)) + sigmoid(flatten(reshape(tanh(x)))): the views of
  // relu(x) must keep its buffer alive while tanh and sigmoid compute, and a
  // view whose input is the graph input, or whose output is a graph output,
  // is a copy.
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 4, 6}));
  const int to_2d = g.Constant("to_2d", test::Int64s({2}, {0, 24}));
  const int relu_2d = g.Op("Reshape", {g.Op("Relu", {x}), to_2d}, {}, "relu_2d");
  const int tanh_3d =
      g.Op("Reshape", {g.Op("Tanh", {x}), g.Constant("to_3d", test::Int64s({3}, {0, 2, 12}))}, {},
           "tanh_3d");
  const int tanh_2d = g.Op("Flatten", {tanh_3d}, Attrs({{"axis", Int(1)}}), "tanh_2d");
  g.Output(g.Op("Add", {relu_2d, g.Op("Sigmoid", {tanh_2d})}));
  g.Output(g.Op("Reshape", {x, to_2d}, {}, "input_2d"));
  g.Output(g.Op("Reshape", {g.Op("Neg", {x}), to_2d}, {}, "negated_2d"));
  auto session = Load(g.Build());
  ASSERT_NE(session, nullptr);
  const std::vector<std::string> steps = session->StepDescriptions();
  std::vector<double> micros;
  for (int64_t batch : {3, 1, 0, 5}) {
    const Tensor in = RandomTensor({batch, 4, 6}, 60 + static_cast<uint32_t>(batch), -2.0f, 2.0f);
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->RunProfiled({in}, micros));
    const std::vector<double> v = test::AsDoubles(in);
    std::vector<double> sum, negated;
    for (double e : v) {
      sum.push_back(std::max(e, 0.0) + 1.0 / (1.0 + std::exp(-std::tanh(e))));
      negated.push_back(-e);
    }
    EXPECT_TRUE(TensorNear(out[0], {batch, 24}, sum)) << "batch " << batch;
    EXPECT_TRUE(TensorNear(out[1], {batch, 24}, v)) << "batch " << batch;
    EXPECT_TRUE(TensorNear(out[2], {batch, 24}, negated)) << "batch " << batch;
    EXPECT_NE(out[1].raw_data(), in.raw_data()) << "an output never aliases an input";
  }
  // The views between arena values are skipped (no time recorded); the others ran.
  for (size_t s = 0; s < steps.size(); ++s) {
    const std::string& step = steps[s];
    if (step == "node 'relu_2d' (Reshape)" || step == "node 'tanh_3d' (Reshape)" ||
        step == "node 'tanh_2d' (Flatten)") {
      EXPECT_EQ(micros[s], 0.0) << step;
    } else {
      EXPECT_GT(micros[s], 0.0) << step;
    }
  }
}

TEST(SessionTest, StepWithEmptyOutputsCostsNothing) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 0}));  // [N, 0]
  const Shape weight = {1 << 10, 1 << 10, 1 << 10, 0, 0};
  g.Output(g.Op("MatMul", {x, g.Constant("w", RandomTensor(weight, 1))}));
  auto session = Load(g.Build());
  ASSERT_NE(session, nullptr);
  const auto start = std::chrono::steady_clock::now();
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({test::Floats({1, 0}, {})}));
  EXPECT_EQ(out[0].shape(), (Shape{1 << 10, 1 << 10, 1 << 10, 1, 0}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// One request with a huge batch must not leave its working memory resident
// until the version unloads: the context gives back an arena above 256 MiB.
TEST(SessionTest, WorkingMemoryOfAHugeBatchIsGivenBack) {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 1}));
  const int wide = g.Op("MatMul", {x, g.Constant("w", RandomTensor({1, 1024}, 1))});
  g.Output(g.Op("ReduceMean", {g.Op("Relu", {wide})}, Attrs({{"axes", test::Ints({1})}})));
  auto session = Load(g.Build());
  ASSERT_NE(session, nullptr);
  SK_ASSERT_OK_AND_ASSIGN(auto small, session->Run({test::Floats({2, 1}, {1, 2})}));
  const int64_t before = ResidentBytes();
  {
    // 2^17 rows x 1024 floats: 512 MiB for each of two intermediates.
    const Tensor in = test::Floats({1 << 17, 1}, std::vector<float>(1 << 17, 1.0f));
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
    EXPECT_EQ(out[0].shape(), (Shape{1 << 17, 1}));
  }
  EXPECT_LT(ResidentBytes() - before, int64_t{64} << 20);
  SK_ASSERT_OK_AND_ASSIGN(auto again, session->Run({test::Floats({2, 1}, {1, 2})}));
  EXPECT_TRUE(test::TensorsEqual(again[0], small[0]));
}

// --- Concurrency ---------------------------------------------------------------------------

Graph SmallConvNet() {
  GraphBuilder g;
  const int x = g.Input("x", test::BatchShape({1, 2, 6, 6}));
  int h = g.Op(
      "Conv",
      {x, g.Constant("w", RandomTensor({4, 2, 3, 3}, 30)), g.Constant("b", RandomTensor({4}, 31))},
      Attrs({{"pads", test::Ints({1, 1, 1, 1})}}));
  h = g.Op("Relu", {h});
  h = g.Op("MaxPool", {h},
           Attrs({{"kernel_shape", test::Ints({2, 2})}, {"strides", test::Ints({2, 2})}}));
  h = g.Op("Flatten", {h});
  h = g.Op("Gemm", {h, g.Constant("w2", RandomTensor({36, 5}, 32)),
                    g.Constant("b2", RandomTensor({5}, 33))});
  g.Output(g.Op("Softmax", {h}));
  return g.Build();
}

TEST(SessionConcurrencyTest, ManyThreadsDifferentBatchSizes) {
  const Mlp mlp;
  for (int intra_op_threads : {1, 2}) {
    auto session = Load(mlp.Build(), intra_op_threads);
    ASSERT_NE(session, nullptr);
    // Inputs prepared up front; each thread cycles through batch sizes.
    const std::vector<int64_t> batches = {1, 5, 0, 16, 3, 2, 9};
    std::vector<Tensor> inputs;
    for (size_t i = 0; i < batches.size(); ++i)
      inputs.push_back(RandomTensor({batches[i], 4}, 100 + static_cast<uint32_t>(i)));
    constexpr int kThreads = 8, kRuns = 60;
    std::atomic<int> failures{0};
    std::vector<std::string> first_error(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int r = 0; r < kRuns; ++r) {
          const Tensor& x = inputs[(t + r) % inputs.size()];
          auto out = session->Run({x});
          ::testing::AssertionResult ok =
              out.ok() ? mlp.Check(*out, x) : ::testing::AssertionFailure() << out.status();
          if (!ok) {
            if (failures.fetch_add(1) == 0 || first_error[t].empty()) {
              first_error[t] =
                  absl::StrCat("thread ", t, " run ", r, " batch ", x.dim(0), ": ", ok.message());
            }
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0) << intra_op_threads << " intra-op threads";
    for (const std::string& e : first_error) {
      if (!e.empty()) ADD_FAILURE() << e;
    }
  }
}

TEST(SessionConcurrencyTest, ConvNetMatchesSerialResults) {
  // Expected values from a separately built, unoptimised session run serially.
  SK_ASSERT_OK_AND_ASSIGN(auto reference, BuildSession(SmallConvNet(), test::Options(false)));
  auto session = Load(SmallConvNet());
  ASSERT_NE(session, nullptr);
  const std::vector<int64_t> batches = {2, 1, 4, 0, 3};
  std::vector<Tensor> inputs, expected;
  for (size_t i = 0; i < batches.size(); ++i) {
    inputs.push_back(RandomTensor({batches[i], 2, 6, 6}, 200 + static_cast<uint32_t>(i)));
    SK_ASSERT_OK_AND_ASSIGN(auto out, reference->Run({inputs.back()}));
    expected.push_back(out[0]);
  }
  constexpr int kThreads = 6, kRuns = 40;
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRuns && errors[t].empty(); ++r) {
        const size_t i = (t * 7 + r) % inputs.size();
        auto out = session->Run({inputs[i]});
        if (!out.ok()) {
          errors[t] = std::string(out.status().message());
          continue;
        }
        auto near = test::TensorsClose((*out)[0], expected[i], test::kRtol, test::kAtolSum);
        if (!near) errors[t] = absl::StrCat("batch ", batches[i], ": ", near.message());
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_TRUE(errors[t].empty()) << "thread " << t << ": " << errors[t];
}

}  // namespace
}  // namespace servekit
