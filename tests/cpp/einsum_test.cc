// Einsum (kernels/einsum.cc) against a brute-force reference: the equations
// Keras's MultiHeadAttention and EinsumDense emit, the "..." equations the
// SavedModel reader emits for BatchMatMul (with and without broadcasting),
// implicit outputs, transposes and sums of one input, the batch dim N in any
// position (sizes 0, 1 and 3), folding at load time, and the refusals.
#include <map>
#include <set>

#include "servekit/engine/shape_inference.h"
#include "test_util.h"

namespace servekit {
namespace {

using test::Attrs;
using test::Const;
using test::Feed;
using test::FeedAs;
using test::IsInvalid;
using test::kAtolSum;
using test::kRtol;
using test::OpInput;
using test::RandomTensor;
using test::RunOp1;
using test::Str;
using test::TensorNear;

// numpy's einsum in double by brute force: one loop over every combination of
// every label's values. Written apart from the kernel: "..." dims become labels
// '0', '1', ... (aligned from the right), and a size-1 dim under "..." is read
// at index 0 whatever the label's value (broadcasting).
std::vector<double> RefEinsum(const std::string& equation, const std::vector<Tensor>& inputs,
                              Shape* out_shape) {
  const size_t arrow = equation.find("->");
  const std::string lhs = equation.substr(0, arrow);
  std::vector<std::string> terms;
  std::stringstream split(lhs);
  for (std::string t; std::getline(split, t, ',');) terms.push_back(t);
  if (!lhs.empty() && lhs.back() == ',') terms.push_back("");
  if (terms.empty()) terms.push_back("");
  // The "..." rank: the most dims any term's "..." covers.
  int ellipsis_rank = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    if (terms[i].find("...") != std::string::npos) {
      const int letters = static_cast<int>(terms[i].size()) - 3;
      ellipsis_rank = std::max(ellipsis_rank, inputs[i].rank() - letters);
    }
  }
  auto expand = [&](const std::string& term, int rank) {
    const size_t dots = term.find("...");
    if (dots == std::string::npos) return term;
    const int covered = rank - (static_cast<int>(term.size()) - 3);
    std::string labels = term.substr(0, dots);
    for (int e = 0; e < covered; ++e)
      labels.push_back(static_cast<char>('0' + ellipsis_rank - covered + e));
    return labels + term.substr(dots + 3);
  };
  std::vector<std::string> in_labels;
  std::map<char, int64_t> size;  // the largest size of each label (a 1 broadcasts)
  std::set<char> empty;          // labels some input has with size 0
  for (size_t i = 0; i < terms.size(); ++i) {
    in_labels.push_back(expand(terms[i], inputs[i].rank()));
    for (size_t d = 0; d < in_labels[i].size(); ++d) {
      const int64_t dim = inputs[i].dim(static_cast<int>(d));
      size[in_labels[i][d]] = std::max(size[in_labels[i][d]], dim);
      if (dim == 0) empty.insert(in_labels[i][d]);
    }
  }
  for (char c : empty) size[c] = 0;
  std::string out_labels;
  if (arrow != std::string::npos) {
    const std::string out_term = equation.substr(arrow + 2);
    const bool dots = out_term.find("...") != std::string::npos;
    out_labels =
        dots ? expand(out_term, static_cast<int>(out_term.size()) - 3 + ellipsis_rank) : out_term;
  } else {
    for (int e = 0; e < ellipsis_rank; ++e) out_labels.push_back(static_cast<char>('0' + e));
    std::map<char, int> count;
    for (const std::string& t : terms) {
      for (char c : t) {
        if (c != '.') ++count[c];
      }
    }
    for (const auto& [c, n] : count) {  // std::map: ASCII order, uppercase first
      if (n == 1) out_labels.push_back(c);
    }
  }
  std::string all;
  for (const auto& [c, s] : size) all.push_back(c);
  Shape extents;
  for (char c : all) extents.push_back(size[c]);
  out_shape->clear();
  for (char c : out_labels) out_shape->push_back(size[c]);
  std::vector<double> out(NumElements(*out_shape), 0.0);
  const Shape out_strides = test::Strides(*out_shape);
  std::vector<std::vector<double>> values;
  for (const Tensor& t : inputs) values.push_back(test::AsDoubles(t));
  test::ForEachIndex(extents, [&](const Shape& index) {
    auto value_of = [&](char c) { return index[all.find(c)]; };
    double product = 1;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Shape strides = test::Strides(inputs[i].shape());
      int64_t offset = 0;
      for (size_t d = 0; d < in_labels[i].size(); ++d) {
        if (inputs[i].dim(static_cast<int>(d)) != 1)
          offset += value_of(in_labels[i][d]) * strides[d];
      }
      product *= values[i][offset];
    }
    int64_t o = 0;
    for (size_t d = 0; d < out_labels.size(); ++d) o += value_of(out_labels[d]) * out_strides[d];
    out[o] += product;
  });
  return out;
}

