// Elementwise math, one input to one output of the same shape and dtype: Sqrt,
// Reciprocal, Exp, Log, Abs, Neg, Softplus, Elu, Selu, Floor, Ceil, Sign.
//
// float32, computed with Eigen's vectorised array functions; Abs, Neg and Sign
// also take int32 and int64. Results follow IEEE float arithmetic where ONNX
// says nothing more: Sqrt(-1) and Log(-1) are NaN, Log(0) is -inf,
// Reciprocal(0) is inf. The integer minimum has no negation: Abs and Neg wrap
// it to itself (two's complement, as numpy does) instead of overflowing.
#include <Eigen/Core>
#include <cmath>
#include <type_traits>

#include "servekit/kernels/kernel_util.h"

namespace servekit {
namespace {

enum class MathOp {
  kSqrt,
  kReciprocal,
  kExp,
  kLog,
  kAbs,
  kNeg,
  kSoftplus,
  kElu,
  kSelu,
  kFloor,
  kCeil,
  kSign,
};

// The ONNX defaults of Selu's attributes (float32 constants, as the spec gives them).
constexpr float kSeluAlpha = 1.67326319217681884765625f;
constexpr float kSeluGamma = 1.05070102214813232421875f;

// Ops defined for integers as well as floats.
constexpr bool TakesIntegers(MathOp op) {
  return op == MathOp::kAbs || op == MathOp::kNeg || op == MathOp::kSign;
}

struct MathParams {
  float alpha = 0;
  float gamma = 0;
};

template <MathOp kOp>
void ApplyFloat(const float* in, float* out, int64_t n, MathParams p) {
  Eigen::Map<const Eigen::ArrayXf> x(in, n);
  Eigen::Map<Eigen::ArrayXf> y(out, n);
  if constexpr (kOp == MathOp::kSqrt) {
    // Not Eigen's sqrt: under EIGEN_FAST_MATH (its default) the AVX version is
    // rsqrt plus a Newton step, which gives NaN for +inf and is not correctly
    // rounded. std::sqrt is IEEE's, like numpy's (ONNX's reference).
    for (int64_t i = 0; i < n; ++i) out[i] = std::sqrt(in[i]);
  } else if constexpr (kOp == MathOp::kReciprocal) {
    y = x.inverse();
  } else if constexpr (kOp == MathOp::kExp) {
    y = x.exp();
    // Eigen's vectorised exp clamps its argument to +-88.72 and scales by a
    // power of two computed in float, so it overflows to inf above ~88.4 (exp
    // reaches FLT_MAX only at 88.72) and gives 2^-128 for everything below
    // -88.72, -inf included (a -inf mask must give exactly 0). The rare
    // arguments out there take the C library's exp.
    for (int64_t i = 0; i < n; ++i) {
      if (std::fabs(in[i]) > 88.0f) out[i] = std::exp(in[i]);
    }
  } else if constexpr (kOp == MathOp::kLog) {
    y = x.log();
  } else if constexpr (kOp == MathOp::kAbs) {
    y = x.abs();
  } else if constexpr (kOp == MathOp::kNeg) {
    y = -x;
  } else if constexpr (kOp == MathOp::kSoftplus) {
    // log(1 + e^x) without overflowing e^x for large x: max(x, 0) + log1p(e^-|x|).
    y = x.max(0.0f) + (-x.abs()).exp().log1p();
  } else if constexpr (kOp == MathOp::kElu) {
    // alpha * (e^x - 1) for x < 0; expm1 keeps the digits that e^x - 1 cancels.
    y = (x < 0.0f).select(p.alpha * x.expm1(), x);
  } else if constexpr (kOp == MathOp::kSelu) {
    // gamma * (alpha * e^x - alpha) for x <= 0, gamma * x above.
    y = (x > 0.0f).select(p.gamma * x, (p.gamma * p.alpha) * x.expm1());
  } else if constexpr (kOp == MathOp::kFloor) {
    y = x.floor();
  } else if constexpr (kOp == MathOp::kCeil) {
    y = x.ceil();
  } else {
    static_assert(kOp == MathOp::kSign);
    // -1, 0 or 1; NaN stays NaN (numpy's sign, ONNX's reference).
    y = (x > 0.0f).select(1.0f, (x < 0.0f).select(-1.0f, (x == 0.0f).select(0.0f, x)));
  }
}

template <MathOp kOp, typename T>
void ApplyInteger(const T* in, T* out, int64_t n) {
  using U = std::make_unsigned_t<T>;
  for (int64_t i = 0; i < n; ++i) {
    const T x = in[i];
    if constexpr (kOp == MathOp::kNeg) {
      out[i] = static_cast<T>(U{0} - static_cast<U>(x));
    } else if constexpr (kOp == MathOp::kAbs) {
      out[i] = x < 0 ? static_cast<T>(U{0} - static_cast<U>(x)) : x;
    } else {
      static_assert(kOp == MathOp::kSign);
      out[i] = static_cast<T>((x > 0) - (x < 0));
    }
  }
}

template <MathOp kOp>
Status InferMath(InferenceContext& ctx) {
  if constexpr (TakesIntegers(kOp)) {
    RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32, DType::kInt32, DType::kInt64}));
  } else {
    RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32}));
  }
  ctx.SetOutput(0, ctx.input(0).dtype, ctx.input(0).shape);
  return absl::OkStatus();
}

