// Einsum (ONNX opset 12+) for float32, with one or two inputs.
//
// `equation` names each input's axes with letters (a-z, A-Z), one term per
// input separated by commas, then optionally "->" and the output's term. Without
// "->" the output is "..." (when an input has one) followed by the letters that
// appear exactly once, in ASCII order (uppercase first), as ONNX and numpy
// define it. "..." stands for leading dims of every operand that has it; those
// dims broadcast between operands as in numpy (aligned from the right, a 1
// stretches). A letter must have the same size wherever it appears; a letter
// absent from the output is summed over. Spaces are ignored.
//
// Refused at load time (InvalidArgument naming the equation): more than two
// inputs, a letter repeated within one term (diagonals), an explicit output that
// leaves out the dims "..." stands for (numpy refuses it too), and malformed
// equations.
//
// Compute: letters in one operand only and not in the output are summed first;
// the rest is a batched matrix product C[batch][m, n] = A[batch][m, k] *
// B[batch][k, n] through Sgemm, whose row strides and transposes read and write
// most layouts in place (all those Keras's attention and EinsumDense emit). An
// operand or a result that no strides describe is copied in the order the
// product needs, into the kernel's scratch memory. One input is a transpose
// and/or a sum.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "servekit/kernels/gemm.h"
#include "servekit/kernels/kernel_util.h"

namespace servekit {
namespace {

// --- The equation ---------------------------------------------------------------------

// Labels 0-51 are the letters ('a'-'z', then 'A'-'Z'); the dims "..." stands for
// get labels from kNumLetters up, one per dim of the broadcast "..." shape.
constexpr int kNumLetters = 52;

int LetterLabel(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return 26 + (c - 'A');
  return -1;
}
char LabelLetter(int label) {
  return static_cast<char>(label < 26 ? 'a' + label : 'A' + (label - 26));
}

// One term: its letters in order, and where "..." stands among them.
struct Term {
  std::vector<int> letters;
  int ellipsis = -1;  // "..." comes before letters[ellipsis]; -1: no "..."
};

struct Equation {
  std::vector<Term> inputs;
  Term output;
};

// Parses one term; `what` ("input 0", "the output") names it in errors.
StatusOr<Term> ParseTerm(absl::string_view text, const std::string& what) {
  Term term;
  for (size_t i = 0; i < text.size(); ++i) {
    const int label = LetterLabel(text[i]);
    if (label >= 0) {
      if (std::find(term.letters.begin(), term.letters.end(), label) != term.letters.end()) {
        return absl::InvalidArgumentError(absl::StrCat("letter '", std::string(1, text[i]),
                                                       "' repeats in ", what,
                                                       " (diagonals are not supported)"));
      }
      term.letters.push_back(label);
    } else if (text.substr(i, 3) == "...") {
      if (term.ellipsis >= 0)
        return absl::InvalidArgumentError(absl::StrCat("\"...\" appears twice in ", what));
      term.ellipsis = static_cast<int>(term.letters.size());
      i += 2;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected '", std::string(1, text[i]), "' in ", what));
    }
  }
  return term;
}

StatusOr<Equation> ParseEquationText(absl::string_view equation, int num_inputs) {
  std::string text;
  for (char c : equation) {
    if (c != ' ') text.push_back(c);
  }
  const size_t arrow = text.find("->");
  const std::string lhs = text.substr(0, arrow);
  Equation eq;
  size_t begin = 0;
  while (true) {
    const size_t comma = lhs.find(',', begin);
    const std::string what = absl::StrCat("input ", eq.inputs.size());
    ASSIGN_OR_RETURN(Term term,
                     ParseTerm(absl::string_view(lhs).substr(begin, comma - begin), what));
    eq.inputs.push_back(std::move(term));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  if (static_cast<int>(eq.inputs.size()) != num_inputs) {
    return absl::InvalidArgumentError(
        absl::StrCat("it has ", eq.inputs.size(), " input terms for ", num_inputs, " inputs"));
  }
  // Every letter of the inputs, with how many terms name it.
  std::vector<int> count(kNumLetters, 0);
  bool any_ellipsis = false;
  for (const Term& t : eq.inputs) {
    for (int label : t.letters) ++count[label];
    any_ellipsis |= t.ellipsis >= 0;
  }
  if (arrow != std::string::npos) {
    ASSIGN_OR_RETURN(eq.output, ParseTerm(absl::string_view(text).substr(arrow + 2), "the output"));
    for (int label : eq.output.letters) {
      if (count[label] == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "output letter '", std::string(1, LabelLetter(label)), "' is in no input"));
      }
    }
  } else {
    // Implicit output: "..." first, then the letters named once, in ASCII order.
    if (any_ellipsis) eq.output.ellipsis = 0;
    for (char c = 'A'; c <= 'z'; ++c) {
      const int label = LetterLabel(c);
      if (label >= 0 && count[label] == 1) eq.output.letters.push_back(label);
    }
  }
  return eq;
}

// An equation bound to its inputs' ranks: a label for every input and output dim.
struct Labels {
  std::vector<std::vector<int>> inputs;
  std::vector<int> output;
  int num_labels = kNumLetters;  // letters plus the dims of "..."
};

bool IsLetter(int label) { return label < kNumLetters; }

StatusOr<Labels> BindRanks(const Equation& eq, const std::vector<int>& ranks) {
  int ellipsis_rank = 0;
  for (size_t i = 0; i < eq.inputs.size(); ++i) {
    const Term& t = eq.inputs[i];
    const int letters = static_cast<int>(t.letters.size());
    if (t.ellipsis < 0 ? ranks[i] != letters : ranks[i] < letters) {
      return absl::InvalidArgumentError(absl::StrCat("input ", i, " has rank ", ranks[i],
                                                     " but its term names ", letters, " dims",
                                                     t.ellipsis < 0 ? "" : " besides \"...\""));
    }
    if (t.ellipsis >= 0) ellipsis_rank = std::max(ellipsis_rank, ranks[i] - letters);
  }
  // A term's "..." dims align with the last dims of the broadcast "..." shape.
  auto expand = [&](const Term& t, int rank) {
    std::vector<int> labels;
    const int covered = rank - static_cast<int>(t.letters.size());
    for (size_t j = 0; j <= t.letters.size(); ++j) {
      if (static_cast<int>(j) == t.ellipsis) {
        for (int e = 0; e < covered; ++e)
          labels.push_back(kNumLetters + ellipsis_rank - covered + e);
      }
      if (j < t.letters.size()) labels.push_back(t.letters[j]);
    }
    return labels;
  };
  Labels bound;
  bound.num_labels = kNumLetters + ellipsis_rank;
  for (size_t i = 0; i < eq.inputs.size(); ++i)
    bound.inputs.push_back(expand(eq.inputs[i], ranks[i]));
  if (eq.output.ellipsis < 0 && ellipsis_rank > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the output leaves out \"...\", which stands for ", ellipsis_rank, " dim(s) here"));
  }
  bound.output = expand(eq.output, static_cast<int>(eq.output.letters.size()) +
                                       (eq.output.ellipsis >= 0 ? ellipsis_rank : 0));
  return bound;
}

