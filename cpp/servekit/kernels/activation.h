// Computing an Activation (engine/activation.h): applied in place to float data.
//
// Used by the activation operators themselves and as the epilogue of the Gemm,
// MatMul and Conv kernels that the fusion pass gave an activation.
#pragma once

#include <cstdint>

#include "servekit/engine/activation.h"

namespace servekit {

// Applies `activation` to data[0, n).
void ApplyActivation(const Activation& activation, float* data, int64_t n);

}  // namespace servekit
