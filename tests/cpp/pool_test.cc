// Pooling kernels (kernels/pool.cc): MaxPool and AveragePool with kernel sizes,
// strides, dilations, explicit and automatic padding, ceil_mode and
// count_include_pad; GlobalAveragePool and GlobalMaxPool.
#include <limits>
#include <string>

#include "test_util.h"

namespace servekit {
namespace {

using test::Attrs;
using test::BatchFeed;
using test::Feed;
using test::Int;
using test::Ints;
using test::IsInvalid;
using test::kAtolSum;
using test::kRtol;
using test::RandomTensor;
using test::RunOp1;
using test::TensorNear;

struct PoolCase {
  std::string name;
  int64_t height, width, kernel_h, kernel_w;
  int64_t stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  std::vector<int64_t> pads = {0, 0, 0, 0};  // top, left, bottom, right
  bool ceil_mode = false;
  std::string auto_pad = "";
  bool strides_attr = true;  // false: leave strides out (default 1)
};

void PrintTo(const PoolCase& c, std::ostream* os) { *os << c.name; }

std::vector<int64_t> ResolvedPads(const PoolCase& c) {
  if (c.auto_pad != "SAME_UPPER" && c.auto_pad != "SAME_LOWER")
    return c.auto_pad == "VALID" ? std::vector<int64_t>{0, 0, 0, 0} : c.pads;
  return test::SamePads(c.auto_pad, c.height, c.width, c.stride_h, c.stride_w, c.kernel_h,
                        c.kernel_w, c.dilation_h, c.dilation_w);
}

// Output size along one axis: floor, or with ceil_mode ceil, dropping a last
// window that would start in the end padding (PyTorch and onnxruntime).
int64_t OutSize(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t kernel, int64_t stride,
                int64_t dilation, bool ceil_mode) {
  const int64_t span = in + pad_begin + pad_end - ((kernel - 1) * dilation + 1);
  if (!ceil_mode) return span / stride + 1;
  int64_t out = (span + stride - 1) / stride + 1;
  if ((out - 1) * stride >= in + pad_begin) --out;
  return out;
}

// Pooling in double. For AveragePool, count_include_pad counts window
// positions inside the explicitly padded input (not the ceil_mode overhang).
std::vector<double> RefPool(const PoolCase& c, const Tensor& x_t, bool is_max,
                            bool count_include_pad, Shape* out_shape) {
  const std::vector<int64_t> pads = ResolvedPads(c);
  const int64_t n = x_t.dim(0), C = x_t.dim(1), H = c.height, W = c.width;
  const int64_t oh =
      OutSize(H, pads[0], pads[2], c.kernel_h, c.stride_h, c.dilation_h, c.ceil_mode);
  const int64_t ow =
      OutSize(W, pads[1], pads[3], c.kernel_w, c.stride_w, c.dilation_w, c.ceil_mode);
  const std::vector<double> x = test::AsDoubles(x_t);
  std::vector<double> y;
  for (int64_t p = 0; p < n * C; ++p) {
    for (int64_t r = 0; r < oh; ++r) {
      for (int64_t s = 0; s < ow; ++s) {
        double max = -std::numeric_limits<double>::infinity(), sum = 0;
        int64_t valid = 0, padded = 0;
        for (int64_t ki = 0; ki < c.kernel_h; ++ki) {
          for (int64_t kj = 0; kj < c.kernel_w; ++kj) {
            const int64_t ih = r * c.stride_h - pads[0] + ki * c.dilation_h;
            const int64_t iw = s * c.stride_w - pads[1] + kj * c.dilation_w;
            if (ih < H + pads[2] && iw < W + pads[3]) ++padded;  // inside the padded input
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const double v = x[(p * H + ih) * W + iw];
            max = std::max(max, v);
            sum += v;
            ++valid;
          }
        }
        y.push_back(is_max ? max : sum / static_cast<double>(count_include_pad ? padded : valid));
      }
    }
  }
  *out_shape = {n, C, oh, ow};
  return y;
}

Attributes PoolAttrs(const PoolCase& c) {
  Attributes a;
  a.Set("kernel_shape", std::vector<int64_t>{c.kernel_h, c.kernel_w});
  if (c.strides_attr) a.Set("strides", std::vector<int64_t>{c.stride_h, c.stride_w});
  if (c.dilation_h != 1 || c.dilation_w != 1)
    a.Set("dilations", std::vector<int64_t>{c.dilation_h, c.dilation_w});
  if (!c.auto_pad.empty()) a.Set("auto_pad", c.auto_pad);
  if ((c.auto_pad.empty() || c.auto_pad == "NOTSET") && c.pads != std::vector<int64_t>{0, 0, 0, 0})
    a.Set("pads", c.pads);
  if (c.ceil_mode) a.Set("ceil_mode", int64_t{1});
  return a;
}

std::vector<PoolCase> Cases() {
  std::vector<PoolCase> cases;
  auto add = [&](PoolCase c) { cases.push_back(std::move(c)); };
  add({.name = "2x2 stride 2",
       .height = 6,
       .width = 6,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2});
  add({.name = "3x3 stride 2 pad 1",
       .height = 7,
       .width = 8,
       .kernel_h = 3,
       .kernel_w = 3,
       .stride_h = 2,
       .stride_w = 2,
       .pads = {1, 1, 1, 1}});
  add({.name = "non-square 2x3 strides 1x2",
       .height = 5,
       .width = 9,
       .kernel_h = 2,
       .kernel_w = 3,
       .stride_h = 1,
       .stride_w = 2});
  add({.name = "pads on one side",
       .height = 6,
       .width = 5,
       .kernel_h = 3,
       .kernel_w = 2,
       .pads = {2, 0, 0, 1}});
  add({.name = "default strides",
       .height = 4,
       .width = 5,
       .kernel_h = 2,
       .kernel_w = 2,
       .strides_attr = false});
  add({.name = "ceil_mode adds a partial window",
       .height = 7,
       .width = 7,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2,
       .ceil_mode = true});
  add({.name = "ceil_mode with pads",
       .height = 6,
       .width = 7,
       .kernel_h = 3,
       .kernel_w = 3,
       .stride_h = 2,
       .stride_w = 2,
       .pads = {1, 1, 1, 1},
       .ceil_mode = true});
  add({.name = "ceil_mode drops a window starting in the padding",
       .height = 5,
       .width = 5,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2,
       .pads = {1, 1, 1, 1},
       .ceil_mode = true});
  add({.name = "ceil_mode that changes nothing",
       .height = 6,
       .width = 6,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2,
       .ceil_mode = true});
  add({.name = "ceil_mode stride 3 one-sided pad",
       .height = 8,
       .width = 10,
       .kernel_h = 3,
       .kernel_w = 2,
       .stride_h = 3,
       .stride_w = 3,
       .pads = {0, 1, 1, 0},
       .ceil_mode = true});
  add({.name = "SAME_UPPER",
       .height = 6,
       .width = 7,
       .kernel_h = 3,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2,
       .auto_pad = "SAME_UPPER"});
  add({.name = "SAME_LOWER",
       .height = 6,
       .width = 7,
       .kernel_h = 3,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2,
       .auto_pad = "SAME_LOWER"});
  add({.name = "SAME_LOWER stride 1 even kernel",
       .height = 5,
       .width = 4,
       .kernel_h = 2,
       .kernel_w = 4,
       .auto_pad = "SAME_LOWER"});
  add({.name = "VALID",
       .height = 7,
       .width = 6,
       .kernel_h = 3,
       .kernel_w = 3,
       .stride_h = 2,
       .stride_w = 1,
       .auto_pad = "VALID"});
  add({.name = "window equals the input", .height = 4, .width = 3, .kernel_h = 4, .kernel_w = 3});
  // The 2x2 / stride-2 max-pool fast path and its borders.
  add({.name = "2x2 stride 2 odd sizes",
       .height = 7,
       .width = 9,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2});
  // Rows long enough for the vectorised 2x2 path (8 outputs at a time) and its tail.
  add({.name = "2x2 stride 2 wide rows",
       .height = 6,
       .width = 37,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2});
  add({.name = "2x2 stride 2 wide rows ceil_mode pads",
       .height = 7,
       .width = 35,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2,
       .pads = {0, 0, 1, 1},
       .ceil_mode = true});
  add({.name = "2x2 strides 1x2",
       .height = 5,
       .width = 8,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 1,
       .stride_w = 2});
  add({.name = "2x2 stride 2 pads bottom-right",
       .height = 5,
       .width = 5,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2,
       .pads = {0, 0, 1, 1}});
  add({.name = "2x2 stride 2 pads top-left",
       .height = 6,
       .width = 6,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2,
       .pads = {1, 1, 0, 0}});
  add({.name = "2x2 stride 2 ceil_mode odd width",
       .height = 6,
       .width = 7,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2,
       .ceil_mode = true});
  add({.name = "2x2 stride 2 SAME_UPPER",
       .height = 5,
       .width = 7,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2,
       .auto_pad = "SAME_UPPER"});
  add({.name = "2x2 stride 2 SAME_LOWER",
       .height = 5,
       .width = 7,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2,
       .auto_pad = "SAME_LOWER"});
  add({.name = "large interior 3x3 stride 1",
       .height = 12,
       .width = 13,
       .kernel_h = 3,
       .kernel_w = 3,
       .pads = {1, 1, 1, 1}});
  add({.name = "1x1",
       .height = 3,
       .width = 3,
       .kernel_h = 1,
       .kernel_w = 1,
       .stride_h = 2,
       .stride_w = 2});
  return cases;
}

class PoolTest : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolTest, MaxPool) {
  const PoolCase& c = GetParam();
  for (int64_t batch : {2, 1, 0}) {
    const Tensor x =
        test::DistinctTensor({batch, 3, c.height, c.width}, 1 + static_cast<uint32_t>(batch));
    Shape shape;
    const std::vector<double> expected = RefPool(c, x, true, false, &shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("MaxPool", {BatchFeed(x)}, PoolAttrs(c)));
    EXPECT_TRUE(TensorNear(out, shape, expected)) << c.name << ", batch " << batch;
  }
}

TEST_P(PoolTest, AveragePool) {
  const PoolCase& c = GetParam();
  for (int64_t include_pad : {0, 1}) {
    for (int64_t batch : {2, 0}) {
      const Tensor x =
          RandomTensor({batch, 3, c.height, c.width}, 5 + static_cast<uint32_t>(batch));
      Shape shape;
      const std::vector<double> expected = RefPool(c, x, false, include_pad, &shape);
      Attributes a = PoolAttrs(c);
      a.Set("count_include_pad", include_pad);
      SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("AveragePool", {BatchFeed(x)}, a));
      EXPECT_TRUE(TensorNear(out, shape, expected, kRtol, kAtolSum))
          << c.name << ", count_include_pad " << include_pad << ", batch " << batch;
    }
  }
}

