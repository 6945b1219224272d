// GELU in its erf form, 0.5 * x * (1 + erf(x / sqrt(2))), as exporters spell it
// out in five or six elementwise nodes (torch.onnx before opset 20, tf2onnx;
// TensorFlow's gelu as 0.5 * x * erfc(-x / sqrt(2)), which servekit's
// SavedModel translator writes as 1 - erf), becomes one Gelu node: one pass
// over the tensor instead of five, and FuseActivations can then run it in the
// epilogue of the Dense layer before it. The three orders of the
// multiplications seen in exported models are recognised:
//   (x * (1 + erf)) * 0.5     x * ((1 + erf) * 0.5)     (x * 0.5) * (1 + erf)
// Every intermediate value must be read by the pattern alone.
#include <cmath>
#include <memory>
#include <string>

#include "servekit/engine/passes/passes.h"

namespace servekit {
namespace {

class GeluMatcher {
 public:
  explicit GeluMatcher(const Graph& graph) : view_(graph) {}

  // The x of GELU(x) if node `out` (a Mul) computes it; -1 otherwise. On a
  // match, `inner` holds the pattern's other nodes.
  int Match(const Node& out, std::vector<int>& inner) const {
    if (out.op_type != "Mul" || out.inputs.size() != 2) return -1;
    for (int side = 0; side < 2; ++side) {
      const int u = out.inputs[side], w = out.inputs[1 - side];
      inner.clear();
      // (x * (1 + erf)) * 0.5
      if (view_.IsScalar(w, 0.5)) {
        const int m = SoleProducer(u, "Mul", inner);
        for (int k = 0; m >= 0 && k < 2; ++k) {
          const size_t mark = inner.size();
          const int x = view_.node(m).inputs[k];
          if (ErfChainOf(view_.node(m).inputs[1 - k], inner) == x && x >= 0) return Checked(out, x);
          inner.resize(mark);
        }
        inner.clear();
      }
      // (x * 0.5) * (1 + erf)
      const int x = ErfChainOf(w, inner);
      if (x >= 0 && HalfOf(u, inner) == x) return Checked(out, x);
      inner.clear();
      // x * ((1 + erf) * 0.5)
      const int half_chain = HalfOf(w, inner);
      if (half_chain >= 0 && ErfChainOf(half_chain, inner) == u) return Checked(out, u);
    }
    inner.clear();
    return -1;
  }

 private:
  // `x` when GELU(x) has the output's dtype and shape (scalar constants cannot
  // change them, but a caller's graph could broadcast x itself).
  int Checked(const Node& out, int x) const {
    const Value& y = view_.graph().values[out.outputs[0]];
    const Value& in = view_.graph().values[x];
    return in.dtype == DType::kFloat32 && in.shape == y.shape ? x : -1;
  }

  // The node writing v if it is an `op_type` and v has no other reader; it is
  // appended to `inner`.
  int SoleProducer(int v, const char* op_type, std::vector<int>& inner) const {
    const int p = view_.Producer(v, op_type);
    if (p < 0 || view_.uses(v) != 1) return -1;
    inner.push_back(p);
    return p;
  }

  // For v = op(t, s), or op(s, t) where op commutes, with s a scalar constant
  // `target`: t.
  int OperandBeside(int v, const char* op_type, double target, std::vector<int>& inner) const {
    const size_t mark = inner.size();
    const int p = SoleProducer(v, op_type, inner);
    if (p >= 0 && view_.node(p).inputs.size() == 2) {
      const std::vector<int>& in = view_.node(p).inputs;
      if (view_.IsScalar(in[1], target)) return in[0];
      if (std::string(op_type) != "Div" && view_.IsScalar(in[0], target)) return in[1];
    }
    inner.resize(mark);
    return -1;
  }

  // For v = x * 0.5 (either order): x.
  int HalfOf(int v, std::vector<int>& inner) const { return OperandBeside(v, "Mul", 0.5, inner); }

  // For v = 1 + erf(x / sqrt(2)), or TensorFlow's erfc form 1 - erf(-x / sqrt(2))
  // (operands in either order where they commute): x.
  int ErfChainOf(int v, std::vector<int>& inner) const {
    const size_t mark = inner.size();
    int sign = 1;
    int e = OperandBeside(v, "Add", 1.0, inner);
    if (e < 0) {
      e = OneMinus(v, inner);
      sign = -1;
    }
    const int erf = e >= 0 ? SoleProducer(e, "Erf", inner) : -1;
    if (erf >= 0) {
      const int x = ScaledBySqrtHalf(view_.node(erf).inputs[0], sign, inner);
      if (x >= 0) return x;
    }
    inner.resize(mark);
    return -1;
  }

  // For v = 1 - t: t.
  int OneMinus(int v, std::vector<int>& inner) const {
    const size_t mark = inner.size();
    const int p = SoleProducer(v, "Sub", inner);
    if (p >= 0 && view_.node(p).inputs.size() == 2 && view_.IsScalar(view_.node(p).inputs[0], 1.0))
      return view_.node(p).inputs[1];
    inner.resize(mark);
    return -1;
  }

  // For s = sign * x / sqrt(2): x. The scaling is Div(y, ±sqrt(2)) or
  // Mul(y, ±1/sqrt(2)), and y is x, or Neg(x) where the sign is the other one.
  int ScaledBySqrtHalf(int s, int sign, std::vector<int>& inner) const {
    for (int scale_sign : {1, -1}) {
      const size_t mark = inner.size();
      int y = OperandBeside(s, "Div", scale_sign * std::sqrt(2.0), inner);
      if (y < 0) y = OperandBeside(s, "Mul", scale_sign * std::sqrt(0.5), inner);
      if (y >= 0 && scale_sign == sign) return y;
      const int neg = y >= 0 ? SoleProducer(y, "Neg", inner) : -1;
      if (neg >= 0) return view_.node(neg).inputs[0];
      inner.resize(mark);
    }
    return -1;
  }

  const passes::GraphView view_;
};

}  // namespace

Status FuseErfGelu(Graph& graph) {
  std::vector<int> inner;
  auto matcher = std::make_unique<GeluMatcher>(graph);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const int x = matcher->Match(graph.nodes[i], inner);
    if (x < 0) continue;
    for (int n : inner) graph.nodes[n].op_type.clear();
    Node& gelu = graph.nodes[i];
    gelu.op_type = "Gelu";
    gelu.inputs = {x};
    gelu.attributes = Attributes();
    // The rewrite changed producers and use counts.
    matcher = std::make_unique<GeluMatcher>(graph);
  }
  passes::CompactNodes(graph);
  return absl::OkStatus();
}

}  // namespace servekit
