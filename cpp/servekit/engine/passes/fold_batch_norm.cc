// BatchNormalization after a Conv or Gemm is an affine map per output channel,
// so it folds into that layer's weights and bias: W' = W * a, b' = b * a + c with
// a = scale / sqrt(var + eps) and c = B - mean * a.
#include <cmath>

#include "servekit/engine/passes/passes.h"

namespace servekit {
namespace {

struct ChannelAffine {
  std::vector<float> a, c;
};

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

Status FoldBatchNormalization(Graph& graph) {
  std::vector<int> producers = graph.Producers();
  for (size_t x = 0; x < graph.nodes.size(); ++x) {
    Node& bn = graph.nodes[x];
    if (bn.op_type != "BatchNormalization" || bn.outputs.size() != 1) continue;
    bool params_constant = true;
    for (int i = 1; i < 5; ++i)
      params_constant = params_constant && IsConstant(graph, bn.inputs[i]);
    const int p = producers[bn.inputs[0]];
    if (!params_constant || p < 0) continue;
    Node& layer = graph.nodes[p];
    // Only layers with constant weights at input 1 absorb the affine map.
    if ((layer.op_type != "Conv" && layer.op_type != "Gemm") || layer.inputs.size() < 2 ||
        layer.attributes.Has("_activation")) {
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
    ASSIGN_OR_RETURN(int weights, ScaledWeights(graph, layer, affine, inner, channel_is_row));
    ASSIGN_OR_RETURN(int bias, FoldedBias(graph, layer, 2, affine));
    const std::vector<int> old_layer_inputs = layer.inputs;
    const std::vector<int> old_bn_inputs = bn.inputs;
    graph.nodes[p].inputs = {old_layer_inputs[0], weights, bias};
    bn.inputs.resize(1);
    if (!passes::MergeIntoProducer(graph, static_cast<int>(x))) {
      // The layer's output is used elsewhere too: undo, keep the BatchNormalization.
      graph.nodes[p].inputs = old_layer_inputs;
      graph.nodes[x].inputs = old_bn_inputs;
      continue;
    }
    producers = graph.Producers();
  }
  passes::CompactNodes(graph);
  return absl::OkStatus();
}

}  // namespace servekit
