// TranslateSignature: a SavedModel signature's inlined TensorFlow ops
// (function_inliner.h) as servekit's IR, ready for InferGraph.
//
// Each TensorFlow op becomes the IR ops (ONNX semantics) that compute the
// same thing. TensorFlow's image ops are NHWC: where the Conv kernel computes
// in NHWC (oneDNN), convolutions and pools become NHWC nodes (the `_layout`
// attribute) and a network of them runs with no Transpose; otherwise each is
// an NCHW node in a Transpose pair, and the optimiser's transpose pass
// (engine/passes) cancels the pairs between layers. A batch norm with
// constant statistics after a convolution (through its bias, activations,
// pools) is a per-channel Mul and Add, which the optimiser folds into the
// convolution when they follow it directly; any other batch norm is an NCHW
// BatchNormalization in a Transpose pair, which checks its parameters'
// length. Attributes that the file omitted because
// they equal their defaults (stripped_default_attrs) get TensorFlow's
// defaults.
//
// The graph's inputs and outputs are the signature's keys, sorted; input
// types come from the signature (a -1 first dimension is the batch; other
// unknown dimensions, unknown ranks and string or resource inputs are
// refused). Variables are read through `read_variable`, given the top-level
// variable node's name, only for the variables the signature reads.
//
// Errors are InvalidArgument (Unimplemented for an op or form servekit does
// not translate), naming the op, the node and the function.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "servekit/engine/graph.h"
#include "servekit/formats/savedmodel/function_inliner.h"
#include "servekit/util/status.h"
#include "servekit/util/tensor.h"

namespace servekit {

using VariableReader = std::function<StatusOr<Tensor>(const std::string& variable_node)>;

// `nodes` may hold other signatures' nodes too (SignatureInliner): only those
// the signature's outputs need are translated.
StatusOr<Graph> TranslateSignature(const std::vector<TfNode>& nodes,
                                   const TfSignatureTensors& tensors,
                                   const tensorflow::SignatureDef& signature,
                                   const VariableReader& read_variable);

StatusOr<Graph> TranslateSignature(const TfFlatGraph& flat,
                                   const tensorflow::SignatureDef& signature,
                                   const VariableReader& read_variable);

}  // namespace servekit
