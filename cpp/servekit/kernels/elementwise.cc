// Elementwise operators with ONNX (numpy) multidirectional broadcasting:
// arithmetic (Add, Sub, Mul, Div, Pow, Max, Min), comparisons (Equal, Greater,
// Less, GreaterOrEqual, LessOrEqual), Where; and Cast.
//
// Arithmetic takes float32 for models and int64/int32 for the shape arithmetic
// exporters emit (float64 too); Pow is float32 only. Comparisons take
// float32/float64/int32/int64 (Equal also bool) and give bool. Where takes a
// bool condition and two inputs of any one dtype.
//
// Integer Div truncates toward zero, like C++ and onnxruntime. ONNX leaves the
// two quotients C++ cannot compute undefined; here both have a result instead of
// trapping (SIGFPE) the server: x / 0 is 0, and INT_MIN / -1 wraps to INT_MIN,
// as two's complement negation does (numpy gives the same).
//
// Max and Min take exactly two inputs (ONNX allows one or more; translators emit
// pairs) and propagate NaN, as numpy's maximum and minimum do: ONNX's reference
// implementation is numpy's.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "servekit/kernels/broadcast.h"
#include "servekit/kernels/kernel_util.h"

namespace servekit {
namespace {

enum class BinaryOp { kAdd, kSub, kMul, kDiv, kPow, kMax, kMin };

// -a, with -INT_MIN == INT_MIN (two's complement) rather than undefined behaviour.
template <typename T>
T NegateWrapping(T a) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(U{0} - static_cast<U>(a));
}

template <BinaryOp kOp, typename T>
T ApplyScalar(T a, T b) {
  if constexpr (kOp == BinaryOp::kAdd) {
    return a + b;
  } else if constexpr (kOp == BinaryOp::kSub) {
    return a - b;
  } else if constexpr (kOp == BinaryOp::kMul) {
    return a * b;
  } else if constexpr (kOp == BinaryOp::kDiv) {
    if constexpr (std::is_integral_v<T>) {
      if (b == T(0)) return T(0);
      if (b == T(-1)) return NegateWrapping(a);  // a / -1 traps for a == INT_MIN
    }
    return a / b;
  } else if constexpr (kOp == BinaryOp::kPow) {
    static_assert(std::is_floating_point_v<T>, "Pow is for floats only");
    return std::pow(a, b);
  } else if constexpr (kOp == BinaryOp::kMax) {
    return a > b || a != a ? a : b;  // a != a: a is NaN (b NaN falls through to b)
  } else {
    static_assert(kOp == BinaryOp::kMin);
    return a < b || a != a ? a : b;
  }
}

// out[0, n) = f(a[i * sa], b[i * sb]), sa and sb 0 or 1, as four plain loops so
// that each one vectorises.
template <typename A, typename B, typename Out, typename F>
void ScalarRun(F f, const A* a, int64_t sa, const B* b, int64_t sb, Out* out, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
  } else if (sa == 1) {
    const B y = *b;
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], y);
  } else if (sb == 1) {
    const A x = *a;
    for (int64_t i = 0; i < n; ++i) out[i] = f(x, b[i]);
  } else {
    std::fill_n(out, n, f(*a, *b));
  }
}

// out[0, n) = a op b, where a stride of 0 repeats one element.
template <BinaryOp kOp, typename T>
void InnerLoop(const T* a, int64_t sa, const T* b, int64_t sb, T* out, int64_t n) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  using In = Eigen::Map<const Array>;
  Eigen::Map<Array> y(out, n);
  // Eigen's expressions for the four operators it computes exactly as C++ does
  // (integer division needs the guards in ApplyScalar, so only float Div).
  constexpr bool kEigen = kOp == BinaryOp::kAdd || kOp == BinaryOp::kSub || kOp == BinaryOp::kMul ||
                          (kOp == BinaryOp::kDiv && std::is_floating_point_v<T>);
  if constexpr (kEigen) {
    auto apply = [&y](const auto& x, const auto& z) {
      if constexpr (kOp == BinaryOp::kAdd) {
        y = x + z;
      } else if constexpr (kOp == BinaryOp::kSub) {
        y = x - z;
      } else if constexpr (kOp == BinaryOp::kMul) {
        y = x * z;
      } else {
        y = x / z;
      }
    };
    if (sa == 1 && sb == 1) return apply(In(a, n), In(b, n));
    if (sa == 1 && sb == 0) return apply(In(a, n), *b);
    if (sa == 0 && sb == 1) return apply(*a, In(b, n));
  }
  ScalarRun([](T x, T z) { return ApplyScalar<kOp, T>(x, z); }, a, sa, b, sb, out, n);
}

