// Loading SavedModels (formats/savedmodel/saved_model_loader.h): the
// checked-in fixtures load and compute what their variables say; hostile
// copies of a good fixture, edited here file by file or through the protos,
// fail with a status that names what is wrong, never a crash, a hang or an
// allocation the files do not back.
#include "servekit/formats/savedmodel/saved_model_loader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/unknown_field_set.h"
#include "savedmodel_test_util.h"
#include "servekit/engine/op_registry.h"
#include "servekit/formats/model_loader.h"
#include "servekit/formats/savedmodel/function_inliner.h"
#include "servekit/formats/savedmodel/saved_model_file.h"
#include "servekit/proto/tf/saved_model.pb.h"
#include "test_util.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;
using test::EditAttr;
using test::GetAttr;
using test::IsError;
using test::IsInvalid;
using test::ReadBytes;
using test::SavedModelFixture;
using test::TempDir;
using test::WriteBytes;

constexpr int64_t kHuge = int64_t{1} << 40;

StatusOr<std::shared_ptr<const LoadedModel>> Load(const fs::path& dir) {
  return LoadSavedModel(dir.string(), LoadOptions());
}

// A fixture's expected_variables.txt (written from TensorFlow's checkpoint
// reader): key -> values, row-major.
std::map<std::string, std::vector<double>> ExpectedVariables(const std::string& fixture) {
  std::map<std::string, std::vector<double>> out;
  std::istringstream lines(ReadBytes(SavedModelFixture(fixture) / "expected_variables.txt"));
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> fields = absl::StrSplit(line, '\t');
    if (fields.size() != 4) continue;
    std::vector<double>& values = out[fields[0]];
    for (absl::string_view v : absl::StrSplit(fields[3], ' ', absl::SkipEmpty()))
      values.push_back(std::stod(std::string(v)));
  }
  return out;
}

// x @ w + b for row-major x [rows, k], w [k, n], b [n], in double.
std::vector<double> Affine(const std::vector<double>& x, int64_t rows, const std::vector<double>& w,
                           const std::vector<double>& b) {
  const int64_t n = static_cast<int64_t>(b.size());
  const int64_t k = static_cast<int64_t>(w.size()) / n;
  std::vector<double> y(rows * n);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = b[j];
      for (int64_t i = 0; i < k; ++i) sum += x[r * k + i] * w[i * n + j];
      y[r * n + j] = sum;
    }
  }
  return y;
}

void ExpectNear(const Tensor& actual, const std::vector<double>& expected) {
  const std::vector<double> got = test::AsDoubles(actual);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], expected[i], 1e-6 + 1e-5 * std::abs(expected[i])) << "element " << i;
  }
}

// Runs `signature` of `model` on one input.
StatusOr<Tensor> Run1(const LoadedModel& model, const std::string& signature, const Tensor& x) {
  const LoadedSignature* found = model.Find(signature);
  if (found == nullptr) return absl::NotFoundError(signature);
  ASSIGN_OR_RETURN(std::vector<Tensor> outputs, found->session->Run({x}));
  if (outputs.size() != 1) return absl::InternalError("expected one output");
  return std::move(outputs[0]);
}

const std::vector<double> kRows = {0.5, -1.0, 2.0, 0.25, 0.0, 0.0};  // 3 rows of 2

// tanh(x @ w + b): the TinyModule fixtures' one signature.
std::vector<double> TinyModuleOutput(const std::string& fixture) {
  auto vars = ExpectedVariables(fixture);
  std::vector<double> y =
      Affine(kRows, 3, vars["w/.ATTRIBUTES/VARIABLE_VALUE"], vars["b/.ATTRIBUTES/VARIABLE_VALUE"]);
  for (double& v : y) v = std::tanh(v);
  return y;
}