// The same cases with `_layout` NHWC (the channels-last pass's rewrite): the
// NHWC kernels against the NCHW reference, through transposes.
TEST_P(PoolTest, NHWCMaxAndAveragePool) {
  const PoolCase& c = GetParam();
  for (const char* op : {"MaxPool", "AveragePool"}) {
    for (int64_t include_pad : {0, 1}) {
      const bool max = std::string(op) == "MaxPool";
      if (max && include_pad) continue;
      // Channels fewer than a vector, one vector, two and a remainder.
      for (int64_t batch : {2, 0}) {
        for (int64_t channels : {5, 8, 19}) {
          const Tensor x = test::DistinctTensor({batch, channels, c.height, c.width},
                                                9 + static_cast<uint32_t>(batch + channels));
          Shape shape;
          const std::vector<double> expected = RefPool(c, x, max, include_pad, &shape);
          Attributes a = PoolAttrs(c);
          if (!max) a.Set("count_include_pad", include_pad);
          a.Set("_layout", std::string("NHWC"));
          SK_ASSERT_OK_AND_ASSIGN(Tensor x_nhwc, x.PermuteAxes({0, 2, 3, 1}));
          SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1(op, {BatchFeed(x_nhwc)}, a));
          SK_ASSERT_OK_AND_ASSIGN(Tensor out_nchw, out.PermuteAxes({0, 3, 1, 2}));
          EXPECT_TRUE(TensorNear(out_nchw, shape, expected, kRtol, kAtolSum))
              << op << " " << c.name << ", count_include_pad " << include_pad << ", batch " << batch
              << ", channels " << channels;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, PoolTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<PoolCase>& info) {
                           std::string name;
                           for (char ch : info.param.name)
                             name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return name;
                         });

TEST(PoolThreadsTest, LargeBatchesSplitAcrossTwoThreads) {
  // Enough window taps for two parallel chunks, in both layouts; a chunk
  // boundary falls inside an image in NHWC (rows of output pixels).
  PoolCase c{"3x3/2 pad 1", 14, 14, 3, 3, 2, 2};
  c.pads = {1, 1, 1, 1};
  const Tensor x = RandomTensor({67, 32, 14, 14}, 30);
  for (const char* op : {"MaxPool", "AveragePool"}) {
    const bool max = std::string(op) == "MaxPool";
    Shape shape;
    const std::vector<double> expected = RefPool(c, x, max, false, &shape);
    for (bool nhwc : {false, true}) {
      Attributes a = PoolAttrs(c);
      if (nhwc) a.Set("_layout", std::string("NHWC"));
      SK_ASSERT_OK_AND_ASSIGN(Tensor in, nhwc ? x.PermuteAxes({0, 2, 3, 1}) : x);
      SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1(op, {BatchFeed(in)}, a, test::Options(true, 2)));
      SK_ASSERT_OK_AND_ASSIGN(Tensor out_nchw, nhwc ? out.PermuteAxes({0, 3, 1, 2}) : out);
      EXPECT_TRUE(TensorNear(out_nchw, shape, expected, kRtol, kAtolSum))
          << op << (nhwc ? " NHWC" : " NCHW");
    }
  }
}

TEST(MaxPoolTest, Dilations) {
  for (const PoolCase& c : {PoolCase{.name = "dilation 2",
                           .height = 7,
                           .width = 7,
                           .kernel_h = 3,
                           .kernel_w = 3,
                           .dilation_h = 2,
                           .dilation_w = 2},
                            PoolCase{.name = "dilation 2x3 stride 2 pads",
                            .height = 8,
                            .width = 9,
                            .kernel_h = 2,
                            .kernel_w = 2,
                            .stride_h = 2,
                            .stride_w = 2,
                            .dilation_h = 2,
                            .dilation_w = 3,
                            .pads = {1, 0, 1, 2}},
                            PoolCase{.name = "dilation with ceil_mode",
                            .height = 8,
                            .width = 8,
                            .kernel_h = 2,
                            .kernel_w = 2,
                            .stride_h = 2,
                            .stride_w = 2,
                            .dilation_h = 2,
                            .dilation_w = 2,
                            .ceil_mode = true},
                            PoolCase{.name = "dilation SAME_UPPER",
                            .height = 6,
                            .width = 5,
                            .kernel_h = 3,
                            .kernel_w = 2,
                            .stride_h = 2,
                            .stride_w = 1,
                            .dilation_h = 2,
                            .dilation_w = 2,
                            .auto_pad = "SAME_UPPER"}}) {
    const Tensor x = test::DistinctTensor({2, 2, c.height, c.width}, 3);
    Shape shape;
    const std::vector<double> expected = RefPool(c, x, true, false, &shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("MaxPool", {BatchFeed(x)}, PoolAttrs(c)));
    EXPECT_TRUE(TensorNear(out, shape, expected)) << c.name;
  }
}

TEST(MaxPoolTest, NegativeValuesInPaddedWindows) {
  // Padding must never contribute (a max over padded zeros would be wrong for
  // all-negative inputs).
  const PoolCase c{.name = "",
                   .height = 3,
                   .width = 3,
                   .kernel_h = 3,
                   .kernel_w = 3,
                   .stride_h = 2,
                   .stride_w = 2,
                   .pads = {1, 1, 1, 1}};
  const Tensor x = test::RandomTensor({1, 1, 3, 3}, 4, -5.0f, -1.0f);
  Shape shape;
  const std::vector<double> expected = RefPool(c, x, true, false, &shape);
  SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("MaxPool", {BatchFeed(x)}, PoolAttrs(c)));
  EXPECT_TRUE(TensorNear(out, shape, expected));
}