// The number of elements after which `part`'s elements repeat in the output,
// when the other operand is whole (as many elements as the output) and `part`
// is a block of the output's innermost dims repeated along the outer ones (a
// per-channel scale on NHWC's last axis, a bias on a matrix's rows); 0
// otherwise.
int64_t RepeatPeriod(const Tensor& whole, const Tensor& part, const Shape& out) {
  const int64_t n = NumElements(out);
  if (whole.num_elements() != n || part.num_elements() == n) return 0;
  const Shape& shape = part.shape();
  const size_t skip = out.size() - shape.size();
  size_t d = 0;
  while (d < shape.size() && shape[d] == 1) ++d;  // leading ones: the repetition
  for (; d < shape.size(); ++d) {
    if (shape[d] != out[skip + d]) return 0;  // broadcast inside the block
  }
  return part.num_elements();
}

// out = whole op part (or part op whole: `part_first`), part repeating every
// `period` elements. Runs of the period alone would be a few elements each (8
// channels): most of the time would go to starting runs. The part is laid out
// repeated over a longer stretch instead, and the output computed in stretches
// of that length.
template <BinaryOp kOp, typename T>
void BroadcastRepeated(const T* whole, const T* part, int64_t period, bool part_first, T* out,
                       int64_t n) {
  constexpr int64_t kStretch = 512;
  T stretch[kStretch];
  const int64_t length = period * (kStretch / period);
  for (int64_t i = 0; i < length; ++i) stretch[i] = part[i % period];
  for (int64_t o = 0; o < n; o += length) {
    const int64_t m = std::min(length, n - o);
    if (part_first) {
      InnerLoop<kOp, T>(stretch, 1, whole + o, 1, out + o, m);
    } else {
      InnerLoop<kOp, T>(whole + o, 1, stretch, 1, out + o, m);
    }
  }
}

template <BinaryOp kOp, typename T>
void Broadcast(const Tensor& a, const Tensor& b, Tensor& out) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  // A period of 256 or more makes runs long enough for the general walk, and
  // one element (a scalar) is one run there.
  auto short_period = [](int64_t period) { return period > 1 && period < 256; };
  if (const int64_t period = RepeatPeriod(a, b, out.shape()); short_period(period)) {
    return BroadcastRepeated<kOp, T>(pa, pb, period, /*part_first=*/false, po, out.num_elements());
  }
  if (const int64_t period = RepeatPeriod(b, a, out.shape()); short_period(period)) {
    return BroadcastRepeated<kOp, T>(pb, pa, period, /*part_first=*/true, po, out.num_elements());
  }
  ForEachBroadcastRun<2>({&a.shape(), &b.shape()}, out.shape(),
                         [&](const auto& offsets, const auto& steps, int64_t o, int64_t n) {
                           InnerLoop<kOp, T>(pa + offsets[0], steps[0], pb + offsets[1], steps[1],
                                             po + o, n);
                         });
}

// Elementwise arithmetic on shape values (for exporters' shape subgraphs).
StatusOr<Dim> ShapeValueDim(BinaryOp op, Dim x, Dim y) {
  switch (op) {
    case BinaryOp::kAdd:
      return AddDims(x, y);
    case BinaryOp::kSub:
      return SubDims(x, y);
    case BinaryOp::kMul:
      return MulDims(x, y);
    case BinaryOp::kDiv:
      return DivDims(x, y);
    case BinaryOp::kMax:
    case BinaryOp::kMin:
      // max(N, 1) is N only when N >= 1, so the batch size takes part only
      // against itself.
      if (x == y) return x;
      if (x.is_fixed() && y.is_fixed()) {
        return Dim::Fixed(op == BinaryOp::kMax ? std::max(x.value(), y.value())
                                               : std::min(x.value(), y.value()));
      }
      break;
    case BinaryOp::kPow:
      break;
  }
  return absl::InvalidArgumentError("not expressible as a shape value");
}

StatusOr<SymShape> ShapeValueArithmetic(BinaryOp op, const SymShape& a, const SymShape& b) {
  if (a.size() != b.size() && a.size() != 1 && b.size() != 1) {
    return absl::InvalidArgumentError("shape values of different lengths");
  }
  const size_t n = std::max(a.size(), b.size());
  SymShape out;
  for (size_t i = 0; i < n; ++i) {
    ASSIGN_OR_RETURN(Dim r, ShapeValueDim(op, a[a.size() == 1 ? 0 : i], b[b.size() == 1 ? 0 : i]));
    out.push_back(r);
  }
  return out;
}