// Loads `dir` and runs its serving_default on kRows; the answer must be near `expected`.
void ExpectLoadsAndComputes(const fs::path& dir, const std::vector<double>& expected) {
  auto model = Load(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<float> x(kRows.begin(), kRows.end());
  auto y = Run1(**model, "serving_default", test::Floats({3, 2}, x));
  ASSERT_TRUE(y.ok()) << y.status();
  ExpectNear(*y, expected);
}

TEST(SavedModelLoaderTest, TinyModulesComputeWhatTheirVariablesSay) {
  for (const char* fixture : {"tiny_module", "sharded_module"}) {
    SCOPED_TRACE(fixture);
    auto model = Load(SavedModelFixture(fixture));
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_EQ((*model)->signatures().size(), 1u);
    const LoadedSignature& signature = (*model)->signatures()[0];
    EXPECT_EQ(signature.name, "serving_default");
    EXPECT_EQ(signature.method_name, kPredictMethodName);
    ASSERT_EQ(signature.session->inputs().size(), 1u);
    EXPECT_EQ(signature.session->inputs()[0].name, "x");
    EXPECT_EQ(signature.session->outputs()[0].name, "y");
    std::vector<float> x(kRows.begin(), kRows.end());
    auto y = Run1(**model, "serving_default", test::Floats({3, 2}, x));
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_EQ(y->shape(), (Shape{3, 3}));
    ExpectNear(*y, TinyModuleOutput(fixture));
  }
}

TEST(SavedModelLoaderTest, KerasExportServesBothSignatures) {
  // Through the format-detecting entry point, as the model server loads it.
  auto model = LoadModelVersion(SavedModelFixture("keras_dense").string(), LoadOptions());
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ((*model)->signatures().size(), 2u);
  EXPECT_EQ((*model)->signatures()[0].name, "serve");
  EXPECT_EQ((*model)->signatures()[1].name, "serving_default");
  auto vars = ExpectedVariables("keras_dense");
  const std::vector<double> x = {1.0, -2.0, 0.5, 3.0, -0.25, 0.0, 1.5, -1.0};  // 2 rows of 4
  std::vector<double> hidden = Affine(x, 2, vars["variables/0/.ATTRIBUTES/VARIABLE_VALUE"],
                                      vars["variables/1/.ATTRIBUTES/VARIABLE_VALUE"]);
  for (double& v : hidden) v = std::max(v, 0.0);
  const std::vector<double> expected =
      Affine(hidden, 2, vars["variables/2/.ATTRIBUTES/VARIABLE_VALUE"],
             vars["variables/3/.ATTRIBUTES/VARIABLE_VALUE"]);
  for (const char* name : {"serve", "serving_default"}) {
    SCOPED_TRACE(name);
    const LoadedSignature* signature = (*model)->Find(name);
    ASSERT_NE(signature, nullptr);
    EXPECT_EQ(signature->session->inputs()[0].name, "keras_tensor");
    EXPECT_EQ(signature->session->outputs()[0].name, "output_0");
    auto y = Run1(**model, name, test::Floats({2, 4}, std::vector<float>(x.begin(), x.end())));
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_EQ(y->shape(), (Shape{2, 2}));
    ExpectNear(*y, expected);
  }
  EXPECT_EQ((*model)->Find("serve")->session, (*model)->Find("serving_default")->session)
      << "the two signatures compute the same, so they share one Session";
}

TEST(SignatureInlinerTest, KerasSignaturesAreInlinedOnce) {
  // `serve` and `serving_default` each feed their own Placeholder to their
  // own wrapper function, which calls the model's __call__ with it: the
  // second signature's call is the first's, and adds no node.
  auto meta_graph = ReadSavedModelMetaGraph(SavedModelFixture("keras_dense").string());
  ASSERT_TRUE(meta_graph.ok()) << meta_graph.status();
  const auto& defs = meta_graph->def->signature_def();
  SignatureInliner inliner(*meta_graph);
  auto serve = inliner.Inline(defs.at("serve"));
  ASSERT_TRUE(serve.ok()) << serve.status();
  const size_t nodes = inliner.nodes().size();
  auto serving_default = inliner.Inline(defs.at("serving_default"));
  ASSERT_TRUE(serving_default.ok()) << serving_default.status();
  EXPECT_EQ(inliner.nodes().size(), nodes);
  EXPECT_TRUE(SameTensors(*serve, *serving_default));
  // Alone, each inlines to as many nodes.
  auto alone = InlineSignature(*meta_graph, defs.at("serving_default"));
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_EQ(alone->nodes.size(), nodes);
}

TEST(SignatureInlinerTest, AfterAnErrorItRefusesToGoOn) {
  auto meta_graph = ReadSavedModelMetaGraph(SavedModelFixture("keras_dense").string());
  ASSERT_TRUE(meta_graph.ok()) << meta_graph.status();
  const tensorflow::SignatureDef& serve = meta_graph->def->signature_def().at("serve");
  tensorflow::SignatureDef broken = serve;
  broken.mutable_inputs()->begin()->second.set_name("no_such_node:0");
  SignatureInliner inliner(*meta_graph);
  EXPECT_TRUE(IsInvalid(inliner.Inline(broken).status(), {"'no_such_node:0'", "names no node"}));
  EXPECT_TRUE(IsError(inliner.Inline(serve).status(), absl::StatusCode::kFailedPrecondition,
                      {"an earlier signature failed"}));
}

TEST(SignatureInlinerTest, AnInputUnderAnotherKeyIsAnotherTensor) {
  auto meta_graph = ReadSavedModelMetaGraph(SavedModelFixture("keras_dense").string());
  ASSERT_TRUE(meta_graph.ok()) << meta_graph.status();
  const tensorflow::SignatureDef& serve = meta_graph->def->signature_def().at("serve");
  tensorflow::SignatureDef renamed;
  (*renamed.mutable_inputs())["another_key"] = serve.inputs().begin()->second;
  *renamed.mutable_outputs() = serve.outputs();
  SignatureInliner inliner(*meta_graph);
  auto a = inliner.Inline(serve);
  auto b = inliner.Inline(renamed);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->inputs[0].second, b->inputs[0].second);
  EXPECT_NE(a->outputs[0].second, b->outputs[0].second);
  EXPECT_FALSE(SameTensors(*a, *b));
}

// --- hostile copies of a good fixture ------------------------------------------------------

// A writable copy of a fixture in a temp dir, and its saved_model.pb as a
// message to edit.
class HostileSavedModelTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    // Truncated and edited files make protobuf log; the statuses say it all.
    google::protobuf::SetLogHandler(nullptr);
  }

  fs::path Copy(const std::string& fixture, const std::string& as = "") {
    const fs::path dir = temp_.path() / (as.empty() ? fixture : as);
    fs::copy(SavedModelFixture(fixture), dir, fs::copy_options::recursive);
    return dir;
  }
  static tensorflow::SavedModel ReadProto(const fs::path& dir) {
    tensorflow::SavedModel saved_model;
    EXPECT_TRUE(saved_model.ParseFromString(ReadBytes(dir / "saved_model.pb")));
    return saved_model;
  }
  static void WriteProto(const fs::path& dir, const tensorflow::SavedModel& saved_model) {
    WriteBytes(dir / "saved_model.pb", saved_model.SerializeAsString());
  }
  static tensorflow::MetaGraphDef& MetaGraph(tensorflow::SavedModel& saved_model) {
    return *saved_model.mutable_meta_graphs(0);
  }
  // The top-level graph's node named `name`.
  static tensorflow::NodeDef* TopLevelNode(tensorflow::SavedModel& saved_model,
                                           const std::string& name) {
    for (tensorflow::NodeDef& node : *MetaGraph(saved_model).mutable_graph_def()->mutable_node()) {
      if (node.name() == name) return &node;
    }
    ADD_FAILURE() << "no top-level node " << name;
    return nullptr;
  }
  // TinyModule's __call__: the function holding the MatMul (x @ w + b, tanh).
  static tensorflow::FunctionDef* CallFunction(tensorflow::SavedModel& saved_model) {
    for (tensorflow::FunctionDef& f :
         *MetaGraph(saved_model).mutable_graph_def()->mutable_library()->mutable_function()) {
      for (const tensorflow::NodeDef& node : f.node_def()) {
        if (node.op() == "MatMul") return &f;
      }
    }
    ADD_FAILURE() << "no function computes a MatMul";
    return nullptr;
  }
  static tensorflow::NodeDef* BodyNode(tensorflow::FunctionDef* f, const std::string& name) {
    for (tensorflow::NodeDef& node : *f->mutable_node_def()) {
      if (node.name() == name) return &node;
    }
    ADD_FAILURE() << "no node " << name << " in " << f->signature().name();
    return nullptr;
  }
  static tensorflow::TensorShapeProto Dims(std::initializer_list<int64_t> dims) {
    tensorflow::TensorShapeProto shape;
    for (int64_t d : dims) shape.add_dim()->set_size(d);
    return shape;
  }
  // A Const node of `dtype` with `shape` holding `values`.
  static tensorflow::NodeDef Const(const std::string& name, tensorflow::DataType dtype,
                                   std::initializer_list<int64_t> shape,
                                   std::initializer_list<double> values) {
    tensorflow::NodeDef node;
    node.set_name(name);
    node.set_op("Const");
    EditAttr(&node, "dtype", [&](tensorflow::AttrValue* a) { a->set_type(dtype); });
    EditAttr(&node, "value", [&](tensorflow::AttrValue* a) {
      tensorflow::TensorProto* tensor = a->mutable_tensor();
      tensor->set_dtype(dtype);
      *tensor->mutable_tensor_shape() = Dims(shape);
      for (double v : values) {
        if (dtype == tensorflow::DT_FLOAT) tensor->add_float_val(static_cast<float>(v));
        if (dtype == tensorflow::DT_INT32) tensor->add_int_val(static_cast<int32_t>(v));
      }
    });
    return node;
  }

  TempDir temp_;
};

