// BatchNormalization after a Conv or Gemm is an affine map per output channel,
// so it folds into that layer's weights and bias: W' = W * a, b' = b * a + c with
// a = scale / sqrt(var + eps) and c = B - mean * a. A Mul or Add of a constant
// with one value per channel after a Conv is the same kind of map (a = k, c = 0;
// a = 1, c = k): TensorFlow's BiasAdd and Keras 3's batch norm reach the graph
// that way.
#include <cmath>
#include <optional>

#include "servekit/engine/image_layout.h"
#include "servekit/engine/passes/passes.h"

namespace servekit {
namespace {

struct ChannelAffine {
  std::vector<float> a, c;
};

bool IsChannelsLast(const Node& layer) {
  return layer.attributes.Has(kImageLayoutAttribute) &&
         ReadImageLayout(layer.attributes).value_or(ImageLayout::kNCHW) == ImageLayout::kNHWC;
}

bool IsConstant(const Graph& graph, int id) {
  return id >= 0 && graph.values[id].constant.has_value();
}

StatusOr<ChannelAffine> ReadBatchNorm(const Graph& graph, const Node& bn) {
  ASSIGN_OR_RETURN(float epsilon, bn.attributes.GetFloat("epsilon", 1e-5f));
  const float* scale = graph.values[bn.inputs[1]].constant->data<float>();
  const float* bias = graph.values[bn.inputs[2]].constant->data<float>();
  const float* mean = graph.values[bn.inputs[3]].constant->data<float>();
  const float* var = graph.values[bn.inputs[4]].constant->data<float>();
  const int64_t channels = graph.values[bn.inputs[1]].constant->num_elements();
  ChannelAffine affine;
  for (int64_t ch = 0; ch < channels; ++ch) {
    affine.a.push_back(scale[ch] / std::sqrt(var[ch] + epsilon));
    affine.c.push_back(bias[ch] - mean[ch] * affine.a.back());
  }
  return affine;
}

// The folded bias b' = b * a + c, as a new constant.
StatusOr<int> FoldedBias(Graph& graph, const Node& layer, int bias_input,
                         const ChannelAffine& affine) {
  const int64_t channels = static_cast<int64_t>(affine.a.size());
  ASSIGN_OR_RETURN(Tensor bias, Tensor::Allocate(DType::kFloat32, {channels}));
  const bool has_bias =
      static_cast<int>(layer.inputs.size()) > bias_input && layer.inputs[bias_input] >= 0;
  for (int64_t ch = 0; ch < channels; ++ch) {
    const float b =
        has_bias ? graph.values[layer.inputs[bias_input]].constant->data<float>()[ch] : 0.0f;
    bias.data<float>()[ch] = b * affine.a[ch] + affine.c[ch];
  }
  return graph.AddConstant(absl::StrCat(layer.name, "_folded_bias"), std::move(bias));
}

// Scales weights per output channel; `channel_stride`/`channel_step` address
// element i's channel as (i / channel_stride) % channels.
StatusOr<int> ScaledWeights(Graph& graph, const Node& layer, const ChannelAffine& affine,
                            int64_t inner, bool channel_is_row) {
  ASSIGN_OR_RETURN(Tensor w, graph.values[layer.inputs[1]].constant->Clone());
  const int64_t channels = static_cast<int64_t>(affine.a.size());
  float* data = w.data<float>();
  const int64_t n = w.num_elements();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t ch = channel_is_row ? i / inner : i % channels;
    data[i] *= affine.a[ch];
  }
  return graph.AddConstant(absl::StrCat(layer.name, "_folded_weights"), std::move(w));
}

}  // namespace

// Folds node x (BatchNormalization, Mul or Add; input 0 from layer p, the
// other inputs no longer needed) into layer p by `affine`; leaves both as they
// were when the layer's output has other readers.
Status FoldInto(Graph& graph, int x, int p, const ChannelAffine& affine, int64_t inner,
                bool channel_is_row) {
  Node& layer = graph.nodes[p];
  ASSIGN_OR_RETURN(int weights, ScaledWeights(graph, layer, affine, inner, channel_is_row));
  ASSIGN_OR_RETURN(int bias, FoldedBias(graph, graph.nodes[p], 2, affine));
  const std::vector<int> old_layer_inputs = graph.nodes[p].inputs;
  const std::vector<int> old_inputs = graph.nodes[x].inputs;
  graph.nodes[p].inputs = {old_layer_inputs[0], weights, bias};
  graph.nodes[x].inputs.resize(1);
  if (!passes::MergeIntoProducer(graph, x)) {
    graph.nodes[p].inputs = old_layer_inputs;
    graph.nodes[x].inputs = old_inputs;
  }
  return absl::OkStatus();
}

// A Conv that can absorb a per-channel map: constant weights, constant or no
// bias, no fused activation yet.
bool CanAbsorb(const Graph& graph, const Node& layer) {
  return layer.op_type == "Conv" && layer.inputs.size() >= 2 &&
         !layer.attributes.Has("_activation") && IsConstant(graph, layer.inputs[1]) &&
         (layer.inputs.size() < 3 || layer.inputs[2] < 0 || IsConstant(graph, layer.inputs[2]));
}

