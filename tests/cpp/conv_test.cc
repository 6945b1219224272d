// Conv kernel (kernels/conv.cc): 2-D NCHW convolution against a direct
// reference, over kernel sizes, strides, dilations, explicit and automatic
// padding, groups and depthwise convolutions (with a depth multiplier).
#include <string>

#include "servekit/engine/activation.h"
#include "test_util.h"

#ifdef SERVEKIT_WITH_ONEDNN
#include "servekit/kernels/onednn/onednn_conv.h"
#endif

namespace servekit {
namespace {

using test::Attrs;
using test::BatchFeed;
using test::Const;
using test::Feed;
using test::Int;
using test::Ints;
using test::IsInvalid;
using test::kAtolSum;
using test::kRtol;
using test::RandomTensor;
using test::RunOp1;
using test::Str;
using test::TensorNear;

struct ConvCase {
  std::string name;
  int64_t channels, height, width, filters, kernel_h, kernel_w;
  int64_t stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  std::vector<int64_t> pads = {0, 0, 0, 0};  // top, left, bottom, right
  int64_t group = 1;
  std::string auto_pad = "";  // empty: attribute absent
  bool kernel_shape_attr = false;
};

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

// Pads that ONNX's auto_pad implies, computed independently of the engine.
std::vector<int64_t> AutoPads(const ConvCase& c) {
  if (c.auto_pad != "SAME_UPPER" && c.auto_pad != "SAME_LOWER") return {0, 0, 0, 0};
  return test::SamePads(c.auto_pad, c.height, c.width, c.stride_h, c.stride_w, c.kernel_h,
                        c.kernel_w, c.dilation_h, c.dilation_w);
}

// Direct convolution in double.
std::vector<double> RefConv(const ConvCase& c, const Tensor& x_t, const Tensor& w_t,
                            const Tensor* b_t, Shape* out_shape) {
  const std::vector<int64_t> pads =
      c.auto_pad.empty() || c.auto_pad == "NOTSET" ? c.pads : AutoPads(c);
  const int64_t n = x_t.dim(0), C = c.channels, H = c.height, W = c.width, M = c.filters;
  const int64_t eh = (c.kernel_h - 1) * c.dilation_h + 1, ew = (c.kernel_w - 1) * c.dilation_w + 1;
  const int64_t oh = (H + pads[0] + pads[2] - eh) / c.stride_h + 1;
  const int64_t ow = (W + pads[1] + pads[3] - ew) / c.stride_w + 1;
  const int64_t cg = C / c.group, mg = M / c.group;
  const std::vector<double> x = test::AsDoubles(x_t), w = test::AsDoubles(w_t);
  const std::vector<double> b = b_t ? test::AsDoubles(*b_t) : std::vector<double>(M, 0.0);
  std::vector<double> y(n * M * oh * ow);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t m = 0; m < M; ++m) {
      const int64_t g = m / mg;
      for (int64_t r = 0; r < oh; ++r) {
        for (int64_t s = 0; s < ow; ++s) {
          double sum = b[m];
          for (int64_t ci = 0; ci < cg; ++ci) {
            for (int64_t ki = 0; ki < c.kernel_h; ++ki) {
              for (int64_t kj = 0; kj < c.kernel_w; ++kj) {
                const int64_t ih = r * c.stride_h - pads[0] + ki * c.dilation_h;
                const int64_t iw = s * c.stride_w - pads[1] + kj * c.dilation_w;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                sum += x[((i * C + g * cg + ci) * H + ih) * W + iw] *
                       w[((m * cg + ci) * c.kernel_h + ki) * c.kernel_w + kj];
              }
            }
          }
          y[((i * M + m) * oh + r) * ow + s] = sum;
        }
      }
    }
  }
  *out_shape = {n, M, oh, ow};
  return y;
}

Attributes ConvAttrs(const ConvCase& c) {
  Attributes a;
  if (c.stride_h != 1 || c.stride_w != 1)
    a.Set("strides", std::vector<int64_t>{c.stride_h, c.stride_w});
  if (c.dilation_h != 1 || c.dilation_w != 1)
    a.Set("dilations", std::vector<int64_t>{c.dilation_h, c.dilation_w});
  if (!c.auto_pad.empty()) a.Set("auto_pad", c.auto_pad);
  if ((c.auto_pad.empty() || c.auto_pad == "NOTSET") &&
      c.pads != std::vector<int64_t>{0, 0, 0, 0}) {
    a.Set("pads", c.pads);
  }
  if (c.group != 1) a.Set("group", c.group);
  if (c.kernel_shape_attr) a.Set("kernel_shape", std::vector<int64_t>{c.kernel_h, c.kernel_w});
  return a;
}

