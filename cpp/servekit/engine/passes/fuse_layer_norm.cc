// Layer normalisation spelled out in elementwise nodes becomes one
// LayerNormalization node: one kernel that reads each row twice, instead of ten
// nodes and as many sweeps over memory. Two spellings are recognised, each with
// or without the scale (gamma) and shift (beta):
//
//   ONNX exports before opset 17 (torch.onnx, tf2onnx), and the ONNX function:
//     d = x - ReduceMean(x);  y = d / Sqrt(ReduceMean(d * d) + eps) * gamma + beta
//     (d * Reciprocal(Sqrt(...)) too; d * d may be Pow(d, 2))
//   TensorFlow's batch_normalization, as Keras's LayerNormalization writes it:
//     s = Rsqrt(ReduceMean((x - mean)^2) + eps) * gamma
//     y = x * s + (beta + -mean * s)        (or beta - mean * s)
//     (servekit's SavedModel translator writes Rsqrt as Reciprocal(Sqrt))
//
// Both means reduce the same trailing axes and keep them; gamma and beta are
// constants that vary along those axes only; every intermediate value is read
// by the pattern alone.
#include <memory>
#include <optional>

#include "servekit/engine/passes/passes.h"

namespace servekit {
namespace {

// What the statistics part of a pattern computes.
struct Stats {
  int x = -1;
  int mean = -1;  // the value ReduceMean(x)
  int d = -1;     // the value x - mean
  int axis = -1;  // the first normalised axis
  float epsilon = 0;
};

struct LayerNormMatch {
  Stats stats;
  int gamma = -1;          // -1: none (1)
  int beta = -1;           // -1: none (0)
  std::vector<int> nodes;  // every node of the pattern, the result's included
};

class LayerNormMatcher {
 public:
  explicit LayerNormMatcher(const Graph& graph) : view_(graph) {}

  std::optional<LayerNormMatch> Match(int result_node) const {
    const std::string& op = view_.node(result_node).op_type;
    if (op != "Add" && op != "Mul" && op != "Div") return std::nullopt;
    const int y = view_.node(result_node).outputs[0];
    for (bool batch_norm_form : {false, true}) {
      LayerNormMatch m;
      const bool matched = batch_norm_form ? BatchNormForm(y, m) : OnnxForm(y, m);
      if (matched && Valid(m, y, result_node)) return m;
    }
    return std::nullopt;
  }

 private:
  // Runs `parse`; when it fails, `m` is as it was before (the nodes it
  // recorded and the values it found are forgotten).
  template <typename Parse>
  static bool Try(LayerNormMatch& m, Parse parse) {
    LayerNormMatch before = m;
    if (parse()) return true;
    m = std::move(before);
    return false;
  }

  // y = (d / sqrt(var + eps) or d * r) [* gamma] [+ beta]
  bool OnnxForm(int y, LayerNormMatch& m) const {
    // The optional shift and scale peel off from the outside in.
    int t = y;
    Try(m, [&] { return WithConstant(t, "Add", m, t, m.beta); });
    int u = t;
    Try(m, [&] { return WithConstant(u, "Mul", m, u, m.gamma); });
    return Try(m,
               [&] {
                 const int div = Record(u, "Div", m);
                 return div >= 0 && Deviation(In(div, 0), m) && StdDevOf(In(div, 1), m);
               }) ||
           Try(m, [&] {
             const int mul = Record(u, "Mul", m);
             if (mul < 0) return false;
             for (int k = 0; k < 2; ++k) {
               if (Try(m, [&] {
                     return Deviation(In(mul, k), m) && InvStdDevOf(In(mul, 1 - k), m);
                   })) {
                 return true;
               }
             }
             return false;
           });
  }

  // y = x * s + shift, shift = beta - mean * s, beta + (-mean) * s, or the
  // negated product alone; s = 1 / sqrt(var + eps) [* gamma].
  bool BatchNormForm(int y, LayerNormMatch& m) const {
    const int add = Record(y, "Add", m);
    if (add < 0) return false;
    for (int k = 0; k < 2; ++k) {
      const bool matched = Try(m, [&] {
        const int mul = Record(In(add, k), "Mul", m);
        for (int j = 0; mul >= 0 && j < 2; ++j) {
          const int x = In(mul, j), s = In(mul, 1 - j);
          const bool ok =
              Try(m, [&] { return Scale(s, m) && m.stats.x == x && Shift(In(add, 1 - k), s, m); });
          if (ok) return true;
        }
        return false;
      });
      if (matched) return true;
    }
    return false;
  }

  // s = r [* gamma], r = 1 / sqrt(var + eps).
  bool Scale(int s, LayerNormMatch& m) const {
    return Try(m,
               [&] {
                 int r = -1;
                 return WithConstant(s, "Mul", m, r, m.gamma) && InvStdDevOf(r, m) &&
                        Deviation(m.stats.d, m);
               }) ||
           Try(m, [&] {
             m.gamma = -1;
             return InvStdDevOf(s, m) && Deviation(m.stats.d, m);
           });
  }