// The equation of a node, bound to its inputs' ranks; errors name the equation.
StatusOr<Labels> NodeLabels(const Attributes& attributes, const std::vector<int>& ranks) {
  if (!attributes.Has("equation"))
    return absl::InvalidArgumentError("the 'equation' attribute is missing");
  ASSIGN_OR_RETURN(std::string equation, attributes.GetString("equation", ""));
  auto bad = [&](const Status& status) {
    return absl::InvalidArgumentError(
        absl::StrCat("equation \"", equation, "\": ", status.message()));
  };
  if (ranks.size() > 2) {
    return bad(
        absl::InvalidArgumentError(absl::StrCat(ranks.size(), " inputs; Einsum supports 1 or 2")));
  }
  auto eq = ParseEquationText(equation, static_cast<int>(ranks.size()));
  if (!eq.ok()) return bad(eq.status());
  auto labels = BindRanks(*eq, ranks);
  if (!labels.ok()) return bad(labels.status());
  return labels;
}

std::string LabelName(int label) {
  return IsLetter(label) ? absl::StrCat("letter '", std::string(1, LabelLetter(label)), "'")
                         : "\"...\"";
}

Status InferEinsum(InferenceContext& ctx) {
  std::vector<int> ranks;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.Error(absl::StrCat("input ", i, " is missing"));
    RETURN_IF_ERROR(ctx.ExpectDType(i, {DType::kFloat32}));
    ranks.push_back(static_cast<int>(ctx.input(i).shape.size()));
  }
  auto labels = NodeLabels(ctx.attributes(), ranks);
  if (!labels.ok()) return ctx.Error(labels.status().message());
  // Each label's size: letters must agree exactly, "..." dims broadcast.
  std::vector<Dim> size(labels->num_labels, Dim::Fixed(1));
  std::vector<int> seen_in(labels->num_labels, -1);
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    const SymShape& shape = ctx.input(i).shape;
    for (size_t d = 0; d < shape.size(); ++d) {
      const int label = labels->inputs[i][d];
      if (seen_in[label] < 0) {
        size[label] = shape[d];
        seen_in[label] = i;
      } else if (shape[d] != size[label]) {
        if (!IsLetter(label) && (shape[d] == Dim::Fixed(1) || size[label] == Dim::Fixed(1))) {
          if (size[label] == Dim::Fixed(1)) size[label] = shape[d];
          continue;
        }
        const std::string equation = *ctx.attributes().GetString("equation", "");
        return ctx.Error(absl::StrCat("equation \"", equation, "\": ", LabelName(label), " is ",
                                      size[label].ToString(), " in input ", seen_in[label], " but ",
                                      shape[d].ToString(), " in input ", i));
      }
    }
  }
  SymShape out;
  for (int label : labels->output) out.push_back(size[label]);
  ctx.SetOutput(0, DType::kFloat32, out);
  return absl::OkStatus();
}