// Both inputs have one dtype; output 0 gets `out_dtype` and the broadcast shape.
Status InferBroadcastPair(InferenceContext& ctx, DType out_dtype) {
  if (ctx.input(1).dtype != ctx.input(0).dtype) {
    return ctx.Error(absl::StrCat("inputs have different dtypes (", DTypeName(ctx.input(0).dtype),
                                  " and ", DTypeName(ctx.input(1).dtype), ")"));
  }
  auto shape = BroadcastShapes(ctx.input(0).shape, ctx.input(1).shape);
  if (!shape.ok()) return ctx.Error(shape.status().message());
  ctx.SetOutput(0, out_dtype, *shape);
  return absl::OkStatus();
}

template <BinaryOp kOp>
Status InferBinary(InferenceContext& ctx) {
  if (kOp == BinaryOp::kPow) {
    // ONNX allows other base and exponent types; models use float32.
    RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32}));
  } else {
    RETURN_IF_ERROR(
        ctx.ExpectDType(0, {DType::kFloat32, DType::kInt64, DType::kInt32, DType::kFloat64}));
  }
  RETURN_IF_ERROR(InferBroadcastPair(ctx, ctx.input(0).dtype));
  // Shape arithmetic involving the batch size is tracked symbolically.
  const bool symbolic =
      ctx.input(0).shape_value.has_value() || ctx.input(1).shape_value.has_value();
  if (symbolic && ctx.input(0).dtype == DType::kInt64 && ctx.output(0).shape.size() <= 1) {
    auto a = ctx.ShapeValue(0);
    auto b = ctx.ShapeValue(1);
    if (a.ok() && b.ok() && !a->empty() && !b->empty()) {
      auto value = ShapeValueArithmetic(kOp, *a, *b);
      if (value.ok()) ctx.output(0).shape_value = *value;
    }
  }
  return absl::OkStatus();
}

template <BinaryOp kOp>
StatusOr<std::unique_ptr<OpKernel>> CreateBinaryKernel(const Node&, const Graph&) {
  return MakeKernel([](const KernelContext& ctx) -> Status {
    const Tensor& a = *ctx.inputs[0];
    const Tensor& b = *ctx.inputs[1];
    Tensor& out = *ctx.outputs[0];
    if constexpr (kOp == BinaryOp::kPow) {
      if (out.dtype() != DType::kFloat32) return absl::InternalError("unsupported dtype");
      Broadcast<kOp, float>(a, b, out);
    } else {
      switch (out.dtype()) {
        case DType::kFloat32:
          Broadcast<kOp, float>(a, b, out);
          break;
        case DType::kFloat64:
          Broadcast<kOp, double>(a, b, out);
          break;
        case DType::kInt64:
          Broadcast<kOp, int64_t>(a, b, out);
          break;
        case DType::kInt32:
          Broadcast<kOp, int32_t>(a, b, out);
          break;
        default:
          return absl::InternalError("unsupported dtype");
      }
    }
    return absl::OkStatus();
  });
}

template <BinaryOp kOp>
OpSchema Binary(const char* op_type) {
  return OpSchema::Make(op_type, 2, 2, {}, InferBinary<kOp>, CreateBinaryKernel<kOp>);
}

// --- Comparisons ------------------------------------------------------------------------

enum class CompareOp { kEqual, kGreater, kLess, kGreaterOrEqual, kLessOrEqual };

// IEEE comparisons: anything against NaN is false.
template <CompareOp kOp, typename T>
bool Compare(T a, T b) {
  if constexpr (kOp == CompareOp::kEqual) {
    return a == b;
  } else if constexpr (kOp == CompareOp::kGreater) {
    return a > b;
  } else if constexpr (kOp == CompareOp::kLess) {
    return a < b;
  } else if constexpr (kOp == CompareOp::kGreaterOrEqual) {
    return a >= b;
  } else {
    return a <= b;
  }
}

template <CompareOp kOp, typename T>
void BroadcastCompare(const Tensor& a, const Tensor& b, Tensor& out) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  bool* po = out.data<bool>();
  ForEachBroadcastRun<2>({&a.shape(), &b.shape()}, out.shape(),
                         [&](const auto& offsets, const auto& steps, int64_t o, int64_t n) {
                           ScalarRun([](T x, T z) { return Compare<kOp, T>(x, z); },
                                     pa + offsets[0], steps[0], pb + offsets[1], steps[1], po + o,
                                     n);
                         });
}