// Max pooling skips a NaN tap wherever it is, in either layout (the 2x2
// loops' vector lanes and scalar tails, the interior windows and the border),
// as PoolWindow always has: a window's NaN never decides its max, and a model
// gives the same answer in NCHW and NHWC.
TEST(MaxPoolTest, SkipsNaNInEveryPathAndLayout) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const PoolCase cases[] = {{.name = "2x2 stride 2, two vectors of windows and a border column",
                             .height = 4,
                             .width = 37,
                             .kernel_h = 2,
                             .kernel_w = 2,
                             .stride_h = 2,
                             .stride_w = 2,
                             .ceil_mode = true},
                            {.name = "3x3 stride 1, padded",
                             .height = 5,
                             .width = 5,
                             .kernel_h = 3,
                             .kernel_w = 3,
                             .pads = {1, 1, 1, 1}}};
  for (const PoolCase& c : cases) {
    const int64_t channels = 11;  // NHWC: one vector of 8 and a scalar tail of 3
    const Tensor x = test::DistinctTensor({1, channels, c.height, c.width}, 5);
    // In the first row of 2x2 windows, a NaN in each window, in a tap that
    // moves with the window and the channel; and in every channel's last pixel.
    SK_ASSERT_OK_AND_ASSIGN(Tensor poisoned, x.Clone());  // copies of a Tensor share elements
    float* v = poisoned.data<float>();
    const int64_t plane = c.height * c.width;
    for (int64_t ch = 0; ch < channels; ++ch) {
      for (int64_t k = 0; 2 * k + 1 < c.width; ++k) {
        const int64_t tap = (k + ch) % 4;  // (0,0), (0,1), (1,0), (1,1)
        v[ch * plane + (tap / 2) * c.width + 2 * k + tap % 2] = nan;
      }
      v[ch * plane + plane - 1] = nan;
    }
    // Expected: the max over the window's other taps, which the reference
    // computes when NaN is replaced by -inf (never larger than a real tap).
    SK_ASSERT_OK_AND_ASSIGN(Tensor masked, poisoned.Clone());
    for (int64_t i = 0; i < masked.num_elements(); ++i) {
      if (std::isnan(masked.data<float>()[i])) {
        masked.data<float>()[i] = -std::numeric_limits<float>::infinity();
      }
    }
    Shape shape;
    const std::vector<double> expected = RefPool(c, masked, true, false, &shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor out, RunOp1("MaxPool", {BatchFeed(poisoned)}, PoolAttrs(c)));
    EXPECT_TRUE(TensorNear(out, shape, expected)) << c.name << ", NCHW";
    Attributes a = PoolAttrs(c);
    a.Set("_layout", std::string("NHWC"));
    SK_ASSERT_OK_AND_ASSIGN(Tensor x_nhwc, poisoned.PermuteAxes({0, 2, 3, 1}));
    SK_ASSERT_OK_AND_ASSIGN(Tensor out_nhwc, RunOp1("MaxPool", {BatchFeed(x_nhwc)}, a));
    SK_ASSERT_OK_AND_ASSIGN(Tensor out_nchw, out_nhwc.PermuteAxes({0, 3, 1, 2}));
    EXPECT_TRUE(TensorNear(out_nchw, shape, expected)) << c.name << ", NHWC";
  }
}