// --- Strided copies and sums ------------------------------------------------------------

// One axis of a strided walk over a source and a destination.
struct Axis {
  int64_t extent, src_stride, dst_stride;
};

// dst[sum i * dst_stride] = (sum over the axes whose dst_stride is 0 of)
// src[sum i * src_stride], over every index of `axes`: a transpose, a sum, or
// both. dst has dst_size elements and is overwritten.
void PermuteSum(const float* src, std::vector<Axis> axes, float* dst, int64_t dst_size) {
  const bool sums =
      std::any_of(axes.begin(), axes.end(), [](const Axis& a) { return a.dst_stride == 0; });
  if (sums) std::fill_n(dst, dst_size, 0.0f);
  if (axes.empty()) {
    dst[0] = src[0];
    return;
  }
  // The axis with the smallest source stride innermost, so reads stream.
  std::stable_sort(axes.begin(), axes.end(),
                   [](const Axis& a, const Axis& b) { return a.src_stride > b.src_stride; });
  const Axis inner = axes.back();
  axes.pop_back();
  int64_t outer = 1;
  for (const Axis& a : axes) outer *= a.extent;
  std::vector<int64_t> index(axes.size(), 0);
  int64_t src_offset = 0, dst_offset = 0;
  for (int64_t o = 0; o < outer; ++o) {
    const float* s = src + src_offset;
    float* d = dst + dst_offset;
    if (inner.dst_stride == 0) {
      float acc = *d;
      for (int64_t j = 0; j < inner.extent; ++j) acc += s[j * inner.src_stride];
      *d = acc;
    } else if (sums) {
      for (int64_t j = 0; j < inner.extent; ++j) d[j * inner.dst_stride] += s[j * inner.src_stride];
    } else {
      for (int64_t j = 0; j < inner.extent; ++j) d[j * inner.dst_stride] = s[j * inner.src_stride];
    }
    for (int a = static_cast<int>(axes.size()) - 1; a >= 0; --a) {
      src_offset += axes[a].src_stride;
      dst_offset += axes[a].dst_stride;
      if (++index[a] < axes[a].extent) break;
      src_offset -= axes[a].src_stride * axes[a].extent;
      dst_offset -= axes[a].dst_stride * axes[a].extent;
      index[a] = 0;
    }
  }
}

// --- The plan of one call ---------------------------------------------------------------

// A tensor as the plan sees it: its stride along each label, -1 where it lacks
// the label or has it with size 1 (size-1 dims never need an index, so dropping
// them makes a broadcast "..." dim just a label the operand lacks).
struct Operand {
  std::vector<int64_t> stride;  // per label
  std::vector<int> labels;      // the labels it has, outermost first
  int64_t elements = 1;
};

