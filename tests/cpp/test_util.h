// Helpers shared by the C++ tests (header-only: CMake builds each *_test.cc alone).
//
//  - Tensor construction: MakeTensor, Scalar, RandomTensor (fixed seed), Values.
//  - Comparison: TensorNear (relative + absolute tolerance against a double
//    reference), IsError (status code + message substrings).
//  - Graph construction: GraphBuilder, and RunOp / BuildOp, which make a graph
//    with one node, load it with BuildSession and run it.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "servekit/engine/attributes.h"
#include "servekit/engine/dim.h"
#include "servekit/engine/graph.h"
#include "servekit/engine/session.h"
#include "servekit/formats/model_loader.h"
#include "servekit/util/status.h"
#include "servekit/util/tensor.h"

namespace servekit {
namespace test {

// Default tolerances for float32 results compared with a double reference:
// |actual - expected| <= kAtol + kRtol * |expected|.
inline constexpr double kRtol = 1e-5;
inline constexpr double kAtol = 1e-6;
// For results that are sums of a few dozen products of O(1) numbers (Gemm,
// Conv, reductions), float32 rounding of the accumulation is ~K * 6e-8.
inline constexpr double kAtolSum = 1e-5;

// ---------------------------------------------------------------------------------------
// Tensors

template <typename T>
Tensor MakeTensor(const Shape& shape, const std::vector<T>& values) {
  StatusOr<Tensor> t = Tensor::Allocate(DTypeOf<T>(), shape);
  EXPECT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(static_cast<int64_t>(values.size()), NumElements(shape))
      << "MakeTensor: wrong number of values for shape " << ShapeToString(shape);
  if (!t.ok()) return Tensor();
  T* data = t->data<T>();
  for (size_t i = 0; i < values.size() && static_cast<int64_t>(i) < t->num_elements(); ++i)
    data[i] = values[i];
  return *std::move(t);
}

inline Tensor Floats(const Shape& shape, const std::vector<float>& values) {
  return MakeTensor<float>(shape, values);
}

// A float tensor holding start, start + 1, ... in row-major order.
inline Tensor Iota(const Shape& shape, float start = 0) {
  std::vector<float> v(NumElements(shape));
  std::iota(v.begin(), v.end(), start);
  return Floats(shape, v);
}
inline Tensor Int64s(const Shape& shape, const std::vector<int64_t>& values) {
  return MakeTensor<int64_t>(shape, values);
}

template <typename T>
Tensor Scalar(T value) {
  return MakeTensor<T>({}, {value});
}

// Uniform floats in [lo, hi) from a fixed seed.
inline Tensor RandomTensor(const Shape& shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(NumElements(shape));
  for (float& v : values) v = dist(rng);
  return MakeTensor<float>(shape, values);
}

// Distinct values (a permutation of i * step + offset), so ties cannot hide an
// index error in max/argmax tests.
inline Tensor DistinctTensor(const Shape& shape, uint32_t seed, float step = 0.25f,
                             float offset = -3.0f) {
  std::vector<float> values(NumElements(shape));
  for (size_t i = 0; i < values.size(); ++i) values[i] = offset + step * static_cast<float>(i);
  std::mt19937 rng(seed);
  std::shuffle(values.begin(), values.end(), rng);
  return MakeTensor<float>(shape, values);
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DTypeOf<T>());
  if (t.dtype() != DTypeOf<T>()) return {};
  const T* p = t.data<T>();
  return std::vector<T>(p, p + t.num_elements());
}

// A tensor's elements as doubles, whatever its numeric dtype.
inline std::vector<double> AsDoubles(const Tensor& t) {
  std::vector<double> out(t.num_elements());
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    switch (t.dtype()) {
      case DType::kFloat32:
        out[i] = t.data<float>()[i];
        break;
      case DType::kFloat64:
        out[i] = t.data<double>()[i];
        break;
      case DType::kInt64:
        out[i] = static_cast<double>(t.data<int64_t>()[i]);
        break;
      case DType::kInt32:
        out[i] = t.data<int32_t>()[i];
        break;
      case DType::kInt8:
        out[i] = t.data<int8_t>()[i];
        break;
      case DType::kUInt8:
        out[i] = t.data<uint8_t>()[i];
        break;
      case DType::kBool:
        out[i] = t.data<bool>()[i] ? 1.0 : 0.0;
        break;
      case DType::kUndefined:
        out[i] = NAN;
        break;
    }
  }
  return out;
}