std::vector<ConvCase> Cases() {
  std::vector<ConvCase> cases;
  auto add = [&](ConvCase c) { cases.push_back(std::move(c)); };
  add({.name = "pointwise 1x1",
       .channels = 4,
       .height = 5,
       .width = 6,
       .filters = 3,
       .kernel_h = 1,
       .kernel_w = 1});
  add({.name = "3x3 pad 1",
       .channels = 3,
       .height = 7,
       .width = 7,
       .filters = 4,
       .kernel_h = 3,
       .kernel_w = 3,
       .pads = {1, 1, 1, 1}});
  add({.name = "non-square 2x3 kernel, strides 2x1",
       .channels = 2,
       .height = 7,
       .width = 8,
       .filters = 3,
       .kernel_h = 2,
       .kernel_w = 3,
       .stride_h = 2,
       .stride_w = 1});
  add({.name = "dilations 2x3 with pads",
       .channels = 2,
       .height = 9,
       .width = 10,
       .filters = 2,
       .kernel_h = 3,
       .kernel_w = 2,
       .dilation_h = 2,
       .dilation_w = 3,
       .pads = {1, 1, 1, 1}});
  add({.name = "padding on one side only",
       .channels = 3,
       .height = 6,
       .width = 5,
       .filters = 2,
       .kernel_h = 3,
       .kernel_w = 3,
       .pads = {0, 2, 1, 0}});
  add({.name = "padding top-left only, stride 2",
       .channels = 2,
       .height = 6,
       .width = 7,
       .filters = 3,
       .kernel_h = 3,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2,
       .pads = {2, 1, 0, 0}});
  add({.name = "stride larger than kernel",
       .channels = 2,
       .height = 10,
       .width = 11,
       .filters = 2,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 3,
       .stride_w = 4});
  add({.name = "SAME_UPPER even kernel stride 2",
       .channels = 2,
       .height = 7,
       .width = 8,
       .filters = 3,
       .kernel_h = 4,
       .kernel_w = 3,
       .stride_h = 2,
       .stride_w = 2,
       .auto_pad = "SAME_UPPER"});
  add({.name = "SAME_LOWER even kernel stride 2",
       .channels = 2,
       .height = 7,
       .width = 8,
       .filters = 3,
       .kernel_h = 4,
       .kernel_w = 3,
       .stride_h = 2,
       .stride_w = 2,
       .auto_pad = "SAME_LOWER"});
  add({.name = "SAME_UPPER 2x2 stride 1",
       .channels = 3,
       .height = 5,
       .width = 5,
       .filters = 2,
       .kernel_h = 2,
       .kernel_w = 2,
       .auto_pad = "SAME_UPPER"});
  add({.name = "SAME_LOWER 2x2 stride 1",
       .channels = 3,
       .height = 5,
       .width = 5,
       .filters = 2,
       .kernel_h = 2,
       .kernel_w = 2,
       .auto_pad = "SAME_LOWER"});
  add({.name = "SAME_UPPER dilated",
       .channels = 2,
       .height = 6,
       .width = 7,
       .filters = 2,
       .kernel_h = 3,
       .kernel_w = 3,
       .dilation_h = 2,
       .dilation_w = 2,
       .auto_pad = "SAME_UPPER"});
  add({.name = "VALID",
       .channels = 2,
       .height = 8,
       .width = 7,
       .filters = 3,
       .kernel_h = 3,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2,
       .auto_pad = "VALID"});
  add({.name = "NOTSET with pads",
       .channels = 1,
       .height = 5,
       .width = 5,
       .filters = 1,
       .kernel_h = 3,
       .kernel_w = 3,
       .pads = {1, 0, 1, 0},
       .auto_pad = "NOTSET"});
  add({.name = "groups 2",
       .channels = 4,
       .height = 6,
       .width = 6,
       .filters = 6,
       .kernel_h = 3,
       .kernel_w = 3,
       .pads = {1, 1, 1, 1},
       .group = 2});
  add({.name = "groups 4, 2 channels each",
       .channels = 8,
       .height = 5,
       .width = 6,
       .filters = 4,
       .kernel_h = 3,
       .kernel_w = 2,
       .stride_h = 2,
       .group = 4});
  add({.name = "pointwise with groups",
       .channels = 6,
       .height = 4,
       .width = 5,
       .filters = 9,
       .kernel_h = 1,
       .kernel_w = 1,
       .group = 3});
  add({.name = "depthwise 3x3 stride 2 pad 1",
       .channels = 3,
       .height = 7,
       .width = 8,
       .filters = 3,
       .kernel_h = 3,
       .kernel_w = 3,
       .stride_h = 2,
       .stride_w = 2,
       .pads = {1, 1, 1, 1},
       .group = 3});
  add({.name = "depthwise multiplier 2, dilation 2, one-sided pads",
       .channels = 3,
       .height = 8,
       .width = 9,
       .filters = 6,
       .kernel_h = 3,
       .kernel_w = 3,
       .dilation_h = 2,
       .dilation_w = 2,
       .pads = {1, 0, 0, 1},
       .group = 3});
  add({.name = "depthwise multiplier 3, non-square, stride 1x2",
       .channels = 2,
       .height = 6,
       .width = 9,
       .filters = 6,
       .kernel_h = 2,
       .kernel_w = 3,
       .stride_h = 1,
       .stride_w = 2,
       .pads = {0, 1, 1, 2},
       .group = 2});
  add({.name = "depthwise SAME_UPPER",
       .channels = 4,
       .height = 5,
       .width = 6,
       .filters = 4,
       .kernel_h = 3,
       .kernel_w = 3,
       .stride_h = 2,
       .stride_w = 2,
       .group = 4,
       .auto_pad = "SAME_UPPER"});
  add({.name = "1x1 stride 2",
       .channels = 3,
       .height = 7,
       .width = 6,
       .filters = 2,
       .kernel_h = 1,
       .kernel_w = 1,
       .stride_h = 2,
       .stride_w = 2});
  add({.name = "1x1 with pads",
       .channels = 2,
       .height = 3,
       .width = 4,
       .filters = 2,
       .kernel_h = 1,
       .kernel_w = 1,
       .pads = {1, 0, 0, 2}});
  add({.name = "kernel covers the padded input",
       .channels = 2,
       .height = 4,
       .width = 3,
       .filters = 3,
       .kernel_h = 5,
       .kernel_w = 5,
       .pads = {1, 1, 0, 1}});
  add({.name = "pads larger than the kernel",
       .channels = 1,
       .height = 3,
       .width = 3,
       .filters = 2,
       .kernel_h = 2,
       .kernel_w = 2,
       .pads = {3, 2, 3, 2}});
  add({.name = "kernel_shape attribute",
       .channels = 2,
       .height = 5,
       .width = 5,
       .filters = 2,
       .kernel_h = 3,
       .kernel_w = 2,
       .kernel_shape_attr = true});
  add({.name = "wide image",
       .channels = 3,
       .height = 3,
       .width = 40,
       .filters = 5,
       .kernel_h = 3,
       .kernel_w = 5,
       .stride_w = 3,
       .pads = {1, 2, 1, 2}});
  return cases;
}