Attributes Equation(const std::string& equation) { return Attrs({{"equation", Str(equation)}}); }

// Runs `equation` on `feeds` and compares with the reference.
::testing::AssertionResult RunsLikeReference(const std::string& equation,
                                             const std::vector<OpInput>& feeds,
                                             const LoadOptions& options = test::Options()) {
  std::vector<Tensor> values;
  for (const OpInput& f : feeds) values.push_back(f.value);
  Shape shape;
  const std::vector<double> expected = RefEinsum(equation, values, &shape);
  StatusOr<Tensor> out = RunOp1("Einsum", feeds, Equation(equation), options);
  if (!out.ok()) return ::testing::AssertionFailure() << equation << ": " << out.status();
  return TensorNear(*out, shape, expected, kRtol, kAtolSum) << " (" << equation << ")";
}

struct Case {
  std::string equation;
  std::vector<Shape> shapes;
};

// Every input fed at run time, then the second as a constant (a weight).
void ExpectCases(const std::vector<Case>& cases) {
  uint32_t seed = 1;
  for (const Case& c : cases) {
    std::vector<OpInput> runtime, with_const;
    for (size_t i = 0; i < c.shapes.size(); ++i) {
      Tensor t = RandomTensor(c.shapes[i], ++seed);
      runtime.push_back(Feed(t));
      with_const.push_back(i == 1 ? Const(t) : Feed(t));
    }
    EXPECT_TRUE(RunsLikeReference(c.equation, runtime));
    if (c.shapes.size() == 2) {
      EXPECT_TRUE(RunsLikeReference(c.equation, with_const));
    }
  }
}

TEST(EinsumTest, KerasEquations) {
  ExpectCases({
      // EinsumDense (the query/key/value projections): [B, T, C] x [C, H, D].
      {"abc,cde->abde", {{3, 7, 5}, {5, 2, 3}}},
      // Attention scores: key [B, S, H, D], query [B, T, H, D] -> [B, H, T, S].
      {"aecd,abcd->acbe", {{2, 5, 3, 4}, {2, 7, 3, 4}}},
      // Attention output: scores [B, H, T, S] x value [B, S, H, D] -> [B, T, H, D].
      {"acbe,aecd->abcd", {{2, 3, 7, 5}, {2, 5, 3, 4}}},
      // The output projection: [B, T, H, D] x [H, D, E] -> [B, T, E].
      {"abcd,cde->abe", {{2, 7, 3, 4}, {3, 4, 5}}},
      {"ab,bc->ac", {{7, 5}, {5, 3}}},
  });
}

TEST(EinsumTest, BatchMatMulEquations) {
  ExpectCases({
      // adj_y, the same batch dims on both sides.
      {"...ij,...kj->...ik", {{2, 3, 5, 4}, {2, 3, 7, 4}}},
      // adj_x, adj_x with adj_y, and neither.
      {"...ji,...jk->...ik", {{3, 4, 5}, {3, 4, 7}}},
      {"...ji,...kj->...ik", {{3, 4, 5}, {3, 7, 4}}},
      {"...ij,...jk->...ik", {{3, 5, 4}, {3, 4, 7}}},
      // Broadcasting: a 1 stretches, in either operand and in several dims.
      {"...ij,...kj->...ik", {{2, 1, 5, 4}, {1, 3, 7, 4}}},
      {"...ij,...jk->...ik", {{1, 5, 4}, {3, 4, 7}}},
      {"...ij,...jk->...ik", {{3, 5, 4}, {1, 4, 7}}},
      // One operand has fewer (or no) "..." dims.
      {"...ij,...jk->...ik", {{2, 3, 5, 4}, {4, 7}}},
      {"...ij,...jk->...ik", {{5, 4}, {2, 3, 4, 7}}},
      {"...ij,...jk->...ik", {{2, 3, 5, 4}, {3, 4, 7}}},
      // "..." covering no dims at all.
      {"...ij,...jk->...ik", {{5, 4}, {4, 7}}},
      // A vector per batch entry times a shared matrix.
      {"...j,jk->...k", {{2, 3, 4}, {4, 7}}},
      // "..." in the middle and at the end of a term.
      {"i...j,j...->i...", {{5, 2, 3, 4}, {4, 2, 3}}},
  });
}