TEST_F(HostileSavedModelTest, EveryTruncationOfSavedModelPbIsRefused) {
  const fs::path dir = Copy("tiny_module");
  const std::string bytes = ReadBytes(dir / "saved_model.pb");
  ASSERT_GT(bytes.size(), 1000u);
  // Every prefix in memory; a sample of them, the shortest and longest
  // included, as files through the whole loader (writing all ~20,000 files
  // takes a minute on a busy disk).
  for (size_t length = 0; length < bytes.size(); ++length) {
    auto meta_graph = ParseSavedModelMetaGraph(absl::string_view(bytes).substr(0, length));
    ASSERT_TRUE(IsInvalid(meta_graph.status(), {"saved_model.pb"})) << "prefix of " << length;
    if (length > 16 && length + 16 < bytes.size() && length % 97 != 0) continue;
    WriteBytes(dir / "saved_model.pb", bytes.substr(0, length));
    ASSERT_TRUE(IsInvalid(Load(dir).status(), {(dir / "saved_model.pb").string()}))
        << "prefix of " << length;
  }
  WriteBytes(dir / "saved_model.pb", bytes);
  EXPECT_TRUE(Load(dir).ok());
}

TEST_F(HostileSavedModelTest, BundleIndexWithABadChecksum) {
  const fs::path dir = Copy("tiny_module");
  const fs::path index = dir / "variables" / "variables.index";
  std::string bytes = ReadBytes(index);
  bytes[8] ^= 0x01;  // inside the first data block, which a CRC-32C covers
  WriteBytes(index, bytes);
  EXPECT_TRUE(IsError(Load(dir).status(), absl::StatusCode::kDataLoss,
                      {"variables.index", "the data block at offset 0", "fails its checksum"}));
}

TEST_F(HostileSavedModelTest, NoFlippedIndexByteChangesWhatTheModelComputes) {
  // Every bit of the index that the reader uses is covered by a checksum or
  // checked; a flip it lets through (padding) must leave the results alone.
  const fs::path dir = Copy("tiny_module");
  const fs::path index = dir / "variables" / "variables.index";
  const std::string good = ReadBytes(index);
  const std::vector<double> expected = TinyModuleOutput("tiny_module");
  const std::vector<float> x(kRows.begin(), kRows.end());
  int loaded = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bytes = good;
    bytes[i] ^= 0x20;
    WriteBytes(index, bytes);
    auto model = Load(dir);
    if (!model.ok()) {
      EXPECT_NE(model.status().code(), absl::StatusCode::kInternal) << model.status();
      EXPECT_NE(model.status().code(), absl::StatusCode::kUnknown) << model.status();
      EXPECT_FALSE(model.status().message().empty());
      continue;
    }
    ++loaded;
    SCOPED_TRACE(i);
    auto y = Run1(**model, "serving_default", test::Floats({3, 2}, x));
    ASSERT_TRUE(y.ok()) << y.status();
    ExpectNear(*y, expected);
  }
  // The 48-byte footer holds two block handles (varints), zero padding and
  // the 8-byte magic number: only the padding may flip unseen.
  EXPECT_LE(loaded, 40);
}

TEST_F(HostileSavedModelTest, MissingDataShard) {
  const fs::path dir = Copy("sharded_module");
  fs::remove(dir / "variables" / "variables.data-00002-of-00004");
  EXPECT_TRUE(IsError(Load(dir).status(), absl::StatusCode::kNotFound,
                      {"variables.data-00002-of-00004", "missing"}));
}

TEST_F(HostileSavedModelTest, TruncatedDataShard) {
  const fs::path dir = Copy("sharded_module");
  const fs::path shard = dir / "variables" / "variables.data-00003-of-00004";
  WriteBytes(shard, ReadBytes(shard).substr(0, 100));
  EXPECT_TRUE(IsError(Load(dir).status(), absl::StatusCode::kDataLoss,
                      {"variables.data-00003-of-00004", "which has 100 bytes"}));
}

TEST_F(HostileSavedModelTest, VariableShapeDiffersFromTheGraph) {
  const fs::path dir = Copy("tiny_module");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  EditAttr(TopLevelNode(saved_model, "w"), "shape", [&](tensorflow::AttrValue* a) {
    *a->mutable_shape() = Dims({3, 2});
  });
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsInvalid(Load(dir).status(), {"signature 'serving_default'", "variable 'w'",
                                             "checkpoint key 'w/.ATTRIBUTES/VARIABLE_VALUE'",
                                             "the checkpoint holds DT_FLOAT [2, 3]",
                                             "the graph's VarHandleOp declares DT_FLOAT [3, 2]"}));

  // A rank that differs, and a declared size that no file could back.
  EditAttr(TopLevelNode(saved_model, "w"), "shape",
           [&](tensorflow::AttrValue* a) { *a->mutable_shape() = Dims({6}); });
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsInvalid(Load(dir).status(), {"variable 'w'", "[2, 3]", "declares DT_FLOAT [6]"}));
  EditAttr(TopLevelNode(saved_model, "b"), "shape",
           [&](tensorflow::AttrValue* a) { *a->mutable_shape() = Dims({kHuge}); });
  EditAttr(TopLevelNode(saved_model, "w"), "shape", [&](tensorflow::AttrValue* a) {
    *a->mutable_shape() = Dims({2, 3});
  });
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsInvalid(Load(dir).status(), {"variable 'b'", "[3]", "[1099511627776]"}));
}

TEST_F(HostileSavedModelTest, VariableDtypeDiffersFromTheGraph) {
  const fs::path dir = Copy("tiny_module");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  EditAttr(TopLevelNode(saved_model, "b"), "dtype",
           [&](tensorflow::AttrValue* a) { a->set_type(tensorflow::DT_DOUBLE); });
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsInvalid(Load(dir).status(),
                        {"variable 'b'", "holds DT_FLOAT [3]", "declares DT_DOUBLE [3]"}));
}

