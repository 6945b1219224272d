// Matrix products: Gemm (with a fused bias and activation) and MatMul (numpy
// semantics, batched with broadcasting), through Sgemm (gemm.h). MatMul may
// carry a third input, a bias of N elements that the optimiser fused into a
// product with constant 2-D weights (FuseMatMulAdd), and a fused activation.
//
// When built with oneDNN, products with a constant weight matrix (Dense
// layers: Gemm with constant B and a constant [N] bias or none, MatMul of any
// rank-2+ A with a constant 2-D B) run there instead, with B packed once
// (kernels/onednn/onednn_matmul.h says why). The internal attribute
// `_gemm_algorithm` ("sgemm" or "onednn") overrides the choice, for tests and
// benchmarks.
#include "servekit/kernels/gemm.h"

#include <algorithm>
#include <cstring>

#include "servekit/kernels/activation.h"
#include "servekit/kernels/kernel_util.h"

#ifdef SERVEKIT_WITH_ONEDNN
#include "servekit/kernels/onednn/onednn_matmul.h"
#endif

namespace servekit {
namespace {

// `_gemm_algorithm`: "" (servekit chooses), "sgemm" or "onednn".
StatusOr<std::string> ReadGemmAlgorithm(const Node& node) {
  ASSIGN_OR_RETURN(std::string algorithm, node.attributes.GetString("_gemm_algorithm", ""));
  if (algorithm != "" && algorithm != "sgemm" && algorithm != "onednn") {
    return absl::InvalidArgumentError(
        absl::StrCat("_gemm_algorithm must be \"sgemm\" or \"onednn\", not \"", algorithm, "\""));
  }
  return algorithm;
}

#ifdef SERVEKIT_WITH_ONEDNN
// A product of A's last axis with a constant matrix, run by oneDNN; `fallback`
// (the Sgemm kernel of the same node) runs the batch sizes oneDNN has no plan for.
class OneDnnDenseKernel : public OpKernel {
 public:
  OneDnnDenseKernel(std::unique_ptr<OneDnnMatMul> matmul, std::unique_ptr<OpKernel> fallback,
                    Activation activation, int64_t k)
      : matmul_(std::move(matmul)),
        fallback_(std::move(fallback)),
        activation_(activation),
        k_(k) {}

  size_t ScratchBytes(absl::Span<const Shape* const> in, absl::Span<const Shape* const> out,
                      int num_threads) const override {
    std::optional<size_t> bytes = OneDnnScratch(NumElements(*in[0]) / k_, num_threads);
    return bytes.has_value() ? *bytes : fallback_->ScratchBytes(in, out, num_threads);
  }

  Status Compute(const KernelContext& ctx) const override {
    const Tensor& a = *ctx.inputs[0];
    const int64_t rows = a.num_elements() / k_;
    // Taken exactly when ScratchBytes sized the scratch for it.
    if (!OneDnnScratch(rows, ctx.pool->num_threads()).has_value()) return fallback_->Compute(ctx);
    const Tensor* bias = ctx.inputs.size() > 2 ? ctx.inputs[2] : nullptr;
    Tensor& y = *ctx.outputs[0];
    RETURN_IF_ERROR(matmul_->Run(a.data<float>(), rows, ctx.inputs[1]->data<float>(),
                                 bias != nullptr ? bias->data<float>() : nullptr, y.data<float>(),
                                 ctx.scratch, *ctx.pool));
    if (!matmul_->fuses_activation())
      ApplyActivation(activation_, y.data<float>(), y.num_elements());
    return absl::OkStatus();
  }

 private:
  // oneDNN's scratch for `rows`, or nullopt when the fallback runs them. One
  // row goes to Eigen's GEMV (through Sgemm): measured faster at every size
  // from 128x10 to 4096x4096 (a memory-bound product; oneDNN's call costs more).
  std::optional<size_t> OneDnnScratch(int64_t rows, int num_threads) const {
    if (rows == 1) return std::nullopt;
    return matmul_->ScratchBytes(rows, num_threads);
  }

