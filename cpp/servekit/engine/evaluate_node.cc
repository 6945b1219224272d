#include "servekit/engine/evaluate_node.h"

#include <cstdlib>
#include <memory>

#include "servekit/engine/op_registry.h"

namespace servekit {

StatusOr<std::vector<Tensor>> EvaluateNode(const Node& node, const Graph& graph) {
  const OpSchema* schema = OpRegistry::Global().Find(node.op_type);
  if (schema == nullptr) return absl::InternalError(absl::StrCat(node.Describe(), ": unknown op"));
  ASSIGN_OR_RETURN(std::unique_ptr<OpKernel> kernel, schema->create(node, graph));

  std::vector<const Tensor*> inputs(node.inputs.size(), nullptr);
  std::vector<const Shape*> input_shapes(node.inputs.size(), nullptr);
  static const Shape kEmpty;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    input_shapes[i] = &kEmpty;
    if (node.inputs[i] < 0 || schema->IsLoadTimeInput(static_cast<int>(i))) continue;
    inputs[i] = &*graph.values[node.inputs[i]].constant;
    input_shapes[i] = &inputs[i]->shape();
  }
  std::vector<Tensor> outputs(node.outputs.size());
  std::vector<Tensor*> output_ptrs;
  std::vector<const Shape*> output_shapes;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    const Value& v = graph.values[node.outputs[i]];
    ASSIGN_OR_RETURN(outputs[i], Tensor::Allocate(v.dtype, Evaluate(v.shape, 0)));
    output_ptrs.push_back(&outputs[i]);
    output_shapes.push_back(&outputs[i].shape());
  }
  static const IntraOpPool kInline(1);
  const size_t scratch_bytes = kernel->ScratchBytes(input_shapes, output_shapes, 1);
  std::unique_ptr<void, decltype(&std::free)> scratch(
      scratch_bytes ? std::aligned_alloc(kTensorAlignment, (scratch_bytes + 63) / 64 * 64)
                    : nullptr,
      std::free);
  KernelContext ctx{inputs, output_ptrs, scratch.get(), &kInline};
  RETURN_IF_ERROR(kernel->Compute(ctx));
  return outputs;
}

}  // namespace servekit