TEST(PoolErrorsTest, Errors) {
  const Tensor x = RandomTensor({1, 2, 5, 5}, 1);
  EXPECT_TRUE(IsInvalid(RunOp1("MaxPool", {BatchFeed(x)}).status(),
                        {"node 'op' (MaxPool)", "kernel_shape must have 2"}));
  EXPECT_TRUE(IsInvalid(
      test::RunOp("MaxPool", {BatchFeed(x)}, Attrs({{"kernel_shape", Ints({2, 2})}}), 2).status(),
      {"the Indices output is not supported"}));
  EXPECT_TRUE(IsInvalid(RunOp1("AveragePool", {BatchFeed(x)},
                               Attrs({{"kernel_shape", Ints({2, 2})}, {"dilations", Ints({2, 2})}}))
                            .status(),
                        {"AveragePool dilations are not supported"}));
  EXPECT_TRUE(IsInvalid(RunOp1("MaxPool", {BatchFeed(x)},
                               Attrs({{"kernel_shape", Ints({2, 2})}, {"storage_order", Int(1)}}))
                            .status(),
                        {"storage_order=1 is not supported"}));
  EXPECT_TRUE(
      IsInvalid(RunOp1("MaxPool", {BatchFeed(x)}, Attrs({{"kernel_shape", Ints({6, 2})}})).status(),
                {"larger than the padded input"}));
  EXPECT_TRUE(IsInvalid(RunOp1("MaxPool", {BatchFeed(RandomTensor({1, 2, 5}, 1))},
                               Attrs({{"kernel_shape", Ints({2})}}))
                            .status(),
                        {"only 2-D pooling"}));
}

