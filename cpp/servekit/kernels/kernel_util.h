// Small helpers shared by the kernel family files.
#pragma once

#include "servekit/engine/op_registry.h"

namespace servekit {

// Output 0 has input 0's dtype and shape (and shape value, when known).
Status InferSameAsInput(InferenceContext& ctx);

// A kernel that calls `fn(const Tensor& in, Tensor& out)` on input 0 / output 0.
template <typename Fn>
class LambdaKernel : public OpKernel {
 public:
  explicit LambdaKernel(Fn fn) : fn_(std::move(fn)) {}
  Status Compute(const KernelContext& ctx) const override { return fn_(ctx); }

 private:
  Fn fn_;
};

template <typename Fn>
std::unique_ptr<OpKernel> MakeKernel(Fn fn) {
  return std::make_unique<LambdaKernel<Fn>>(std::move(fn));
}

// For ops that only copy bytes (Reshape, Flatten, Squeeze, ...): output 0 gets
// input 0's elements unchanged.
StatusOr<std::unique_ptr<OpKernel>> CreateCopyKernel(const Node& node, const Graph& graph);

}  // namespace servekit
