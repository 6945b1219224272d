#include "servekit/engine/session.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "servekit/engine/memory_planner.h"
#include "servekit/engine/op_registry.h"
#include "servekit/util/working_memory.h"

namespace servekit {

// A context returned with a larger arena than this gives it back: one request
// with a huge batch must not leave its working memory resident until the
// version unloads. Below it, steady traffic keeps its arenas (no allocation
// per request): set well above the working memory of ordinary batches, since
// a context over it allocates (and faults in) a fresh arena on every request.
constexpr size_t kMaxRetainedArenaBytes = size_t{256} << 20;

namespace {

Status TooLarge(int64_t batch, size_t max_bytes) {
  const std::string cap = max_bytes >= (size_t{1} << 30) ? absl::StrCat(max_bytes >> 30, " GiB")
                                                         : absl::StrCat(max_bytes >> 20, " MiB");
  return absl::ResourceExhaustedError(
      absl::StrCat("a batch of ", batch, " needs more than ", cap, " of working memory"));
}

// Bytes of `v` for a batch size; ResourceExhausted beyond the working-memory cap.
StatusOr<size_t> BytesForBatch(const Value& v, int64_t batch, size_t max_bytes) {
  auto elements = CheckedNumElements(Evaluate(v.shape, batch), static_cast<int64_t>(max_bytes / 8));
  if (!elements.ok()) return TooLarge(batch, max_bytes);
  return static_cast<size_t>(*elements) * DTypeSize(v.dtype);
}

}  // namespace

struct ExecutionContext {
  int64_t batch = -1;           // the batch size the plan below is for; -1: none yet
  std::vector<Tensor> tensors;  // by value id
  std::vector<Shape> output_shapes;
  std::unique_ptr<char, decltype(&std::free)> arena{nullptr, std::free};
  size_t arena_capacity = 0;
  std::vector<std::vector<const Tensor*>> step_inputs;
  std::vector<std::vector<Tensor*>> step_outputs;
  std::vector<void*> step_scratch;
};

Session::~Session() = default;

namespace {

// Whether value `id` is computed into the arena: not a graph input or output,
// not a constant.
bool InArena(const Graph& graph, int id) {
  if (id < 0 || graph.values[id].constant.has_value()) return false;
  for (int v : graph.inputs) {
    if (v == id) return false;
  }
  for (int v : graph.outputs) {
    if (v == id) return false;
  }
  return true;
}

}  // namespace

StatusOr<std::unique_ptr<Session>> Session::Create(Graph graph, const SessionOptions& options) {
  std::unique_ptr<Session> session(new Session());
  session->pool_ = std::make_unique<IntraOpPool>(options.intra_op_threads);
  session->max_request_bytes_ = options.max_request_bytes;
  const OpRegistry& registry = OpRegistry::Global();
  for (const Node& node : graph.nodes) {
    bool all_constant = true;
    for (int id : node.outputs)
      all_constant = all_constant && graph.values[id].constant.has_value();
    if (all_constant) continue;  // folded at load time
    const OpSchema* schema = registry.Find(node.op_type);
    if (schema == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(node.Describe(), ": unsupported operator"));
    }
    Step step;
    step.description = node.Describe();
    step.op_type = node.op_type;
    ASSIGN_OR_RETURN(step.kernel, schema->create(node, graph));
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const int index = static_cast<int>(i);
      const bool read = !schema->IsLoadTimeInput(index) && step.kernel->ReadsInputAtRunTime(index);
      step.inputs.push_back(read ? node.inputs[i] : -1);
    }
    step.outputs = node.outputs;
    step.is_view = schema->output_is_input_view && node.outputs.size() == 1 &&
                   InArena(graph, node.inputs[0]) && InArena(graph, node.outputs[0]);
    session->steps_.push_back(std::move(step));
  }
  // Constants no step reads at run time (read when the kernels were created,
  // or packed into a kernel's own layout) are released: the kernels hold what
  // they need, and weights kept here too would hold the model twice.
  std::vector<bool> read(graph.values.size(), false);
  for (const Step& step : session->steps_) {
    for (int id : step.inputs) {
      if (id >= 0) read[id] = true;
    }
  }
  for (int id : graph.outputs) read[id] = true;
  for (size_t id = 0; id < graph.values.size(); ++id) {
    if (!read[id]) graph.values[id].constant.reset();
  }
  for (int id : graph.inputs) {
    const Value& v = graph.values[id];
    session->inputs_.push_back(TensorSpec{v.name, v.dtype, v.shape});
  }
  for (int id : graph.outputs) {
    const Value& v = graph.values[id];
    session->outputs_.push_back(TensorSpec{v.name, v.dtype, v.shape});
  }
  session->graph_ = std::move(graph);
  return session;
}