Operand MakeOperand(const Shape& shape, const std::vector<int>& labels, int num_labels) {
  Operand op;
  op.stride.assign(num_labels, -1);
  int64_t stride = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] != 1) {
      op.stride[labels[d]] = stride;
      op.labels.insert(op.labels.begin(), labels[d]);
    }
    stride *= shape[d];
  }
  op.elements = stride;
  return op;
}

// What each label (of size > 1) does in a two-input product.
enum class Role { kNone, kBatch, kContract, kFree0, kFree1, kSum0, kSum1 };

Role FreeRole(int input) { return input == 0 ? Role::kFree0 : Role::kFree1; }
Role SumRole(int input) { return input == 0 ? Role::kSum0 : Role::kSum1; }

// Whether strides `op` read as a matrix whose rows run over `rows` and columns
// over `cols` (in those orders, columns contiguous); its row stride in *ld.
// Labels of neither list index batches of matrices.
bool MatrixView(const std::vector<int64_t>& stride, const std::vector<int64_t>& extent,
                const std::vector<int>& rows, const std::vector<int>& cols, int64_t* ld) {
  int64_t expected = 1;
  for (auto it = cols.rbegin(); it != cols.rend(); ++it) {
    if (stride[*it] != expected) return false;
    expected *= extent[*it];
  }
  const int64_t columns = expected;
  if (rows.empty()) {
    *ld = columns;
    return true;
  }
  expected = stride[rows.back()];
  if (expected < columns) return false;  // Sgemm (BLAS) needs ld >= columns
  *ld = expected;
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    if (stride[*it] != expected) return false;
    expected *= extent[*it];
  }
  return true;
}

// Row-major strides over `layout`, written into `stride` (per label).
int64_t LayOut(const std::vector<int>& layout, const std::vector<int64_t>& extent,
               std::vector<int64_t>& stride) {
  int64_t next = 1;
  for (auto it = layout.rbegin(); it != layout.rend(); ++it) {
    stride[*it] = next;
    next *= extent[*it];
  }
  return next;
}

// One side of the product as Sgemm reads it: the input in place, or a copy in
// scratch laid out [batch, rows, cols] (summing its sum-first labels).
struct MatrixOperand {
  int input = 0;
  bool copy = false;
  std::vector<Axis> copy_axes;  // input -> scratch
  int64_t copy_elements = 0;
  bool trans = false;
  int64_t ld = 1;
  std::vector<int64_t> batch_stride;  // per batch label; 0 where it lacks it
};

// Everything one call does, derived from the shapes alone, so that ScratchBytes
// and Compute derive the same plan.
struct Plan {
  enum class Kind { kNothing, kZeros, kUnary, kProduct };
  Kind kind = Kind::kNothing;
  // kUnary: output = PermuteSum(input 0); a plain copy when `unary_copy`.
  std::vector<Axis> unary_axes;
  bool unary_copy = false;
  // kProduct: C = op(X) * op(Y) for each batch index.
  MatrixOperand x, y;
  int64_t m = 1, n = 1, k = 1;
  std::vector<int64_t> batch_extent;
  std::vector<int64_t> c_batch_stride;
  int64_t ldc = 1;
  bool c_copy = false;       // C in scratch as [batch, m, n], then permuted
  std::vector<Axis> c_axes;  // scratch -> output
  int64_t c_elements = 0;
  int64_t x_offset = 0, y_offset = 0, c_offset = 0;  // in scratch, in floats
  int64_t scratch_floats = 0;
  // What the plan costs: elements copied, then Sgemm calls.
  int64_t copied = 0, gemm_calls = 1;

  bool CheaperThan(const Plan& other) const {
    return copied != other.copied ? copied < other.copied : gemm_calls < other.gemm_calls;
  }
};

int64_t RoundUp16(int64_t floats) { return (floats + 15) / 16 * 16; }  // 64-byte sections