class ConvTest : public ::testing::TestWithParam<ConvCase> {};

// Runs `c` with the algorithm forced; false when this build has no such algorithm.
bool ForcedAlgorithmAvailable(const std::string& algorithm) {
  if (algorithm != "onednn") return true;
  const Tensor w = RandomTensor({1, 1, 1, 1}, 1);
  Attributes attrs;
  attrs.Set("_conv_algorithm", algorithm);
  auto out = RunOp1("Conv", {BatchFeed(RandomTensor({1, 1, 2, 2}, 1)), Const(w)}, attrs);
  return out.status().code() != absl::StatusCode::kUnimplemented;
}

// Every case through each algorithm, forced (oneDNN refuses to fall back when
// forced, so these prove its path), and through the default choice.
class ConvAlgorithmTest : public ::testing::TestWithParam<std::tuple<ConvCase, std::string>> {};

TEST_P(ConvAlgorithmTest, MatchesReference) {
  const auto& [c, algorithm] = GetParam();
  if (!ForcedAlgorithmAvailable(algorithm)) GTEST_SKIP() << "built without " << algorithm;
  Attributes attrs = ConvAttrs(c);
  if (!algorithm.empty()) attrs.Set("_conv_algorithm", algorithm);
  const Tensor w = RandomTensor({c.filters, c.channels / c.group, c.kernel_h, c.kernel_w}, 2);
  const Tensor b = RandomTensor({c.filters}, 3);
  for (int64_t batch : {1, 2, 0, 5}) {
    const Tensor x =
        RandomTensor({batch, c.channels, c.height, c.width}, 1 + static_cast<uint32_t>(batch));
    for (bool with_bias : {true, false}) {
      Shape shape;
      const std::vector<double> expected = RefConv(c, x, w, with_bias ? &b : nullptr, &shape);
      std::vector<test::OpInput> inputs = {BatchFeed(x), Const(w)};
      if (with_bias) inputs.push_back(Const(b));
      SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("Conv", inputs, attrs));
      EXPECT_TRUE(TensorNear(out, shape, expected, kRtol, kAtolSum))
          << c.name << ", batch " << batch << (with_bias ? ", bias" : ", no bias");
    }
  }
}

