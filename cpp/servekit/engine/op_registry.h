// The contract between the engine and the operators it runs.
//
// Each ONNX operator servekit supports has one OpSchema, registered by the
// kernels/ file of its family through an OpRegistration (below): the engine
// never names a family or includes kernels/. The schema checks a node and infers
// its outputs' types at load time (`infer`), and creates the kernel that runs it
// (`create`).
//
// Lifecycle: `create` runs once per node when a Session is built; the OpKernel
// it returns is immutable and its Compute is called concurrently from many
// request threads, so Compute must not mutate the kernel. Outputs arrive
// allocated with their final shapes; kernels only fill them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "servekit/engine/graph.h"
#include "servekit/util/status.h"
#include "servekit/util/tensor.h"
#include "servekit/util/thread_pool.h"

namespace servekit {

// What a schema's `infer` sees: the node, its inputs' types (and contents when
// known at load time), and the outputs to describe.
class InferenceContext {
 public:
  InferenceContext(Graph& graph, const Node& node) : graph_(graph), node_(node) {}

  const Node& node() const { return node_; }
  const Attributes& attributes() const { return node_.attributes; }
  int num_inputs() const { return static_cast<int>(node_.inputs.size()); }
  int num_outputs() const { return static_cast<int>(node_.outputs.size()); }
  bool has_input(int i) const { return i < num_inputs() && node_.inputs[i] >= 0; }
  const Value& input(int i) const { return graph_.values[node_.inputs[i]]; }
  Value& output(int i) { return graph_.values[node_.outputs[i]]; }

  // Sets output i's type.
  void SetOutput(int i, DType dtype, SymShape shape);
  // An InvalidArgument status that names the node: "node 'x' (Conv): <message>".
  Status Error(absl::string_view message) const;
  // Input i must be one of `allowed` dtypes.
  Status ExpectDType(int i, std::initializer_list<DType> allowed) const;
  // Input i must have rank `rank`.
  Status ExpectRank(int i, int rank) const;
  // Input i's contents as integers; it must be known at load time.
  StatusOr<std::vector<int64_t>> ConstantInts(int i) const;
  // Input i's contents as dims (from a constant or from shape arithmetic).
  StatusOr<SymShape> ShapeValue(int i) const;

 private:
  Graph& graph_;
  const Node& node_;
};

// What a kernel's Compute sees for one call.
struct KernelContext {
  absl::Span<const Tensor* const> inputs;  // nullptr for omitted or load-time inputs
  absl::Span<Tensor* const> outputs;       // allocated, shaped
  void* scratch = nullptr;                 // ScratchBytes() bytes, 64-byte aligned
  // never null; has the num_threads that ScratchBytes was told
  const IntraOpPool* pool = nullptr;
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual Status Compute(const KernelContext& ctx) const = 0;
  // Temporary memory Compute needs for these input and output shapes when its
  // pool has `num_threads` threads (threads working side by side may each need
  // their own buffers).
  // Whether Compute reads input i. A kernel that copied a constant input into
  // its own form when it was created (weights packed for oneDNN) says no: the
  // Session then passes nullptr for it and releases the constant when no other
  // step reads it, so that the model is not held twice.
  virtual bool ReadsInputAtRunTime(int i) const {
    (void)i;
    return true;
  }
  virtual size_t ScratchBytes(absl::Span<const Shape* const> input_shapes,
                              absl::Span<const Shape* const> output_shapes, int num_threads) const {
    (void)input_shapes;
    (void)output_shapes;
    (void)num_threads;
    return 0;
  }
};

using InferFn = Status (*)(InferenceContext& ctx);
// Builds the kernel for a node of a fully inferred graph (weights are readable
// as constants of `graph`).
using CreateKernelFn = StatusOr<std::unique_ptr<OpKernel>> (*)(const Node& node,
                                                               const Graph& graph);

struct OpSchema {
  std::string op_type;
  int min_inputs = 1;
  int max_inputs = 1;
  int min_outputs = 1;
  int max_outputs = 1;
  std::vector<std::string> attributes;  // every attribute the op accepts
  std::vector<int> load_time_inputs;    // read by `infer`/`create`, never at run time
  InferFn infer = nullptr;
  CreateKernelFn create = nullptr;
  // For image ops that accept `_layout` (engine/image_layout.h): whether the
  // kernel is faster in NHWC, so the channels-last pass should rewrite the node.
  bool prefers_channels_last = false;
  // Output 0 is input 0's elements unchanged under another shape (Reshape,
  // Flatten, ...): when both live in a Session's arena, the output shares the
  // input's buffer and the step does not run.
  bool output_is_input_view = false;

  bool IsLoadTimeInput(int i) const;

  // A schema with one output; set the other fields afterwards where they differ.
  static OpSchema Make(std::string op_type, int min_inputs, int max_inputs,
                       std::vector<std::string> attributes, InferFn infer, CreateKernelFn create);
};

class OpRegistry {
 public:
  // The registry holding every operator that an OpRegistration added: every
  // kernels/ family linked into the program. Complete before main() runs (or
  // before the Python extension's module init), read-only afterwards, so it may
  // be read from any thread.
  static const OpRegistry& Global();

  // nullptr when the op is unknown.
  const OpSchema* Find(absl::string_view op_type) const;
  std::vector<std::string> OpTypes() const;
  void Register(OpSchema schema);

 private:
  std::vector<OpSchema> schemas_;
};

// Convenience for kernels that need one or two type-checked fields of their node.
StatusOr<const Tensor*> ConstantInput(const Node& node, const Graph& graph, int i);
// Whether the node has input i (optional inputs may be omitted).
bool HasInput(const Node& node, int i);
// Input i's elements as integers: it must be a present int64 or int32 constant.
StatusOr<std::vector<int64_t>> ConstantInputInts(const Node& node, const Graph& graph, int i);

// Adds a family's schemas to OpRegistry::Global() during static initialisation.
// Each kernels/ family file defines one at namespace scope:
//
//   const OpRegistration kPoolOps(RegisterPoolOps);  // RegisterPoolOps(OpRegistry&)
//
// Only static objects may be OpRegistrations (registering is not thread-safe),
// and their library must be linked whole: see servekit_kernels in CMakeLists.txt.
class OpRegistration {
 public:
  explicit OpRegistration(void (*register_ops)(OpRegistry& registry));
  OpRegistration(const OpRegistration&) = delete;
  OpRegistration& operator=(const OpRegistration&) = delete;
};

}  // namespace servekit