// Builds one side of the product: rows x cols (or transposed) in place if the
// input's strides allow it and it has nothing to sum first, else a copy.
MatrixOperand PlaceOperand(int input, const Operand& op, const std::vector<Role>& roles,
                           const std::vector<int64_t>& extent, const std::vector<int>& batch,
                           const std::vector<int>& rows, const std::vector<int>& cols) {
  MatrixOperand mo;
  mo.input = input;
  const bool sums = std::any_of(op.labels.begin(), op.labels.end(),
                                [&](int l) { return roles[l] == SumRole(input); });
  std::vector<int64_t> stride = op.stride;
  if (sums || !(MatrixView(op.stride, extent, rows, cols, &mo.ld) ||
                (mo.trans = MatrixView(op.stride, extent, cols, rows, &mo.ld)))) {
    mo.copy = true;
    mo.trans = false;
    std::vector<int> layout;
    for (int l : batch) {
      if (op.stride[l] >= 0) layout.push_back(l);
    }
    layout.insert(layout.end(), rows.begin(), rows.end());
    layout.insert(layout.end(), cols.begin(), cols.end());
    std::fill(stride.begin(), stride.end(), -1);
    mo.copy_elements = LayOut(layout, extent, stride);
    for (int l : op.labels) {
      mo.copy_axes.push_back(Axis{extent[l], op.stride[l], stride[l] >= 0 ? stride[l] : 0});
    }
    mo.ld = 1;
    for (int l : cols) mo.ld *= extent[l];
  }
  for (int l : batch) mo.batch_stride.push_back(std::max<int64_t>(stride[l], 0));
  return mo;
}

// The product with input `x` as the left matrix (its free labels the rows of C),
// contracted labels in the order input `k_order` holds them.
Plan BuildProduct(const std::vector<Operand>& ops, const Operand& out,
                  const std::vector<int>& out_labels, const std::vector<Role>& roles,
                  const std::vector<int64_t>& extent, int x, int k_order) {
  const int y = 1 - x;
  Plan plan;
  plan.kind = Plan::Kind::kProduct;
  std::vector<int> batch, rows, cols, contracted;
  for (int l : out_labels) {
    if (roles[l] == Role::kBatch) batch.push_back(l);
    if (roles[l] == FreeRole(x)) rows.push_back(l);
    if (roles[l] == FreeRole(y)) cols.push_back(l);
  }
  for (int l : ops[k_order].labels) {
    if (roles[l] == Role::kContract) contracted.push_back(l);
  }
  for (int l : rows) plan.m *= extent[l];
  for (int l : cols) plan.n *= extent[l];
  for (int l : contracted) plan.k *= extent[l];
  plan.x = PlaceOperand(x, ops[x], roles, extent, batch, rows, contracted);
  plan.y = PlaceOperand(y, ops[y], roles, extent, batch, contracted, cols);
  std::vector<int64_t> c_stride = out.stride;
  if (!MatrixView(out.stride, extent, rows, cols, &plan.ldc)) {
    plan.c_copy = true;
    std::vector<int> layout = batch;
    layout.insert(layout.end(), rows.begin(), rows.end());
    layout.insert(layout.end(), cols.begin(), cols.end());
    plan.c_elements = LayOut(layout, extent, c_stride);
    for (int l : layout) plan.c_axes.push_back(Axis{extent[l], c_stride[l], out.stride[l]});
    plan.ldc = plan.n;
  }
  for (int l : batch) {
    plan.batch_extent.push_back(extent[l]);
    plan.c_batch_stride.push_back(c_stride[l]);
    plan.gemm_calls *= extent[l];
  }
  plan.copied =
      (plan.x.copy ? ops[x].elements : 0) + (plan.y.copy ? ops[y].elements : 0) + plan.c_elements;
  plan.y_offset = RoundUp16(plan.x.copy_elements);
  plan.c_offset = plan.y_offset + RoundUp16(plan.y.copy_elements);
  plan.scratch_floats = plan.c_offset + plan.c_elements;
  return plan;
}

// The cheapest product for these roles: either input on the left, contracted
// labels in either input's order.
Plan BestProduct(const std::vector<Operand>& ops, const Operand& out,
                 const std::vector<int>& out_labels, const std::vector<Role>& roles,
                 const std::vector<int64_t>& extent) {
  Plan best;
  bool have = false;
  for (int x : {0, 1}) {
    for (int k_order : {0, 1}) {
      Plan plan = BuildProduct(ops, out, out_labels, roles, extent, x, k_order);
      if (!have || plan.CheaperThan(best)) best = std::move(plan);
      have = true;
    }
  }
  return best;
}