// Row-major strides of `shape`.
inline Shape Strides(const Shape& shape) {
  Shape s(shape.size(), 1);
  for (int d = static_cast<int>(shape.size()) - 2; d >= 0; --d) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

// Calls fn(index) for every multi-index of `shape` in row-major order.
template <typename Fn>
void ForEachIndex(const Shape& shape, Fn fn) {
  const int64_t n = NumElements(shape);
  Shape index(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    fn(static_cast<const Shape&>(index));
    for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Assertions

// Checks dtype, shape and every element: |a - e| <= atol + rtol * |e| (NaNs must match).
inline ::testing::AssertionResult TensorNear(const Tensor& actual, DType dtype, const Shape& shape,
                                             const std::vector<double>& expected,
                                             double rtol = kRtol, double atol = kAtol) {
  if (actual.dtype() != dtype) {
    return ::testing::AssertionFailure()
           << "dtype " << DTypeName(actual.dtype()) << ", expected " << DTypeName(dtype);
  }
  if (actual.shape() != shape) {
    return ::testing::AssertionFailure()
           << "shape " << ShapeToString(actual.shape()) << ", expected " << ShapeToString(shape);
  }
  if (static_cast<int64_t>(expected.size()) != actual.num_elements()) {
    return ::testing::AssertionFailure()
           << "test bug: " << expected.size() << " expected values for " << actual.num_elements()
           << " elements";
  }
  const std::vector<double> got = AsDoubles(actual);
  const Shape strides = Strides(shape);
  int bad = 0;
  std::ostringstream msg;
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = expected[i], a = got[i];
    const bool ok = std::isnan(e)
                        ? std::isnan(a)
                        : (std::isinf(e) ? a == e : std::fabs(a - e) <= atol + rtol * std::fabs(e));
    if (ok) continue;
    if (bad < 8) {
      msg << "\n  at [";
      int64_t rest = static_cast<int64_t>(i);
      for (size_t d = 0; d < shape.size(); ++d) {
        msg << (d ? ", " : "") << rest / strides[d];
        rest %= strides[d];
      }
      msg << "] got " << a << ", expected " << e << " (diff " << a - e << ")";
    }
    ++bad;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << got.size() << " elements differ (rtol "
                                       << rtol << ", atol " << atol << "):" << msg.str();
}

inline ::testing::AssertionResult TensorNear(const Tensor& actual, const Shape& shape,
                                             const std::vector<double>& expected,
                                             double rtol = kRtol, double atol = kAtol) {
  return TensorNear(actual, DType::kFloat32, shape, expected, rtol, atol);
}

// Two tensors with the same dtype and shape and close elements.
inline ::testing::AssertionResult TensorsClose(const Tensor& actual, const Tensor& expected,
                                               double rtol = kRtol, double atol = kAtol) {
  return TensorNear(actual, expected.dtype(), expected.shape(), AsDoubles(expected), rtol, atol);
}

// Bitwise-identical tensors (dtype, shape, bytes).
inline ::testing::AssertionResult TensorsEqual(const Tensor& actual, const Tensor& expected) {
  if (actual.dtype() != expected.dtype() || actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure()
           << DTypeName(actual.dtype()) << ShapeToString(actual.shape()) << " vs "
           << DTypeName(expected.dtype()) << ShapeToString(expected.shape());
  }
  if (expected.num_bytes() > 0 &&
      std::memcmp(actual.raw_data(), expected.raw_data(), expected.num_bytes()) != 0) {
    return ::testing::AssertionFailure() << "elements differ";
  }
  return ::testing::AssertionSuccess();
}

// `status` is an error with `code` whose message contains every one of `substrings`.
inline ::testing::AssertionResult IsError(const Status& status, absl::StatusCode code,
                                          std::initializer_list<std::string> substrings) {
  if (status.ok()) return ::testing::AssertionFailure() << "expected an error, got OK";
  if (status.code() != code) {
    return ::testing::AssertionFailure()
           << "code " << absl::StatusCodeToString(status.code()) << ", expected "
           << absl::StatusCodeToString(code) << ": " << status.message();
  }
  for (const std::string& s : substrings) {
    if (status.message().find(s) == absl::string_view::npos) {
      return ::testing::AssertionFailure()
             << "message \"" << status.message() << "\" does not contain \"" << s << "\"";
    }
  }
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult IsInvalid(const Status& status,
                                            std::initializer_list<std::string> substrings) {
  return IsError(status, absl::StatusCode::kInvalidArgument, substrings);
}

// ---------------------------------------------------------------------------------------
// Attributes

using Attr = std::pair<std::string, AttributeValue>;

inline Attributes Attrs(std::initializer_list<Attr> list = {}) {
  Attributes a;
  for (const Attr& kv : list) a.Set(kv.first, kv.second);
  return a;
}
inline AttributeValue Int(int64_t v) { return AttributeValue(v); }
inline AttributeValue Float(float v) { return AttributeValue(v); }
inline AttributeValue Str(const std::string& v) { return AttributeValue(v); }
inline AttributeValue Ints(std::vector<int64_t> v) { return AttributeValue(std::move(v)); }

// ---------------------------------------------------------------------------------------
// The reference pads {top, left, bottom, right} of ONNX auto_pad SAME_UPPER /
// SAME_LOWER (output = ceil(in / stride); SAME_UPPER puts the odd pixel at the
// end, SAME_LOWER at the beginning). Written independently of kernels/window.cc.
inline std::vector<int64_t> SamePads(const std::string& auto_pad, int64_t height, int64_t width,
                                     int64_t stride_h, int64_t stride_w, int64_t kernel_h,
                                     int64_t kernel_w, int64_t dilation_h, int64_t dilation_w) {
  auto total = [](int64_t in, int64_t stride, int64_t kernel, int64_t dilation) {
    const int64_t out = (in + stride - 1) / stride;
    return std::max<int64_t>(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - in);
  };
  const int64_t th = total(height, stride_h, kernel_h, dilation_h);
  const int64_t tw = total(width, stride_w, kernel_w, dilation_w);
  const int64_t top = auto_pad == "SAME_UPPER" ? th / 2 : (th + 1) / 2;
  const int64_t left = auto_pad == "SAME_UPPER" ? tw / 2 : (tw + 1) / 2;
  return {top, left, th - top, tw - left};
}

// A fresh, uniquely named directory under the system temp dir, removed (with
// everything in it) when the object goes.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "servekit_test_XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  void Write(const std::string& name, const std::string& bytes) const {
    std::filesystem::create_directories((path_ / name).parent_path());
    std::ofstream(path_ / name, std::ios::binary) << bytes;
  }

 private:
  std::filesystem::path path_;
};

// Graphs

inline SymShape BatchShape(const Shape& shape) {
  SymShape s = FixedShape(shape);
  if (!s.empty()) s[0] = Dim::Batch();
  return s;
}

// Builds a Graph by hand, the way a loader does.
class GraphBuilder {
 public:
  explicit GraphBuilder(int64_t opset = 18) { graph_.opset = opset; }

  // A runtime input.
  int Input(const std::string& name, DType dtype, SymShape shape) {
    const int id = graph_.AddValue(name);
    Value& v = graph_.values[id];
    v.dtype = dtype;
    v.shape = std::move(shape);
    v.typed = true;
    graph_.inputs.push_back(id);
    return id;
  }
  int Input(const std::string& name, SymShape shape) {
    return Input(name, DType::kFloat32, std::move(shape));
  }

  int Constant(const std::string& name, Tensor t) { return graph_.AddConstant(name, std::move(t)); }

  // Adds a node; returns its output value ids.
  std::vector<int> Node(const std::string& op_type, std::vector<int> inputs, int num_outputs,
                        Attributes attributes = {}, std::string name = "") {
    servekit::Node node;
    node.op_type = op_type;
    node.name = name.empty() ? absl::StrCat(op_type, "_", graph_.nodes.size()) : std::move(name);
    node.inputs = std::move(inputs);
    for (int k = 0; k < num_outputs; ++k) {
      node.outputs.push_back(graph_.AddValue(
          num_outputs == 1 ? node.name + "_out" : absl::StrCat(node.name, "_out", k)));
    }
    node.attributes = std::move(attributes);
    std::vector<int> outs = node.outputs;
    graph_.nodes.push_back(std::move(node));
    return outs;
  }
  // A node with one output; returns its id.
  int Op(const std::string& op_type, std::vector<int> inputs, Attributes attributes = {},
         std::string name = "") {
    return Node(op_type, std::move(inputs), 1, std::move(attributes), std::move(name))[0];
  }

  void Output(int id) { graph_.outputs.push_back(id); }

  Graph& graph() { return graph_; }
  Graph Build() { return graph_; }

 private:
  Graph graph_;
};

inline LoadOptions Options(bool optimize = true, int threads = 1) {
  LoadOptions o;
  o.optimize = optimize;
  o.session.intra_op_threads = threads;
  return o;
}

// One input of a single-node test graph.
struct OpInput {
  enum class Kind { kRuntime, kConstant, kOmitted };
  Kind kind = Kind::kOmitted;
  Tensor value;
  SymShape shape;  // declared shape of a runtime input
};

// A runtime input with a fixed declared shape.
inline OpInput Feed(Tensor t) {
  SymShape shape = FixedShape(t.shape());
  return OpInput{OpInput::Kind::kRuntime, std::move(t), std::move(shape)};
}
// A runtime input whose first dim is declared as the batch dim N.
inline OpInput BatchFeed(Tensor t) {
  SymShape shape = BatchShape(t.shape());
  return OpInput{OpInput::Kind::kRuntime, std::move(t), std::move(shape)};
}
// A runtime input with an explicit declared shape.
inline OpInput FeedAs(Tensor t, SymShape shape) {
  return OpInput{OpInput::Kind::kRuntime, std::move(t), std::move(shape)};
}
inline OpInput Const(Tensor t) { return OpInput{OpInput::Kind::kConstant, std::move(t), {}}; }
inline OpInput Omitted() { return OpInput{}; }

// A one-node graph and the tensors to feed it.
struct OpGraph {
  Graph graph;
  std::vector<Tensor> feeds;
};

inline OpGraph MakeOpGraph(const std::string& op_type, const std::vector<OpInput>& inputs,
                           Attributes attributes, int num_outputs) {
  GraphBuilder b;
  std::vector<Tensor> feeds;
  std::vector<int> ids;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const OpInput& in = inputs[i];
    switch (in.kind) {
      case OpInput::Kind::kRuntime:
        ids.push_back(b.Input(absl::StrCat("in", i), in.value.dtype(), in.shape));
        feeds.push_back(in.value);
        break;
      case OpInput::Kind::kConstant:
        ids.push_back(b.Constant(absl::StrCat("const", i), in.value));
        break;
      case OpInput::Kind::kOmitted:
        ids.push_back(-1);
        break;
    }
  }
  std::vector<int> outs = b.Node(op_type, ids, num_outputs, std::move(attributes), "op");
  for (int id : outs) b.Output(id);
  return OpGraph{b.Build(), std::move(feeds)};
}

// Loads a one-node graph (InferGraph, OptimizeGraph, Session::Create).
inline StatusOr<std::unique_ptr<Session>> BuildOp(const std::string& op_type,
                                                  const std::vector<OpInput>& inputs,
                                                  Attributes attributes = {}, int num_outputs = 1,
                                                  const LoadOptions& options = Options()) {
  OpGraph g = MakeOpGraph(op_type, inputs, std::move(attributes), num_outputs);
  return BuildSession(std::move(g.graph), options);
}

// Loads a one-node graph and runs it once on the runtime inputs.
inline StatusOr<std::vector<Tensor>> RunOp(const std::string& op_type,
                                           const std::vector<OpInput>& inputs,
                                           Attributes attributes = {}, int num_outputs = 1,
                                           const LoadOptions& options = Options()) {
  OpGraph g = MakeOpGraph(op_type, inputs, std::move(attributes), num_outputs);
  ASSIGN_OR_RETURN(std::unique_ptr<Session> session, BuildSession(std::move(g.graph), options));
  return session->Run(g.feeds);
}

// RunOp for a node with one output: returns it.
inline StatusOr<Tensor> RunOp1(const std::string& op_type, const std::vector<OpInput>& inputs,
                               Attributes attributes = {}, const LoadOptions& options = Options()) {
  ASSIGN_OR_RETURN(std::vector<Tensor> outs,
                   RunOp(op_type, inputs, std::move(attributes), 1, options));
  if (outs.size() != 1) return absl::InternalError("expected one output");
  return std::move(outs[0]);
}

// Loads a one-node graph whose inputs are all constants (Const) or omitted, which
// InferGraph folds at load time (the engine's EvaluateNode runs the kernel), and
// returns the folded output. An error if the node was not folded.
inline StatusOr<Tensor> RunFolded1(const std::string& op_type, const std::vector<OpInput>& inputs,
                                   Attributes attributes = {}) {
  for (const OpInput& in : inputs) {
    if (in.kind == OpInput::Kind::kRuntime) return absl::InternalError("RunFolded1: runtime input");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Session> session,
                   BuildOp(op_type, inputs, std::move(attributes), 1, Options(false)));
  if (!session->StepOpTypes().empty()) {
    return absl::InternalError(absl::StrCat(op_type, " was not folded at load time"));
  }
  ASSIGN_OR_RETURN(std::vector<Tensor> outs, session->Run({}));
  if (outs.size() != 1) return absl::InternalError("expected one output");
  return std::move(outs[0]);
}

}  // namespace test
}  // namespace servekit

// Unwraps a StatusOr in a test, failing the test (and returning) when it is an error.
#define SK_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  SK_ASSERT_OK_AND_ASSIGN_IMPL(SERVEKIT_CONCAT(sk_statusor_, __LINE__), lhs, expr)
#define SK_ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  ASSERT_TRUE(tmp.ok()) << tmp.status();             \
  lhs = std::move(tmp).value()

// Runs `body` (a callable returning true when the check passes) in a forked
// child process, so that an engine crash fails only this test instead of
// taking down the whole test executable. Print details to stderr in `body`.
#define SK_EXPECT_IN_SUBPROCESS(...)              \
  GTEST_FLAG_SET(death_test_style, "threadsafe"); \
  EXPECT_EXIT(                                    \
      {                                           \
        const bool sk_ok_ = (__VA_ARGS__)();      \
        std::fflush(stderr);                      \
        std::_Exit(sk_ok_ ? 0 : 1);               \
      },                                          \
      ::testing::ExitedWithCode(0), "")

#define SK_ASSERT_OK(expr)                      \
  do {                                          \
    const ::absl::Status sk_status_ = (expr);   \
    ASSERT_TRUE(sk_status_.ok()) << sk_status_; \
  } while (0)