// For a Mul or Add node after a Conv (`layer`) with a constant of one value
// per output channel ([C,1,1] or [1,C,1,1] after an NCHW Conv; [C] to
// [1,1,1,C] after an NHWC one) as its other operand: the
// per-channel map, and the operand the layer feeds is moved to input 0.
std::optional<ChannelAffine> ChannelConstantMap(const Graph& graph, Node& node,
                                                const std::vector<int>& producers) {
  for (int side = 0; side < 2; ++side) {
    const int from = node.inputs[side], k = node.inputs[1 - side];
    const int p = from >= 0 ? producers[from] : -1;
    if (p < 0 || !CanAbsorb(graph, graph.nodes[p]) || !IsConstant(graph, k)) continue;
    const Tensor& t = *graph.values[k].constant;
    const SymShape& out = graph.values[node.outputs[0]].shape;
    const Value& w = graph.values[graph.nodes[p].inputs[1]];
    if (t.dtype() != DType::kFloat32 || out.size() != 4 || !w.constant) continue;
    const int64_t channels = w.constant->dim(0);
    const Shape& s = t.shape();
    // The channel axis is 1 of 4 (NCHW: [C,1,1] or [1,C,1,1]) or the last
    // (NHWC: [C] up to [1,1,1,C]): broadcast from the right, a constant of
    // any other shape would scale along another axis.
    const bool channels_last = IsChannelsLast(graph.nodes[p]);
    bool per_channel = t.num_elements() == channels;
    if (channels_last) {
      per_channel = per_channel && !s.empty() && s.size() <= 4 && s.back() == channels;
    } else {
      per_channel = per_channel && ((s.size() == 3 && s[0] == channels) ||
                                    (s.size() == 4 && s[0] == 1 && s[1] == channels));
    }
    if (!per_channel || graph.values[from].shape != out) continue;
    ChannelAffine affine;
    for (int64_t ch = 0; ch < channels; ++ch) {
      const float v = t.data<float>()[ch];
      affine.a.push_back(node.op_type == "Mul" ? v : 1.0f);
      affine.c.push_back(node.op_type == "Mul" ? 0.0f : v);
    }
    if (side == 1) std::swap(node.inputs[0], node.inputs[1]);
    return affine;
  }
  return std::nullopt;
}

Status FoldBatchNormalization(Graph& graph) {
  std::vector<int> producers = graph.Producers();
  for (size_t x = 0; x < graph.nodes.size(); ++x) {
    Node& bn = graph.nodes[x];
    if ((bn.op_type == "Mul" || bn.op_type == "Add") && bn.outputs.size() == 1 &&
        bn.inputs.size() == 2) {
      std::optional<ChannelAffine> affine = ChannelConstantMap(graph, bn, producers);
      if (!affine) continue;
      const int p = producers[bn.inputs[0]];
      const int64_t inner = graph.values[graph.nodes[p].inputs[1]].constant->num_elements() /
                            static_cast<int64_t>(affine->a.size());
      RETURN_IF_ERROR(FoldInto(graph, static_cast<int>(x), p, *affine, inner, true));
      producers = graph.Producers();
      continue;
    }
    if (bn.op_type != "BatchNormalization" || bn.outputs.size() != 1) continue;
    bool params_constant = true;
    for (int i = 1; i < 5; ++i)
      params_constant = params_constant && IsConstant(graph, bn.inputs[i]);
    const int p = producers[bn.inputs[0]];
    if (!params_constant || p < 0) continue;
    Node& layer = graph.nodes[p];
    // Only layers with constant weights at input 1 absorb the affine map.
    // BatchNormalization's channel axis is 1: it cannot read an NHWC Conv's
    // channels (no pass makes that graph, but a fold must not assume it).
    if ((layer.op_type != "Conv" && layer.op_type != "Gemm") || layer.inputs.size() < 2 ||
        layer.attributes.Has("_activation") || IsChannelsLast(layer)) {
      continue;
    }
    const bool bias_ok =
        layer.inputs.size() < 3 || layer.inputs[2] < 0 || IsConstant(graph, layer.inputs[2]);
    if (!IsConstant(graph, layer.inputs[1]) || !bias_ok) continue;
    const int64_t channels = graph.values[bn.inputs[1]].constant->num_elements();
    int64_t inner = 0;
    bool channel_is_row = true;
    if (layer.op_type == "Conv") {
      // W is [M, C/g, kh, kw]: channel m is the row of M.
      inner = graph.values[layer.inputs[1]].constant->num_elements() / channels;
    } else if (layer.op_type == "Gemm") {
      ASSIGN_OR_RETURN(int64_t trans_a, layer.attributes.GetInt("transA", 0));
      ASSIGN_OR_RETURN(int64_t trans_b, layer.attributes.GetInt("transB", 0));
      ASSIGN_OR_RETURN(float alpha, layer.attributes.GetFloat("alpha", 1.0f));
      ASSIGN_OR_RETURN(float beta, layer.attributes.GetFloat("beta", 1.0f));
      if (trans_a || alpha != 1.0f || beta != 1.0f) continue;
      if (layer.inputs.size() > 2 && layer.inputs[2] >= 0) {
        // Only a per-column bias ([N] or [1, N]) scales with the channel; [M, 1]
        // with M == N has as many elements but means something else.
        const SymShape& c = graph.values[layer.inputs[2]].shape;
        const bool per_column =
            (c.size() == 1 && c[0] == Dim::Fixed(channels)) ||
            (c.size() == 2 && c[0] == Dim::Fixed(1) && c[1] == Dim::Fixed(channels));
        if (!per_column) continue;
      }
      // B is [N, K] with transB (channel = row), else [K, N] (channel = column).
      channel_is_row = trans_b != 0;
      inner = graph.values[layer.inputs[1]].constant->num_elements() / channels;
    } else {
      continue;
    }
    ASSIGN_OR_RETURN(ChannelAffine affine, ReadBatchNorm(graph, bn));
    RETURN_IF_ERROR(FoldInto(graph, static_cast<int>(x), p, affine, inner, channel_is_row));
    producers = graph.Producers();
  }
  passes::CompactNodes(graph);
  return absl::OkStatus();
}

}  // namespace servekit