TEST_F(HostileSavedModelTest, ModelFilesThatAreFifosAreRefusedNotWaitedOn) {
  // Nothing writes to these FIFOs: opening one for reading would wait forever.
  const fs::path dir = Copy("tiny_module");
  fs::remove(dir / "variables" / "variables.index");
  ASSERT_EQ(::mkfifo((dir / "variables" / "variables.index").c_str(), 0600), 0);
  EXPECT_TRUE(IsError(Load(dir).status(), absl::StatusCode::kFailedPrecondition,
                      {"variables.index", "not a regular file"}));
  fs::remove(dir / "saved_model.pb");
  ASSERT_EQ(::mkfifo((dir / "saved_model.pb").c_str(), 0600), 0);
  EXPECT_TRUE(IsError(Load(dir).status(), absl::StatusCode::kFailedPrecondition,
                      {"saved_model.pb", "not a regular file"}));
}

TEST_F(HostileSavedModelTest, VariablesTheRouteMissesAreFoundByTheirSharedName) {
  // Without bound_inputs the object graph ties no captured input to a saved
  // variable: the keys come from the VarHandleOps' shared_name, which is the
  // checkpoint's full_name of the variable.
  const fs::path dir = Copy("tiny_module");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  auto& concrete = *MetaGraph(saved_model).mutable_object_graph_def()->mutable_concrete_functions();
  int cleared = 0;
  for (auto& [name, function] : concrete) {
    cleared += function.bound_inputs_size();
    function.clear_bound_inputs();
  }
  ASSERT_GT(cleared, 0);
  WriteProto(dir, saved_model);
  ExpectLoadsAndComputes(dir, TinyModuleOutput("tiny_module"));

  // And with no route and no matching full_name, the variable has no key.
  EditAttr(TopLevelNode(saved_model, "w"), "shared_name",
           [](tensorflow::AttrValue* a) { a->set_s("not_a_full_name"); });
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsInvalid(Load(dir).status(), {"variable 'w'", "no key maps to it"}));
}

TEST_F(HostileSavedModelTest, UnknownDeclaredDimsAcceptAnyCheckpointValue) {
  // -1 dims and an unknown rank declare nothing, as in TensorFlow.
  const fs::path dir = Copy("tiny_module");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  EditAttr(TopLevelNode(saved_model, "w"), "shape", [&](tensorflow::AttrValue* a) {
    *a->mutable_shape() = Dims({-1, 3});
  });
  EditAttr(TopLevelNode(saved_model, "b"), "shape",
           [](tensorflow::AttrValue* a) { a->mutable_shape()->set_unknown_rank(true); });
  WriteProto(dir, saved_model);
  ExpectLoadsAndComputes(dir, TinyModuleOutput("tiny_module"));
}

// A FunctionDef whose node_def field (3) holds bytes that are no NodeDef:
// its name still reads from the wire, its body does not parse.
void CorruptBody(tensorflow::FunctionDef* f) {
  f->GetReflection()->MutableUnknownFields(f)->AddLengthDelimited(3, std::string("\xff\xff", 2));
}

TEST_F(HostileSavedModelTest, ACorruptFunctionNoSignatureReachesIsNeverRead) {
  // Library functions are parsed when a signature reaches them: one that no
  // signature calls (like the save and restore functions) is not checked.
  const fs::path dir = Copy("tiny_module");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  tensorflow::FunctionDef* unused =
      MetaGraph(saved_model).mutable_graph_def()->mutable_library()->add_function();
  unused->mutable_signature()->set_name("never_called");
  CorruptBody(unused);
  WriteProto(dir, saved_model);
  ExpectLoadsAndComputes(dir, TinyModuleOutput("tiny_module"));
}

TEST_F(HostileSavedModelTest, ACorruptFunctionASignatureCallsIsAnErrorNamingIt) {
  const fs::path dir = Copy("tiny_module");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  tensorflow::FunctionDef* f = CallFunction(saved_model);
  ASSERT_NE(f, nullptr);
  const std::string name = f->signature().name();
  CorruptBody(f);
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsInvalid(Load(dir).status(),
                        {"signature 'serving_default'", absl::StrCat("function '", name, "'"),
                         "not a valid FunctionDef"}));
}

TEST_F(HostileSavedModelTest, OfTwoFunctionsWithOneNameTheLaterIsCalled) {
  // As when protobuf parses the library into a map by name. The later copy
  // of __call__ negates tanh's input instead.
  const fs::path dir = Copy("tiny_module");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  tensorflow::FunctionDef* f = CallFunction(saved_model);
  ASSERT_NE(f, nullptr);
  tensorflow::FunctionDef later = *f;
  BodyNode(&later, "Tanh")->set_op("Neg");
  *MetaGraph(saved_model).mutable_graph_def()->mutable_library()->add_function() = later;
  WriteProto(dir, saved_model);
  auto vars = ExpectedVariables("tiny_module");
  std::vector<double> expected =
      Affine(kRows, 3, vars["w/.ATTRIBUTES/VARIABLE_VALUE"], vars["b/.ATTRIBUTES/VARIABLE_VALUE"]);
  for (double& v : expected) v = -v;
  ExpectLoadsAndComputes(dir, expected);
}

TEST_F(HostileSavedModelTest, FunctionThatCallsItself) {
  const fs::path dir = Copy("tiny_module");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  tensorflow::FunctionDef* f = CallFunction(saved_model);
  ASSERT_NE(f, nullptr);
  const std::string name = f->signature().name();
  // add = recurse(x, w, b) + b, where recurse is a call of the function itself.
  tensorflow::NodeDef* recurse = f->add_node_def();
  recurse->set_name("recurse");
  recurse->set_op("StatefulPartitionedCall");
  for (const auto& arg : f->signature().input_arg()) recurse->add_input(arg.name());
  EditAttr(recurse, "f", [&](tensorflow::AttrValue* a) { a->mutable_func()->set_name(name); });
  BodyNode(f, "add")->set_input(0, "recurse:output:0");
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsInvalid(Load(dir).status(), {"signature 'serving_default'", "node 'recurse'",
                                             absl::StrCat("function '", name, "' calls itself")}));
}

