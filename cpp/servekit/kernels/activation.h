// Activation: an elementwise function applied in place to float data.
//
// Used by the activation operators themselves and, after the fusion pass, as the
// epilogue of Gemm and Conv kernels (stored on the node as the internal
// attributes `_activation`, `_activation_alpha`, `_activation_beta`).
#pragma once

#include <cstdint>
#include <string>

#include "servekit/engine/attributes.h"
#include "servekit/util/status.h"

namespace servekit {

struct Activation {
  enum class Kind { kNone, kRelu, kLeakyRelu, kSigmoid, kTanh, kClip, kGelu, kErf };
  Kind kind = Kind::kNone;
  float alpha = 0;  // LeakyRelu slope; Clip minimum
  float beta = 0;   // Clip maximum

  // Applies the function to data[0, n).
  void Apply(float* data, int64_t n) const;

  // The activation a standalone op computes ("Relu", "LeakyRelu", ...), or kNone.
  static Activation ForOpType(const std::string& op_type, float alpha, float beta);
  // Stores/reads the fused epilogue on a Gemm or Conv node.
  void StoreAsFused(Attributes& attributes) const;
  static StatusOr<Activation> ReadFused(const Attributes& attributes);
};

}  // namespace servekit