TEST_P(ConvTest, RuntimeWeights) {
  // Weights fed at run time take the same kernel paths.
  const ConvCase& c = GetParam();
  const Tensor x = RandomTensor({2, c.channels, c.height, c.width}, 4);
  const Tensor w = RandomTensor({c.filters, c.channels / c.group, c.kernel_h, c.kernel_w}, 5);
  const Tensor b = RandomTensor({c.filters}, 6);
  Shape shape;
  const std::vector<double> expected = RefConv(c, x, w, &b, &shape);
  SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                          RunOp1("Conv", {BatchFeed(x), Feed(w), Feed(b)}, ConvAttrs(c)));
  EXPECT_TRUE(TensorNear(out, shape, expected, kRtol, kAtolSum)) << c.name;
}

TEST_P(ConvAlgorithmTest, NHWCMatchesReference) {
  // `_layout` NHWC (the channels-last pass's rewrite): oneDNN computes in it,
  // im2col runs between NCHW copies.
  const auto& [c, algorithm] = GetParam();
  if (!ForcedAlgorithmAvailable(algorithm)) GTEST_SKIP() << "built without " << algorithm;
  Attributes attrs = ConvAttrs(c);
  attrs.Set("_layout", std::string("NHWC"));
  if (!algorithm.empty()) attrs.Set("_conv_algorithm", algorithm);
  const Tensor w = RandomTensor({c.filters, c.channels / c.group, c.kernel_h, c.kernel_w}, 12);
  const Tensor b = RandomTensor({c.filters}, 13);
  for (int64_t batch : {1, 3, 0}) {
    const Tensor x =
        RandomTensor({batch, c.channels, c.height, c.width}, 14 + static_cast<uint32_t>(batch));
    Shape shape;
    const std::vector<double> expected = RefConv(c, x, w, &b, &shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor x_nhwc, x.PermuteAxes({0, 2, 3, 1}));
    SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                            RunOp1("Conv", {BatchFeed(x_nhwc), Const(w), Const(b)}, attrs));
    ASSERT_EQ(out.shape(), (Shape{shape[0], shape[2], shape[3], shape[1]}));
    SK_ASSERT_OK_AND_ASSIGN(Tensor out_nchw, out.PermuteAxes({0, 3, 1, 2}));
    EXPECT_TRUE(TensorNear(out_nchw, shape, expected, kRtol, kAtolSum))
        << c.name << ", batch " << batch;
  }
}