TEST(EinsumTest, ImplicitOutputs) {
  ExpectCases({
      {"ij,jk", {{3, 4}, {4, 5}}},              // ik
      {"ba", {{3, 4}}},                         // ab: a transpose
      {"ij,ij", {{3, 4}, {3, 4}}},              // every letter twice: a scalar
      {"Ab,bc", {{3, 4}, {4, 5}}},              // Ac: uppercase sorts first
      {"bA", {{3, 4}}},                         // Ab
      {"...ij,...jk", {{2, 3, 4}, {2, 4, 5}}},  // ...ik
      {"ij", {{3, 4}}},
  });
  // The implicit output's shape, checked apart from the values.
  SK_ASSERT_OK_AND_ASSIGN(Tensor out,
                          RunOp1("Einsum", {Feed(RandomTensor({3, 4}, 1))}, Equation("bA")));
  EXPECT_EQ(out.shape(), (Shape{4, 3}));
}

TEST(EinsumTest, OneInputTransposesAndSums) {
  ExpectCases({
      {"ij->ji", {{3, 5}}},
      {"abc->cab", {{2, 3, 5}}},
      {"abc->abc", {{2, 3, 5}}},
      {"ij->i", {{3, 5}}},
      {"ij->j", {{3, 5}}},
      {"ij->", {{3, 5}}},
      {"abc->ca", {{2, 3, 5}}},
      {"...ij->...ji", {{2, 3, 5}}},
      {"...ij->...", {{2, 3, 5}}},
      {"->", {{}}},
  });
}

TEST(EinsumTest, SumsBeforeTheProductAndOddShapes) {
  ExpectCases({
      {"abc,cd->ad", {{3, 5, 7}, {7, 2}}},       // b summed in the first input
      {"ab,cd->ac", {{3, 5}, {7, 2}}},           // b and d summed first, then an outer product
      {"i,j->ij", {{3}, {5}}},                   // outer product
      {"i,i->", {{7}, {7}}},                     // dot product
      {"ij,->ij", {{3, 5}, {}}},                 // times a scalar
      {"ijk,kjl->il", {{3, 5, 7}, {7, 5, 2}}},   // contracted dims in different orders
      {"ij,jkl->kil", {{3, 5}, {5, 2, 7}}},      // a result no strides describe
      {"ibj,jk->bik", {{3, 5, 4}, {4, 7}}},      // rows in another order than the output's
      {"bij,bjk->bki", {{3, 5, 4}, {3, 4, 7}}},  // the result transposed
      {"aBc,cBd->Bda", {{5, 3, 7}, {7, 3, 1}}},  // a size-1 letter
      {"xyz,zyx->", {{1, 1, 1}, {1, 1, 1}}},
      {"pqrs,sqt->ptr", {{2, 3, 1, 5}, {5, 3, 7}}},
      {"abc,abc->abc", {{3, 5, 7}, {3, 5, 7}}},  // elementwise: all batch
  });
}