template <CompareOp kOp>
Status InferCompare(InferenceContext& ctx) {
  if (kOp == CompareOp::kEqual) {
    RETURN_IF_ERROR(ctx.ExpectDType(
        0, {DType::kFloat32, DType::kInt64, DType::kInt32, DType::kFloat64, DType::kBool}));
  } else {
    RETURN_IF_ERROR(
        ctx.ExpectDType(0, {DType::kFloat32, DType::kInt64, DType::kInt32, DType::kFloat64}));
  }
  return InferBroadcastPair(ctx, DType::kBool);
}

template <CompareOp kOp>
StatusOr<std::unique_ptr<OpKernel>> CreateCompareKernel(const Node&, const Graph&) {
  return MakeKernel([](const KernelContext& ctx) -> Status {
    const Tensor& a = *ctx.inputs[0];
    const Tensor& b = *ctx.inputs[1];
    Tensor& out = *ctx.outputs[0];
    switch (a.dtype()) {
      case DType::kFloat32:
        BroadcastCompare<kOp, float>(a, b, out);
        break;
      case DType::kFloat64:
        BroadcastCompare<kOp, double>(a, b, out);
        break;
      case DType::kInt64:
        BroadcastCompare<kOp, int64_t>(a, b, out);
        break;
      case DType::kInt32:
        BroadcastCompare<kOp, int32_t>(a, b, out);
        break;
      case DType::kBool:
        BroadcastCompare<kOp, bool>(a, b, out);
        break;
      default:
        return absl::InternalError("unsupported dtype");
    }
    return absl::OkStatus();
  });
}

template <CompareOp kOp>
OpSchema Comparison(const char* op_type) {
  return OpSchema::Make(op_type, 2, 2, {}, InferCompare<kOp>, CreateCompareKernel<kOp>);
}

// --- Where ------------------------------------------------------------------------------

Status InferWhere(InferenceContext& ctx) {
  RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kBool}));
  if (!IsSupportedDType(static_cast<int32_t>(ctx.input(1).dtype))) {
    return ctx.Error("input dtype is not supported");
  }
  if (ctx.input(2).dtype != ctx.input(1).dtype) {
    return ctx.Error(absl::StrCat("X and Y have different dtypes (", DTypeName(ctx.input(1).dtype),
                                  " and ", DTypeName(ctx.input(2).dtype), ")"));
  }
  auto xy = BroadcastShapes(ctx.input(1).shape, ctx.input(2).shape);
  if (!xy.ok()) return ctx.Error(xy.status().message());
  auto shape = BroadcastShapes(ctx.input(0).shape, *xy);
  if (!shape.ok()) return ctx.Error(shape.status().message());
  ctx.SetOutput(0, ctx.input(1).dtype, *shape);
  return absl::OkStatus();
}

// Elements are copied as unsigned integers of their size: Where never looks at them.
template <typename T>
void BroadcastWhere(const Tensor& c, const Tensor& x, const Tensor& y, Tensor& out) {
  const bool* pc = c.data<bool>();
  const T* px = static_cast<const T*>(x.raw_data());
  const T* py = static_cast<const T*>(y.raw_data());
  T* po = static_cast<T*>(out.raw_data());
  ForEachBroadcastRun<3>({&c.shape(), &x.shape(), &y.shape()}, out.shape(),
                         [&](const auto& offsets, const auto& steps, int64_t o, int64_t n) {
                           const bool* cc = pc + offsets[0];
                           const T* xx = px + offsets[1];
                           const T* yy = py + offsets[2];
                           const int64_t sc = steps[0], sx = steps[1], sy = steps[2];
                           T* oo = po + o;
                           for (int64_t i = 0; i < n; ++i) {
                             oo[i] = cc[i * sc] ? xx[i * sx] : yy[i * sy];
                           }
                         });
}

StatusOr<std::unique_ptr<OpKernel>> CreateWhereKernel(const Node&, const Graph&) {
  return MakeKernel([](const KernelContext& ctx) -> Status {
    const Tensor& c = *ctx.inputs[0];
    const Tensor& x = *ctx.inputs[1];
    const Tensor& y = *ctx.inputs[2];
    Tensor& out = *ctx.outputs[0];
    switch (DTypeSize(out.dtype())) {
      case 1:
        BroadcastWhere<uint8_t>(c, x, y, out);
        break;
      case 4:
        BroadcastWhere<uint32_t>(c, x, y, out);
        break;
      case 8:
        BroadcastWhere<uint64_t>(c, x, y, out);
        break;
      default:
        return absl::InternalError("unsupported element size");
    }
    return absl::OkStatus();
  });
}