TEST_P(ConvAlgorithmTest, FusedResidualThenActivation) {
  // The optimiser's fourth input: y = activation(conv(x) + bias + residual), in
  // both layouts, with an activation oneDNN fuses (Relu, LeakyRelu) and one it
  // leaves to the kernel (Gelu), with and without a bias.
  const auto& [c, algorithm] = GetParam();
  if (!ForcedAlgorithmAvailable(algorithm)) GTEST_SKIP() << "built without " << algorithm;
  const Tensor w = RandomTensor({c.filters, c.channels / c.group, c.kernel_h, c.kernel_w}, 20);
  const Tensor b = RandomTensor({c.filters}, 21);
  using K = Activation::Kind;
  for (const Activation& activation :
       {Activation{K::kRelu, 0, 0}, Activation{K::kLeakyRelu, 0.2f, 0}, Activation{K::kGelu, 0, 0},
        Activation{}}) {
    for (bool nhwc : {false, true}) {
      for (int64_t batch : {2, 1, 0}) {
        const Tensor x =
            RandomTensor({batch, c.channels, c.height, c.width}, 22 + static_cast<uint32_t>(batch));
        const bool with_bias = batch != 1;
        Shape shape;
        std::vector<double> expected = RefConv(c, x, w, with_bias ? &b : nullptr, &shape);
        const Tensor r = RandomTensor(shape, 23);
        const std::vector<double> residual = test::AsDoubles(r);
        for (size_t i = 0; i < expected.size(); ++i) {
          const double v = expected[i] + residual[i];
          switch (activation.kind) {
            case K::kRelu:
              expected[i] = std::max(v, 0.0);
              break;
            case K::kLeakyRelu:
              expected[i] = v >= 0 ? v : 0.2 * v;
              break;
            case K::kGelu:
              expected[i] = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
              break;
            default:
              expected[i] = v;
          }
        }
        Attributes attrs = ConvAttrs(c);
        if (!algorithm.empty()) attrs.Set("_conv_algorithm", algorithm);
        if (nhwc) attrs.Set("_layout", std::string("NHWC"));
        activation.StoreAsFused(attrs);
        SK_ASSERT_OK_AND_ASSIGN(Tensor x_in, nhwc ? x.PermuteAxes({0, 2, 3, 1}) : x);
        SK_ASSERT_OK_AND_ASSIGN(Tensor r_in, nhwc ? r.PermuteAxes({0, 2, 3, 1}) : r);
        SK_ASSERT_OK_AND_ASSIGN(
            Tensor out, RunOp1("Conv",
                               {BatchFeed(x_in), Const(w), with_bias ? Const(b) : test::Omitted(),
                                BatchFeed(r_in)},
                               attrs));
        SK_ASSERT_OK_AND_ASSIGN(Tensor out_nchw, nhwc ? out.PermuteAxes({0, 3, 1, 2}) : out);
        EXPECT_TRUE(TensorNear(out_nchw, shape, expected, kRtol, kAtolSum))
            << c.name << ", batch " << batch << (nhwc ? ", NHWC" : ", NCHW") << ", activation "
            << static_cast<int>(activation.kind);
      }
    }
  }
}

std::string TestName(const std::string& text) {
  std::string name;
  for (char ch : text) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Cases, ConvTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<ConvCase>& info) {
                           return TestName(info.param.name);
                         });

INSTANTIATE_TEST_SUITE_P(
    Cases, ConvAlgorithmTest,
    ::testing::Combine(::testing::ValuesIn(Cases()),
                       ::testing::Values(std::string(), "im2col", "onednn")),
    [](const ::testing::TestParamInfo<std::tuple<ConvCase, std::string>>& info) {
      const std::string& algorithm = std::get<1>(info.param);
      return TestName(std::get<0>(info.param).name) + "_" +
             (algorithm.empty() ? "default" : algorithm);
    });

TEST(ConvTest, BatchSizesOnOneSessionWithThreads) {
  const ConvCase c{.name = "",
                   .channels = 3,
                   .height = 9,
                   .width = 9,
                   .filters = 8,
                   .kernel_h = 3,
                   .kernel_w = 3,
                   .stride_h = 2,
                   .stride_w = 2,
                   .pads = {1, 1, 1, 1}};
  const Tensor w = RandomTensor({8, 3, 3, 3}, 7), b = RandomTensor({8}, 8);
  for (int threads : {1, 2}) {
    test::GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 3, 9, 9}));
    g.Output(g.Op("Conv", {x, g.Constant("w", w), g.Constant("b", b)}, ConvAttrs(c)));
    SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options(true, threads)));
    for (int64_t batch : {1, 3, 0, 2, 1}) {
      const Tensor in = RandomTensor({batch, 3, 9, 9}, 9 + static_cast<uint32_t>(batch));
      Shape shape;
      const std::vector<double> expected = RefConv(c, in, w, &b, &shape);
      SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
      EXPECT_TRUE(TensorNear(out[0], shape, expected, kRtol, kAtolSum))
          << "batch " << batch << ", " << threads << " threads";
    }
  }
}

