#include "servekit/engine/optimizer.h"

#include "servekit/engine/passes/passes.h"

namespace servekit {

Status OptimizeGraph(Graph& graph) {
  RETURN_IF_ERROR(RemoveIdentityNodes(graph));
  // Before the folds and fusions: cancelling layout Transposes makes ops adjacent.
  RETURN_IF_ERROR(SinkTransposes(graph));
  RETURN_IF_ERROR(RemoveIdentityNodes(graph));
  RETURN_IF_ERROR(FoldBatchNormalization(graph));
  RETURN_IF_ERROR(FuseLayerNormalization(graph));
  RETURN_IF_ERROR(UnflattenMatMul(graph));
  RETURN_IF_ERROR(FuseMatMulAdd(graph));
  // Before FuseActivations, which folds the Gelu it makes into the layer before.
  RETURN_IF_ERROR(FuseErfGelu(graph));
  RETURN_IF_ERROR(FuseActivations(graph));
  // Readers left dead by the folds (a Flatten's Shape subgraph, once its
  // Reshape got a constant shape) would hold Transposes in place.
  RETURN_IF_ERROR(RemoveDeadNodes(graph));
  // After the folds and fusions above, which match NCHW nodes.
  RETURN_IF_ERROR(UseChannelsLast(graph));
  // After it, on the layout the convolutions run in (once the Transposes it
  // left unread are gone: they count as readers); then the activations after
  // the fused Adds.
  RETURN_IF_ERROR(RemoveDeadNodes(graph));
  RETURN_IF_ERROR(FuseConvResidual(graph));
  RETURN_IF_ERROR(FuseActivations(graph));
  RETURN_IF_ERROR(RemoveDeadNodes(graph));
  return absl::OkStatus();
}

}  // namespace servekit
