#include "servekit/formats/savedmodel/tf_translator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "servekit/engine/image_layout.h"
#include "servekit/engine/op_registry.h"
#include "servekit/formats/savedmodel/node_attrs.h"
#include "servekit/formats/savedmodel/parse_arena.h"
#include "servekit/formats/tf_data_type.h"
#include "servekit/formats/tf_tensor_proto.h"

namespace servekit {
namespace {

using tensorflow::AttrValue;
// A flat node's IR values, one per output: inline for the one or two outputs
// of nearly every op.
using OutputValues = absl::InlinedVector<int, 2>;

// The most elements a Const node may hold (a 1 GiB float tensor).
constexpr int64_t kMaxConstElements = int64_t{1} << 28;

const std::vector<int64_t> kToNchw = {0, 3, 1, 2};
const std::vector<int64_t> kToNhwc = {0, 2, 3, 1};

// Whether this build's Conv kernel computes in NHWC (oneDNN) without reorders.
// TensorFlow's images are NHWC already: its convolutions and pools are then
// translated as NHWC nodes, and the graph has no layout Transposes at all
// (UseChannelsLast would otherwise build such a graph from NCHW nodes, and
// SinkTransposes would first cancel the Transposes around each of them: twice
// the passes' work at every load). Without it they are NCHW nodes between
// Transposes, as ONNX's are, which the passes reorder the same way.
bool ConvPrefersChannelsLast() {
  const OpSchema* conv = OpRegistry::Global().Find("Conv");
  return conv != nullptr && conv->prefers_channels_last;
}

Tensor Int64s(const std::vector<int64_t>& values) {
  Tensor t = *Tensor::Allocate(DType::kInt64, {static_cast<int64_t>(values.size())});
  std::copy(values.begin(), values.end(), t.data<int64_t>());
  return t;
}

Tensor ScalarOf(DType dtype, double value) {
  Tensor t = *Tensor::Allocate(dtype, {});
  switch (dtype) {
    case DType::kFloat32:
      t.data<float>()[0] = static_cast<float>(value);
      break;
    case DType::kFloat64:
      t.data<double>()[0] = value;
      break;
    case DType::kInt32:
      t.data<int32_t>()[0] = static_cast<int32_t>(value);
      break;
    case DType::kInt64:
      t.data<int64_t>()[0] = static_cast<int64_t>(value);
      break;
    default:
      t = *Tensor::Allocate(DType::kFloat32, {});
      t.data<float>()[0] = static_cast<float>(value);
  }
  return t;
}

class Translator {
 public:
  Translator(const std::vector<TfNode>& nodes, const TfSignatureTensors& tensors,
             const VariableReader& read_variable)
      : nodes_(nodes),
        tensors_(tensors),
        read_variable_(read_variable),
        values_(nodes.size()),
        channels_last_(ConvPrefersChannelsLast()) {
    graph_.opset = 18;
  }

  StatusOr<Graph> Run(const tensorflow::SignatureDef& signature) {
    for (const auto& [key, output] : tensors_.inputs) {
      RETURN_IF_ERROR(AddInput(key, signature.inputs().at(key), output));
    }
    for (size_t n = 0; n < nodes_.size(); ++n) {
      if (!Needed(static_cast<int>(n))) continue;
      Status status = Translate(static_cast<int>(n));
      if (!status.ok()) {
        const TfNode& node = nodes_[n];
        return absl::Status(
            status.code(),
            absl::StrCat("TensorFlow op '", node.def->op(), "' (node '", node.def->name(), "' in ",
                         node.function.empty() ? std::string("the top-level graph")
                                               : absl::StrCat("function '", node.function, "'"),
                         "): ", status.message()));
      }
    }
    for (const auto& [key, output] : tensors_.outputs) {
      ASSIGN_OR_RETURN(int value, Value(output));
      // The output gets the signature's key as its name.
      const int named = Add("Identity", {value}, {}, key);
      graph_.outputs.push_back(named);
    }
    return std::move(graph_);
  }

 private:
  // --- what the signature needs --------------------------------------------------------
  bool Needed(int node) {
    if (needed_.empty()) {
      needed_.assign(nodes_.size(), false);
      std::vector<int> stack;
      for (const auto& [key, output] : tensors_.outputs) stack.push_back(output.node);
      while (!stack.empty()) {
        const int n = stack.back();
        stack.pop_back();
        if (n < 0 || needed_[n]) continue;
        needed_[n] = true;
        for (const TfOutput& input : nodes_[n].inputs) stack.push_back(input.node);
      }
    }
    return needed_[node];
  }

  // --- values ------------------------------------------------------------------------------
  StatusOr<int> Value(TfOutput output) {
    const auto& outs = values_[output.node];
    if (output.index < 0 || output.index >= static_cast<int>(outs.size()) ||
        outs[output.index] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("output ", output.index, " of node '",
                                                     nodes_[output.node].name,
                                                     "' is read but servekit does not compute it"));
    }
    return outs[output.index];
  }
  StatusOr<int> Input(const TfNode& node, int i) {
    if (i >= static_cast<int>(node.inputs.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("has ", node.inputs.size(), " inputs, needs ", i + 1));
    }
    return Value(node.inputs[i]);
  }
  const Tensor* ConstantOf(int value) const {
    const Value_& v = graph_.values[value];
    return v.constant ? &*v.constant : nullptr;
  }
  // The constant integers of input i (axes, perms, paddings, shapes).
  StatusOr<std::vector<int64_t>> ConstInts(const TfNode& node, int i) {
    ASSIGN_OR_RETURN(int value, Input(node, i));
    std::optional<std::vector<int64_t>> ints = FoldInts(value, 0);
    if (!ints) {
      return absl::UnimplementedError(
          absl::StrCat("input ", i,
                       " must be integers known when the model loads (servekit does not compute "
                       "it at run time for this op)"));
    }
    return *ints;
  }