StatusOr<Plan> MakePlan(const Labels& labels, absl::Span<const Shape* const> in,
                        const Shape& out_shape) {
  // Each label's size in this call.
  std::vector<int64_t> extent(labels.num_labels, 1);
  std::vector<bool> seen(labels.num_labels, false);
  for (size_t i = 0; i < in.size(); ++i) {
    const Shape& shape = *in[i];
    if (shape.size() != labels.inputs[i].size())
      return absl::InvalidArgumentError(absl::StrCat("Einsum input ", i, " changed rank"));
    for (size_t d = 0; d < shape.size(); ++d) {
      const int l = labels.inputs[i][d];
      const bool stretches = !IsLetter(l) && (shape[d] == 1 || extent[l] == 1);
      if (seen[l] && shape[d] != extent[l] && !stretches) {
        return absl::InvalidArgumentError(
            absl::StrCat("Einsum: ", LabelName(l), " has sizes ", extent[l], " and ", shape[d]));
      }
      if (!seen[l] || extent[l] == 1) extent[l] = shape[d];
      seen[l] = true;
    }
  }
  bool out_agrees = out_shape.size() == labels.output.size();
  for (size_t d = 0; out_agrees && d < out_shape.size(); ++d)
    out_agrees = out_shape[d] == extent[labels.output[d]];
  if (!out_agrees)
    return absl::InternalError("Einsum: the output's shape disagrees with the inputs'");
  Plan plan;
  if (NumElements(out_shape) == 0) return plan;  // kNothing
  for (const Shape* s : in) {
    if (NumElements(*s) == 0) {
      plan.kind = Plan::Kind::kZeros;  // every output element is an empty sum
      return plan;
    }
  }
  std::vector<Operand> ops;
  for (size_t i = 0; i < in.size(); ++i)
    ops.push_back(MakeOperand(*in[i], labels.inputs[i], labels.num_labels));
  const Operand out = MakeOperand(out_shape, labels.output, labels.num_labels);

  if (ops.size() == 1) {
    plan.kind = Plan::Kind::kUnary;
    plan.unary_copy = true;
    for (int l : ops[0].labels) {
      const int64_t dst = std::max<int64_t>(out.stride[l], 0);
      plan.unary_axes.push_back(Axis{extent[l], ops[0].stride[l], dst});
      plan.unary_copy &= dst == ops[0].stride[l];
    }
    return plan;
  }

  std::vector<Role> roles(labels.num_labels, Role::kNone);
  std::vector<int> one_sided_batch;  // "..." labels only one operand has
  for (int l = 0; l < labels.num_labels; ++l) {
    const bool in0 = ops[0].stride[l] >= 0, in1 = ops[1].stride[l] >= 0;
    const bool in_out = out.stride[l] >= 0;
    if (!in0 && !in1) continue;
    if (in0 && in1) {
      roles[l] = in_out ? Role::kBatch : Role::kContract;
    } else if (!in_out) {
      roles[l] = SumRole(in0 ? 0 : 1);
    } else if (IsLetter(l)) {
      roles[l] = FreeRole(in0 ? 0 : 1);
    } else {
      // A "..." dim one operand broadcasts: each Sgemm reuses that operand.
      roles[l] = Role::kBatch;
      one_sided_batch.push_back(l);
    }
  }
  Plan best = BestProduct(ops, out, labels.output, roles, extent);
  // Folding such a batch label into the other operand's rows turns many small
  // products into one larger one (a Dense layer over [batch, ...] inputs); keep
  // the fold when it copies no more than before. Innermost first, since a label
  // can only join rows it is adjacent to.
  for (auto it = one_sided_batch.rbegin(); it != one_sided_batch.rend(); ++it) {
    std::vector<Role> trial = roles;
    trial[*it] = FreeRole(ops[0].stride[*it] >= 0 ? 0 : 1);
    Plan plan = BestProduct(ops, out, labels.output, trial, extent);
    if (plan.copied <= best.copied) {
      roles = std::move(trial);
      best = std::move(plan);
    }
  }
  return best;
}

// --- The kernel -------------------------------------------------------------------------

class EinsumKernel : public OpKernel {
 public:
  explicit EinsumKernel(Labels labels) : labels_(std::move(labels)) {}

