// Zero-copy conversions between numpy arrays and servekit Tensors.
#pragma once

#include <pybind11/numpy.h>

#include "servekit/engine/dim.h"
#include "servekit/engine/session.h"
#include "servekit/util/tensor.h"

namespace servekit::bindings {

// The DType of a numpy dtype; kUndefined when servekit has no equivalent.
DType DTypeFromNumpy(const pybind11::dtype& dtype);
pybind11::dtype NumpyDType(DType dtype);

// A view of a C-contiguous array of a supported dtype; TypeError otherwise.
// The array must stay alive while the view is used.
Tensor TensorViewOf(const pybind11::array& array, const std::string& what);

// Views of a request's input arrays, in order; errors name the input from
// `specs` (the model's signature) where there is one.
std::vector<Tensor> InputViewsOf(const std::vector<pybind11::array>& arrays,
                                 const std::vector<TensorSpec>& specs);

// A numpy array that shares (and keeps alive) the tensor's buffer.
pybind11::array ArrayOf(Tensor tensor);

// A Python shape list: ints, None for a batch-dependent dim.
pybind11::list ShapeToPython(const SymShape& shape);

}  // namespace servekit::bindings