  std::unique_ptr<OneDnnMatMul> matmul_;
  std::unique_ptr<OpKernel> fallback_;
  Activation activation_;
  int64_t k_;
};
#endif

// Wraps `sgemm_kernel` with oneDNN when `geometry` (nullopt: not a product
// with constant weights) allows it and `algorithm` does not forbid it.
StatusOr<std::unique_ptr<OpKernel>> ChooseGemmKernel(std::unique_ptr<OpKernel> sgemm_kernel,
                                                     const std::string& algorithm,
                                                     const Activation& activation,
                                                     std::optional<MatMulGeometry> geometry) {
#ifdef SERVEKIT_WITH_ONEDNN
  if (algorithm != "sgemm" && geometry.has_value()) {
    std::unique_ptr<OneDnnMatMul> matmul = OneDnnMatMul::Create(*geometry, activation);
    if (matmul != nullptr) {
      return std::unique_ptr<OpKernel>(new OneDnnDenseKernel(
          std::move(matmul), std::move(sgemm_kernel), activation, geometry->k));
    }
  }
  if (algorithm == "onednn") {
    return absl::InvalidArgumentError(
        geometry.has_value() ? "oneDNN has no matrix product for this node"
                             : "_gemm_algorithm \"onednn\" needs a constant 2-D B (and for Gemm, "
                               "no transA and a constant bias of N elements or none)");
  }
#else
  (void)activation;
  (void)geometry;
  if (algorithm == "onednn") {
    return absl::UnimplementedError("servekit was built without oneDNN (SERVEKIT_WITH_ONEDNN)");
  }
#endif
  return sgemm_kernel;
}

// --- Gemm -----------------------------------------------------------------------------

Status InferGemm(InferenceContext& ctx) {
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    RETURN_IF_ERROR(ctx.ExpectDType(i, {DType::kFloat32}));
  }
  RETURN_IF_ERROR(ctx.ExpectRank(0, 2));
  RETURN_IF_ERROR(ctx.ExpectRank(1, 2));
  ASSIGN_OR_RETURN(int64_t trans_a, ctx.attributes().GetInt("transA", 0));
  ASSIGN_OR_RETURN(int64_t trans_b, ctx.attributes().GetInt("transB", 0));
  const SymShape& a = ctx.input(0).shape;
  const SymShape& b = ctx.input(1).shape;
  const Dim m = trans_a ? a[1] : a[0];
  const Dim k_a = trans_a ? a[0] : a[1];
  const Dim k_b = trans_b ? b[1] : b[0];
  const Dim n = trans_b ? b[0] : b[1];
  if (k_a != k_b) {
    return ctx.Error(absl::StrCat("inner dimensions differ: A is ", SymShapeToString(a),
                                  (trans_a ? " (transposed)" : ""), ", B is ", SymShapeToString(b),
                                  (trans_b ? " (transposed)" : "")));
  }
  if (!n.is_fixed() || !k_a.is_fixed())
    return ctx.Error("the weight matrix B must have fixed dims");
  if (ctx.has_input(2)) {
    // C broadcasts (unidirectionally) to [M, N].
    auto c = BroadcastShapes(ctx.input(2).shape, SymShape{m, n});
    if (!c.ok() || *c != SymShape{m, n}) {
      return ctx.Error(absl::StrCat("bias C of shape ", SymShapeToString(ctx.input(2).shape),
                                    " does not broadcast to [", m.ToString(), ", ", n.ToString(),
                                    "]"));
    }
  }
  ctx.SetOutput(0, DType::kFloat32, {m, n});
  return absl::OkStatus();
}

class GemmKernel : public OpKernel {
 public:
  GemmKernel(bool trans_a, bool trans_b, float alpha, float beta, Activation activation)
      : trans_a_(trans_a), trans_b_(trans_b), alpha_(alpha), beta_(beta), activation_(activation) {}