// --- Cast -------------------------------------------------------------------------------

template <typename From, typename To>
void CastElements(const void* in, void* out, int64_t n) {
  const From* x = static_cast<const From*>(in);
  To* y = static_cast<To*>(out);
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<To, bool>) {
      y[i] = x[i] != From(0);
    } else {
      y[i] = static_cast<To>(x[i]);
    }
  }
}

template <typename From>
Status CastFrom(const Tensor& in, Tensor& out) {
  const int64_t n = in.num_elements();
  switch (out.dtype()) {
    case DType::kFloat32:
      CastElements<From, float>(in.raw_data(), out.raw_data(), n);
      break;
    case DType::kFloat64:
      CastElements<From, double>(in.raw_data(), out.raw_data(), n);
      break;
    case DType::kInt64:
      CastElements<From, int64_t>(in.raw_data(), out.raw_data(), n);
      break;
    case DType::kInt32:
      CastElements<From, int32_t>(in.raw_data(), out.raw_data(), n);
      break;
    case DType::kInt8:
      CastElements<From, int8_t>(in.raw_data(), out.raw_data(), n);
      break;
    case DType::kUInt8:
      CastElements<From, uint8_t>(in.raw_data(), out.raw_data(), n);
      break;
    case DType::kBool:
      CastElements<From, bool>(in.raw_data(), out.raw_data(), n);
      break;
    default:
      return absl::InternalError("unsupported cast target");
  }
  return absl::OkStatus();
}

Status InferCast(InferenceContext& ctx) {
  ASSIGN_OR_RETURN(int64_t to, ctx.attributes().GetInt("to", 0));
  if (!IsSupportedDType(static_cast<int32_t>(to))) {
    return ctx.Error(absl::StrCat("cast to ONNX data type ", to, " is not supported"));
  }
  if (!IsSupportedDType(static_cast<int32_t>(ctx.input(0).dtype))) {
    return ctx.Error("input dtype is not supported");
  }
  const DType target = static_cast<DType>(to);
  ctx.SetOutput(0, target, ctx.input(0).shape);
  if (ctx.input(0).shape_value && (target == DType::kInt64 || target == DType::kInt32)) {
    ctx.output(0).shape_value = ctx.input(0).shape_value;
  }
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<OpKernel>> CreateCastKernel(const Node&, const Graph&) {
  return MakeKernel([](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = *ctx.outputs[0];
    switch (in.dtype()) {
      case DType::kFloat32:
        return CastFrom<float>(in, out);
      case DType::kFloat64:
        return CastFrom<double>(in, out);
      case DType::kInt64:
        return CastFrom<int64_t>(in, out);
      case DType::kInt32:
        return CastFrom<int32_t>(in, out);
      case DType::kInt8:
        return CastFrom<int8_t>(in, out);
      case DType::kUInt8:
        return CastFrom<uint8_t>(in, out);
      case DType::kBool:
        return CastFrom<bool>(in, out);
      default:
        return absl::InternalError("unsupported cast source");
    }
  });
}

void RegisterElementwiseOps(OpRegistry& registry) {
  registry.Register(Binary<BinaryOp::kAdd>("Add"));
  registry.Register(Binary<BinaryOp::kSub>("Sub"));
  registry.Register(Binary<BinaryOp::kMul>("Mul"));
  registry.Register(Binary<BinaryOp::kDiv>("Div"));
  registry.Register(Binary<BinaryOp::kPow>("Pow"));
  registry.Register(Binary<BinaryOp::kMax>("Max"));
  registry.Register(Binary<BinaryOp::kMin>("Min"));
  registry.Register(Comparison<CompareOp::kEqual>("Equal"));
  registry.Register(Comparison<CompareOp::kGreater>("Greater"));
  registry.Register(Comparison<CompareOp::kLess>("Less"));
  registry.Register(Comparison<CompareOp::kGreaterOrEqual>("GreaterOrEqual"));
  registry.Register(Comparison<CompareOp::kLessOrEqual>("LessOrEqual"));
  registry.Register(OpSchema::Make("Where", 3, 3, {}, InferWhere, CreateWhereKernel));
  OpSchema cast = OpSchema::Make("Cast", 1, 1, {"to", "saturate"}, InferCast, CreateCastKernel);
  registry.Register(cast);
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kElementwiseOps(RegisterElementwiseOps);

}  // namespace
}  // namespace servekit