TEST(EinsumTest, BatchDimAnywhere) {
  struct BatchCase {
    std::string equation;
    std::vector<SymShape> shapes;  // declared, with N
    std::string inferred;          // the output's symbolic shape
  };
  const Dim N = Dim::Batch();
  auto F = [](int64_t v) { return Dim::Fixed(v); };
  const std::vector<BatchCase> cases = {
      {"abc,cde->abde", {{N, F(5), F(3)}, {F(3), F(2), F(4)}}, "[N, 5, 2, 4]"},
      {"aecd,abcd->acbe", {{N, F(5), F(3), F(4)}, {N, F(7), F(3), F(4)}}, "[N, 3, 7, 5]"},
      {"acbe,aecd->abcd", {{N, F(3), F(7), F(5)}, {N, F(5), F(3), F(4)}}, "[N, 7, 3, 4]"},
      {"abcd,cde->abe", {{F(2), N, F(3), F(4)}, {F(3), F(4), F(5)}}, "[2, N, 5]"},
      {"ij,jk->ik", {{F(3), N}, {N, F(4)}}, "[3, 4]"},  // N contracted
      {"ij->j", {{N, F(5)}}, "[5]"},                    // N summed
      {"ij->ji", {{N, F(5)}}, "[5, N]"},
      {"...ij,...jk->...ik", {{N, F(2), F(3)}, {F(3), F(4)}}, "[N, 2, 4]"},
      {"...ij,...jk->...ik", {{N, F(2), F(3)}, {F(1), F(3), F(4)}}, "[N, 2, 4]"},
      {"...ij,...jk->...ik", {{F(1), F(2), F(3)}, {N, F(3), F(4)}}, "[N, 2, 4]"},
      {"...ij,...kj->...ik", {{N, F(2), F(5), F(3)}, {N, F(2), F(4), F(3)}}, "[N, 2, 5, 4]"},
      {"bi,ci->bic", {{N, F(3)}, {F(4), F(3)}}, "[N, 3, 4]"},
  };
  uint32_t seed = 50;
  for (const BatchCase& c : cases) {
    // The symbolic shape inference gives.
    test::GraphBuilder g;
    std::vector<int> ids;
    for (size_t i = 0; i < c.shapes.size(); ++i)
      ids.push_back(g.Input(absl::StrCat("in", i), c.shapes[i]));
    const int out = g.Op("Einsum", ids, Equation(c.equation));
    g.Output(out);
    SK_ASSERT_OK(InferGraph(g.graph()));
    EXPECT_EQ(SymShapeToString(g.graph().values[out].shape), c.inferred) << c.equation;
    // One session, run with every batch size.
    for (int64_t batch : {0, 1, 3}) {
      std::vector<OpInput> feeds;
      for (const SymShape& s : c.shapes)
        feeds.push_back(FeedAs(RandomTensor(Evaluate(s, batch), ++seed), s));
      EXPECT_TRUE(RunsLikeReference(c.equation, feeds)) << "batch " << batch;
    }
  }
}

TEST(EinsumTest, OneSessionManyBatchSizesAndThreads) {
  // The plan (and its scratch) follows the batch size from request to request.
  const std::string equation = "aecd,abcd->acbe";
  const SymShape q = {Dim::Batch(), Dim::Fixed(5), Dim::Fixed(3), Dim::Fixed(4)};
  const SymShape k = {Dim::Batch(), Dim::Fixed(7), Dim::Fixed(3), Dim::Fixed(4)};
  for (int threads : {1, 2}) {
    test::OpGraph g = test::MakeOpGraph(
        "Einsum",
        {FeedAs(RandomTensor({1, 5, 3, 4}, 1), q), FeedAs(RandomTensor({1, 7, 3, 4}, 2), k)},
        Equation(equation), 1);
    SK_ASSERT_OK_AND_ASSIGN(std::unique_ptr<Session> session,
                            BuildSession(std::move(g.graph), test::Options(true, threads)));
    uint32_t seed = 10;
    for (int64_t batch : {3, 0, 1, 4, 3}) {
      const Tensor a = RandomTensor({batch, 5, 3, 4}, ++seed);
      const Tensor b = RandomTensor({batch, 7, 3, 4}, ++seed);
      Shape shape;
      const std::vector<double> expected = RefEinsum(equation, {a, b}, &shape);
      SK_ASSERT_OK_AND_ASSIGN(std::vector<Tensor> outs, session->Run({a, b}));
      EXPECT_TRUE(TensorNear(outs[0], shape, expected, kRtol, kAtolSum))
          << "batch " << batch << ", threads " << threads;
    }
  }
}

TEST(EinsumTest, LargerProductsSplitAcrossThreads) {
  // Big enough that Sgemm splits rows across the pool's threads.
  ExpectCases({{"abc,cde->abde", {{4, 64, 96}, {96, 4, 32}}}});
  const Tensor a = RandomTensor({2, 64, 4, 32}, 3), b = RandomTensor({2, 80, 4, 32}, 4);
  EXPECT_TRUE(RunsLikeReference("aecd,abcd->acbe", {Feed(a), Feed(b)}, test::Options(true, 2)));
}

TEST(EinsumTest, FoldsAtLoadTime) {
  const Tensor a = RandomTensor({3, 4, 5}, 1), b = RandomTensor({5, 2}, 2);
  Shape shape;
  const std::vector<double> expected = RefEinsum("abc,cd->bad", {a, b}, &shape);
  SK_ASSERT_OK_AND_ASSIGN(
      Tensor out, test::RunFolded1("Einsum", {Const(a), Const(b)}, Equation("abc,cd->bad")));
  EXPECT_TRUE(TensorNear(out, shape, expected, kRtol, kAtolSum));
}

