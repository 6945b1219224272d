#include "servekit/engine/activation.h"

namespace servekit {
namespace {

constexpr const char* kActivation = "_activation";
constexpr const char* kActivationAlpha = "_activation_alpha";
constexpr const char* kActivationBeta = "_activation_beta";

const char* KindName(Activation::Kind kind) {
  switch (kind) {
    case Activation::Kind::kRelu:
      return "Relu";
    case Activation::Kind::kLeakyRelu:
      return "LeakyRelu";
    case Activation::Kind::kSigmoid:
      return "Sigmoid";
    case Activation::Kind::kTanh:
      return "Tanh";
    case Activation::Kind::kClip:
      return "Clip";
    case Activation::Kind::kGelu:
      return "Gelu";
    case Activation::Kind::kErf:
      return "Erf";
    case Activation::Kind::kNone:
      return "";
  }
  return "";
}

}  // namespace

Activation Activation::ForOpType(const std::string& op_type, float alpha, float beta) {
  for (Kind kind : {Kind::kRelu, Kind::kLeakyRelu, Kind::kSigmoid, Kind::kTanh, Kind::kClip,
                    Kind::kGelu, Kind::kErf}) {
    if (op_type == KindName(kind)) return Activation{kind, alpha, beta};
  }
  return Activation{};
}

void Activation::StoreAsFused(Attributes& attributes) const {
  attributes.Set(kActivation, std::string(KindName(kind)));
  attributes.Set(kActivationAlpha, alpha);
  attributes.Set(kActivationBeta, beta);
}

StatusOr<Activation> Activation::ReadFused(const Attributes& attributes) {
  ASSIGN_OR_RETURN(std::string name, attributes.GetString(kActivation, ""));
  ASSIGN_OR_RETURN(float alpha, attributes.GetFloat(kActivationAlpha, 0));
  ASSIGN_OR_RETURN(float beta, attributes.GetFloat(kActivationBeta, 0));
  if (name.empty()) return Activation{};
  Activation a = ForOpType(name, alpha, beta);
  if (a.kind == Kind::kNone) {
    return absl::InvalidArgumentError(absl::StrCat("unknown fused activation '", name, "'"));
  }
  return a;
}

}  // namespace servekit