  // v = beta - mean * s, beta + (-mean * s), or -mean * s; -mean * s is
  // Mul(Neg(mean), s) or Neg(Mul(mean, s)), products either way round.
  bool Shift(int v, int s, LayerNormMatch& m) const {
    auto mean_times_s = [&](int w, bool negated) {
      if (negated) {
        const int neg = Record(w, "Neg", m);
        if (neg >= 0) return MeanTimes(In(neg, 0), s, /*negated_mean=*/false, m);
        return MeanTimes(w, s, /*negated_mean=*/true, m);
      }
      return MeanTimes(w, s, /*negated_mean=*/false, m);
    };
    if (Try(m, [&] {
          const int sub = Record(v, "Sub", m);
          if (sub < 0 || !IsParameter(In(sub, 0))) return false;
          m.beta = In(sub, 0);
          return mean_times_s(In(sub, 1), false);
        })) {
      return true;
    }
    int negated = v;
    Try(m, [&] { return WithConstant(v, "Add", m, negated, m.beta); });
    return Try(m, [&] { return mean_times_s(negated, true); });
  }

  // w = mean * s, or (-mean) * s when `negated_mean`, either way round.
  bool MeanTimes(int w, int s, bool negated_mean, LayerNormMatch& m) const {
    const int mul = Record(w, "Mul", m);
    for (int k = 0; mul >= 0 && k < 2; ++k) {
      if (In(mul, 1 - k) != s) continue;
      int mean = In(mul, k);
      if (negated_mean) {
        const int neg = Record(mean, "Neg", m);
        if (neg < 0) return false;
        mean = In(neg, 0);
      }
      return mean == m.stats.mean;
    }
    return false;
  }

  // d = x - ReduceMean(x) over trailing axes: fills x, mean, d and axis
  // (which must agree with values already found).
  bool Deviation(int d, LayerNormMatch& m) const {
    Stats& stats = m.stats;
    return Try(m, [&] {
      const int sub = Record(d, "Sub", m);
      if (sub < 0) return false;
      const int x = In(sub, 0), mean = In(sub, 1);
      const int reduce = Record(mean, "ReduceMean", m);
      int axis = -1;
      if (reduce < 0 || In(reduce, 0) != x || !TrailingAxes(reduce, axis)) return false;
      if ((stats.d >= 0 && stats.d != d) || (stats.axis >= 0 && stats.axis != axis)) return false;
      stats.x = x;
      stats.mean = mean;
      stats.d = d;
      stats.axis = axis;
      return true;
    });
  }

  // r = 1 / s (Reciprocal(s) or Div(1, s)) with s = sqrt(var + eps).
  bool InvStdDevOf(int r, LayerNormMatch& m) const {
    return Try(m, [&] {
      int s = -1;
      if (const int rec = Record(r, "Reciprocal", m); rec >= 0) {
        s = In(rec, 0);
      } else if (const int div = Record(r, "Div", m); div >= 0 && view_.IsScalar(In(div, 0), 1.0)) {
        s = In(div, 1);
      }
      return s >= 0 && StdDevOf(s, m);
    });
  }

  // s = Sqrt(ReduceMean(d * d or Pow(d, 2)) + eps) over trailing axes: fills
  // d, axis and epsilon (d and axis must agree with values already found).
  bool StdDevOf(int s, LayerNormMatch& m) const {
    Stats& stats = m.stats;
    return Try(m, [&] {
      const int sqrt = Record(s, "Sqrt", m);
      const int add = sqrt >= 0 ? Record(In(sqrt, 0), "Add", m) : -1;
      for (int k = 0; add >= 0 && k < 2; ++k) {
        const Value& eps = view_.graph().values[In(add, 1 - k)];
        if (!eps.constant || eps.dtype != DType::kFloat32 || eps.constant->num_elements() != 1 ||
            !(*eps.constant->data<float>() >= 0)) {
          continue;
        }
        const bool matched = Try(m, [&] {
          const int reduce = Record(In(add, k), "ReduceMean", m);
          int axis = -1;
          if (reduce < 0 || !TrailingAxes(reduce, axis)) return false;
          int d = -1;
          if (const int mul = Record(In(reduce, 0), "Mul", m);
              mul >= 0 && In(mul, 0) == In(mul, 1)) {
            d = In(mul, 0);
          } else if (const int pow = Record(In(reduce, 0), "Pow", m);
                     pow >= 0 && view_.IsScalar(In(pow, 1), 2.0)) {
            d = In(pow, 0);
          }
          if (d < 0 || (stats.d >= 0 && stats.d != d) || (stats.axis >= 0 && stats.axis != axis))
            return false;
          stats.d = d;
          stats.axis = axis;
          stats.epsilon = *eps.constant->data<float>();
          return true;
        });
        if (matched) return true;
      }
      return false;
    });
  }

