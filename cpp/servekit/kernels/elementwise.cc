// Binary arithmetic with ONNX (numpy) broadcasting: Add, Sub, Mul, Div; and Cast.
// float32 for models; int64/int32 for the shape arithmetic exporters emit.
//
// Integer Div truncates toward zero, like C++ and onnxruntime. ONNX leaves the
// two quotients C++ cannot compute undefined; here both have a result instead of
// trapping (SIGFPE) the server: x / 0 is 0, and INT_MIN / -1 wraps to INT_MIN,
// as two's complement negation does (numpy gives the same).
#include <Eigen/Core>
#include <cstring>
#include <type_traits>

#include "servekit/kernels/kernel_util.h"

namespace servekit {
namespace {

enum class BinaryOp { kAdd, kSub, kMul, kDiv };

// -a, with -INT_MIN == INT_MIN (two's complement) rather than undefined behaviour.
template <typename T>
T NegateWrapping(T a) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(U{0} - static_cast<U>(a));
}

template <typename T>
T ApplyScalar(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::kAdd:
      return a + b;
    case BinaryOp::kSub:
      return a - b;
    case BinaryOp::kMul:
      return a * b;
    case BinaryOp::kDiv:
      if constexpr (std::is_integral_v<T>) {
        if (b == T(0)) return T(0);
        if (b == T(-1)) return NegateWrapping(a);  // a / -1 traps for a == INT_MIN
      }
      return a / b;
  }
  return T();
}

// out[0, n) = a op b, where a stride of 0 repeats one element.
template <typename T>
void InnerLoop(BinaryOp op, const T* a, int64_t sa, const T* b, int64_t sb, T* out, int64_t n) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  using In = Eigen::Map<const Array>;
  Eigen::Map<Array> y(out, n);
  if (sa == 1 && sb == 1) {
    In x(a, n), z(b, n);
    switch (op) {
      case BinaryOp::kAdd:
        y = x + z;
        return;
      case BinaryOp::kSub:
        y = x - z;
        return;
      case BinaryOp::kMul:
        y = x * z;
        return;
      case BinaryOp::kDiv:
        break;
    }
  } else if (sa == 1 && sb == 0) {
    In x(a, n);
    const T z = *b;
    switch (op) {
      case BinaryOp::kAdd:
        y = x + z;
        return;
      case BinaryOp::kSub:
        y = x - z;
        return;
      case BinaryOp::kMul:
        y = x * z;
        return;
      case BinaryOp::kDiv:
        if (std::is_floating_point_v<T>) {
          y = x / z;
          return;
        }
        break;
    }
  } else if (sa == 0 && sb == 1) {
    In z(b, n);
    const T x = *a;
    switch (op) {
      case BinaryOp::kAdd:
        y = x + z;
        return;
      case BinaryOp::kSub:
        y = x - z;
        return;
      case BinaryOp::kMul:
        y = x * z;
        return;
      case BinaryOp::kDiv:
        break;
    }
  }
  for (int64_t i = 0; i < n; ++i) out[i] = ApplyScalar(op, a[i * sa], b[i * sb]);
}

// Strides of `shape` aligned right to `rank` dims, 0 where it broadcasts.
Shape BroadcastStrides(const Shape& shape, const Shape& out) {
  const size_t rank = out.size();
  Shape strides(rank, 0);
  int64_t stride = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    const size_t axis = rank - 1 - i;
    const int64_t dim = shape[shape.size() - 1 - i];
    strides[axis] = dim == 1 && out[axis] != 1 ? 0 : stride;
    stride *= dim;
  }
  return strides;
}

// The smallest k such that, over dims [k, rank), an input with these broadcast
// strides is either contiguous or a single repeated element.
int UniformBlockStart(const Shape& strides, const Shape& shape) {
  const int rank = static_cast<int>(shape.size());
  int k = rank;
  bool contiguous = true, repeated = true;
  int64_t expected = 1;
  for (int d = rank - 1; d >= 0; --d) {
    if (shape[d] != 1) {
      contiguous = contiguous && strides[d] == expected;
      repeated = repeated && strides[d] == 0;
      if (!contiguous && !repeated) break;
      expected *= shape[d];
    }
    k = d;
  }
  return k;
}

bool BlockIsRepeated(const Shape& strides, const Shape& shape, int k) {
  for (int d = k; d < static_cast<int>(shape.size()); ++d) {
    if (shape[d] != 1 && strides[d] != 0) return false;
  }
  return true;
}

