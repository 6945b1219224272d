// The individual optimisation passes run by OptimizeGraph (see optimizer.h),
// exposed one by one for their tests. Each keeps the graph valid and typed.
#pragma once

#include <string>
#include <vector>

#include "servekit/engine/graph.h"
#include "servekit/util/status.h"

namespace servekit {

Status RemoveIdentityNodes(Graph& graph);
Status SinkTransposes(Graph& graph);
Status FoldBatchNormalization(Graph& graph);
Status UnflattenMatMul(Graph& graph);
Status FuseMatMulAdd(Graph& graph);
Status FuseErfGelu(Graph& graph);
Status FuseLayerNormalization(Graph& graph);
Status FuseActivations(Graph& graph);
Status UseChannelsLast(Graph& graph);
Status FuseConvResidual(Graph& graph);
Status RemoveDeadNodes(Graph& graph);

// Helpers shared by the passes.
namespace passes {

// Removes node `x` (one input value v, one output value y) by making v's
// producer write y directly. Valid when v has a producer, v is read only by x,
// and v is not a graph output. Returns false when not applicable.
bool MergeIntoProducer(Graph& graph, int x);
// Drops nodes whose op_type was cleared by a pass.
void CompactNodes(Graph& graph);
// The elementwise ops SinkTransposes moves a Transpose through (when their
// other operands are constants): they compute the same in any layout.
bool IsLayoutAgnosticElementwise(const std::string& op_type);

// What pattern-matching passes ask of a graph: who writes each value, how
// often each is read, and what small constants hold. A snapshot: rebuild it
// after rewriting the graph.
class GraphView {
 public:
  explicit GraphView(const Graph& graph)
      : graph_(graph), producers_(graph.Producers()), uses_(graph.CountUses()) {}

  const Graph& graph() const { return graph_; }
  const Node& node(int n) const { return graph_.nodes[n]; }
  // Readers of value v (a graph output counts as one).
  int uses(int v) const { return v < 0 ? 0 : uses_[v]; }
  // The live node writing value v, or -1 (an input or a constant).
  int Producer(int v) const { return v < 0 ? -1 : producers_[v]; }
  // The node writing value v if it is a live `op_type` node, else -1.
  int Producer(int v, const std::string& op_type) const;
  // Whether value v is a float32 constant of one element within 1e-5
  // (relative) of `target`.
  bool IsScalar(int v, double target) const;
  // Whether the values written by `nodes` are read by `nodes` alone (and are
  // no graph outputs), except those of `result_node`: the nodes can then be
  // replaced by one that computes the result.
  bool ReadOnlyWithin(const std::vector<int>& nodes, int result_node) const;

 private:
  const Graph& graph_;
  const std::vector<int> producers_;
  const std::vector<int> uses_;
};

}  // namespace passes
}  // namespace servekit