TEST(ConvTest, ManyImagesPerGemm) {
  // Small outputs put several images side by side in one GEMM; the batch is
  // split into chunks of images with a remainder, and each chunk is scattered
  // back to NCHW.
  const std::vector<ConvCase> cases = {
      {.name = "28x28, 3 images per GEMM",
       .channels = 2,
       .height = 28,
       .width = 28,
       .filters = 3,
       .kernel_h = 3,
       .kernel_w = 3,
       .pads = {1, 1, 1, 1}},
      {.name = "4x4, many images",
       .channels = 3,
       .height = 4,
       .width = 4,
       .filters = 5,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2},
      {.name = "wide patch limits images by memory",
       .channels = 64,
       .height = 28,
       .width = 28,
       .filters = 4,
       .kernel_h = 3,
       .kernel_w = 3,
       .pads = {1, 1, 1, 1}},
      {.name = "large image, one per GEMM",
       .channels = 1,
       .height = 50,
       .width = 50,
       .filters = 2,
       .kernel_h = 3,
       .kernel_w = 3,
       .pads = {1, 1, 1, 1}},
  };
  for (const ConvCase& c : cases) {
    const Tensor w = RandomTensor({c.filters, c.channels, c.kernel_h, c.kernel_w}, 20);
    const Tensor b = RandomTensor({c.filters}, 21);
    test::GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, c.channels, c.height, c.width}));
    g.Output(g.Op("Conv", {x, g.Constant("w", w), g.Constant("b", b)}, ConvAttrs(c)));
    SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options()));
    for (int64_t batch : {5, 7, 2, 1, 3}) {
      const Tensor in =
          RandomTensor({batch, c.channels, c.height, c.width}, 22 + static_cast<uint32_t>(batch));
      Shape shape;
      const std::vector<double> expected = RefConv(c, in, w, &b, &shape);
      SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
      EXPECT_TRUE(TensorNear(out[0], shape, expected, kRtol, 1e-4))
          << c.name << ", batch " << batch;
    }
  }
}

TEST(ConvTest, OneDnnThreadTeamsAndPlanEviction) {
  // With two threads every batch (1.8 MFLOP per image) runs on an OpenMP team
  // of two, with one thread on one: each its own plan. More distinct batch
  // sizes than the plan cache keeps: plans are evicted and rebuilt.
  if (!ForcedAlgorithmAvailable("onednn")) GTEST_SKIP() << "built without oneDNN";
  const ConvCase c{.name = "",
                   .channels = 16,
                   .height = 16,
                   .width = 16,
                   .filters = 24,
                   .kernel_h = 3,
                   .kernel_w = 3,
                   .pads = {1, 1, 1, 1}};
  const Tensor w = RandomTensor({24, 16, 3, 3}, 30), b = RandomTensor({24}, 31);
  for (int threads : {2, 1}) {
    test::GraphBuilder g;
    const int x = g.Input("x", test::BatchShape({1, 16, 16, 16}));
    Attributes attrs = ConvAttrs(c);
    attrs.Set("_conv_algorithm", std::string("onednn"));
    g.Output(g.Op("Conv", {x, g.Constant("w", w), g.Constant("b", b)}, attrs));
    SK_ASSERT_OK_AND_ASSIGN(auto session, BuildSession(g.Build(), test::Options(true, threads)));
    std::vector<int64_t> batches = {9, 8, 1, 0, 3};
    for (int64_t i = 10; i < 45; ++i) batches.push_back(i % 2 ? i : 45 - i);
    batches.push_back(9);  // evicted by now: built again
    for (int64_t batch : batches) {
      const Tensor in = RandomTensor({batch, 16, 16, 16}, 40 + static_cast<uint32_t>(batch));
      Shape shape;
      const std::vector<double> expected = RefConv(c, in, w, &b, &shape);
      SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({in}));
      ASSERT_TRUE(TensorNear(out[0], shape, expected, kRtol, kAtolSum))
          << "batch " << batch << ", " << threads << " threads";
    }
  }
}