TEST(EinsumTest, Refusals) {
  const Tensor m34 = RandomTensor({3, 4}, 1), m45 = RandomTensor({4, 5}, 2);
  const Tensor m55 = RandomTensor({5, 5}, 3), t234 = RandomTensor({2, 3, 4}, 4);
  auto refused = [](const std::string& equation, const std::vector<OpInput>& feeds,
                    std::initializer_list<std::string> words) {
    std::vector<std::string> all = {"node 'op' (Einsum)"};
    if (!equation.empty()) all.push_back("equation \"" + equation + "\"");
    Status status = RunOp1("Einsum", feeds, Equation(equation)).status();
    for (const std::string& w : words) {
      if (status.message().find(w) == absl::string_view::npos || status.ok() ||
          status.code() != absl::StatusCode::kInvalidArgument) {
        return ::testing::AssertionFailure()
               << equation << ": " << status << " lacks '" << w << "'";
      }
    }
    for (const std::string& w : all) {
      if (status.message().find(w) == absl::string_view::npos)
        return ::testing::AssertionFailure()
               << equation << ": " << status << " lacks '" << w << "'";
    }
    return ::testing::AssertionSuccess();
  };
  EXPECT_TRUE(refused("ij,jk,kl->il", {Feed(m34), Feed(m45), Feed(m55)}, {"3 inputs"}));
  EXPECT_TRUE(refused("ii->i", {Feed(m55)}, {"letter 'i' repeats in input 0", "diagonals"}));
  EXPECT_TRUE(refused("ij,jj->i", {Feed(m55), Feed(m55)}, {"repeats in input 1"}));
  EXPECT_TRUE(refused("ij->ii", {Feed(m55)}, {"repeats in the output"}));
  EXPECT_TRUE(refused("ij,jk->il", {Feed(m34), Feed(m45)}, {"output letter 'l' is in no input"}));
  EXPECT_TRUE(refused("ij,jk->ik", {Feed(m34), Feed(m34)}, {"letter 'j' is 4 in input 0 but 3"}));
  EXPECT_TRUE(refused("ij,jk", {Feed(m34)}, {"2 input terms for 1 inputs"}));
  EXPECT_TRUE(refused("ij", {Feed(t234)}, {"input 0 has rank 3 but its term names 2 dims"}));
  EXPECT_TRUE(refused("...ijk->ij", {Feed(m34)}, {"rank 2", "besides \"...\""}));
  EXPECT_TRUE(refused("...ij->ij", {Feed(t234)},
                      {"the output leaves out \"...\", which stands for 1 dim(s)"}));
  EXPECT_TRUE(refused("i.j->ij", {Feed(m34)}, {"unexpected '.' in input 0"}));
  EXPECT_TRUE(refused("......ij->ij", {Feed(m34)}, {"\"...\" appears twice in input 0"}));
  EXPECT_TRUE(refused("ij-ji", {Feed(m34)}, {"unexpected '-'"}));
  EXPECT_TRUE(refused("ij->ji->ij", {Feed(m34)}, {"unexpected '-' in the output"}));
  EXPECT_TRUE(refused("i2->i", {Feed(m34)}, {"unexpected '2'"}));
  EXPECT_TRUE(refused("...ij,...jk->...ik",
                      {Feed(RandomTensor({2, 3, 4}, 5)), Feed(RandomTensor({3, 4, 5}, 6))},
                      {"\"...\" is 2 in input 0 but 3 in input 1"}));
  // The batch dim N against a fixed size is not the same size.
  EXPECT_TRUE(refused("ij,jk->ik", {FeedAs(m34, {Dim::Fixed(3), Dim::Batch()}), Feed(m45)},
                      {"letter 'j' is N in input 0 but 4 in input 1"}));
  EXPECT_TRUE(IsInvalid(RunOp1("Einsum", {Feed(m34)}).status(),
                        {"node 'op' (Einsum)", "'equation' attribute is missing"}));
  EXPECT_TRUE(
      IsInvalid(RunOp1("Einsum", {Feed(test::Int64s({2}, {1, 2}))}, Equation("i->i")).status(),
                {"node 'op' (Einsum)", "dtype"}));
}

}  // namespace
}  // namespace servekit