  // The integers of `value` when it is a constant, or built from constants by
  // the small integer ops TensorFlow computes axes and perms with (Tensordot's
  // perm is a ConcatV2 of two Consts): evaluated here, since the translation
  // needs them before the engine folds anything.
  std::optional<std::vector<int64_t>> FoldInts(int value, int depth) {
    if (const Tensor* t = ConstantOf(value)) {
      std::vector<int64_t> out(t->num_elements());
      if (t->dtype() == DType::kInt32) {
        std::copy(t->data<int32_t>(), t->data<int32_t>() + out.size(), out.begin());
      } else if (t->dtype() == DType::kInt64) {
        std::copy(t->data<int64_t>(), t->data<int64_t>() + out.size(), out.begin());
      } else {
        return std::nullopt;
      }
      return out;
    }
    if (depth > 8) return std::nullopt;
    const int p = value < static_cast<int>(producers_.size()) ? producers_[value] : -1;
    if (p < 0) return std::nullopt;
    const Node* producer = &graph_.nodes[p];
    if (producer->inputs.empty()) return std::nullopt;
    const std::string& op = producer->op_type;
    if (op == "Cast" || op == "Identity" || op == "Unsqueeze" || op == "Squeeze") {
      return FoldInts(producer->inputs[0], depth + 1);  // the same integers, another shape
    }
    if (op == "Concat") {  // of vectors (or Unsqueezed scalars), on axis 0
      std::vector<int64_t> out;
      for (int input : producer->inputs) {
        std::optional<std::vector<int64_t>> part = FoldInts(input, depth + 1);
        if (!part) return std::nullopt;
        out.insert(out.end(), part->begin(), part->end());
      }
      return out;
    }
    return std::nullopt;
  }

  void Set(int node, OutputValues outputs) { values_[node] = std::move(outputs); }

  // Adds an IR node with one output; returns the output's value id.
  int Add(const std::string& op, std::vector<int> inputs, Attributes attributes = {},
          const std::string& name = "") {
    Node node;
    node.name = name.empty() ? absl::StrCat(current_, "/", op, "_", graph_.nodes.size()) : name;
    node.op_type = op;
    node.inputs = std::move(inputs);
    node.attributes = std::move(attributes);
    node.outputs.push_back(graph_.AddValue(node.name));
    const int output = node.outputs[0];
    graph_.nodes.push_back(std::move(node));
    if (static_cast<size_t>(output) >= producers_.size()) producers_.resize(output + 1, -1);
    producers_[output] = static_cast<int>(graph_.nodes.size()) - 1;
    return output;
  }

  // The channels of an NHWC `value` when the graph says how many: the output
  // channels of the convolution it comes from, through per-channel or scalar
  // Adds and Muls, activations and pools (TensorFlow's Conv2D, BiasAdd, Relu,
  // MaxPool before a batch norm). nullopt when it cannot tell.
  std::optional<int64_t> KnownChannels(int value) const {
    std::vector<int64_t> constant_lengths;  // of the Adds' and Muls' constants on the way
    for (int step = 0; step < 16; ++step) {
      const int p = value < static_cast<int>(producers_.size()) ? producers_[value] : -1;
      if (p < 0) return std::nullopt;
      const Node& node = graph_.nodes[p];
      const std::string& op = node.op_type;
      std::optional<int64_t> channels;
      if (op == "Conv" && node.inputs.size() >= 2) {
        const Tensor* weights = ConstantOf(node.inputs[1]);
        if (weights == nullptr || weights->rank() != 4) return std::nullopt;
        channels = weights->dim(0);
        if (node.attributes.Has(kImageLayoutAttribute)) {
          if (ReadImageLayout(node.attributes).value_or(ImageLayout::kNCHW) != ImageLayout::kNHWC)
            return std::nullopt;
        } else {
          return std::nullopt;  // NCHW: only through the Transpose below
        }
      } else if (op == "Transpose" &&
                 node.attributes.GetInts("perm", {}).value_or(std::vector<int64_t>{}) == kToNhwc) {
        const int from = node.inputs[0];
        const int q = from < static_cast<int>(producers_.size()) ? producers_[from] : -1;
        // An NCHW Conv's output made NHWC; after an NHWC one (a TensorFlow
        // Transpose of it) the last axis is not the channels.
        if (q < 0 || graph_.nodes[q].op_type != "Conv" || graph_.nodes[q].inputs.size() < 2 ||
            graph_.nodes[q].attributes.Has(kImageLayoutAttribute))
          return std::nullopt;
        const Tensor* weights = ConstantOf(graph_.nodes[q].inputs[1]);
        if (weights == nullptr || weights->rank() != 4) return std::nullopt;
        channels = weights->dim(0);
      }
      if (channels) {
        for (int64_t length : constant_lengths) {
          if (length != 1 && length != *channels) return std::nullopt;
        }
        return channels;
      }
      static const std::set<std::string> kSameChannels = {
          "Relu",      "Relu6",    "Sigmoid",  "Tanh",    "Elu",        "Selu",
          "LeakyRelu", "Softplus", "Identity", "MaxPool", "AveragePool"};
      if (kSameChannels.count(op) > 0 && !node.inputs.empty()) {
        value = node.inputs[0];
        continue;
      }
      if ((op == "Add" || op == "Mul" || op == "Sub") && node.inputs.size() == 2) {
        const Tensor* k = ConstantOf(node.inputs[1]);
        int other = node.inputs[0];
        if (k == nullptr) {
          k = ConstantOf(node.inputs[0]);
          other = node.inputs[1];
        }
        if (k == nullptr || k->rank() > 1) return std::nullopt;
        constant_lengths.push_back(k->num_elements());
        value = other;
        continue;
      }
      return std::nullopt;
    }
    return std::nullopt;
  }
  int Constant(Tensor t) {
    return graph_.AddConstant(absl::StrCat(current_, "/const_", graph_.values.size()),
                              std::move(t));
  }
  int Ints(const std::vector<int64_t>& values) { return Constant(Int64s(values)); }
  int Transpose(int value, const std::vector<int64_t>& perm) {
    if (const Tensor* t = ConstantOf(value); t != nullptr && t->rank() == 4) {
      // Laid out now; if the copy cannot be allocated, the engine transposes it.
      if (StatusOr<Tensor> moved = t->PermuteAxes(perm); moved.ok())
        return Constant(*std::move(moved));
    }
    Attributes a;
    a.Set("perm", perm);
    return Add("Transpose", {value}, std::move(a));
  }