TEST_F(HostileSavedModelTest, FunctionsThatCallEachOther) {
  // __call__ calls the signature wrapper, which calls __call__.
  const fs::path dir = Copy("tiny_module");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  const std::string wrapper =
      GetAttr(*TopLevelNode(saved_model, "StatefulPartitionedCall"), "f").func().name();
  tensorflow::FunctionDef* f = CallFunction(saved_model);
  ASSERT_NE(f, nullptr);
  ASSERT_NE(f->signature().name(), wrapper);
  tensorflow::NodeDef* call = f->add_node_def();
  call->set_name("back");
  call->set_op("PartitionedCall");
  for (const auto& arg : f->signature().input_arg()) call->add_input(arg.name());
  EditAttr(call, "f", [&](tensorflow::AttrValue* a) { a->mutable_func()->set_name(wrapper); });
  BodyNode(f, "add")->set_input(0, "back:output:0");
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsInvalid(Load(dir).status(),
                        {"node 'back'", absl::StrCat("function '", wrapper, "'"), "calls itself"}));
}

// TinyModule with its MatMul's input x passed through a chain of `links`
// distinct functions, each calling the next (no recursion); the last one is
// an Identity, so the model computes what it did.
fs::path TinyModuleWithCallChain(HostileSavedModelTest& test, int links);

TEST_F(HostileSavedModelTest, CallsNestedDeeperThanTheLimit) {
  const fs::path dir = TinyModuleWithCallChain(*this, kMaxCallNesting + 10);
  EXPECT_TRUE(IsInvalid(Load(dir).status(), {"signature 'serving_default'", "nest"}));
}

TEST_F(HostileSavedModelTest, CallsNestedDeepButWithinTheLimitLoad) {
  // The signature's own calls nest 2 deep above the chain.
  for (int links : {10, 600, kMaxCallNesting - 2}) {
    SCOPED_TRACE(links);
    ExpectLoadsAndComputes(TinyModuleWithCallChain(*this, links), TinyModuleOutput("tiny_module"));
  }
}

TEST_F(HostileSavedModelTest, SignaturesThatDeclareDifferentShapesGetTheirOwnSessions) {
  // Keras's `serve` and `serving_default` compute the same; once `serve`
  // declares a fixed batch of 2, it is a different Session (same answers).
  const fs::path dir = Copy("keras_dense");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  auto& serve = (*MetaGraph(saved_model).mutable_signature_def())["serve"];
  ASSERT_EQ(serve.inputs().size(), 1u);
  serve.mutable_inputs()->begin()->second.mutable_tensor_shape()->mutable_dim(0)->set_size(2);
  WriteProto(dir, saved_model);
  auto model = LoadModelVersion(dir.string(), LoadOptions());
  ASSERT_TRUE(model.ok()) << model.status();
  const LoadedSignature* fixed = (*model)->Find("serve");
  const LoadedSignature* open = (*model)->Find("serving_default");
  ASSERT_TRUE(fixed != nullptr && open != nullptr);
  EXPECT_NE(fixed->session, open->session);
  const Tensor x = test::Floats({2, 4}, {1, -2, 0.5, 3, -0.25, 0, 1.5, -1});
  auto a = Run1(**model, "serve", x);
  auto b = Run1(**model, "serving_default", x);
  ASSERT_TRUE(a.ok() && b.ok());
  ExpectNear(*a, test::AsDoubles(*b));
  EXPECT_FALSE(Run1(**model, "serve", test::Floats({1, 4}, {1, 2, 3, 4})).ok())
      << "serve takes batches of 2 only";
}

fs::path TinyModuleWithCallChain(HostileSavedModelTest& test, int links) {
  const fs::path dir = test.Copy("tiny_module", absl::StrCat("chain_", links));
  tensorflow::SavedModel saved_model = test.ReadProto(dir);
  tensorflow::FunctionDef* f = test.CallFunction(saved_model);
  if (f == nullptr) return dir;
  tensorflow::NodeDef* matmul = nullptr;
  for (tensorflow::NodeDef& node : *f->mutable_node_def()) {
    if (node.op() == "MatMul") matmul = &node;
  }
  const std::string x = matmul->input(0);
  matmul->set_input(0, "chain:output:0");
  tensorflow::NodeDef* call = f->add_node_def();
  call->set_name("chain");
  call->set_op("PartitionedCall");
  call->add_input(x);
  EditAttr(call, "f", [&](tensorflow::AttrValue* a) { a->mutable_func()->set_name("chain_0"); });
  auto* library = test.MetaGraph(saved_model).mutable_graph_def()->mutable_library();
  for (int i = 0; i < links; ++i) {
    tensorflow::FunctionDef* link = library->add_function();
    link->mutable_signature()->set_name(absl::StrCat("chain_", i));
    link->mutable_signature()->add_input_arg()->set_name("in");
    link->mutable_signature()->add_output_arg()->set_name("out");
    tensorflow::NodeDef* next = link->add_node_def();
    next->set_name("next");
    if (i + 1 < links) {
      next->set_op("PartitionedCall");
      EditAttr(next, "f", [&](tensorflow::AttrValue* a) {
        a->mutable_func()->set_name(absl::StrCat("chain_", i + 1));
      });
    } else {
      next->set_op("Identity");
    }
    next->add_input("in");
    (*link->mutable_ret())["out"] = "next:output:0";
  }
  test.WriteProto(dir, saved_model);
  return dir;
}

// TinyModule with its MatMul's input x passed through `length` Neg ops in its
// call function (an even number computes what the model did): a deep
// network's chain of ops, in one function.
tensorflow::NodeDef* NodeWithOp(tensorflow::FunctionDef* f, const std::string& op) {
  for (tensorflow::NodeDef& node : *f->mutable_node_def()) {
    if (node.op() == op) return &node;
  }
  ADD_FAILURE() << "no " << op << " node in " << f->signature().name();
  return nullptr;
}

fs::path TinyModuleWithOpChain(HostileSavedModelTest& test, int length) {
  static int copies = 0;
  const fs::path dir = test.Copy("tiny_module", absl::StrCat("ops_", length, "_", ++copies));
  tensorflow::SavedModel saved_model = test.ReadProto(dir);
  tensorflow::FunctionDef* f = test.CallFunction(saved_model);
  if (f == nullptr) return dir;
  tensorflow::NodeDef* matmul = NodeWithOp(f, "MatMul");
  if (matmul == nullptr) return dir;
  std::string previous = matmul->input(0);
  for (int i = 0; i < length; ++i) {
    tensorflow::NodeDef* neg = f->add_node_def();
    neg->set_name(absl::StrCat("neg_", i));
    neg->set_op("Neg");
    neg->add_input(previous);
    previous = absl::StrCat(neg->name(), ":y:0");
  }
  NodeWithOp(f, "MatMul")->set_input(0, previous);  // add_node_def may have moved it
  test.WriteProto(dir, saved_model);
  return dir;
}

