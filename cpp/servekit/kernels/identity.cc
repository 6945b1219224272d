// Pass-through operators: Identity, and Dropout, which at inference copies its
// input (and, when asked for, returns an all-true mask); training mode is refused.
#include <algorithm>
#include <cstring>

#include "servekit/kernels/kernel_util.h"

namespace servekit {
namespace {

Status InferDropout(InferenceContext& ctx) {
  if (ctx.has_input(2)) {
    const Value& training = ctx.input(2);
    if (!training.constant || training.dtype != DType::kBool ||
        training.constant->num_elements() != 1) {
      return ctx.Error("training_mode must be a constant boolean scalar");
    }
    if (*training.constant->data<bool>()) {
      return ctx.Error("training_mode=true is not supported for inference");
    }
  }
  RETURN_IF_ERROR(InferSameAsInput(ctx));
  if (ctx.num_outputs() > 1) ctx.SetOutput(1, DType::kBool, ctx.input(0).shape);
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<OpKernel>> CreateDropout(const Node&, const Graph&) {
  return MakeKernel([](const KernelContext& ctx) -> Status {
    const Tensor& in = *ctx.inputs[0];
    std::memcpy(ctx.outputs[0]->raw_data(), in.raw_data(), in.num_bytes());
    if (ctx.outputs.size() > 1 && ctx.outputs[1] != nullptr) {
      std::fill_n(ctx.outputs[1]->data<bool>(), ctx.outputs[1]->num_elements(), true);
    }
    return absl::OkStatus();
  });
}

void RegisterIdentityOps(OpRegistry& registry) {
  OpSchema identity = OpSchema::Make("Identity", 1, 1, {}, InferSameAsInput, CreateCopyKernel);
  identity.output_is_input_view = true;
  registry.Register(identity);
  OpSchema dropout = OpSchema::Make("Dropout", 1, 3, {"seed"}, InferDropout, CreateDropout);
  dropout.max_outputs = 2;
  dropout.load_time_inputs = {1, 2};
  dropout.output_is_input_view = true;  // without the mask output
  registry.Register(dropout);
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kIdentityOps(RegisterIdentityOps);

}  // namespace
}  // namespace servekit
