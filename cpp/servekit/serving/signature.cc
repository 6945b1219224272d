#include "servekit/serving/signature.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace servekit {
namespace {

ModelSignature ViewOf(const LoadedSignature& signature) {
  return ModelSignature{signature.name, signature.method_name, signature.session->inputs(),
                        signature.session->outputs(), signature.session.get()};
}

}  // namespace

std::vector<ModelSignature> SignaturesOf(const LoadedModel& model) {
  std::vector<ModelSignature> views;
  views.reserve(model.signatures().size());
  for (const LoadedSignature& signature : model.signatures()) views.push_back(ViewOf(signature));
  return views;
}

StatusOr<ModelSignature> FindSignature(const LoadedModel& model,
                                       const std::string& signature_name) {
  const std::string& name = signature_name.empty() ? kDefaultSignatureName : signature_name;
  if (const LoadedSignature* signature = model.Find(name)) return ViewOf(*signature);
  // TF Serving's words, so that clients matching on them keep working.
  if (signature_name.empty()) {
    return absl::InvalidArgumentError(
        "Default serving signature key not found; name a signature (signature_name)");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("Serving signature name: \"", signature_name, "\" not found in signature def"));
}

std::string SpecNames(absl::Span<const TensorSpec> specs) {
  return absl::StrJoin(specs, ", ",
                       [](std::string* out, const TensorSpec& s) { absl::StrAppend(out, s.name); });
}

StatusOr<const TensorSpec*> FindInput(const ModelSignature& signature, absl::string_view name) {
  for (const TensorSpec& spec : signature.inputs) {
    if (spec.name == name) return &spec;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("input tensor alias not found in signature: ", name,
                   ". Inputs expected to be in the set {", SpecNames(signature.inputs), "}."));
}

StatusOr<const TensorSpec*> FindOutput(const ModelSignature& signature, absl::string_view name) {
  for (const TensorSpec& spec : signature.outputs) {
    if (spec.name == name) return &spec;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("output tensor alias not found in signature: ", name,
                   ". Outputs expected to be in the set {", SpecNames(signature.outputs), "}."));
}

Status CheckExampleApiSignature(ExampleApi api, absl::Span<const TensorSpec> output_specs) {
  const bool classify = api == ExampleApi::kClassify;
  bool fits = output_specs.size() == 1 && (output_specs[0].dtype == DType::kFloat32 ||
                                           output_specs[0].dtype == DType::kFloat64);
  if (fits) {
    const SymShape& shape = output_specs[0].shape;
    fits = classify ? shape.size() == 2 && shape[1].is_fixed()
                    : shape.size() == 1 || (shape.size() == 2 && shape[1] == Dim::Fixed(1));
  }
  if (fits) return absl::OkStatus();
  const std::string outputs =
      absl::StrJoin(output_specs, ", ", [](std::string* out, const TensorSpec& s) {
        absl::StrAppend(out, "'", s.name, "' ", DTypeName(s.dtype), " ", SymShapeToString(s.shape));
      });
  return absl::InvalidArgumentError(absl::StrCat(
      classify ? ":classify needs a model with one float output of shape [N, K] (the class scores)"
               : ":regress needs a model with one float output of shape [N] or [N, 1]",
      "; this model's outputs are ", outputs.empty() ? "none" : outputs));
}

}  // namespace servekit