// --- GlobalAveragePool, GlobalMaxPool ----------------------------------------------------

std::vector<double> RefGlobal(const Tensor& x_t, bool is_max) {
  const std::vector<double> x = test::AsDoubles(x_t);
  const int64_t planes = x_t.dim(0) * x_t.dim(1);
  const int64_t size = planes ? x_t.num_elements() / planes : 0;
  std::vector<double> y;
  for (int64_t p = 0; p < planes; ++p) {
    double max = -std::numeric_limits<double>::infinity(), sum = 0;
    for (int64_t i = 0; i < size; ++i) {
      max = std::max(max, x[p * size + i]);
      sum += x[p * size + i];
    }
    y.push_back(is_max ? max : sum / static_cast<double>(size));
  }
  return y;
}

TEST(GlobalPoolTest, Ranks3To5AndBatchSizes) {
  for (const Shape& shape : {Shape{2, 3, 7}, Shape{2, 4, 5, 6}, Shape{1, 2, 3, 4, 5},
                             Shape{0, 3, 4, 4}, Shape{3, 2, 1, 1}}) {
    const Tensor x = RandomTensor(shape, 9);
    Shape out_shape = shape;
    for (size_t d = 2; d < out_shape.size(); ++d) out_shape[d] = 1;
    SK_ASSERT_OK_AND_ASSIGN(Tensor avg, RunOp1("GlobalAveragePool", {BatchFeed(x)}));
    EXPECT_TRUE(TensorNear(avg, out_shape, RefGlobal(x, false), kRtol, kAtolSum))
        << ShapeToString(shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor max, RunOp1("GlobalMaxPool", {BatchFeed(x)}));
    EXPECT_TRUE(TensorNear(max, out_shape, RefGlobal(x, true))) << ShapeToString(shape);
  }
}