  Status Compute(const KernelContext& ctx) const override {
    const Tensor& a = *ctx.inputs[0];
    const Tensor& b = *ctx.inputs[1];
    const Tensor* c = ctx.inputs.size() > 2 ? ctx.inputs[2] : nullptr;
    Tensor& y = *ctx.outputs[0];
    GemmShape s;
    s.m = y.dim(0);
    s.n = y.dim(1);
    s.k = trans_a_ ? a.dim(0) : a.dim(1);
    s.trans_a = trans_a_;
    s.trans_b = trans_b_;
    float* out = y.data<float>();
    float beta = 0.0f;
    if (c != nullptr && beta_ != 0.0f && c->num_elements() > 0) {
      FillWithBias(*c, y);
      beta = 1.0f;
    }
    Sgemm(s, alpha_, a.data<float>(), b.data<float>(), beta, out, *ctx.pool);
    ApplyActivation(activation_, out, y.num_elements());
    return absl::OkStatus();
  }

 private:
  // y = beta * broadcast(c); c is [N], [1, N], [M, 1], [M, N] or a scalar.
  void FillWithBias(const Tensor& c, Tensor& y) const {
    const int64_t m = y.dim(0), n = y.dim(1);
    const float* src = c.data<float>();
    float* dst = y.data<float>();
    const int64_t rows = c.rank() == 2 ? c.dim(0) : 1;
    const int64_t cols = c.rank() >= 1 ? c.dim(c.rank() - 1) : 1;
    for (int64_t i = 0; i < m; ++i) {
      const float* row = src + (rows == 1 ? 0 : i * cols);
      float* out = dst + i * n;
      if (cols == n) {
        for (int64_t j = 0; j < n; ++j) out[j] = beta_ * row[j];
      } else {
        std::fill_n(out, n, beta_ * row[0]);
      }
    }
  }

  bool trans_a_, trans_b_;
  float alpha_, beta_;
  Activation activation_;
};

StatusOr<std::unique_ptr<OpKernel>> CreateGemm(const Node& node, const Graph& graph) {
  ASSIGN_OR_RETURN(int64_t trans_a, node.attributes.GetInt("transA", 0));
  ASSIGN_OR_RETURN(int64_t trans_b, node.attributes.GetInt("transB", 0));
  ASSIGN_OR_RETURN(float alpha, node.attributes.GetFloat("alpha", 1.0f));
  ASSIGN_OR_RETURN(float beta, node.attributes.GetFloat("beta", 1.0f));
  ASSIGN_OR_RETURN(Activation activation, Activation::ReadFused(node.attributes));
  ASSIGN_OR_RETURN(std::string algorithm, ReadGemmAlgorithm(node));
  auto sgemm_kernel = std::unique_ptr<OpKernel>(
      new GemmKernel(trans_a != 0, trans_b != 0, alpha, beta, activation));
  // oneDNN's form: constant B, A not transposed, bias absent (or ignored) or a
  // constant of N elements.
  std::optional<MatMulGeometry> geometry;
  const Value& b = graph.values[node.inputs[1]];
  if (!trans_a && b.constant.has_value()) {
    const int64_t k = trans_b ? b.constant->dim(1) : b.constant->dim(0);
    const int64_t n = trans_b ? b.constant->dim(0) : b.constant->dim(1);
    const bool uses_bias = HasInput(node, 2) && beta != 0.0f;
    bool bias_ok = !uses_bias;
    if (uses_bias) {
      const Value& c = graph.values[node.inputs[2]];
      bias_ok = c.constant.has_value() &&
                (c.constant->shape() == Shape{n} || c.constant->shape() == Shape{1, n});
    }
    if (bias_ok) {
      geometry = MatMulGeometry{.k = k,
                                .n = n,
                                .trans_b = trans_b != 0,
                                .alpha = alpha,
                                .has_bias = uses_bias,
                                .beta = beta};
    }
  }
  return ChooseGemmKernel(std::move(sgemm_kernel), algorithm, activation, geometry);
}

// --- MatMul ---------------------------------------------------------------------------

// MatMul's shapes after numpy's promotion of 1-D operands.
struct MatMulDims {
  SymShape batch;  // broadcast batch dims of the output
  Dim m, k, n;
  bool a_vector = false;  // A was 1-D: the M axis is dropped from the output
  bool b_vector = false;  // B was 1-D: the N axis is dropped
};

StatusOr<MatMulDims> ResolveMatMul(const SymShape& a_in, const SymShape& b_in) {
  if (a_in.empty() || b_in.empty())
    return absl::InvalidArgumentError("MatMul inputs must have rank >= 1");
  MatMulDims d;
  SymShape a = a_in, b = b_in;
  if (a.size() == 1) {
    a.insert(a.begin(), Dim::Fixed(1));
    d.a_vector = true;
  }
  if (b.size() == 1) {
    b.push_back(Dim::Fixed(1));
    d.b_vector = true;
  }
  d.m = a[a.size() - 2];
  d.k = a[a.size() - 1];
  d.n = b[b.size() - 1];
  if (b[b.size() - 2] != d.k) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inner dimensions differ: ", SymShapeToString(a_in), " x ", SymShapeToString(b_in)));
  }
  ASSIGN_OR_RETURN(
      d.batch, BroadcastShapes(SymShape(a.begin(), a.end() - 2), SymShape(b.begin(), b.end() - 2)));
  return d;
}