std::vector<std::string> Session::StepOpTypes() const {
  std::vector<std::string> out;
  for (const Step& s : steps_) out.push_back(s.op_type);
  return out;
}

StatusOr<int64_t> Session::ValidateInputs(absl::Span<const Tensor> inputs) const {
  if (inputs.size() != inputs_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the model takes ", inputs_.size(), " inputs; got ", inputs.size()));
  }
  int64_t batch = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec& spec = inputs_[i];
    const Tensor& t = inputs[i];
    if (t.dtype() != spec.dtype) {
      return absl::InvalidArgumentError(absl::StrCat("input '", spec.name, "' expects dtype ",
                                                     DTypeName(spec.dtype), "; got ",
                                                     DTypeName(t.dtype())));
    }
    for (int64_t d : t.shape()) {
      if (d < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input '", spec.name, "' has a negative dimension: ", ShapeToString(t.shape())));
      }
    }
    bool ok = t.rank() == static_cast<int>(spec.shape.size());
    for (int d = 0; ok && d < t.rank(); ++d) {
      const Dim& dim = spec.shape[d];
      if (dim.is_fixed()) {
        ok = t.dim(d) == dim.value();
      } else if (t.dim(d) % dim.value() != 0) {
        ok = false;
      } else if (batch < 0) {
        batch = t.dim(d) / dim.value();
      } else {
        ok = t.dim(d) / dim.value() == batch;
      }
    }
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", spec.name, "' expects shape ", SymShapeToString(spec.shape),
          " (N = batch size, the same for every input); got ", ShapeToString(t.shape())));
    }
  }
  return batch < 0 ? 0 : batch;
}

