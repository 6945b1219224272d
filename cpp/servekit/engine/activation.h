// Activation: which elementwise function (and its parameters) an activation
// computes. A description only; the kernels compute it (kernels/activation.h).
//
// The fusion pass (engine/passes/fuse_activation.cc) stores one on a Conv, Gemm
// or MatMul node as the internal attributes `_activation`, `_activation_alpha`,
// `_activation_beta`; that node's kernel reads it back and applies it in its
// output pass. The standalone activation kernels use the same description.
#pragma once

#include <string>

#include "servekit/engine/attributes.h"
#include "servekit/util/status.h"

namespace servekit {

struct Activation {
  enum class Kind { kNone, kRelu, kLeakyRelu, kSigmoid, kTanh, kClip, kGelu, kErf };
  Kind kind = Kind::kNone;
  float alpha = 0;  // LeakyRelu slope; Clip minimum
  float beta = 0;   // Clip maximum

  // The activation a standalone op computes ("Relu", "LeakyRelu", ...), or kNone.
  static Activation ForOpType(const std::string& op_type, float alpha, float beta);
  // Stores/reads the fused epilogue on a Gemm or Conv node.
  void StoreAsFused(Attributes& attributes) const;
  static StatusOr<Activation> ReadFused(const Attributes& attributes);
};

}  // namespace servekit