  // --- attributes, with TensorFlow's defaults for the ones the file stripped ---------------
  // The node being translated's attribute, read by Translate (node_attrs.h).
  const AttrValue* Attr(absl::string_view name) const { return attrs_->Find(name); }
  std::string AttrString(absl::string_view name, const std::string& fallback) const {
    const AttrValue* a = Attr(name);
    return a != nullptr && a->value_case() == AttrValue::kS ? a->s() : fallback;
  }
  int64_t AttrInt(absl::string_view name, int64_t fallback) const {
    const AttrValue* a = Attr(name);
    return a != nullptr && a->value_case() == AttrValue::kI ? a->i() : fallback;
  }
  float AttrFloat(absl::string_view name, float fallback) const {
    const AttrValue* a = Attr(name);
    return a != nullptr && a->value_case() == AttrValue::kF ? a->f() : fallback;
  }
  bool AttrBool(absl::string_view name, bool fallback) const {
    const AttrValue* a = Attr(name);
    return a != nullptr && a->value_case() == AttrValue::kB ? a->b() : fallback;
  }
  std::vector<int64_t> AttrInts(absl::string_view name, std::vector<int64_t> fallback) const {
    const AttrValue* a = Attr(name);
    if (a == nullptr || a->value_case() != AttrValue::kList) return fallback;
    return std::vector<int64_t>(a->list().i().begin(), a->list().i().end());
  }
  // A type attribute; `fallback` is TensorFlow's default, used when the file
  // stripped it (none: the attribute is required).
  StatusOr<DType> AttrType(absl::string_view name,
                           std::optional<DType> fallback = std::nullopt) const {
    const AttrValue* a = Attr(name);
    if ((a == nullptr || a->value_case() != AttrValue::kType) && fallback) return *fallback;
    if (a == nullptr || a->value_case() != AttrValue::kType) {
      return absl::InvalidArgumentError(absl::StrCat("has no type attribute '", name, "'"));
    }
    std::optional<DType> dtype = FromTfDataType(a->type());
    if (!dtype) {
      return absl::UnimplementedError(absl::StrCat("computes on ", TfDataTypeEnumName(a->type()),
                                                   "; servekit computes on ",
                                                   kSupportedTfDataTypes));
    }
    return *dtype;
  }

  // --- the signature's inputs --------------------------------------------------------------
  Status AddInput(const std::string& key, const tensorflow::TensorInfo& info, TfOutput output) {
    const std::optional<DType> dtype = FromTfDataType(info.dtype());
    if (!dtype) {
      return absl::UnimplementedError(absl::StrCat(
          "signature input '", key, "' is ", TfDataTypeEnumName(info.dtype()),
          (info.dtype() == tensorflow::DT_STRING
               ? " (string inputs, e.g. serialized tf.Example for ParseExample, are not served)"
               : ""),
          "; servekit serves ", kSupportedTfDataTypes));
    }
    if (info.tensor_shape().unknown_rank()) {
      return absl::UnimplementedError(
          absl::StrCat("signature input '", key, "' has an unknown rank; servekit needs it"));
    }
    SymShape shape;
    for (int d = 0; d < info.tensor_shape().dim_size(); ++d) {
      const int64_t size = info.tensor_shape().dim(d).size();
      if (size >= 0) {
        shape.push_back(Dim::Fixed(size));
      } else if (d == 0) {
        shape.push_back(Dim::Batch());
      } else {
        return absl::UnimplementedError(absl::StrCat(
            "signature input '", key, "' has an unknown dimension ", d,
            "; servekit serves inputs whose only unknown dimension is the first (the batch)"));
      }
    }
    const int value = graph_.AddValue(key);
    graph_.values[value].dtype = *dtype;
    graph_.values[value].shape = shape;
    graph_.values[value].typed = true;
    graph_.inputs.push_back(value);
    const TfNode& node = nodes_[output.node];
    if (node.def->op() != "Placeholder" && node.def->op() != "PlaceholderWithDefault") {
      return absl::UnimplementedError(absl::StrCat("signature input '", key,
                                                   "' is computed by op '", node.def->op(),
                                                   "', not fed to a Placeholder"));
    }
    if (auto earlier = input_of_node_.find(output.node); earlier != input_of_node_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("signature inputs '",
                                                     graph_.values[earlier->second].name, "' and '",
                                                     key, "' feed the same Placeholder"));
    }
    input_of_node_[output.node] = value;
    return absl::OkStatus();
  }

