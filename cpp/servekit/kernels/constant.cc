// Constant: a value given as an attribute. Inference stores it on the output,
// so it is known at load time and the node never runs.
#include <algorithm>
#include <vector>

#include "servekit/kernels/kernel_util.h"

namespace servekit {
namespace {

Status NotRunnable(const Node& node) {
  return absl::InternalError(absl::StrCat(node.Describe(), " is evaluated at load time only"));
}

Status InferConstant(InferenceContext& ctx) {
  const Attributes& attrs = ctx.attributes();
  if (attrs.all().size() != 1) return ctx.Error("exactly one value attribute is required");
  Tensor value;
  if (attrs.Has("value")) {
    ASSIGN_OR_RETURN(const Tensor* t, attrs.GetTensor("value"));
    value = *t;
  } else if (attrs.Has("value_float")) {
    ASSIGN_OR_RETURN(float f, attrs.GetFloat("value_float", 0));
    ASSIGN_OR_RETURN(value, Tensor::Allocate(DType::kFloat32, {}));
    *value.data<float>() = f;
  } else if (attrs.Has("value_int")) {
    ASSIGN_OR_RETURN(int64_t i, attrs.GetInt("value_int", 0));
    ASSIGN_OR_RETURN(value, Tensor::Allocate(DType::kInt64, {}));
    *value.data<int64_t>() = i;
  } else if (attrs.Has("value_floats")) {
    ASSIGN_OR_RETURN(std::vector<float> fs, attrs.GetFloats("value_floats", {}));
    ASSIGN_OR_RETURN(value, Tensor::Allocate(DType::kFloat32, {static_cast<int64_t>(fs.size())}));
    std::copy(fs.begin(), fs.end(), value.data<float>());
  } else if (attrs.Has("value_ints")) {
    ASSIGN_OR_RETURN(std::vector<int64_t> is, attrs.GetInts("value_ints", {}));
    ASSIGN_OR_RETURN(value, Tensor::Allocate(DType::kInt64, {static_cast<int64_t>(is.size())}));
    std::copy(is.begin(), is.end(), value.data<int64_t>());
  } else {
    return ctx.Error("unsupported value attribute");
  }
  ctx.SetOutput(0, value.dtype(), FixedShape(value.shape()));
  ctx.output(0).constant = std::move(value);
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<OpKernel>> CreateConstant(const Node& node, const Graph&) {
  return NotRunnable(node);
}

void RegisterConstantOps(OpRegistry& registry) {
  OpSchema constant = OpSchema::Make(
      "Constant", 0, 0, {"value", "value_float", "value_floats", "value_int", "value_ints"},
      InferConstant, CreateConstant);
  registry.Register(constant);
}

// Adds the schemas above to OpRegistry::Global() when the program starts.
const OpRegistration kConstantOps(RegisterConstantOps);

}  // namespace
}  // namespace servekit
