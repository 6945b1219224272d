#include "servekit/engine/op_registry.h"

#include <algorithm>

#include "absl/strings/str_join.h"

namespace servekit {

void InferenceContext::SetOutput(int i, DType dtype, SymShape shape) {
  Value& v = output(i);
  v.dtype = dtype;
  v.shape = std::move(shape);
  v.typed = true;
}

Status InferenceContext::Error(absl::string_view message) const {
  return absl::InvalidArgumentError(absl::StrCat(node_.Describe(), ": ", message));
}

Status InferenceContext::ExpectDType(int i, std::initializer_list<DType> allowed) const {
  const DType dtype = input(i).dtype;
  if (std::find(allowed.begin(), allowed.end(), dtype) != allowed.end()) return absl::OkStatus();
  std::vector<absl::string_view> names;
  for (DType d : allowed) names.push_back(DTypeName(d));
  return Error(absl::StrCat("input ", i, " ('", input(i).name, "') has dtype ", DTypeName(dtype),
                            "; expected ", absl::StrJoin(names, " or ")));
}

Status InferenceContext::ExpectRank(int i, int rank) const {
  if (static_cast<int>(input(i).shape.size()) == rank) return absl::OkStatus();
  return Error(absl::StrCat("input ", i, " ('", input(i).name, "') has shape ",
                            SymShapeToString(input(i).shape), "; expected rank ", rank));
}

StatusOr<std::vector<int64_t>> InferenceContext::ConstantInts(int i) const {
  const Value& v = input(i);
  if (v.constant.has_value()) {
    const Tensor& t = *v.constant;
    std::vector<int64_t> out(t.num_elements());
    if (t.dtype() == DType::kInt64) {
      std::copy_n(t.data<int64_t>(), out.size(), out.begin());
    } else if (t.dtype() == DType::kInt32) {
      std::copy_n(t.data<int32_t>(), out.size(), out.begin());
    } else {
      return Error(absl::StrCat("input '", v.name, "' must be an integer tensor"));
    }
    return out;
  }
  if (v.shape_value.has_value() && IsFixed(*v.shape_value)) {
    std::vector<int64_t> out;
    for (const Dim& d : *v.shape_value) out.push_back(d.value());
    return out;
  }
  return Error(absl::StrCat("input '", v.name,
                            "' must be known when the model loads (a constant or initializer)"));
}

StatusOr<SymShape> InferenceContext::ShapeValue(int i) const {
  const Value& v = input(i);
  if (v.shape_value.has_value()) return *v.shape_value;
  ASSIGN_OR_RETURN(std::vector<int64_t> ints, ConstantInts(i));
  SymShape out;
  for (int64_t x : ints) out.push_back(Dim::Fixed(x));
  return out;
}

bool OpSchema::IsLoadTimeInput(int i) const {
  return std::find(load_time_inputs.begin(), load_time_inputs.end(), i) != load_time_inputs.end();
}

OpSchema OpSchema::Make(std::string op_type, int min_inputs, int max_inputs,
                        std::vector<std::string> attributes, InferFn infer, CreateKernelFn create) {
  OpSchema s;
  s.op_type = std::move(op_type);
  s.min_inputs = min_inputs;
  s.max_inputs = max_inputs;
  s.attributes = std::move(attributes);
  s.infer = infer;
  s.create = create;
  return s;
}

namespace {

// Constructed on first use, so OpRegistrations in other files may run first
// (static initialisation order across files is unspecified). Never destroyed.
OpRegistry& GlobalRegistry() {
  static OpRegistry* registry = new OpRegistry();
  return *registry;
}

}  // namespace

const OpRegistry& OpRegistry::Global() { return GlobalRegistry(); }

OpRegistration::OpRegistration(void (*register_ops)(OpRegistry& registry)) {
  register_ops(GlobalRegistry());
}

const OpSchema* OpRegistry::Find(absl::string_view op_type) const {
  for (const OpSchema& s : schemas_) {
    if (s.op_type == op_type) return &s;
  }
  return nullptr;
}

std::vector<std::string> OpRegistry::OpTypes() const {
  std::vector<std::string> out;
  for (const OpSchema& s : schemas_) out.push_back(s.op_type);
  std::sort(out.begin(), out.end());
  return out;
}

void OpRegistry::Register(OpSchema schema) { schemas_.push_back(std::move(schema)); }

bool HasInput(const Node& node, int i) {
  return i < static_cast<int>(node.inputs.size()) && node.inputs[i] >= 0;
}

StatusOr<const Tensor*> ConstantInput(const Node& node, const Graph& graph, int i) {
  if (!HasInput(node, i)) return nullptr;
  const Value& v = graph.values[node.inputs[i]];
  if (!v.constant.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(node.Describe(), ": input '", v.name, "' must be a constant (initializer)"));
  }
  return &*v.constant;
}

StatusOr<std::vector<int64_t>> ConstantInputInts(const Node& node, const Graph& graph, int i) {
  ASSIGN_OR_RETURN(const Tensor* t, ConstantInput(node, graph, i));
  if (t == nullptr)
    return absl::InvalidArgumentError(absl::StrCat(node.Describe(), ": input ", i, " is missing"));
  std::vector<int64_t> out(t->num_elements());
  if (t->dtype() == DType::kInt64) {
    std::copy_n(t->data<int64_t>(), out.size(), out.begin());
  } else if (t->dtype() == DType::kInt32) {
    std::copy_n(t->data<int32_t>(), out.size(), out.begin());
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(node.Describe(), ": input ", i, " must be an integer tensor"));
  }
  return out;
}

}  // namespace servekit
