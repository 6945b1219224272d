// Session: a loaded, optimised model, ready to run.
//
// Created once from an inferred and optimised Graph; immutable afterwards. Run is
// thread-safe and may be called from any number of threads at once: each call
// borrows an execution context (tensor table + memory arena planned for its
// batch size) from a pool, so steady-state inference allocates only the output
// tensors it returns. Inputs are read in place (views of the caller's memory).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "servekit/engine/graph.h"
#include "servekit/util/status.h"
#include "servekit/util/tensor.h"
#include "servekit/util/thread_pool.h"

namespace servekit {

struct SessionOptions {
  // Threads one request may use inside a kernel. 1 serves concurrent requests
  // best on machines with few cores.
  int intra_op_threads = 1;
  // Upper bound on one request's memory at its peak (working memory plus
  // outputs); beyond it Run is ResourceExhausted instead of exhausting the
  // machine. The fuzzer lowers it to stay inside its RSS limit.
  size_t max_request_bytes = size_t{16} << 30;
};

// One input or output of a model's signature.
struct TensorSpec {
  std::string name;
  DType dtype = DType::kUndefined;
  SymShape shape;  // batch-dependent dims are Dim::Batch
};

class OpKernel;
struct ExecutionContext;

class Session {
 public:
  // Takes a graph that InferGraph and OptimizeGraph have processed.
  static StatusOr<std::unique_ptr<Session>> Create(Graph graph, const SessionOptions& options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::vector<TensorSpec>& inputs() const { return inputs_; }
  const std::vector<TensorSpec>& outputs() const { return outputs_; }
  int num_steps() const { return static_cast<int>(steps_.size()); }
  // The op types of the steps that run, in order (for tests and diagnostics).
  std::vector<std::string> StepOpTypes() const;

  // Runs the model on `inputs`, given in the order of inputs(). Returns the
  // outputs in the order of outputs(). InvalidArgument for a wrong count,
  // dtype or shape, with a message that says what was expected.
  StatusOr<std::vector<Tensor>> Run(absl::Span<const Tensor> inputs) const;

  // Runs like Run and adds each step's wall time in microseconds to
  // `step_micros` (one entry per step, in StepOpTypes order).
  StatusOr<std::vector<Tensor>> RunProfiled(absl::Span<const Tensor> inputs,
                                            std::vector<double>& step_micros) const;
  // "node 'conv1' (Conv)" for each step, in order.
  std::vector<std::string> StepDescriptions() const;
  // Bytes of the model's constants the session holds for its steps to read
  // (weights a kernel packed into its own form are not among them).
  size_t ConstantBytes() const;

 private:
  StatusOr<std::vector<Tensor>> RunImpl(absl::Span<const Tensor> inputs,
                                        std::vector<double>* step_micros) const;
  struct Step {
    std::string description;  // "node 'x' (Conv)", for errors
    std::string op_type;
    std::unique_ptr<OpKernel> kernel;
    std::vector<int> inputs;  // value ids; -1 where the kernel gets nullptr
    std::vector<int> outputs;
    // Output 0 shares input 0's arena buffer (OpSchema::output_is_input_view):
    // the step is skipped.
    bool is_view = false;
  };

  Session() = default;
  StatusOr<int64_t> ValidateInputs(absl::Span<const Tensor> inputs) const;
  Status Plan(ExecutionContext& ctx, int64_t batch) const;
  std::unique_ptr<ExecutionContext> Acquire() const;
  void Release(std::unique_ptr<ExecutionContext> ctx) const;

  Graph graph_;
  std::vector<Step> steps_;
  std::vector<TensorSpec> inputs_;
  std::vector<TensorSpec> outputs_;
  std::unique_ptr<IntraOpPool> pool_;
  size_t max_request_bytes_ = 0;  // SessionOptions::max_request_bytes

  mutable std::mutex contexts_mutex_;
  mutable std::vector<std::unique_ptr<ExecutionContext>> free_contexts_;
};

}  // namespace servekit