Status Session::Plan(ExecutionContext& ctx, int64_t batch) const {
  const size_t max_bytes = max_request_bytes_;
  const size_t num_values = graph_.values.size();
  ctx.tensors.assign(num_values, Tensor());
  std::vector<bool> external(num_values, false);  // not in the arena
  for (int id : graph_.inputs) external[id] = true;
  for (int id : graph_.outputs) external[id] = true;
  for (size_t id = 0; id < num_values; ++id) {
    const Value& v = graph_.values[id];
    if (v.constant.has_value()) {
      ctx.tensors[id] = *v.constant;  // shares the buffer, no copy
      external[id] = true;
    }
  }
  // Shapes for this batch size and the lifetime of each arena buffer.
  std::vector<int> first(num_values, -1), last(num_values, -1);
  for (size_t s = 0; s < steps_.size(); ++s) {
    for (int id : steps_[s].outputs) {
      if (first[id] < 0) first[id] = static_cast<int>(s);
      last[id] = std::max(last[id], static_cast<int>(s));
    }
    for (int id : steps_[s].inputs) {
      if (id >= 0) last[id] = static_cast<int>(s);
    }
  }
  // A view step's output shares the buffer of its input's root (the first value
  // of a chain of views), which must then live until the last view is read.
  std::vector<int> view_root(num_values, -1);
  for (const Step& step : steps_) {
    if (!step.is_view) continue;
    const int in = step.inputs[0], out = step.outputs[0];
    const int root = view_root[in] >= 0 ? view_root[in] : in;
    view_root[out] = root;
    last[root] = std::max(last[root], last[out]);
  }
  std::vector<BufferRequest> requests;
  std::vector<int> request_value;  // value id, or -(step+1) for a step's scratch
  auto add_request = [&](size_t bytes, int first_step, int last_step, int owner) -> Status {
    if (bytes > max_bytes) return TooLarge(batch, max_bytes);
    requests.push_back(BufferRequest{bytes, first_step, last_step});
    request_value.push_back(owner);
    return absl::OkStatus();
  };
  for (size_t id = 0; id < num_values; ++id) {
    if (external[id] || first[id] < 0) continue;
    const Value& v = graph_.values[id];
    ASSIGN_OR_RETURN(size_t bytes, BytesForBatch(v, batch, max_bytes));
    if (view_root[id] < 0)
      RETURN_IF_ERROR(add_request(bytes, first[id], last[id], static_cast<int>(id)));
    ctx.tensors[id].Rebind(v.dtype, Evaluate(v.shape, batch), nullptr);
  }
  // Graph inputs and outputs get their shapes per request; scratch needs them now.
  for (int id : graph_.inputs)
    ctx.tensors[id].Rebind(graph_.values[id].dtype, Evaluate(graph_.values[id].shape, batch),
                           nullptr);
  ctx.output_shapes.clear();
  size_t output_bytes = 0;  // allocated per request, but bounded by the same cap
  for (int id : graph_.outputs) {
    ASSIGN_OR_RETURN(size_t bytes, BytesForBatch(graph_.values[id], batch, max_bytes));
    output_bytes += bytes;
    if (output_bytes > max_bytes)
      return TooLarge(batch, max_bytes);  // each term is capped: no overflow
    ctx.output_shapes.push_back(Evaluate(graph_.values[id].shape, batch));
    if (!graph_.values[id].constant)
      ctx.tensors[id].Rebind(graph_.values[id].dtype, ctx.output_shapes.back(), nullptr);
  }
  ctx.step_inputs.assign(steps_.size(), {});
  ctx.step_outputs.assign(steps_.size(), {});
  ctx.step_scratch.assign(steps_.size(), nullptr);
  for (size_t s = 0; s < steps_.size(); ++s) {
    std::vector<const Shape*> in_shapes, out_shapes;
    static const Shape kNoShape;
    for (int id : steps_[s].inputs) {
      ctx.step_inputs[s].push_back(id >= 0 ? &ctx.tensors[id] : nullptr);
      in_shapes.push_back(id >= 0 ? &ctx.tensors[id].shape() : &kNoShape);
    }
    for (int id : steps_[s].outputs) {
      ctx.step_outputs[s].push_back(&ctx.tensors[id]);
      out_shapes.push_back(&ctx.tensors[id].shape());
    }
    const size_t scratch =
        steps_[s].kernel->ScratchBytes(in_shapes, out_shapes, pool_->num_threads());
    if (scratch > 0) {
      RETURN_IF_ERROR(
          add_request(scratch, static_cast<int>(s), static_cast<int>(s), -static_cast<int>(s) - 1));
    }
  }
  const MemoryPlan plan = PlanMemory(requests);
  // The cap is on what one request holds at its peak: the arena plus its outputs.
  if (plan.arena_bytes > max_bytes - std::min(output_bytes, max_bytes))
    return TooLarge(batch, max_bytes);
  if (plan.arena_bytes > ctx.arena_capacity) {
    char* arena = static_cast<char*>(AllocateWorkingMemory(plan.arena_bytes));
    if (arena == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate ", plan.arena_bytes, " bytes of working memory"));
    }
    ctx.arena.reset(arena);
    ctx.arena_capacity = plan.arena_bytes;
  }
  for (size_t r = 0; r < requests.size(); ++r) {
    char* address = ctx.arena.get() + plan.offsets[r];
    const int owner = request_value[r];
    if (owner >= 0) {
      Tensor& t = ctx.tensors[owner];
      t.Rebind(t.dtype(), t.shape(), address);
    } else {
      ctx.step_scratch[-owner - 1] = address;
    }
  }
  for (size_t id = 0; id < num_values; ++id) {
    if (view_root[id] < 0) continue;
    Tensor& t = ctx.tensors[id];
    t.Rebind(t.dtype(), t.shape(), ctx.tensors[view_root[id]].raw_data());
  }
  ctx.batch = batch;
  return absl::OkStatus();
}

std::unique_ptr<ExecutionContext> Session::Acquire() const {
  {
    std::lock_guard<std::mutex> lock(contexts_mutex_);
    if (!free_contexts_.empty()) {
      std::unique_ptr<ExecutionContext> ctx = std::move(free_contexts_.back());
      free_contexts_.pop_back();
      return ctx;
    }
  }
  return std::make_unique<ExecutionContext>();
}

void Session::Release(std::unique_ptr<ExecutionContext> ctx) const {
  if (ctx->arena_capacity > kMaxRetainedArenaBytes) {
    ctx->arena.reset();
    ctx->arena_capacity = 0;
    ctx->batch = -1;  // re-plan (and re-allocate) on the next use
  }
  std::lock_guard<std::mutex> lock(contexts_mutex_);
  free_contexts_.push_back(std::move(ctx));
}

size_t Session::ConstantBytes() const {
  size_t bytes = 0;
  for (const Value& v : graph_.values) {
    if (v.constant.has_value()) bytes += v.constant->num_bytes();
  }
  return bytes;
}

std::vector<std::string> Session::StepDescriptions() const {
  std::vector<std::string> out;
  for (const Step& s : steps_) out.push_back(s.description);
  return out;
}