Status InferMatMul(InferenceContext& ctx) {
  RETURN_IF_ERROR(ctx.ExpectDType(0, {DType::kFloat32}));
  RETURN_IF_ERROR(ctx.ExpectDType(1, {DType::kFloat32}));
  auto dims = ResolveMatMul(ctx.input(0).shape, ctx.input(1).shape);
  if (!dims.ok()) return ctx.Error(dims.status().message());
  if (ctx.has_input(2)) {
    // servekit's fused bias (FuseMatMulAdd): ONNX's MatMul has two inputs.
    const Value& b = ctx.input(1);
    const Value& bias = ctx.input(2);
    if (!b.constant || b.shape.size() != 2 || !bias.constant || bias.dtype != DType::kFloat32 ||
        bias.shape != SymShape{dims->n}) {
      return ctx.Error(
          "a third input (a fused bias) needs a constant 2-D B and a constant float32 bias of N "
          "elements");
    }
  }
  SymShape out = dims->batch;
  if (!dims->a_vector) out.push_back(dims->m);
  if (!dims->b_vector) out.push_back(dims->n);
  ctx.SetOutput(0, DType::kFloat32, out);
  return absl::OkStatus();
}

std::unique_ptr<OpKernel> SgemmMatMulKernel(const Activation& activation);

StatusOr<std::unique_ptr<OpKernel>> CreateMatMul(const Node& node, const Graph& graph) {
  ASSIGN_OR_RETURN(Activation activation, Activation::ReadFused(node.attributes));
  ASSIGN_OR_RETURN(std::string algorithm, ReadGemmAlgorithm(node));
  // oneDNN's form: a constant 2-D B, A of rank 2 or more (its rows all multiply B).
  std::optional<MatMulGeometry> geometry;
  const Value& b = graph.values[node.inputs[1]];
  const bool has_bias = HasInput(node, 2);
  if (b.constant.has_value() && b.constant->rank() == 2 &&
      graph.values[node.inputs[0]].shape.size() >= 2) {
    geometry =
        MatMulGeometry{.k = b.constant->dim(0), .n = b.constant->dim(1), .has_bias = has_bias};
  }
  return ChooseGemmKernel(SgemmMatMulKernel(activation), algorithm, activation, geometry);
}

// Work per chunk when a batched MatMul splits its batch indices across the
// pool: ~2 MFLOP, ~20 µs, well above an OpenMP team's hand-off.
constexpr int64_t kMinFlopsPerBatchChunk = int64_t{2} << 20;

