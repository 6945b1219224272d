// Graph: servekit's intermediate representation of a model.
//
// Values are named tensors identified by index; nodes read and write values by
// index (-1 marks an omitted optional input). After a loader builds a Graph,
// InferGraph (shape_inference.h) sorts the nodes topologically and fills every
// value's dtype and symbolic shape; optimisation passes then rewrite it, keeping
// the nodes in topological order. A Graph is a plain value: not thread-safe,
// owned by whoever builds the model, discarded once a Session is created.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "servekit/engine/attributes.h"
#include "servekit/engine/dim.h"
#include "servekit/util/tensor.h"

namespace servekit {

struct Value {
  std::string name;
  DType dtype = DType::kUndefined;
  SymShape shape;
  bool typed = false;  // dtype and shape are known
  // The value's contents when known at load time (initializers, folded constants).
  std::optional<Tensor> constant;
  // For small int64 tensors computed from shapes (Shape -> Gather -> Concat), the
  // elements as dims, which may involve the batch size.
  std::optional<SymShape> shape_value;
};

struct Node {
  std::string name;
  std::string op_type;
  std::vector<int> inputs;   // value ids, -1 for an omitted optional input
  std::vector<int> outputs;  // value ids
  Attributes attributes;

  // "node 'conv1' (Conv)", for error messages.
  std::string Describe() const;
};

class Graph {
 public:
  std::vector<Value> values;
  std::vector<Node> nodes;
  std::vector<int> inputs;  // runtime inputs (not initializers)
  std::vector<int> outputs;
  int64_t opset = 0;

  // The id of the value named `name`, or -1.
  int FindValue(const std::string& name) const;
  // Adds a value with a unique name derived from `name`; returns its id.
  int AddValue(const std::string& name);
  // Adds a constant value; returns its id.
  int AddConstant(const std::string& name, Tensor tensor);

  // How many live nodes read each value, plus one for each graph output use.
  std::vector<int> CountUses() const;
  // The live node that writes each value, or -1 (inputs, constants).
  std::vector<int> Producers() const;

 private:
  absl::flat_hash_map<std::string, int> index_;
};

}  // namespace servekit