TEST(GlobalPoolTest, NHWC) {
  for (const Shape& shape : {Shape{2, 4, 5, 6}, Shape{0, 3, 4, 4}, Shape{3, 2, 1, 1}}) {
    const Tensor x = RandomTensor(shape, 10);  // NCHW; fed as NHWC
    SK_ASSERT_OK_AND_ASSIGN(Tensor x_nhwc, x.PermuteAxes({0, 2, 3, 1}));
    const Shape out_shape = {shape[0], 1, 1, shape[1]};
    const Attributes nhwc = test::Attrs({{"_layout", test::Str("NHWC")}});
    SK_ASSERT_OK_AND_ASSIGN(Tensor avg, RunOp1("GlobalAveragePool", {BatchFeed(x_nhwc)}, nhwc));
    EXPECT_TRUE(TensorNear(avg, out_shape, RefGlobal(x, false), kRtol, kAtolSum))
        << ShapeToString(shape);
    SK_ASSERT_OK_AND_ASSIGN(Tensor max, RunOp1("GlobalMaxPool", {BatchFeed(x_nhwc)}, nhwc));
    EXPECT_TRUE(TensorNear(max, out_shape, RefGlobal(x, true))) << ShapeToString(shape);
  }
  EXPECT_TRUE(IsInvalid(RunOp1("GlobalAveragePool", {Feed(RandomTensor({2, 3, 4}, 1))},
                               test::Attrs({{"_layout", test::Str("NHWC")}}))
                            .status(),
                        {"an NHWC input must have rank 4"}));
}

TEST(GlobalPoolTest, Errors) {
  EXPECT_TRUE(IsInvalid(RunOp1("GlobalAveragePool", {Feed(RandomTensor({2, 3}, 1))}).status(),
                        {"rank >= 3"}));
  EXPECT_TRUE(IsInvalid(RunOp1("GlobalMaxPool", {Feed(test::Int64s({1, 1, 1}, {1}))}).status(),
                        {"has dtype int64"}));
}

}  // namespace
}  // namespace servekit