template <MathOp kOp>
StatusOr<std::unique_ptr<OpKernel>> CreateMathKernel(const Node& node, const Graph&) {
  MathParams params;
  if (kOp == MathOp::kElu) {
    ASSIGN_OR_RETURN(params.alpha, node.attributes.GetFloat("alpha", 1.0f));
  } else if (kOp == MathOp::kSelu) {
    ASSIGN_OR_RETURN(params.alpha, node.attributes.GetFloat("alpha", kSeluAlpha));
    ASSIGN_OR_RETURN(params.gamma, node.attributes.GetFloat("gamma", kSeluGamma));
  }
  return MakeKernel([params](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = *ctx.outputs[0];
    const int64_t n = in.num_elements();
    switch (in.dtype()) {
      case DType::kFloat32:
        ApplyFloat<kOp>(in.data<float>(), out.data<float>(), n, params);
        return absl::OkStatus();
      case DType::kInt32:
      case DType::kInt64:
        if constexpr (TakesIntegers(kOp)) {
          if (in.dtype() == DType::kInt32) {
            ApplyInteger<kOp>(in.data<int32_t>(), out.data<int32_t>(), n);
          } else {
            ApplyInteger<kOp>(in.data<int64_t>(), out.data<int64_t>(), n);
          }
          return absl::OkStatus();
        }
        break;
      default:
        break;
    }
    return absl::InternalError("unsupported dtype");
  });
}

template <MathOp kOp>
OpSchema Math(const char* op_type, std::vector<std::string> attributes = {}) {
  return OpSchema::Make(op_type, 1, 1, std::move(attributes), InferMath<kOp>,
                        CreateMathKernel<kOp>);
}

void RegisterMathOps(OpRegistry& registry) {
  registry.Register(Math<MathOp::kSqrt>("Sqrt"));
  registry.Register(Math<MathOp::kReciprocal>("Reciprocal"));
  registry.Register(Math<MathOp::kExp>("Exp"));
  registry.Register(Math<MathOp::kLog>("Log"));
  registry.Register(Math<MathOp::kAbs>("Abs"));
  registry.Register(Math<MathOp::kNeg>("Neg"));
  registry.Register(Math<MathOp::kSoftplus>("Softplus"));
  registry.Register(Math<MathOp::kElu>("Elu", {"alpha"}));
  registry.Register(Math<MathOp::kSelu>("Selu", {"alpha", "gamma"}));
  registry.Register(Math<MathOp::kFloor>("Floor"));
  registry.Register(Math<MathOp::kCeil>("Ceil"));
  registry.Register(Math<MathOp::kSign>("Sign"));
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kMathOps(RegisterMathOps);

}  // namespace
}  // namespace servekit