  // ReduceMean node `n` keeps dims and reduces exactly the axes [axis, rank).
  bool TrailingAxes(int n, int& axis) const {
    const Node& node = view_.node(n);
    const int rank = static_cast<int>(view_.graph().values[node.inputs[0]].shape.size());
    auto keepdims = node.attributes.GetInt("keepdims", 1);
    if (!keepdims.ok() || *keepdims != 1 || rank == 0) return false;
    std::vector<int64_t> axes;
    if (node.inputs.size() > 1 && node.inputs[1] >= 0) {  // opset 18: axes as an input
      const Value& a = view_.graph().values[node.inputs[1]];
      if (!a.constant || a.dtype != DType::kInt64) return false;
      axes.assign(a.constant->data<int64_t>(),
                  a.constant->data<int64_t>() + a.constant->num_elements());
    } else {
      auto attribute = node.attributes.GetInts("axes", {});
      if (!attribute.ok()) return false;
      axes = *attribute;
    }
    if (axes.empty()) return false;  // every axis, or none: not a layer's
    std::vector<bool> reduced(rank, false);
    for (int64_t a : axes) {
      if (a < -rank || a >= rank) return false;
      reduced[a < 0 ? a + rank : a] = true;
    }
    axis = rank;
    while (axis > 0 && reduced[axis - 1]) --axis;
    for (int i = 0; i < axis; ++i) {
      if (reduced[i]) return false;
    }
    return axis < rank;
  }

  // v = op(other, param) or op(param, other) with param a float32 constant
  // and other not one.
  bool WithConstant(int v, const char* op_type, LayerNormMatch& m, int& other, int& param) const {
    return Try(m, [&] {
      const int n = Record(v, op_type, m);
      for (int k = 0; n >= 0 && k < 2; ++k) {
        if (IsParameter(In(n, k)) && !IsParameter(In(n, 1 - k))) {
          param = In(n, k);
          other = In(n, 1 - k);
          return true;
        }
      }
      return false;
    });
  }

  // The node writing v when it is a two-input (or for Neg, Sqrt and
  // Reciprocal, one-input) `op_type` node, recorded in `nodes`; else -1.
  int Record(int v, const char* op_type, LayerNormMatch& m) const {
    const int p = view_.Producer(v, op_type);
    if (p < 0) return -1;
    const size_t arity = view_.node(p).inputs.size();
    const std::string op(op_type);
    const bool unary = op == "Neg" || op == "Sqrt" || op == "Reciprocal";
    if (op == "ReduceMean" ? arity < 1 : arity != (unary ? 1u : 2u)) return -1;
    m.nodes.push_back(p);
    return p;
  }

  int In(int n, int k) const { return view_.node(n).inputs[k]; }

  bool IsParameter(int v) const {
    return v >= 0 && view_.graph().values[v].constant.has_value() &&
           view_.graph().values[v].dtype == DType::kFloat32;
  }

  // The match computes LayerNormalization(x) with the output's shape, gamma
  // and beta vary along the normalised axes only, and the pattern's values are
  // read by the pattern alone.
  bool Valid(const LayerNormMatch& m, int y, int result_node) const {
    const Stats& s = m.stats;
    if (s.x < 0 || s.axis < 0) return false;
    const Value& x = view_.graph().values[s.x];
    if (x.dtype != DType::kFloat32 || x.shape != view_.graph().values[y].shape) return false;
    for (int d = s.axis; d < static_cast<int>(x.shape.size()); ++d) {
      if (!x.shape[d].is_fixed()) return false;
    }
    for (int param : {m.gamma, m.beta}) {
      if (param >= 0 &&
          !BroadcastsAlongTrailingAxes(view_.graph().values[param].shape, x.shape, s.axis)) {
        return false;
      }
    }
    return view_.ReadOnlyWithin(m.nodes, result_node);
  }

  const passes::GraphView view_;
};

}  // namespace

Status FuseLayerNormalization(Graph& graph) {
  auto matcher = std::make_unique<LayerNormMatcher>(graph);
  // Last node first: the outermost Add or Mul of a pattern is its result; the
  // Div inside it alone would match too, leaving gamma and beta outside.
  for (int i = static_cast<int>(graph.nodes.size()) - 1; i >= 0; --i) {
    std::optional<LayerNormMatch> m = matcher->Match(i);
    if (!m.has_value()) continue;
    for (int n : m->nodes) {
      if (n != i) graph.nodes[n].op_type.clear();
    }
    int gamma = m->gamma;
    if (gamma < 0) {
      Tensor one = *Tensor::Allocate(DType::kFloat32, {1});
      *one.data<float>() = 1.0f;
      gamma = graph.AddConstant(graph.nodes[i].name + "_scale", std::move(one));
    }
    Node& norm = graph.nodes[i];
    norm.op_type = "LayerNormalization";
    norm.inputs = {m->stats.x, gamma};
    if (m->beta >= 0) norm.inputs.push_back(m->beta);
    norm.attributes = Attributes();
    norm.attributes.Set("axis", AttributeValue(static_cast<int64_t>(m->stats.axis)));
    norm.attributes.Set("epsilon", AttributeValue(m->stats.epsilon));
    // The rewrite changed producers and use counts.
    matcher = std::make_unique<LayerNormMatcher>(graph);
  }
  passes::CompactNodes(graph);
  return absl::OkStatus();
}

}  // namespace servekit