StatusOr<std::vector<Tensor>> Session::Run(absl::Span<const Tensor> inputs) const {
  return RunImpl(inputs, nullptr);
}

StatusOr<std::vector<Tensor>> Session::RunProfiled(absl::Span<const Tensor> inputs,
                                                   std::vector<double>& step_micros) const {
  step_micros.resize(steps_.size(), 0.0);
  return RunImpl(inputs, &step_micros);
}

StatusOr<std::vector<Tensor>> Session::RunImpl(absl::Span<const Tensor> inputs,
                                               std::vector<double>* step_micros) const {
  ASSIGN_OR_RETURN(int64_t batch, ValidateInputs(inputs));
  std::unique_ptr<ExecutionContext> ctx = Acquire();
  if (ctx->batch != batch) {
    Status planned = Plan(*ctx, batch);
    if (!planned.ok()) {
      ctx->batch = -1;
      Release(std::move(ctx));
      return planned;
    }
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& in = inputs[i];
    ctx->tensors[graph_.inputs[i]].Rebind(in.dtype(), in.shape(), const_cast<void*>(in.raw_data()));
  }
  // Fresh output buffers: they are handed to the caller. A value that is both an
  // input (or constant) and an output is copied after the run.
  std::vector<Tensor> results(graph_.outputs.size());
  Status status;
  for (size_t k = 0; k < graph_.outputs.size() && status.ok(); ++k) {
    const int id = graph_.outputs[k];
    Tensor& slot = ctx->tensors[id];
    if (graph_.values[id].constant.has_value() || (!slot.is_owner() && slot.raw_data() != nullptr))
      continue;
    StatusOr<Tensor> out = Tensor::AllocateRecycled(graph_.values[id].dtype, ctx->output_shapes[k]);
    if (!out.ok()) {
      status = out.status();
    } else {
      slot = *std::move(out);
    }
  }
  for (size_t s = 0; s < steps_.size() && status.ok(); ++s) {
    // A step whose outputs hold no elements has nothing to compute, and its
    // kernel may still loop over the other dims: a MatMul of [N, 0] by a
    // 2x63x128x174x8x0x0 weight (no values, a 190-byte model file) made 22M
    // empty GEMMs per request, and bigger dims make a request never end.
    const bool empty = std::all_of(ctx->step_outputs[s].begin(), ctx->step_outputs[s].end(),
                                   [](const Tensor* t) { return t->num_elements() == 0; });
    if ((empty && !ctx->step_outputs[s].empty()) || steps_[s].is_view) continue;
    KernelContext kc{ctx->step_inputs[s], ctx->step_outputs[s], ctx->step_scratch[s], pool_.get()};
    const auto start =
        step_micros ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    status = steps_[s].kernel->Compute(kc);
    if (step_micros) {
      (*step_micros)[s] +=
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
              .count();
    }
    if (!status.ok()) {
      status =
          absl::Status(status.code(), absl::StrCat(steps_[s].description, ": ", status.message()));
    }
  }
  for (size_t k = 0; k < graph_.outputs.size() && status.ok(); ++k) {
    Tensor& slot = ctx->tensors[graph_.outputs[k]];
    const auto earlier =
        std::find(graph_.outputs.begin(), graph_.outputs.begin() + k, graph_.outputs[k]);
    if (earlier != graph_.outputs.begin() + k) {
      // The same value listed twice: a separate copy, so the caller's arrays never alias.
      StatusOr<Tensor> copy = results[earlier - graph_.outputs.begin()].Clone();
      if (!copy.ok())
        status = copy.status();
      else
        results[k] = *std::move(copy);
    } else if (slot.is_owner() && !graph_.values[graph_.outputs[k]].constant.has_value()) {
      results[k] = std::move(slot);
      slot = Tensor::View(results[k].dtype(), results[k].shape(), nullptr);
    } else {
      StatusOr<Tensor> copy = slot.Clone();
      if (!copy.ok())
        status = copy.status();
      else
        results[k] = *std::move(copy);
    }
  }
  // Drop views of the caller's inputs and any output buffers left behind.
  for (int id : graph_.inputs) ctx->tensors[id].Rebind(graph_.values[id].dtype, {}, nullptr);
  for (int id : graph_.outputs) {
    if (!graph_.values[id].constant.has_value()) {
      Tensor& slot = ctx->tensors[id];
      slot.Rebind(slot.dtype(), slot.shape(), nullptr);
    }
  }
  Release(std::move(ctx));
  if (!status.ok()) return status;
  return results;
}

}  // namespace servekit