template <typename T>
void Broadcast(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const Shape& shape = out.shape();
  const int rank = out.rank();
  if (out.num_elements() == 0) return;
  const Shape sa = BroadcastStrides(a.shape(), shape);
  const Shape sb = BroadcastStrides(b.shape(), shape);
  // The innermost block [k, rank) over which each input is either contiguous or
  // one repeated element, so the inner loop is a single vectorised run.
  const int k = std::max(UniformBlockStart(sa, shape), UniformBlockStart(sb, shape));
  int64_t inner = 1;
  for (int d = k; d < rank; ++d) inner *= shape[d];
  const int64_t inner_a = BlockIsRepeated(sa, shape, k) ? 0 : 1;
  const int64_t inner_b = BlockIsRepeated(sb, shape, k) ? 0 : 1;
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  Shape index(k, 0);
  int64_t offset_a = 0, offset_b = 0;
  const int64_t outer = NumElements(Shape(shape.begin(), shape.begin() + k));
  for (int64_t o = 0; o < outer; ++o) {
    InnerLoop<T>(op, pa + offset_a, inner_a, pb + offset_b, inner_b, po + o * inner, inner);
    for (int d = k - 1; d >= 0; --d) {  // odometer over the outer dims
      offset_a += sa[d];
      offset_b += sb[d];
      if (++index[d] < shape[d]) break;
      offset_a -= sa[d] * shape[d];
      offset_b -= sb[d] * shape[d];
      index[d] = 0;
    }
  }
}

// Elementwise arithmetic on shape values (for exporters' shape subgraphs).
StatusOr<SymShape> ShapeValueArithmetic(BinaryOp op, const SymShape& a, const SymShape& b) {
  if (a.size() != b.size() && a.size() != 1 && b.size() != 1) {
    return absl::InvalidArgumentError("shape values of different lengths");
  }
  const size_t n = std::max(a.size(), b.size());
  SymShape out;
  for (size_t i = 0; i < n; ++i) {
    const Dim x = a[a.size() == 1 ? 0 : i];
    const Dim y = b[b.size() == 1 ? 0 : i];
    StatusOr<Dim> r;
    switch (op) {
      case BinaryOp::kAdd:
        r = AddDims(x, y);
        break;
      case BinaryOp::kSub:
        r = SubDims(x, y);
        break;
      case BinaryOp::kMul:
        r = MulDims(x, y);
        break;
      case BinaryOp::kDiv:
        r = DivDims(x, y);
        break;
    }
    if (!r.ok()) return r.status();
    out.push_back(*r);
  }
  return out;
}

template <BinaryOp kOp>
Status InferBinary(InferenceContext& ctx) {
  RETURN_IF_ERROR(
      ctx.ExpectDType(0, {DType::kFloat32, DType::kInt64, DType::kInt32, DType::kFloat64}));
  if (ctx.input(1).dtype != ctx.input(0).dtype) {
    return ctx.Error(absl::StrCat("inputs have different dtypes (", DTypeName(ctx.input(0).dtype),
                                  " and ", DTypeName(ctx.input(1).dtype), ")"));
  }
  auto shape = BroadcastShapes(ctx.input(0).shape, ctx.input(1).shape);
  if (!shape.ok()) return ctx.Error(shape.status().message());
  ctx.SetOutput(0, ctx.input(0).dtype, *shape);
  // Shape arithmetic involving the batch size is tracked symbolically.
  const bool symbolic =
      ctx.input(0).shape_value.has_value() || ctx.input(1).shape_value.has_value();
  if (symbolic && ctx.input(0).dtype == DType::kInt64 && shape->size() <= 1) {
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
    switch (out.dtype()) {
      case DType::kFloat32:
        Broadcast<float>(kOp, a, b, out);
        break;
      case DType::kFloat64:
        Broadcast<double>(kOp, a, b, out);
        break;
      case DType::kInt64:
        Broadcast<int64_t>(kOp, a, b, out);
        break;
      case DType::kInt32:
        Broadcast<int32_t>(kOp, a, b, out);
        break;
      default:
        return absl::InternalError("unsupported dtype");
    }
    return absl::OkStatus();
  });
}

template <BinaryOp kOp>
OpSchema Binary(const char* op_type) {
  return OpSchema::Make(op_type, 2, 2, {}, InferBinary<kOp>, CreateBinaryKernel<kOp>);
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
  OpSchema cast = OpSchema::Make("Cast", 1, 1, {"to", "saturate"}, InferCast, CreateCastKernel);
  registry.Register(cast);
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kElementwiseOps(RegisterElementwiseOps);

}  // namespace
}  // namespace servekit