  size_t ScratchBytes(absl::Span<const Shape* const> input_shapes,
                      absl::Span<const Shape* const> output_shapes, int) const override {
    auto plan = MakePlan(labels_, input_shapes, *output_shapes[0]);
    return plan.ok() ? static_cast<size_t>(plan->scratch_floats) * sizeof(float) : 0;
  }

  Status Compute(const KernelContext& ctx) const override {
    std::vector<const Shape*> shapes;
    for (const Tensor* t : ctx.inputs) shapes.push_back(&t->shape());
    Tensor& out = *ctx.outputs[0];
    ASSIGN_OR_RETURN(Plan plan, MakePlan(labels_, shapes, out.shape()));
    float* dst = out.data<float>();
    float* scratch = static_cast<float*>(ctx.scratch);
    switch (plan.kind) {
      case Plan::Kind::kNothing:
        break;
      case Plan::Kind::kZeros:
        std::fill_n(dst, out.num_elements(), 0.0f);
        break;
      case Plan::Kind::kUnary: {
        const float* src = ctx.inputs[0]->data<float>();
        if (!plan.unary_copy) {
          PermuteSum(src, plan.unary_axes, dst, out.num_elements());
        } else if (src != dst) {
          std::memcpy(dst, src, out.num_bytes());
        }
        break;
      }
      case Plan::Kind::kProduct:
        RunProduct(plan, ctx, scratch, dst);
        break;
    }
    return absl::OkStatus();
  }

 private:
  static void RunProduct(const Plan& plan, const KernelContext& ctx, float* scratch, float* dst) {
    const float* x = ctx.inputs[plan.x.input]->data<float>();
    const float* y = ctx.inputs[plan.y.input]->data<float>();
    if (plan.x.copy) {
      PermuteSum(x, plan.x.copy_axes, scratch + plan.x_offset, plan.x.copy_elements);
      x = scratch + plan.x_offset;
    }
    if (plan.y.copy) {
      PermuteSum(y, plan.y.copy_axes, scratch + plan.y_offset, plan.y.copy_elements);
      y = scratch + plan.y_offset;
    }
    float* c = plan.c_copy ? scratch + plan.c_offset : dst;
    GemmShape s;
    s.m = plan.m;
    s.n = plan.n;
    s.k = plan.k;
    s.trans_a = plan.x.trans;
    s.trans_b = plan.y.trans;
    s.lda = plan.x.ld;
    s.ldb = plan.y.ld;
    s.ldc = plan.ldc;
    const size_t rank = plan.batch_extent.size();
    std::vector<int64_t> index(rank, 0);
    int64_t ox = 0, oy = 0, oc = 0;
    for (int64_t b = 0; b < plan.gemm_calls; ++b) {
      Sgemm(s, 1.0f, x + ox, y + oy, 0.0f, c + oc, *ctx.pool);
      for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
        ox += plan.x.batch_stride[d];
        oy += plan.y.batch_stride[d];
        oc += plan.c_batch_stride[d];
        if (++index[d] < plan.batch_extent[d]) break;
        ox -= plan.x.batch_stride[d] * plan.batch_extent[d];
        oy -= plan.y.batch_stride[d] * plan.batch_extent[d];
        oc -= plan.c_batch_stride[d] * plan.batch_extent[d];
        index[d] = 0;
      }
    }
    if (plan.c_copy) PermuteSum(c, plan.c_axes, dst, ctx.outputs[0]->num_elements());
  }

  Labels labels_;
};

StatusOr<std::unique_ptr<OpKernel>> CreateEinsum(const Node& node, const Graph& graph) {
  std::vector<int> ranks;
  for (int id : node.inputs) ranks.push_back(static_cast<int>(graph.values[id].shape.size()));
  ASSIGN_OR_RETURN(Labels labels, NodeLabels(node.attributes, ranks));
  return std::unique_ptr<OpKernel>(new EinsumKernel(std::move(labels)));
}

void RegisterEinsumOps(OpRegistry& registry) {
  // ONNX's Einsum takes any number of inputs; more than two are refused by
  // `infer` with a message naming the equation, rather than by the input count.
  registry.Register(OpSchema::Make("Einsum", 1, 1 << 16, {"equation"}, InferEinsum, CreateEinsum));
}

// Adds the schema above to OpRegistry::Global() when the program starts.
const OpRegistration kEinsumOps(RegisterEinsumOps);

}  // namespace
}  // namespace servekit