TEST_F(HostileSavedModelTest, OpChainsOfAnyLengthLoad) {
  // The walk keeps its own stack: 20,000 ops deep is only more work.
  for (int length : {2, 5000, 20000}) {
    SCOPED_TRACE(length);
    ExpectLoadsAndComputes(TinyModuleWithOpChain(*this, length), TinyModuleOutput("tiny_module"));
  }
}

TEST_F(HostileSavedModelTest, ALongIdentityChainIsWalkedOnceForAllItsReaders) {
  // x passes through 20,000 Identity ops, then 4,000 ops each read the
  // chain's end (alternately adding and subtracting it: x exactly, at the
  // end). Walked once per reader, the chain would cost 80 million steps, far
  // over the walk's budget of steps (2^21): the load would fail.
  const fs::path dir = Copy("tiny_module", "identity_chain");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  tensorflow::FunctionDef* f = CallFunction(saved_model);
  ASSERT_NE(f, nullptr);
  std::string end = NodeWithOp(f, "MatMul")->input(0);
  for (int i = 0; i < 20000; ++i) {
    tensorflow::NodeDef* identity = f->add_node_def();
    identity->set_name(absl::StrCat("identity_", i));
    identity->set_op("Identity");
    identity->add_input(end);
    end = absl::StrCat(identity->name(), ":output:0");
  }
  std::string sum = end;
  for (int i = 0; i < 4000; ++i) {
    tensorflow::NodeDef* op = f->add_node_def();
    op->set_name(absl::StrCat("reader_", i));
    op->set_op(i % 2 == 0 ? "AddV2" : "Sub");
    op->add_input(sum);
    op->add_input(end);
    sum = absl::StrCat(op->name(), ":z:0");
  }
  NodeWithOp(f, "MatMul")->set_input(0, sum);
  WriteProto(dir, saved_model);
  ExpectLoadsAndComputes(dir, TinyModuleOutput("tiny_module"));
}

// Loads `dir` once `edit` has changed its call function.
Status LoadWithCallFunctionEdited(HostileSavedModelTest& test, const fs::path& dir,
                                  const std::function<void(tensorflow::FunctionDef*)>& edit) {
  tensorflow::SavedModel saved_model = test.ReadProto(dir);
  tensorflow::FunctionDef* f = test.CallFunction(saved_model);
  if (f == nullptr) return absl::InternalError("no call function");
  edit(f);
  test.WriteProto(dir, saved_model);
  return Load(dir).status();
}

TEST_F(HostileSavedModelTest, CyclesAreErrors) {
  // An op that reads its own output, through another op.
  EXPECT_TRUE(IsInvalid(
      LoadWithCallFunctionEdited(
          *this, TinyModuleWithOpChain(*this, 2),
          [](tensorflow::FunctionDef* f) { BodyNode(f, "neg_0")->set_input(0, "neg_1:y:0"); }),
      {"node 'neg_", "reads its own output (a cycle)"}));
  // Identity ops that pass a tensor around in a circle.
  EXPECT_TRUE(IsInvalid(
      LoadWithCallFunctionEdited(*this, TinyModuleWithOpChain(*this, 2),
                                 [](tensorflow::FunctionDef* f) {
                                   BodyNode(f, "neg_0")->set_op("Identity");
                                   BodyNode(f, "neg_0")->set_input(0, "neg_1:output:0");
                                   BodyNode(f, "neg_1")->set_op("Identity");
                                   BodyNode(f, "neg_1")->set_input(0, "neg_0:output:0");
                                   NodeWithOp(f, "MatMul")->set_input(0, "neg_1:output:0");
                                 }),
      {"node 'neg_", "passes its own output on (a cycle)"}));
  // A call whose argument is the call's own output.
  EXPECT_TRUE(IsInvalid(
      LoadWithCallFunctionEdited(
          *this, TinyModuleWithCallChain(*this, 2),
          [](tensorflow::FunctionDef* f) { BodyNode(f, "chain")->set_input(0, "chain:output:0"); }),
      {"node 'chain'", "reads its own output (a cycle)"}));
}

TEST_F(HostileSavedModelTest, ASignatureThatReadsAPlaceholderItDoesNotFeed) {
  // `serving_default` feeds its own Placeholder but reads `serve`'s output,
  // computed from `serve`'s Placeholder. Its input is the same tensor as
  // `serve`'s (same key, dtype and shape), yet it is not `serve`: the
  // Placeholder it reads is fed by nothing, which TensorFlow refuses too.
  const fs::path dir = Copy("keras_dense");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  auto& signatures = *MetaGraph(saved_model).mutable_signature_def();
  *signatures["serving_default"].mutable_outputs() = signatures["serve"].outputs();
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsInvalid(Load(dir).status(), {"signature 'serving_default'",
                                             "is a placeholder that no signature input feeds"}));
}

// A Const node in `f`, named `name`, of `dtype` and `shape`, whose value
// `fill` fills in.
template <typename Fill>
void AddConst(tensorflow::FunctionDef* f, const std::string& name, tensorflow::DataType dtype,
              std::initializer_list<int64_t> shape, Fill fill) {
  tensorflow::NodeDef* node = f->add_node_def();
  node->set_name(name);
  node->set_op("Const");
  EditAttr(node, "dtype", [&](tensorflow::AttrValue* a) { a->set_type(dtype); });
  EditAttr(node, "value", [&](tensorflow::AttrValue* a) {
    tensorflow::TensorProto* value = a->mutable_tensor();
    value->set_dtype(dtype);
    for (int64_t d : shape) value->mutable_tensor_shape()->add_dim()->set_size(d);
    fill(value);
  });
}

void AddFloatConst(tensorflow::FunctionDef* f, const std::string& name,
                   std::initializer_list<int64_t> shape, const std::vector<float>& values) {
  AddConst(f, name, tensorflow::DT_FLOAT, shape, [&](tensorflow::TensorProto* value) {
    for (float v : values) value->add_float_val(v);
  });
}

void AddInt32Const(tensorflow::FunctionDef* f, const std::string& name,
                   const std::vector<int32_t>& values) {
  AddConst(f, name, tensorflow::DT_INT32, {static_cast<int64_t>(values.size())},
           [&](tensorflow::TensorProto* value) {
             for (int32_t v : values) value->add_int_val(v);
           });
}

