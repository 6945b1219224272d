// Runs chains of image ops in NHWC when their kernels prefer it.
//
// ONNX's convolutions and pools are NCHW; oneDNN's convolutions compute in
// NHWC (engine/image_layout.h), so an NCHW graph pays two reorders per
// convolution. This pass rewrites each Conv whose schema prefers channels-last
// (and has constant weights) to read and write NHWC, with a Transpose on each
// side restoring NCHW for its neighbours; a pool reading such a Conv's output
// (directly, or through elementwise ops with constant operands, such as a
// batch norm's Mul and Add) is rewritten the same way. SinkTransposes then
// moves the restoring Transposes forward through layout-agnostic ops (Relu,
// Add, ...) until they meet the next rewritten node's Transpose and both
// vanish: a chain of convolutions, activations, residual adds and pools then
// runs in NHWC from its first convolution to its end, with one reorder at each
// edge (none when the model's input is NHWC already and begins with a
// Transpose, as Keras and TensorFlow exports do).
#include <algorithm>
#include <optional>

#include "servekit/engine/image_layout.h"
#include "servekit/engine/op_registry.h"
#include "servekit/engine/passes/passes.h"

namespace servekit {
namespace {

bool AcceptsLayout(const OpSchema& schema) {
  return std::find(schema.attributes.begin(), schema.attributes.end(), kImageLayoutAttribute) !=
         schema.attributes.end();
}

bool IsPool(const std::string& op_type) {
  return op_type == "MaxPool" || op_type == "AveragePool" || op_type == "GlobalAveragePool" ||
         op_type == "GlobalMaxPool";
}

// A value like `like` (NCHW) in NHWC.
int AddNHWCValue(Graph& graph, int like) {
  const int id = graph.AddValue(graph.values[like].name + "_nhwc");
  Value& v = graph.values[id];
  const Value& original = graph.values[like];
  v.dtype = original.dtype;
  v.typed = original.typed;
  v.shape = FromNCHW(original.shape, ImageLayout::kNHWC);
  return id;
}

Node MakeTranspose(const std::string& name, int input, int output, std::vector<int64_t> perm) {
  Node t;
  t.name = name;
  t.op_type = "Transpose";
  t.inputs = {input};
  t.outputs = {output};
  t.attributes.Set("perm", std::move(perm));
  return t;
}

int CountTransposes(const Graph& graph) {
  return static_cast<int>(std::count_if(graph.nodes.begin(), graph.nodes.end(),
                                        [](const Node& n) { return n.op_type == "Transpose"; }));
}

}  // namespace

Status UseChannelsLast(Graph& graph) {
  // The graph as it was, to go back to: copied (sharing the constants'
  // buffers) only once a node is rewritten. Most graphs have nothing to
  // rewrite (no convolutions, or TensorFlow's, translated channels-last).
  std::optional<Graph> original;
  const int transposes_before = CountTransposes(graph);
  int rewritten_nodes = 0;
  const OpRegistry& registry = OpRegistry::Global();
  std::vector<bool> from_rewritten(graph.values.size(), false);  // written by a rewritten node
  // Values whose restoring Transpose could not move past all their readers:
  // graph outputs, and values some reader of which needs the layout (neither
  // an image op this pass can rewrite nor an elementwise op). Indexed by the
  // graph's values before the rewrites, which keep their readers.
  std::vector<bool> held(graph.values.size(), false);
  for (int output : graph.outputs) held[output] = true;
  for (const Node& reader : graph.nodes) {
    const OpSchema* schema = registry.Find(reader.op_type);
    const bool takes_layout = passes::IsLayoutAgnosticElementwise(reader.op_type) ||
                              (schema != nullptr && AcceptsLayout(*schema));
    for (int input : reader.inputs) {
      if (input >= 0 && !takes_layout) held[input] = true;
    }
  }
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    // An elementwise op whose other operands are constants passes a rewritten
    // node's layout on (SinkTransposes moves the Transpose through it): a
    // pool after a convolution's ReLU and batch norm (Mul, Add) is rewritten
    // too, instead of running NCHW between two Transposes. Only along values
    // that hold no Transpose: behind one that stays (a graph output, a value
    // a Reshape also reads), a pool in NHWC would only add two more.
    if (passes::IsLayoutAgnosticElementwise(node.op_type) && node.outputs.size() == 1 &&
        !node.attributes.Has("_activation")) {
      auto moves_on = [&held](int value) {
        return value < static_cast<int>(held.size()) && !held[value];
      };
      bool from_layout = false, others_constant = true;
      for (int input : node.inputs) {
        if (input < 0) continue;
        if (input < static_cast<int>(from_rewritten.size()) && from_rewritten[input] &&
            moves_on(input)) {
          from_layout = true;
        } else if (!graph.values[input].constant.has_value()) {
          others_constant = false;
        }
      }
      if (from_layout && others_constant && moves_on(node.outputs[0])) {
        from_rewritten.resize(graph.values.size(), false);
        from_rewritten[node.outputs[0]] = true;
      }
      continue;
    }
    const OpSchema* schema = registry.Find(node.op_type);
    if (schema == nullptr || !AcceptsLayout(*schema) ||
        node.attributes.Has(kImageLayoutAttribute) || node.inputs.empty() || node.inputs[0] < 0 ||
        node.outputs.size() != 1) {
      continue;
    }
    const int x = node.inputs[0], y = node.outputs[0];
    if (graph.values[x].shape.size() != 4 || graph.values[x].constant.has_value()) continue;
    bool rewrite = false;
    if (node.op_type == "Conv") {
      rewrite = schema->prefers_channels_last && node.inputs.size() > 1 &&
                graph.values[node.inputs[1]].constant.has_value();
    } else if (IsPool(node.op_type)) {
      rewrite = x < static_cast<int>(from_rewritten.size()) && from_rewritten[x];
    }
    if (!rewrite) continue;
    if (!original) original = graph;
    const int x_nhwc = AddNHWCValue(graph, x);
    const int y_nhwc = AddNHWCValue(graph, y);
    Node rewritten = graph.nodes[n];
    rewritten.inputs[0] = x_nhwc;
    rewritten.outputs[0] = y_nhwc;
    rewritten.attributes.Set(kImageLayoutAttribute, std::string("NHWC"));
    Node to_nhwc = MakeTranspose(rewritten.name + "/to_nhwc", x, x_nhwc, {0, 2, 3, 1});
    Node to_nchw = MakeTranspose(rewritten.name + "/to_nchw", y_nhwc, y, {0, 3, 1, 2});
    graph.nodes[n] = std::move(to_nhwc);
    graph.nodes.insert(graph.nodes.begin() + n + 1, std::move(rewritten));
    graph.nodes.insert(graph.nodes.begin() + n + 2, std::move(to_nchw));
    n += 2;
    from_rewritten.resize(graph.values.size(), false);
    from_rewritten[y] = true;
    ++rewritten_nodes;
  }
  if (rewritten_nodes == 0) return absl::OkStatus();
  RETURN_IF_ERROR(SinkTransposes(graph));
  RETURN_IF_ERROR(RemoveIdentityNodes(graph));
  // Unrewritten, each of these nodes would reorder its input and output
  // itself; the rewrite pays off only when some of the Transposes it added
  // cancelled (a lone convolution between NCHW neighbours gains nothing).
  if (CountTransposes(graph) - transposes_before >= 2 * rewritten_nodes)
    graph = *std::move(original);
  return absl::OkStatus();
}

}  // namespace servekit