std::unique_ptr<OpKernel> SgemmMatMulKernel(const Activation& activation) {
  return MakeKernel([activation](const KernelContext& ctx) -> Status {
    const Tensor& a = *ctx.inputs[0];
    const Tensor& b = *ctx.inputs[1];
    const Tensor* bias = ctx.inputs.size() > 2 ? ctx.inputs[2] : nullptr;  // only with 2-D B
    Tensor& y = *ctx.outputs[0];
    auto dims = ResolveMatMul(FixedShape(a.shape()), FixedShape(b.shape()));
    if (!dims.ok()) return dims.status();
    const int64_t m = dims->m.value(), k = dims->k.value(), n = dims->n.value();
    const Shape batch = Evaluate(dims->batch, 0);
    const int batch_rank = static_cast<int>(batch.size());
    const int64_t batches = NumElements(batch);
    if (k == 0) {
      // Every product is an empty sum: one fill, not a GEMM per broadcast
      // batch (a 104-byte model asked for 22 million of them per request).
      const int64_t rows = y.num_elements() / std::max<int64_t>(n, 1);
      for (int64_t r = 0; r < rows; ++r) {
        float* row = y.data<float>() + r * n;
        if (bias != nullptr) {
          std::copy_n(bias->data<float>(), n, row);
        } else {
          std::fill_n(row, n, 0.0f);
        }
      }
    } else if (b.rank() <= 2 && a.rank() >= 2) {
      // B shared by every batch (2-D weights): one GEMM over all rows of A,
      // accumulating onto the fused bias when there is one.
      const int64_t rows = batches * m;
      float beta = 0.0f;
      if (bias != nullptr) {
        for (int64_t r = 0; r < rows; ++r) {
          std::copy_n(bias->data<float>(), n, y.data<float>() + r * n);
        }
        beta = 1.0f;
      }
      GemmShape s{rows, n, k};
      Sgemm(s, 1.0f, a.data<float>(), b.data<float>(), beta, y.data<float>(), *ctx.pool);
    } else {
      // Batch offsets with broadcasting: strides over each operand's batch dims.
      auto batch_strides = [&](const Tensor& t, int64_t matrix_size) {
        Shape strides(batch_rank, 0);
        const int t_batch_rank = std::max(0, t.rank() - 2);
        int64_t stride = matrix_size;
        for (int i = 0; i < t_batch_rank; ++i) {
          const int axis = batch_rank - 1 - i;
          const int64_t dim = t.dim(t_batch_rank - 1 - i);
          strides[axis] = dim == 1 ? 0 : stride;
          stride *= dim;
        }
        return strides;
      };
      const Shape sa = batch_strides(a, m * k);
      const Shape sb = batch_strides(b, k * n);
      // One product per batch index. A transformer's attention makes many
      // small ones (64x64x32 per head): too small to split, so the batch
      // indices are split across the pool instead, each product on one thread.
      static const IntraOpPool kOneThread(1);
      const int64_t min_batches =
          std::max<int64_t>(1, kMinFlopsPerBatchChunk / std::max<int64_t>(2 * m * n * k, 1));
      ctx.pool->ParallelFor(batches, min_batches, [&](int64_t begin, int64_t end) {
        const bool split = end - begin < batches;
        for (int64_t i = begin; i < end; ++i) {
          int64_t oa = 0, ob = 0;
          int64_t flat = i;
          for (int d = batch_rank - 1; d >= 0; --d) {
            const int64_t index = flat % batch[d];
            flat /= batch[d];
            oa += index * sa[d];
            ob += index * sb[d];
          }
          GemmShape s{m, n, k};
          Sgemm(s, 1.0f, a.data<float>() + oa, b.data<float>() + ob, 0.0f,
                y.data<float>() + i * m * n, split ? kOneThread : *ctx.pool);
        }
      });
    }
    ApplyActivation(activation, y.data<float>(), y.num_elements());
    return absl::OkStatus();
  });
}

void RegisterGemmOps(OpRegistry& registry) {
  registry.Register(OpSchema::Make("Gemm", 2, 3,
                                   {"alpha", "beta", "transA", "transB", "_activation",
                                    "_activation_alpha", "_activation_beta", "_gemm_algorithm"},
                                   InferGemm, CreateGemm));
  registry.Register(OpSchema::Make(
      "MatMul", 2, 3, {"_activation", "_activation_alpha", "_activation_beta", "_gemm_algorithm"},
      InferMatMul, CreateMatMul));
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kGemmOps(RegisterGemmOps);

}  // namespace
}  // namespace servekit