tensorflow::NodeDef* AddOp(tensorflow::FunctionDef* f, const std::string& name,
                           const std::string& op, std::initializer_list<std::string> inputs) {
  tensorflow::NodeDef* node = f->add_node_def();
  node->set_name(name);
  node->set_op(op);
  for (const std::string& input : inputs) node->add_input(input);
  EditAttr(node, "T", [&](tensorflow::AttrValue* a) { a->set_type(tensorflow::DT_FLOAT); });
  return node;
}

// TinyModule with its MatMul's input x ([rows, 2]) first put through what
// Keras 2 writes for Conv2D (1x1, 2 filters, bias) + BatchNormalization on
// [rows, 1, 1, 2] images: Reshape, Conv2D, BiasAdd, FusedBatchNormV3,
// Reshape back. `statistics` values per statistic (2 match the filters).
fs::path TinyModuleWithConvBatchNorm(HostileSavedModelTest& test, int statistics) {
  const fs::path dir = test.Copy("tiny_module", absl::StrCat("conv_bn_", statistics));
  tensorflow::SavedModel saved_model = test.ReadProto(dir);
  tensorflow::FunctionDef* f = test.CallFunction(saved_model);
  if (f == nullptr) return dir;
  const std::string x = NodeWithOp(f, "MatMul")->input(0);
  AddInt32Const(f, "image_shape", {-1, 1, 1, 2});
  AddInt32Const(f, "row_shape", {-1, 2});
  AddFloatConst(f, "filter", {1, 1, 2, 2}, {0.5f, -1.0f, 2.0f, 0.25f});  // [h, w, in, out]
  AddFloatConst(f, "bias", {2}, {0.125f, -0.5f});
  auto values = [statistics](float first, float step) {
    std::vector<float> v;
    for (int i = 0; i < statistics; ++i) v.push_back(first + step * i);
    return v;
  };
  const std::initializer_list<int64_t> length = {statistics};
  AddFloatConst(f, "scale", length, values(1.5f, -0.75f));
  AddFloatConst(f, "offset", length, values(-0.25f, 0.5f));
  AddFloatConst(f, "mean", length, values(0.3f, -0.6f));
  AddFloatConst(f, "variance", length, values(0.8f, 1.1f));
  EditAttr(AddOp(f, "image", "Reshape", {x, "image_shape:output:0"}), "Tshape",
           [](tensorflow::AttrValue* a) { a->set_type(tensorflow::DT_INT32); });
  tensorflow::NodeDef* conv = AddOp(f, "conv", "Conv2D", {"image:output:0", "filter:output:0"});
  for (int i = 0; i < 4; ++i)
    EditAttr(conv, "strides", [&](tensorflow::AttrValue* a) { a->mutable_list()->add_i(1); });
  EditAttr(conv, "padding", [&](tensorflow::AttrValue* a) { a->set_s("VALID"); });
  AddOp(f, "biased", "BiasAdd", {"conv:output:0", "bias:output:0"});
  tensorflow::NodeDef* bn = AddOp(f, "bn", "FusedBatchNormV3",
                                  {"biased:output:0", "scale:output:0", "offset:output:0",
                                   "mean:output:0", "variance:output:0"});
  EditAttr(bn, "U", [&](tensorflow::AttrValue* a) { a->set_type(tensorflow::DT_FLOAT); });
  EditAttr(bn, "epsilon", [&](tensorflow::AttrValue* a) { a->set_f(0.01f); });
  EditAttr(bn, "is_training", [&](tensorflow::AttrValue* a) { a->set_b(false); });
  EditAttr(AddOp(f, "rows", "Reshape", {"bn:y:0", "row_shape:output:0"}), "Tshape",
           [](tensorflow::AttrValue* a) { a->set_type(tensorflow::DT_INT32); });
  NodeWithOp(f, "MatMul")->set_input(0, "rows:output:0");
  test.WriteProto(dir, saved_model);
  return dir;
}

TEST_F(HostileSavedModelTest, Keras2ConvAndBatchNormFoldIntoOneConvolution) {
  const fs::path dir = TinyModuleWithConvBatchNorm(*this, 2);
  // x -> x @ filter + bias -> (v - mean) / sqrt(variance + 0.01) * scale + offset.
  std::vector<double> image = Affine(kRows, 3, {0.5, -1.0, 2.0, 0.25}, {0.125, -0.5});
  const double scale[] = {1.5, 0.75}, offset[] = {-0.25, 0.25}, mean[] = {0.3, -0.3},
               variance[] = {0.8, 1.9};
  for (size_t i = 0; i < image.size(); ++i) {
    const size_t c = i % 2;
    image[i] = (image[i] - mean[c]) / std::sqrt(variance[c] + 0.01) * scale[c] + offset[c];
  }
  auto vars = ExpectedVariables("tiny_module");
  std::vector<double> expected =
      Affine(image, 3, vars["w/.ATTRIBUTES/VARIABLE_VALUE"], vars["b/.ATTRIBUTES/VARIABLE_VALUE"]);
  for (double& v : expected) v = std::tanh(v);
  ExpectLoadsAndComputes(dir, expected);
  // One convolution with the bias and the batch norm folded in; in NHWC, the
  // layout it is written in, when the convolution kernel computes in NHWC.
  auto model = Load(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<std::string> steps = (*model)->signatures()[0].session->StepOpTypes();
  const auto count = [&steps](const std::string& op) {
    return std::count(steps.begin(), steps.end(), op);
  };
  EXPECT_EQ(count("Conv"), 1) << testing::PrintToString(steps);
  EXPECT_EQ(count("BatchNormalization") + count("Mul") + count("Add"), 0)
      << testing::PrintToString(steps);
  if (OpRegistry::Global().Find("Conv")->prefers_channels_last) {
    EXPECT_EQ(count("Transpose"), 0) << testing::PrintToString(steps);
  }
}

TEST_F(HostileSavedModelTest, BatchNormStatisticsOfTheWrongLength) {
  // Statistics for other than two channels: BatchNormalization refuses them.
  // As a per-channel Mul and Add, three would have broadcast the two channels
  // into three, and one would have been applied to both.
  for (int statistics : {1, 3}) {
    SCOPED_TRACE(statistics);
    EXPECT_TRUE(IsInvalid(Load(TinyModuleWithConvBatchNorm(*this, statistics)).status(),
                          {"bn/BatchNormalization", "must be float32 of shape [2]; got float32",
                           absl::StrCat("[", statistics, "]")}));
  }
}

TEST_F(HostileSavedModelTest, CallsThatBranchPastTheCallLimit) {
  // Each of 17 functions calls the next twice, with x and with -x: 2^17
  // calls, each with other arguments, from a file of a few KB.
  const fs::path dir = Copy("tiny_module", "branching");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  tensorflow::FunctionDef* f = CallFunction(saved_model);
  ASSERT_NE(f, nullptr);
  const std::string x = NodeWithOp(f, "MatMul")->input(0);
  tensorflow::NodeDef* tree = AddOp(f, "tree", "PartitionedCall", {x});
  EditAttr(tree, "f", [&](tensorflow::AttrValue* a) { a->mutable_func()->set_name("branch_0"); });
  NodeWithOp(f, "MatMul")->set_input(0, "tree:output:0");
  auto* library = MetaGraph(saved_model).mutable_graph_def()->mutable_library();
  for (int i = 0; i < 17; ++i) {
    tensorflow::FunctionDef* branch = library->add_function();
    branch->mutable_signature()->set_name(absl::StrCat("branch_", i));
    branch->mutable_signature()->add_input_arg()->set_name("in");
    branch->mutable_signature()->add_output_arg()->set_name("out");
    if (i == 16) {
      AddOp(branch, "leaf", "Identity", {"in"});
      (*branch->mutable_ret())["out"] = "leaf:output:0";
      continue;
    }
    AddOp(branch, "negated", "Neg", {"in"});
    for (const std::string name : {"left", "right"}) {
      tensorflow::NodeDef* call =
          AddOp(branch, name, "PartitionedCall", {name == "left" ? "in" : "negated:y:0"});
      EditAttr(call, "f", [&](tensorflow::AttrValue* a) {
        a->mutable_func()->set_name(absl::StrCat("branch_", i + 1));
      });
    }
    AddOp(branch, "sum", "AddV2", {"left:output:0", "right:output:0"});
    (*branch->mutable_ret())["out"] = "sum:z:0";
  }
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsInvalid(Load(dir).status(),
                        {"signature 'serving_default'", "more than 32768 function calls"}));
}