TEST(ConvTest, FusedActivationsMatchOnEveryAlgorithm) {
  // oneDNN computes some activations as post-ops and leaves others (Gelu, Erf,
  // Clip with min > max) to the kernel; every one must match im2col's epilogue.
  const ConvCase c{.name = "",
                   .channels = 8,
                   .height = 6,
                   .width = 7,
                   .filters = 8,
                   .kernel_h = 3,
                   .kernel_w = 3,
                   .pads = {1, 1, 1, 1}};
  const Tensor w = RandomTensor({8, 8, 3, 3}, 50), b = RandomTensor({8}, 51);
  const Tensor x = RandomTensor({3, 8, 6, 7}, 52);
  using K = Activation::Kind;
  const std::vector<Activation> activations = {
      {K::kRelu, 0, 0},        {K::kLeakyRelu, 0.1f, 0}, {K::kSigmoid, 0, 0}, {K::kTanh, 0, 0},
      {K::kClip, -0.5f, 0.7f}, {K::kClip, 0.5f, -0.5f},  {K::kGelu, 0, 0},    {K::kErf, 0, 0}};
  for (const Activation& activation : activations) {
    std::vector<Tensor> outputs;
    for (std::string algorithm : {"im2col", "onednn"}) {
      if (!ForcedAlgorithmAvailable(algorithm)) continue;
      Attributes attrs = ConvAttrs(c);
      activation.StoreAsFused(attrs);
      attrs.Set("_conv_algorithm", algorithm);
      SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                              RunOp1("Conv", {BatchFeed(x), Const(w), Const(b)}, attrs));
      outputs.push_back(std::move(out));
    }
    if (outputs.size() < 2) GTEST_SKIP() << "built without oneDNN";
    EXPECT_TRUE(TensorNear(outputs[1], outputs[0].shape(), test::AsDoubles(outputs[0]), 1e-5, 1e-5))
        << "activation kind " << static_cast<int>(activation.kind);
  }
}

TEST(ConvTest, PackedWeightsAreNotHeldTwice) {
  // oneDNN packs the weights when the session is built: the session drops the
  // node's copy and keeps only the bias. On im2col it keeps both. A batch size
  // oneDNN cannot run would take im2col on weights unpacked from oneDNN's copy.
  const Tensor w = RandomTensor({16, 8, 3, 3}, 60), b = RandomTensor({16}, 61);
  const Tensor x = RandomTensor({2, 8, 6, 6}, 62);
  const ConvCase c{.name = "",
                   .channels = 8,
                   .height = 6,
                   .width = 6,
                   .filters = 16,
                   .kernel_h = 3,
                   .kernel_w = 3,
                   .pads = {1, 1, 1, 1}};
  Shape shape;
  const std::vector<double> expected = RefConv(c, x, w, &b, &shape);
  for (const char* algorithm : {"im2col", "onednn"}) {
    if (!ForcedAlgorithmAvailable(algorithm)) continue;
    Attributes attrs = ConvAttrs(c);
    attrs.Set("_conv_algorithm", std::string(algorithm));
    SK_ASSERT_OK_AND_ASSIGN(auto session,
                            test::BuildOp("Conv", {BatchFeed(x), Const(w), Const(b)}, attrs));
    const size_t held =
        std::string(algorithm) == "onednn" ? b.num_bytes() : w.num_bytes() + b.num_bytes();
    EXPECT_EQ(session->ConstantBytes(), held) << algorithm;
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({x}));
    EXPECT_TRUE(TensorNear(out[0], shape, expected, kRtol, kAtolSum)) << algorithm;
  }
}

#ifdef SERVEKIT_WITH_ONEDNN
TEST(OneDnnConvTest, OriginalWeightsComeBackFromThePackedCopy) {
  // What the kernel's own path runs on when oneDNN has no convolution for a
  // batch size: the OIHW weights, unpacked exactly.
  for (int64_t group : {1, 4}) {
    const Tensor w = RandomTensor({16, 8 / group, 3, 3}, 63);
    Window2D window;
    window.kernel_h = window.kernel_w = 3;
    window.out_h = window.out_w = 4;
    const ConvGeometry g{.channels = 8,
                         .height = 6,
                         .width = 6,
                         .filters = 16,
                         .group = group,
                         .channels_last = true,
                         .window = window};
    std::unique_ptr<OneDnnConv> conv = OneDnnConv::Create(g, Activation{}, w.data<float>());
    ASSERT_NE(conv, nullptr) << "group " << group;
    SK_ASSERT_OK_AND_ASSIGN(const float* original, conv->OriginalWeights());
    EXPECT_EQ(std::vector<float>(original, original + w.num_elements()), test::Values<float>(w))
        << "group " << group;
  }
}
#endif