  // --- one TensorFlow op ---------------------------------------------------------------------
  Status Translate(int n) {
    const TfNode& node = nodes_[n];
    const NodeView& def = *node.def;
    const absl::string_view op = def.op();
    current_ = node.name;
    // Read once per TensorFlow node, however many copies of it the inliner made.
    NodeAttrs*& attrs = attrs_of_node_[&def];
    if (attrs == nullptr) {
      // On the arena too (it runs the destructor): no heap allocation per node.
      auto* read = google::protobuf::Arena::Create<NodeAttrs>(attr_arena_.get(), attr_arena_.get());
      RETURN_IF_ERROR(read->Read(def));
      attrs = read;
    }
    attrs_ = attrs;

    if (op == "Placeholder" || op == "PlaceholderWithDefault") {
      auto input = input_of_node_.find(n);
      if (input == input_of_node_.end()) {
        return absl::InvalidArgumentError("is a placeholder that no signature input feeds");
      }
      Set(n, {input->second});
      return absl::OkStatus();
    }
    if (op == "Const") {
      const AttrValue* value = Attr("value");
      if (value == nullptr || value->value_case() != AttrValue::kTensor) {
        return absl::InvalidArgumentError("has no tensor value");
      }
      ASSIGN_OR_RETURN(Tensor t, TensorFromTfConstant(value->tensor(), kMaxConstElements));
      // A few bytes may ask for a large tensor (one value repeated): the
      // signature's constants together stay within the same bound.
      const_elements_ += t.num_elements();
      if (const_elements_ > kMaxConstElements) {
        return absl::InvalidArgumentError(absl::StrCat("the signature's constants hold more than ",
                                                       kMaxConstElements, " elements"));
      }
      Set(n, {Constant(std::move(t))});
      return absl::OkStatus();
    }
    if (op == "VarHandleOp") {
      Set(n, {-1});  // a handle: ReadVariableOp turns it into the value
      return absl::OkStatus();
    }
    if (op == "VariableV2" || op == "Variable") {
      ASSIGN_OR_RETURN(Tensor t, read_variable_(std::string(node.def->name())));
      Set(n, {Constant(std::move(t))});
      return absl::OkStatus();
    }
    if (op == "ReadVariableOp") {
      if (node.inputs.empty()) return absl::InvalidArgumentError("reads no variable");
      const TfNode& handle = nodes_[node.inputs[0].node];
      if (handle.def->op() == "VarHandleOp" && !handle.function.empty()) {
        // Variables live in the top-level graph; one a function creates has no
        // checkpoint entry of its own (its local name could collide with one).
        return absl::UnimplementedError(
            absl::StrCat("reads a variable created inside function '", handle.function, "'"));
      }
      if (handle.def->op() != "VarHandleOp") {
        return absl::UnimplementedError(absl::StrCat("reads a resource made by op '",
                                                     handle.def->op(),
                                                     "'; servekit reads VarHandleOp "
                                                     "variables"));
      }
      auto cached = variables_.find(handle.name);
      if (cached == variables_.end()) {
        ASSIGN_OR_RETURN(Tensor t, read_variable_(std::string(handle.def->name())));
        cached = variables_.emplace(handle.name, Constant(std::move(t))).first;
      }
      Set(n, {cached->second});
      return absl::OkStatus();
    }
    if (op == "NoOp") return absl::OkStatus();

    // Elementwise, one input.
    static const std::map<std::string, std::string, std::less<>> kUnary = {
        {"Relu", "Relu"},         {"Sigmoid", "Sigmoid"},
        {"Tanh", "Tanh"},         {"Erf", "Erf"},
        {"Sqrt", "Sqrt"},         {"Exp", "Exp"},
        {"Log", "Log"},           {"Neg", "Neg"},
        {"Abs", "Abs"},           {"Reciprocal", "Reciprocal"},
        {"Softplus", "Softplus"}, {"Floor", "Floor"},
        {"Ceil", "Ceil"},         {"Sign", "Sign"}};
    if (auto unary = kUnary.find(op); unary != kUnary.end()) {
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      Set(n, {Add(unary->second, {x})});
      return absl::OkStatus();
    }
    static const std::map<std::string, std::string, std::less<>> kBinary = {
        {"AddV2", "Add"},       {"Add", "Add"},
        {"Sub", "Sub"},         {"Mul", "Mul"},
        {"RealDiv", "Div"},     {"Maximum", "Max"},
        {"Minimum", "Min"},     {"Pow", "Pow"},
        {"Greater", "Greater"}, {"GreaterEqual", "GreaterOrEqual"},
        {"Less", "Less"},       {"LessEqual", "LessOrEqual"},
        {"Equal", "Equal"}};
    if (auto binary = kBinary.find(op); binary != kBinary.end()) {
      ASSIGN_OR_RETURN(int a, Input(node, 0));
      ASSIGN_OR_RETURN(int b, Input(node, 1));
      Set(n, {Add(binary->second, {a, b})});
      return absl::OkStatus();
    }
    if (op == "BiasAdd") {
      if (AttrString("data_format", "NHWC") != "NHWC") return Unsupported("data_format NCHW");
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      ASSIGN_OR_RETURN(int b, Input(node, 1));
      Set(n, {Add("Add", {x, b})});
      return absl::OkStatus();
    }
    if (op == "Square" || op == "SquaredDifference") {
      ASSIGN_OR_RETURN(int a, Input(node, 0));
      int d = a;
      if (op == "SquaredDifference") {
        ASSIGN_OR_RETURN(int b, Input(node, 1));
        d = Add("Sub", {a, b});
      }
      Set(n, {Add("Mul", {d, d})});
      return absl::OkStatus();
    }
    if (op == "Rsqrt") {
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      Set(n, {Add("Reciprocal", {Add("Sqrt", {x})})});
      return absl::OkStatus();
    }
    if (op == "Erfc") {  // 1 - erf(x)
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      ASSIGN_OR_RETURN(DType t, AttrType("T"));
      Set(n, {Add("Sub", {Constant(ScalarOf(t, 1.0)), Add("Erf", {x})})});
      return absl::OkStatus();
    }
    if (op == "Relu6") {
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      Set(n, {Add("Clip", {x, Constant(ScalarOf(DType::kFloat32, 0)),
                           Constant(ScalarOf(DType::kFloat32, 6))})});
      return absl::OkStatus();
    }
    if (op == "LeakyRelu") {
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      Attributes a;
      a.Set("alpha", AttrFloat("alpha", 0.2f));
      Set(n, {Add("LeakyRelu", {x}, std::move(a))});
      return absl::OkStatus();
    }
    if (op == "Elu" || op == "Selu") {
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      Set(n, {Add(std::string(op), {x})});
      return absl::OkStatus();
    }
    if (op == "Softmax" || op == "LogSoftmax") {
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      Attributes a;
      a.Set("axis", int64_t{-1});
      Set(n, {Add(std::string(op), {x}, std::move(a))});
      return absl::OkStatus();
    }
    if (op == "Cast") {
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      ASSIGN_OR_RETURN(DType to, AttrType("DstT"));
      Attributes a;
      a.Set("to", static_cast<int64_t>(to));
      Set(n, {Add("Cast", {x}, std::move(a))});
      return absl::OkStatus();
    }
    if (op == "MatMul" || op == "BatchMatMulV2" || op == "BatchMatMulV3" || op == "BatchMatMul") {
      return TranslateMatMul(n, node);
    }
    if (op == "Einsum") {
      if (node.inputs.size() != 2) return Unsupported("an Einsum of other than two operands");
      ASSIGN_OR_RETURN(int a, Input(node, 0));
      ASSIGN_OR_RETURN(int b, Input(node, 1));
      Attributes attributes;
      attributes.Set("equation", AttrString("equation", ""));
      Set(n, {Add("Einsum", {a, b}, std::move(attributes))});
      return absl::OkStatus();
    }
    if (op == "Conv2D" || op == "DepthwiseConv2dNative") return TranslateConv(n, node);
    if (op == "MaxPool" || op == "AvgPool") return TranslatePool(n, node);
    if (op == "FusedBatchNormV3" || op == "FusedBatchNorm" || op == "FusedBatchNormV2") {
      return TranslateBatchNorm(n, node);
    }
    if (op == "Mean" || op == "Sum" || op == "Max" || op == "Min" || op == "Prod") {
      return TranslateReduce(n, node);
    }
    if (op == "ArgMax") {
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      ASSIGN_OR_RETURN(std::vector<int64_t> axis, ConstInts(node, 1));
      if (axis.size() != 1) return absl::InvalidArgumentError("needs one axis");
      Attributes a;
      a.Set("axis", axis[0]);
      a.Set("keepdims", int64_t{0});
      int out = Add("ArgMax", {x}, std::move(a));
      ASSIGN_OR_RETURN(DType type, AttrType("output_type", DType::kInt64));
      if (type != DType::kInt64) out = CastTo(out, type);
      Set(n, {out});
      return absl::OkStatus();
    }
    if (op == "Reshape") {
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      ASSIGN_OR_RETURN(int shape, Input(node, 1));
      Set(n, {Add("Reshape", {x, ToInt64(shape)})});
      return absl::OkStatus();
    }
    if (op == "Shape") {
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      int out = Add("Shape", {x});
      const AttrValue* type = Attr("out_type");
      if (type == nullptr || type->type() == tensorflow::DT_INT32) out = CastTo(out, DType::kInt32);
      Set(n, {out});
      return absl::OkStatus();
    }
    if (op == "Squeeze") {
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      const std::vector<int64_t> axes = AttrInts("squeeze_dims", {});
      // No squeeze_dims: every dimension of size 1 goes, as in ONNX without axes.
      Set(n, {axes.empty() ? Add("Squeeze", {x}) : Add("Squeeze", {x, Ints(axes)})});
      return absl::OkStatus();
    }
    if (op == "ExpandDims") {
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      ASSIGN_OR_RETURN(std::vector<int64_t> axis, ConstInts(node, 1));
      Set(n, {Add("Unsqueeze", {x, Ints(axis)})});
      return absl::OkStatus();
    }
    if (op == "Transpose") {
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      ASSIGN_OR_RETURN(std::vector<int64_t> perm, ConstInts(node, 1));
      Attributes a;
      a.Set("perm", perm);
      Set(n, {Add("Transpose", {x}, std::move(a))});
      return absl::OkStatus();
    }
    if (op == "ConcatV2") {
      const int count = static_cast<int>(node.inputs.size()) - 1;
      if (count < 1) return absl::InvalidArgumentError("concatenates nothing");
      std::vector<int> parts;
      for (int i = 0; i < count; ++i) {
        ASSIGN_OR_RETURN(int part, Input(node, i));
        parts.push_back(part);
      }
      ASSIGN_OR_RETURN(std::vector<int64_t> axis, ConstInts(node, count));
      if (axis.size() != 1) return absl::InvalidArgumentError("needs one axis");
      Attributes a;
      a.Set("axis", axis[0]);
      Set(n, {Add("Concat", parts, std::move(a))});
      return absl::OkStatus();
    }
    if (op == "Pack") {
      const int64_t axis = AttrInt("axis", 0);
      std::vector<int> parts;
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        ASSIGN_OR_RETURN(int part, Input(node, static_cast<int>(i)));
        parts.push_back(Add("Unsqueeze", {part, Ints({axis})}));
      }
      if (parts.empty()) return absl::InvalidArgumentError("packs nothing");
      Attributes a;
      a.Set("axis", axis);
      Set(n, {Add("Concat", parts, std::move(a))});
      return absl::OkStatus();
    }
    if (op == "GatherV2") {
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      ASSIGN_OR_RETURN(int indices, Input(node, 1));
      ASSIGN_OR_RETURN(std::vector<int64_t> axis, ConstInts(node, 2));
      if (axis.size() != 1) return absl::InvalidArgumentError("needs one axis");
      if (AttrInt("batch_dims", 0) != 0) return Unsupported("batch_dims other than 0");
      Attributes a;
      a.Set("axis", axis[0]);
      Set(n, {Add("Gather", {x, indices}, std::move(a))});
      return absl::OkStatus();
    }
    if (op == "Pad" || op == "PadV2") {
      ASSIGN_OR_RETURN(int x, Input(node, 0));
      ASSIGN_OR_RETURN(std::vector<int64_t> paddings, ConstInts(node, 1));
      std::vector<int64_t> pads(paddings.size());
      const size_t rank = paddings.size() / 2;
      for (size_t d = 0; d < rank; ++d) {
        pads[d] = paddings[2 * d];
        pads[rank + d] = paddings[2 * d + 1];
      }
      std::vector<int> inputs = {x, Ints(pads)};
      if (op == "PadV2") {
        ASSIGN_OR_RETURN(int value, Input(node, 2));
        inputs.push_back(value);
      }
      Set(n, {Add("Pad", inputs)});
      return absl::OkStatus();
    }
    if (op == "StridedSlice") return TranslateStridedSlice(n, node);
    if (op == "Select" || op == "SelectV2") {
      ASSIGN_OR_RETURN(int c, Input(node, 0));
      ASSIGN_OR_RETURN(int a, Input(node, 1));
      ASSIGN_OR_RETURN(int b, Input(node, 2));
      Set(n, {Add("Where", {c, a, b})});
      return absl::OkStatus();
    }
    if (op == "Fill") {
      ASSIGN_OR_RETURN(int shape, Input(node, 0));
      ASSIGN_OR_RETURN(int value, Input(node, 1));
      Set(n, {Add("Expand", {value, ToInt64(shape)})});
      return absl::OkStatus();
    }
    return absl::UnimplementedError("servekit does not translate this op");
  }

  Status Unsupported(const std::string& what) {
    return absl::UnimplementedError(absl::StrCat(what, " is not supported"));
  }

  int CastTo(int value, DType to) {
    Attributes a;
    a.Set("to", static_cast<int64_t>(to));
    return Add("Cast", {value}, std::move(a));
  }
  // Shapes and indices are int64 in the IR.
  int ToInt64(int value) {
    if (const Tensor* t = ConstantOf(value); t != nullptr && t->dtype() == DType::kInt32) {
      Tensor wide = *Tensor::Allocate(DType::kInt64, t->shape());
      std::copy(t->data<int32_t>(), t->data<int32_t>() + t->num_elements(), wide.data<int64_t>());
      return Constant(std::move(wide));
    }
    return CastTo(value, DType::kInt64);
  }

  Status TranslateMatMul(int n, const TfNode& node) {
    const NodeView& def = *node.def;
    const bool batched = def.op() != "MatMul";
    const bool ta = batched ? AttrBool("adj_x", false) : AttrBool("transpose_a", false);
    const bool tb = batched ? AttrBool("adj_y", false) : AttrBool("transpose_b", false);
    ASSIGN_OR_RETURN(int a, Input(node, 0));
    ASSIGN_OR_RETURN(int b, Input(node, 1));
    if (!batched) {
      Attributes attributes;
      if (ta) attributes.Set("transA", int64_t{1});
      if (tb) attributes.Set("transB", int64_t{1});
      if (ta || tb) {
        Set(n, {Add("Gemm", {a, b}, std::move(attributes))});
      } else {
        Set(n, {Add("MatMul", {a, b})});
      }
      return absl::OkStatus();
    }
    if (ta || tb) {
      // The transposes of the last two axes, whatever the rank: an Einsum.
      Attributes attributes;
      attributes.Set("equation",
                     absl::StrCat(ta ? "...ji" : "...ij", tb ? ",...kj" : ",...jk", "->...ik"));
      Set(n, {Add("Einsum", {a, b}, std::move(attributes))});
      return absl::OkStatus();
    }
    Set(n, {Add("MatMul", {a, b})});
    return absl::OkStatus();
  }

  // Conv2D and DepthwiseConv2dNative: NHWC in and out, NCHW inside.
  Status TranslateConv(int n, const TfNode& node) {
    const NodeView& def = *node.def;
    if (AttrString("data_format", "NHWC") != "NHWC") return Unsupported("data_format NCHW");
    ASSIGN_OR_RETURN(int x, Input(node, 0));
    ASSIGN_OR_RETURN(int w, Input(node, 1));
    const Tensor* filter = ConstantOf(w);
    if (filter == nullptr || filter->rank() != 4 || filter->dtype() != DType::kFloat32) {
      return Unsupported("a filter that is not a constant float32 [h, w, in, out] tensor");
    }
    Attributes a;
    RETURN_IF_ERROR(SetWindow(&a, /*kernel=*/nullptr));
    const std::vector<int64_t> dilations = AttrInts("dilations", {1, 1, 1, 1});
    if (dilations.size() != 4 || dilations[0] != 1 || dilations[3] != 1) {
      return absl::InvalidArgumentError("dilations must be [1, h, w, 1]");
    }
    a.Set("dilations", std::vector<int64_t>{dilations[1], dilations[2]});
    Tensor weights;
    if (def.op() == "Conv2D") {
      ASSIGN_OR_RETURN(weights, filter->PermuteAxes({3, 2, 0, 1}));  // -> [out, in, h, w]
    } else {
      // [h, w, in, multiplier] -> [in * multiplier, 1, h, w], group = in: output
      // channel c * multiplier + m reads input channel c, as in TensorFlow.
      const Shape& s = filter->shape();
      ASSIGN_OR_RETURN(Tensor p, filter->PermuteAxes({2, 3, 0, 1}));  // [in, m, h, w]
      weights = p.Reshaped({s[2] * s[3], 1, s[0], s[1]});
      a.Set("group", s[2]);
    }
    if (channels_last_) {
      a.Set(kImageLayoutAttribute, std::string("NHWC"));
      Set(n, {Add("Conv", {x, Constant(std::move(weights))}, std::move(a))});
      return absl::OkStatus();
    }
    const int conv =
        Add("Conv", {Transpose(x, kToNchw), Constant(std::move(weights))}, std::move(a));
    Set(n, {Transpose(conv, kToNhwc)});
    return absl::OkStatus();
  }

  // Strides, padding (and for pools ksize) of the current node, an NHWC window op.
  Status SetWindow(Attributes* a, std::vector<int64_t>* kernel) {
    const std::vector<int64_t> strides = AttrInts("strides", {});
    if (strides.size() != 4 || strides[0] != 1 || strides[3] != 1) {
      return absl::InvalidArgumentError("strides must be [1, h, w, 1]");
    }
    a->Set("strides", std::vector<int64_t>{strides[1], strides[2]});
    if (kernel != nullptr) {
      const std::vector<int64_t> ksize = AttrInts("ksize", {});
      if (ksize.size() != 4 || ksize[0] != 1 || ksize[3] != 1) {
        return absl::InvalidArgumentError("ksize must be [1, h, w, 1]");
      }
      *kernel = {ksize[1], ksize[2]};
      a->Set("kernel_shape", *kernel);
    }
    const std::string padding = AttrString("padding", "");
    if (padding == "SAME") {
      a->Set("auto_pad", std::string("SAME_UPPER"));  // TensorFlow puts the odd pad last too
    } else if (padding == "VALID") {
      a->Set("auto_pad", std::string("VALID"));
    } else if (padding == "EXPLICIT") {
      const std::vector<int64_t> p = AttrInts("explicit_paddings", {});
      if (p.size() != 8) return absl::InvalidArgumentError("explicit_paddings needs 8 values");
      a->Set("pads", std::vector<int64_t>{p[2], p[4], p[3], p[5]});
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown padding '", padding, "'"));
    }
    return absl::OkStatus();
  }

  Status TranslatePool(int n, const TfNode& node) {
    const NodeView& def = *node.def;
    if (AttrString("data_format", "NHWC") != "NHWC") return Unsupported("data_format NCHW");
    ASSIGN_OR_RETURN(int x, Input(node, 0));
    Attributes a;
    std::vector<int64_t> kernel;
    RETURN_IF_ERROR(SetWindow(&a, &kernel));
    // TensorFlow's AvgPool averages over the window's part inside the image.
    const std::string op = def.op() == "MaxPool" ? "MaxPool" : "AveragePool";
    if (channels_last_) {
      a.Set(kImageLayoutAttribute, std::string("NHWC"));
      Set(n, {Add(op, {x}, std::move(a))});
      return absl::OkStatus();
    }
    const int pool = Add(op, {Transpose(x, kToNchw)}, std::move(a));
    Set(n, {Transpose(pool, kToNhwc)});
    return absl::OkStatus();
  }

  Status TranslateBatchNorm(int n, const TfNode& node) {
    if (AttrBool("is_training", true)) {
      return Unsupported("batch norm in training mode (is_training=true)");
    }
    if (AttrString("data_format", "NHWC") != "NHWC") return Unsupported("data_format NCHW");
    std::vector<int> in;
    for (int i = 0; i < 5; ++i) {
      ASSIGN_OR_RETURN(int v, Input(node, i));
      in.push_back(v);
    }
    const float epsilon = AttrFloat("epsilon", 0.0001f);
    // Only y is computed; the batch statistics are training outputs.
    std::optional<std::pair<Tensor, Tensor>> affine = BatchNormAffine(in, epsilon);
    if (affine && KnownChannels(in[0]) == affine->first.num_elements()) {
      // Constant statistics: y = x * a + c per channel, on NHWC's last axis,
      // which FoldBatchNormalization folds into the Conv x comes from. Only
      // when x has that many channels: a [C] constant would broadcast where
      // BatchNormalization refuses parameters of the wrong length.
      const int scaled = Add("Mul", {in[0], Constant(std::move(affine->first))});
      Set(n, {Add("Add", {scaled, Constant(std::move(affine->second))})});
      return absl::OkStatus();
    }
    Attributes a;
    a.Set("epsilon", epsilon);
    in[0] = Transpose(in[0], kToNchw);
    const int y = Add("BatchNormalization", in, std::move(a));
    Set(n, {Transpose(y, kToNhwc)});
    return absl::OkStatus();
  }

  // For batch norm inputs x, scale, offset, mean, variance whose last four are
  // float32 constants of one length C: a = scale / sqrt(variance + epsilon)
  // and c = offset - mean * a, as [C] tensors (computed in float, as the
  // BatchNormalization kernel and TensorFlow's inference kernel do).
  std::optional<std::pair<Tensor, Tensor>> BatchNormAffine(const std::vector<int>& in,
                                                           float epsilon) const {
    const Tensor* params[4];
    for (int i = 0; i < 4; ++i) {
      params[i] = ConstantOf(in[i + 1]);
      if (params[i] == nullptr || params[i]->dtype() != DType::kFloat32 || params[i]->rank() != 1 ||
          params[i]->shape() != params[0]->shape()) {
        return std::nullopt;
      }
    }
    const int64_t channels = params[0]->num_elements();
    StatusOr<Tensor> a = Tensor::Allocate(DType::kFloat32, {channels});
    StatusOr<Tensor> c = Tensor::Allocate(DType::kFloat32, {channels});
    if (!a.ok() || !c.ok()) return std::nullopt;
    const float *scale = params[0]->data<float>(), *offset = params[1]->data<float>(),
                *mean = params[2]->data<float>(), *variance = params[3]->data<float>();
    for (int64_t ch = 0; ch < channels; ++ch) {
      a->data<float>()[ch] = scale[ch] / std::sqrt(variance[ch] + epsilon);
      c->data<float>()[ch] = offset[ch] - mean[ch] * a->data<float>()[ch];
    }
    return std::make_pair(*std::move(a), *std::move(c));
  }

  Status TranslateReduce(int n, const TfNode& node) {
    const NodeView& def = *node.def;
    ASSIGN_OR_RETURN(int x, Input(node, 0));
    ASSIGN_OR_RETURN(std::vector<int64_t> axes, ConstInts(node, 1));
    static const std::map<std::string, std::string, std::less<>> kReduce = {{"Mean", "ReduceMean"},
                                                                            {"Sum", "ReduceSum"},
                                                                            {"Max", "ReduceMax"},
                                                                            {"Min", "ReduceMin"},
                                                                            {"Prod", "ReduceProd"}};
    Attributes a;
    a.Set("keepdims", int64_t{AttrBool("keep_dims", false) ? 1 : 0});
    if (axes.empty()) {  // TensorFlow: reduce nothing
      Set(n, {Add("Identity", {x})});
      return absl::OkStatus();
    }
    const auto reduce = kReduce.find(def.op());
    if (reduce == kReduce.end()) return Unsupported(absl::StrCat("reduction '", def.op(), "'"));
    Set(n, {Add(reduce->second, {x, Ints(axes)}, std::move(a))});
    return absl::OkStatus();
  }

  // StridedSlice with constant begin, end and strides: Slice over the axes it
  // cuts, then Squeeze for shrink_axis_mask. Ellipsis and new-axis masks are
  // expanded against the begin vector's length.
  Status TranslateStridedSlice(int n, const TfNode& node) {
    ASSIGN_OR_RETURN(int x, Input(node, 0));
    ASSIGN_OR_RETURN(std::vector<int64_t> begin, ConstInts(node, 1));
    ASSIGN_OR_RETURN(std::vector<int64_t> end, ConstInts(node, 2));
    ASSIGN_OR_RETURN(std::vector<int64_t> strides, ConstInts(node, 3));
    if (begin.size() != end.size() || begin.size() != strides.size()) {
      return absl::InvalidArgumentError("begin, end and strides differ in length");
    }
    const int64_t begin_mask = AttrInt("begin_mask", 0);
    const int64_t end_mask = AttrInt("end_mask", 0);
    const int64_t ellipsis_mask = AttrInt("ellipsis_mask", 0);
    const int64_t new_axis_mask = AttrInt("new_axis_mask", 0);
    const int64_t shrink_mask = AttrInt("shrink_axis_mask", 0);
    if (ellipsis_mask != 0 || new_axis_mask != 0) {
      return Unsupported("StridedSlice with ellipsis_mask or new_axis_mask");
    }
    if (begin.size() > 64) {  // the masks are 64-bit
      return absl::InvalidArgumentError("slices more than 64 axes");
    }
    // One element of a vector (Flatten's batch size out of a Shape): a Gather,
    // which keeps the engine's knowledge of shape values whatever the dtype.
    if (begin.size() == 1 && shrink_mask == 1) {
      Tensor index = *Tensor::Allocate(DType::kInt64, {});
      index.data<int64_t>()[0] = begin[0];
      Attributes a;
      a.Set("axis", int64_t{0});
      Set(n, {Add("Gather", {x, Constant(std::move(index))}, std::move(a))});
      return absl::OkStatus();
    }
    std::vector<int64_t> starts, ends, axes, steps, squeeze;
    for (size_t i = 0; i < begin.size(); ++i) {
      const bool shrink = (shrink_mask >> i) & 1;
      if (strides[i] == 0) return absl::InvalidArgumentError("a stride is 0");
      int64_t b = begin[i], e = end[i];
      if (shrink) {
        e = b == -1 || b == std::numeric_limits<int64_t>::max()
                ? std::numeric_limits<int64_t>::max()
                : b + 1;
        squeeze.push_back(static_cast<int64_t>(i));
      } else {
        const bool forward = strides[i] > 0;
        if ((begin_mask >> i) & 1) b = forward ? 0 : std::numeric_limits<int64_t>::max();
        if ((end_mask >> i) & 1)
          e = forward ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
        if (b == 0 && e == std::numeric_limits<int64_t>::max() && strides[i] == 1) continue;
      }
      starts.push_back(b);
      ends.push_back(e);
      axes.push_back(static_cast<int64_t>(i));
      steps.push_back(strides[i]);
    }
    int out = x;
    if (!axes.empty()) {
      out = Add("Slice", {x, Ints(starts), Ints(ends), Ints(axes), Ints(steps)});
    }
    if (!squeeze.empty()) out = Add("Squeeze", {out, Ints(squeeze)});
    Set(n, {out});
    return absl::OkStatus();
  }

  using Value_ = servekit::Value;
  const std::vector<TfNode>& nodes_;  // every signature's: only what the outputs need is read
  const TfSignatureTensors& tensors_;
  const VariableReader& read_variable_;
  Graph graph_;
  std::vector<OutputValues> values_;  // per flat node, per output: IR value id
  const bool channels_last_;          // convolutions and pools as NHWC nodes
  std::vector<int> producers_;        // IR value -> the node that computes it, or -1
  std::vector<bool> needed_;
  std::map<int, int> input_of_node_;      // placeholder flat node -> graph input value
  std::map<std::string, int> variables_;  // variable node -> constant value
  absl::string_view current_;         // the node being translated (its name in nodes_), for names
  const NodeAttrs* attrs_ = nullptr;  // its attributes
  // Every node's NodeAttrs and attribute values, on one arena: their shapes
  // and lists cost no heap allocation each. Declared before the map, so that
  // it outlives it.
  std::unique_ptr<google::protobuf::Arena> attr_arena_ = NewParseArena(size_t{8} << 10);
  absl::flat_hash_map<const NodeView*, NodeAttrs*> attrs_of_node_;
  int64_t const_elements_ = 0;  // in all Const nodes so far
};

}  // namespace

StatusOr<Graph> TranslateSignature(const std::vector<TfNode>& nodes,
                                   const TfSignatureTensors& tensors,
                                   const tensorflow::SignatureDef& signature,
                                   const VariableReader& read_variable) {
  Translator translator(nodes, tensors, read_variable);
  return translator.Run(signature);
}

StatusOr<Graph> TranslateSignature(const TfFlatGraph& flat,
                                   const tensorflow::SignatureDef& signature,
                                   const VariableReader& read_variable) {
  const TfSignatureTensors tensors{flat.inputs, flat.outputs};
  return TranslateSignature(flat.nodes, tensors, signature, read_variable);
}

}  // namespace servekit