TEST_F(HostileSavedModelTest, TwoInputKeysThatFeedOnePlaceholder) {
  // Which key's tensor would it compute from? Refused, naming both.
  const fs::path dir = Copy("keras_dense");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  auto& inputs =
      *(*MetaGraph(saved_model).mutable_signature_def())["serving_default"].mutable_inputs();
  ASSERT_EQ(inputs.size(), 1u);
  inputs["zz_again"] = inputs.begin()->second;
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsInvalid(Load(dir).status(), {"signature 'serving_default'", "'keras_tensor'",
                                             "'zz_again'", "feed the same Placeholder"}));
}

TEST_F(HostileSavedModelTest, UnknownOp) {
  const fs::path dir = Copy("tiny_module");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  tensorflow::FunctionDef* f = CallFunction(saved_model);
  ASSERT_NE(f, nullptr);
  BodyNode(f, "Tanh")->set_op("FancyTanh");
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsInvalid(Load(dir).status(),
                        {"signature 'serving_default'", "unsupported TensorFlow op 'FancyTanh'",
                         "node 'Tanh'", absl::StrCat("function '", f->signature().name(), "'")}));
}

TEST_F(HostileSavedModelTest, OpServekitDoesNotTranslate) {
  // A real TensorFlow op whose outputs the inliner knows, but not translated.
  const fs::path dir = Copy("tiny_module");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  tensorflow::FunctionDef* f = CallFunction(saved_model);
  ASSERT_NE(f, nullptr);
  BodyNode(f, "Tanh")->set_op("Round");
  WriteProto(dir, saved_model);
  EXPECT_TRUE(
      IsError(Load(dir).status(), absl::StatusCode::kUnimplemented,
              {"signature 'serving_default'", "TensorFlow op 'Round'", "node 'Tanh'",
               absl::StrCat("function '", f->signature().name(), "'"), "does not translate"}));
}

TEST_F(HostileSavedModelTest, HugeSignatureInputShape) {
  const fs::path dir = Copy("tiny_module");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  auto& input =
      (*MetaGraph(saved_model).mutable_signature_def())["serving_default"].mutable_inputs()->at(
          "x");
  // 2^40 rows of 2 (the MatMul's inner dim still agrees), then 2^62 x 2^62,
  // whose element count overflows int64.
  *input.mutable_tensor_shape() = Dims({kHuge, 2});
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsInvalid(Load(dir).status(), {"signature 'serving_default'", "too large"}));
  *input.mutable_tensor_shape() = Dims({int64_t{1} << 62, int64_t{1} << 62});
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsInvalid(Load(dir).status(), {"signature 'serving_default'"}));
}

TEST_F(HostileSavedModelTest, HugeConstWithTinyContent) {
  // add = MatMul + a Const that declares 2^40 floats and holds one.
  const fs::path dir = Copy("tiny_module");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  tensorflow::FunctionDef* f = CallFunction(saved_model);
  ASSERT_NE(f, nullptr);
  *f->add_node_def() = Const("huge", tensorflow::DT_FLOAT, {1 << 20, 1 << 20}, {1.0});
  BodyNode(f, "add")->set_input(1, "huge:output:0");
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsError(
      Load(dir).status(), absl::StatusCode::kInvalidArgument,
      {"signature 'serving_default'", "TensorFlow op 'Const'", "node 'huge'", "servekit's limit"}));
}

TEST_F(HostileSavedModelTest, HugeFillFromTinyConstants) {
  // The function returns Fill([2^20, 2^20], 1.0): every input is known at
  // load time, and nothing may fold or allocate it.
  const fs::path dir = Copy("tiny_module");
  tensorflow::SavedModel saved_model = ReadProto(dir);
  tensorflow::FunctionDef* f = CallFunction(saved_model);
  ASSERT_NE(f, nullptr);
  *f->add_node_def() = Const("dims", tensorflow::DT_INT32, {2}, {1 << 20, 1 << 20});
  *f->add_node_def() = Const("one", tensorflow::DT_FLOAT, {}, {1.0});
  tensorflow::NodeDef* fill = f->add_node_def();
  fill->set_name("fill");
  fill->set_op("Fill");
  fill->add_input("dims:output:0");
  fill->add_input("one:output:0");
  BodyNode(f, "Identity")->set_input(0, "fill:output:0");
  WriteProto(dir, saved_model);
  EXPECT_TRUE(IsInvalid(Load(dir).status(), {"signature 'serving_default'", "too large"}));
}

}  // namespace
}  // namespace servekit