TEST(ConvTest, ForcedOneDnnNeedsConstantWeights) {
  if (!ForcedAlgorithmAvailable("onednn")) GTEST_SKIP() << "built without oneDNN";
  const Tensor x = RandomTensor({1, 4, 5, 5}, 1), w = RandomTensor({2, 4, 3, 3}, 2);
  EXPECT_TRUE(IsInvalid(
      RunOp1("Conv", {BatchFeed(x), Feed(w)}, Attrs({{"_conv_algorithm", Str("onednn")}})).status(),
      {"needs constant weights"}));
}

TEST(ConvTest, Errors) {
  const Tensor x = RandomTensor({1, 4, 5, 5}, 1);
  auto conv = [&](const Tensor& w, Attributes a, const Tensor* bias = nullptr) {
    std::vector<test::OpInput> in = {BatchFeed(x), Const(w)};
    if (bias) in.push_back(Const(*bias));
    return RunOp1("Conv", in, std::move(a)).status();
  };
  EXPECT_TRUE(IsInvalid(conv(RandomTensor({2, 3, 3, 3}, 2), {}),
                        {"node 'op' (Conv)", "expect 3 input channels; the input has 4"}));
  EXPECT_TRUE(IsInvalid(conv(RandomTensor({3, 2, 3, 3}, 2), Attrs({{"group", Int(2)}})),
                        {"group 2 does not divide 4 input channels and 3 filters"}));
  EXPECT_TRUE(
      IsInvalid(conv(RandomTensor({2, 4, 3, 3}, 2), Attrs({{"kernel_shape", Ints({3, 2})}})),
                {"kernel_shape does not match the weights"}));
  EXPECT_TRUE(IsInvalid(conv(RandomTensor({2, 4, 7, 3}, 2), {}), {"larger than the padded input"}));
  EXPECT_TRUE(IsInvalid(conv(RandomTensor({2, 4, 3, 3}, 2), Attrs({{"strides", Ints({1, 0})}})),
                        {"node 'op' (Conv)", "strides must be"}));
  EXPECT_TRUE(IsInvalid(conv(RandomTensor({2, 4, 3, 3}, 2), Attrs({{"pads", Ints({1, 1})}})),
                        {"pads must have 4 values"}));
  EXPECT_TRUE(IsInvalid(conv(RandomTensor({2, 4, 3, 3}, 2), Attrs({{"pads", Ints({-1, 0, 0, 0})}})),
                        {"node 'op' (Conv)", "pads must"}));
  EXPECT_TRUE(IsInvalid(conv(RandomTensor({2, 4, 3, 3}, 2), Attrs({{"auto_pad", Str("SAME")}})),
                        {"auto_pad 'SAME' is not valid"}));
  EXPECT_TRUE(
      IsInvalid(RunOp1("Conv", {BatchFeed(x), Const(RandomTensor({2, 4, 3, 3}, 2)), test::Omitted(),
                                BatchFeed(RandomTensor({1, 2, 3, 4}, 3))})
                    .status(),
                {"a fourth input (a fused residual) must have the output's shape [N, 2, 3, 3]"}));
  const Tensor bad_bias = RandomTensor({3}, 3);
  EXPECT_TRUE(
      IsInvalid(conv(RandomTensor({2, 4, 3, 3}, 2), {}, &bad_bias), {"bias must have shape [2]"}));
  EXPECT_TRUE(IsInvalid(
      RunOp1("Conv", {BatchFeed(RandomTensor({1, 4, 5}, 1)), Const(RandomTensor({2, 4, 3}, 2))})
          .status(),
      {"only 2-D convolution"}));
  EXPECT_TRUE(
      IsInvalid(conv(RandomTensor({2, 4, 3, 3}, 2), Attrs({{"_conv_algorithm", Str("fft")}})),
                {"_conv_algorithm must be"}));
  EXPECT_TRUE(IsInvalid(conv(RandomTensor({2, 4, 3, 3}, 2), Attrs({{"_layout", Str("NCWH")}})),
                        {"_layout must be \"NCHW\" or \"NHWC\""}));
  // NHWC reads the channels from the last axis: [1, 4, 5, 5] has 5 of them.
  EXPECT_TRUE(IsInvalid(conv(RandomTensor({2, 4, 3, 3}, 2), Attrs({{"_layout", Str("NHWC")}})),
                        {"the input has 5"}));
}

}  // namespace
}  // namespace servekit
