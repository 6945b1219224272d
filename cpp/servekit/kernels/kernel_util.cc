#include "servekit/kernels/kernel_util.h"

#include <cstring>

namespace servekit {

Status InferSameAsInput(InferenceContext& ctx) {
  ctx.SetOutput(0, ctx.input(0).dtype, ctx.input(0).shape);
  if (ctx.input(0).shape_value) ctx.output(0).shape_value = ctx.input(0).shape_value;
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<OpKernel>> CreateCopyKernel(const Node&, const Graph&) {
  return MakeKernel([](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    Tensor& out = *ctx.outputs[0];
    if (out.raw_data() != in.raw_data() && in.num_bytes() > 0) {
      std::memcpy(out.raw_data(), in.raw_data(), in.num_bytes());
    }
    return absl::OkStatus();
  });
}

}  // namespace servekit
