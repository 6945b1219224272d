// ONNX reading and writing (formats/onnx/): round trips through WriteOnnxModel
// and ReadOnnxModel, and corrupt or hostile files, each of which must give an
// error status that names the problem (never a crash or a huge allocation).
#include "servekit/formats/onnx/onnx_reader.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "servekit/engine/shape_inference.h"
#include "servekit/formats/onnx/onnx_writer.h"
#include "servekit/formats/onnx/tensor_proto.h"
#include "servekit/proto/onnx.pb.h"
#include "test_util.h"

namespace servekit {
namespace {

namespace fs = std::filesystem;
using test::Attrs;
using test::GraphBuilder;
using test::Int;
using test::Ints;
using test::IsInvalid;
using test::RandomTensor;
using test::TempDir;
using OnnxType = onnx::TensorProto;

// --- helpers -------------------------------------------------------------------------------

void SetShape(onnx::ValueInfoProto* info, const std::string& name, int32_t elem_type,
              const std::vector<std::string>& dims) {
  info->set_name(name);
  auto* t = info->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem_type);
  auto* shape = t->mutable_shape();
  shape->clear_dim();
  for (const std::string& d : dims) {
    auto* dim = shape->add_dim();
    if (!d.empty() && (std::isdigit(static_cast<unsigned char>(d[0])) || d[0] == '-')) {
      dim->set_dim_value(std::stoll(d));
    } else if (!d.empty()) {
      dim->set_dim_param(d);
    }
  }
}

void SetFloats(onnx::TensorProto* t, const std::string& name, const std::vector<int64_t>& dims,
               const std::vector<float>& values) {
  t->set_name(name);
  t->set_data_type(OnnxType::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(
      std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
}

// A valid model: y = MatMul(x [N, 3], w [3, 2]).
onnx::ModelProto BaseModel(int64_t opset = 17) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("servekit-test");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  auto* g = m.mutable_graph();
  g->set_name("base");
  SetShape(g->add_input(), "x", OnnxType::FLOAT, {"N", "3"});
  SetFloats(g->add_initializer(), "w", {3, 2}, {1, 2, 3, 4, 5, 6});
  auto* n = g->add_node();
  n->set_name("mm");
  n->set_op_type("MatMul");
  n->add_input("x");
  n->add_input("w");
  n->add_output("y");
  SetShape(g->add_output(), "y", OnnxType::FLOAT, {"N", "2"});
  return m;
}

std::string Bytes(const onnx::ModelProto& m) {
  std::string s;
  EXPECT_TRUE(m.SerializeToString(&s));
  return s;
}

Status Read(const onnx::ModelProto& m, const std::string& base_dir = "") {
  return ReadOnnxModel(Bytes(m), base_dir).status();
}

Status Load(const onnx::ModelProto& m) {
  return LoadModelFromBytes(Bytes(m), test::Options()).status();
}

// --- round trip ----------------------------------------------------------------------------

Graph RoundTripGraph() {
  GraphBuilder g(17);
  const int x = g.Input("image", test::BatchShape({1, 2, 5, 5}));
  const int conv = g.Op(
      "Conv",
      {x, g.Constant("conv_w", RandomTensor({3, 2, 3, 3}, 1)),
       g.Constant("conv_b", RandomTensor({3}, 2))},
      Attrs({{"pads", Ints({1, 1, 1, 1})}, {"group", Int(1)}, {"auto_pad", test::Str("NOTSET")}}),
      "conv");
  const int act = g.Op("LeakyRelu", {conv}, Attrs({{"alpha", test::Float(0.2f)}}), "act");
  const int flat = g.Op("Flatten", {act}, Attrs({{"axis", Int(1)}}), "flat");
  const int dense = g.Op("Gemm",
                         {flat, g.Constant("dense_w", RandomTensor({4, 75}, 3)),
                          g.Constant("dense_b", RandomTensor({4}, 4))},
                         Attrs({{"transB", Int(1)}, {"alpha", test::Float(0.5f)}}), "dense");
  const int offset =
      g.Op("Constant", {}, Attrs({{"value", AttributeValue(test::Floats({4}, {0.5f, -1, 2, 0}))}}),
           "offset");
  const int scale =
      g.Op("Constant", {},
           Attrs({{"value_floats", AttributeValue(std::vector<float>{1, 2, 3, 4})}}), "scale");
  const int shifted =
      g.Op("Mul", {g.Op("Add", {dense, offset}, {}, "shift"), scale}, {}, "scale_mul");
  const int idx = g.Constant("indices", test::Int64s({2}, {3, 0}));
  g.Output(g.Op("Softmax", {shifted}, Attrs({{"axis", Int(-1)}}), "probs"));
  g.Output(g.Op("Gather", {shifted, idx}, Attrs({{"axis", Int(1)}}), "pick"));
  g.Output(g.Op("Clip", {act, -1, g.Constant("hi", test::Scalar(0.5f))}, {}, "clip"));
  return g.Build();
}

bool SameAttribute(const AttributeValue& a, const AttributeValue& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Tensor>) {
          return static_cast<bool>(test::TensorsEqual(x, std::get<Tensor>(b)));
        } else {
          return x == std::get<T>(b);
        }
      },
      a);
}

TEST(OnnxRoundTripTest, StructureSurvives) {
  const Graph original = RoundTripGraph();
  SK_ASSERT_OK_AND_ASSIGN(std::string bytes,
                          WriteOnnxModel(original, "servekit-test", "roundtrip"));
  SK_ASSERT_OK_AND_ASSIGN(Graph read, ReadOnnxModel(bytes, ""));
  EXPECT_EQ(read.opset, 17);
  ASSERT_EQ(read.inputs.size(), 1u);
  EXPECT_EQ(read.values[read.inputs[0]].name, "image");
  EXPECT_EQ(read.values[read.inputs[0]].dtype, DType::kFloat32);
  EXPECT_EQ(SymShapeToString(read.values[read.inputs[0]].shape), "[N, 2, 5, 5]");
  ASSERT_EQ(read.outputs.size(), original.outputs.size());
  for (size_t k = 0; k < read.outputs.size(); ++k) {
    EXPECT_EQ(read.values[read.outputs[k]].name, original.values[original.outputs[k]].name);
  }
  ASSERT_EQ(read.nodes.size(), original.nodes.size());
  for (size_t i = 0; i < read.nodes.size(); ++i) {
    const Node& a = original.nodes[i];
    const Node& b = read.nodes[i];
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.op_type, a.op_type);
    ASSERT_EQ(b.inputs.size(), a.inputs.size()) << a.Describe();
    for (size_t k = 0; k < a.inputs.size(); ++k) {
      if (a.inputs[k] < 0) {
        EXPECT_EQ(b.inputs[k], -1) << a.Describe() << " input " << k;
      } else {
        ASSERT_GE(b.inputs[k], 0);
        EXPECT_EQ(read.values[b.inputs[k]].name, original.values[a.inputs[k]].name);
      }
    }
    ASSERT_EQ(b.outputs.size(), a.outputs.size());
    EXPECT_EQ(b.attributes.all().size(), a.attributes.all().size()) << a.Describe();
    for (const auto& [name, value] : a.attributes.all()) {
      ASSERT_TRUE(b.attributes.Has(name)) << a.Describe() << " lost attribute " << name;
      EXPECT_TRUE(SameAttribute(b.attributes.all().at(name), value))
          << a.Describe() << " attribute " << name;
    }
  }
  // Initializers: same names and bytes.
  for (const Value& v : original.values) {
    if (!v.constant) continue;
    const int id = read.FindValue(v.name);
    ASSERT_GE(id, 0) << v.name;
    ASSERT_TRUE(read.values[id].constant.has_value()) << v.name;
    EXPECT_TRUE(test::TensorsEqual(*read.values[id].constant, *v.constant)) << v.name;
  }
}

TEST(OnnxRoundTripTest, SameResultsAfterReload) {
  SK_ASSERT_OK_AND_ASSIGN(auto direct, BuildSession(RoundTripGraph(), test::Options()));
  SK_ASSERT_OK_AND_ASSIGN(std::string bytes,
                          WriteOnnxModel(RoundTripGraph(), "servekit-test", "roundtrip"));
  SK_ASSERT_OK_AND_ASSIGN(auto reloaded, LoadModelFromBytes(bytes, test::Options()));
  for (int64_t batch : {1, 3, 0}) {
    const Tensor x = RandomTensor({batch, 2, 5, 5}, 10 + static_cast<uint32_t>(batch));
    SK_ASSERT_OK_AND_ASSIGN(auto a, direct->Run({x}));
    SK_ASSERT_OK_AND_ASSIGN(auto b, reloaded->Run({x}));
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k)
      EXPECT_TRUE(test::TensorsEqual(b[k], a[k])) << "output " << k << " batch " << batch;
  }
}

TEST(OnnxRoundTripTest, InferredGraphRoundTrips) {
  // A graph after InferGraph holds folded constants with producers: the file
  // must still load (the producing nodes are written, not the folded values).
  GraphBuilder g(17);
  const int x = g.Input("x", test::BatchShape({1, 2}));
  const int k = g.Op("Add", {g.Constant("a", test::Floats({2}, {1, 2})),
                             g.Constant("b", test::Floats({2}, {3, 4}))});
  g.Output(g.Op("Mul", {x, k}));
  Graph graph = g.Build();
  SK_ASSERT_OK(InferGraph(graph));
  SK_ASSERT_OK_AND_ASSIGN(std::string bytes, WriteOnnxModel(graph, "p", "g"));
  SK_ASSERT_OK_AND_ASSIGN(auto session, LoadModelFromBytes(bytes, test::Options()));
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({test::Floats({1, 2}, {1, 1})}));
  EXPECT_TRUE(test::TensorNear(out[0], {1, 2}, {4, 6}));
}

TEST(OnnxRoundTripTest, BatchMultipleInputShape) {
  // An input declared [2*N, 3] must come back as [2*N, 3] (or be refused when
  // written), not silently become [N, 3].
  GraphBuilder g(17);
  const int x = g.Input("pairs", SymShape{Dim::Batch(2), Dim::Fixed(3)});
  g.Output(g.Op("Relu", {x}));
  auto bytes = WriteOnnxModel(g.Build(), "p", "g");
  if (!bytes.ok()) GTEST_SUCCEED() << "refused when written: " << bytes.status();
  if (!bytes.ok()) return;
  auto read = ReadOnnxModel(*bytes, "");
  if (!read.ok()) return;  // refused when read: also acceptable
  EXPECT_EQ(SymShapeToString(read->values[read->inputs[0]].shape), "[2*N, 3]");
}

TEST(OnnxRoundTripTest, TensorProtoEveryDtype) {
  const std::vector<Tensor> tensors = {
      test::Floats({2, 2}, {1.5f, -2, 0, 3}),
      test::MakeTensor<double>({3}, {1e300, -0.5, 2}),
      test::Int64s({2}, {int64_t{1} << 50, -1}),
      test::MakeTensor<int32_t>({1, 2}, {-7, 7}),
      test::MakeTensor<int8_t>({3}, {-128, 0, 127}),
      test::MakeTensor<uint8_t>({2}, {0, 255}),
      test::MakeTensor<bool>({2}, {true, false}),
      test::Scalar(4.0f),
      test::Floats({0, 3}, {}),
  };
  for (const Tensor& t : tensors) {
    onnx::TensorProto proto;
    TensorToProto(t, "t", &proto);
    SK_ASSERT_OK_AND_ASSIGN(Tensor back, TensorFromProto(proto, ""));
    EXPECT_TRUE(test::TensorsEqual(back, t)) << DTypeName(t.dtype());
  }
}

// --- files ---------------------------------------------------------------------------------

TEST(OnnxFileTest, FileAndVersionDirectory) {
  TempDir dir;
  dir.Write("7/model.onnx", Bytes(BaseModel()));
  for (const fs::path& path : {dir.path() / "7", dir.path() / "7" / "model.onnx"}) {
    SK_ASSERT_OK_AND_ASSIGN(Graph graph, ReadOnnxFile(path.string()));
    EXPECT_EQ(graph.nodes.size(), 1u);
    SK_ASSERT_OK_AND_ASSIGN(auto session, LoadModel(path.string(), test::Options()));
    SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({test::Floats({1, 3}, {1, 1, 1})}));
    EXPECT_TRUE(test::TensorNear(out[0], {1, 2}, {9, 12}));
  }
}

TEST(OnnxFileTest, MissingFile) {
  TempDir dir;
  const Status missing = ReadOnnxFile((dir.path() / "nope.onnx").string()).status();
  EXPECT_TRUE(
      test::IsError(missing, absl::StatusCode::kNotFound, {"no model file at", "nope.onnx"}));
  const Status empty_dir = ReadOnnxFile(dir.path().string()).status();
  EXPECT_TRUE(test::IsError(empty_dir, absl::StatusCode::kNotFound, {"model.onnx"}));
}

TEST(OnnxFileTest, ErrorsNameTheFile) {
  TempDir dir;
  dir.Write("model.onnx", "definitely not protobuf \xff\xff\xff");
  const Status status = ReadOnnxFile(dir.path().string()).status();
  EXPECT_TRUE(IsInvalid(status, {"model.onnx", "not a valid ONNX protobuf"}));
  onnx::ModelProto m = BaseModel();
  m.mutable_graph()->mutable_node(0)->set_op_type("Frobnicate");
  dir.Write("model.onnx", Bytes(m));
  EXPECT_TRUE(IsInvalid(LoadModel(dir.path().string(), test::Options()).status(),
                        {dir.path().string(), "unsupported operator 'Frobnicate'"}));
}

// --- corrupt bytes -------------------------------------------------------------------------

TEST(OnnxCorruptTest, EmptyBytes) {
  EXPECT_TRUE(IsInvalid(ReadOnnxModel("", "").status(), {"the model file is empty"}));
}

TEST(OnnxCorruptTest, EveryTruncation) {
  const std::string bytes = Bytes(BaseModel());
  for (size_t n = 1; n < bytes.size(); ++n) {
    const Status status = ReadOnnxModel(bytes.substr(0, n), "").status();
    EXPECT_FALSE(status.ok()) << "truncated to " << n << " of " << bytes.size() << " bytes";
  }
  EXPECT_TRUE(IsInvalid(ReadOnnxModel(bytes.substr(0, bytes.size() / 2), "").status(),
                        {"not a valid ONNX protobuf (truncated or corrupt)"}));
}

TEST(OnnxCorruptTest, RandomBytes) {
  std::mt19937 rng(77);
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes(1 + rng() % 512, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    EXPECT_FALSE(ReadOnnxModel(bytes, "").ok()) << "trial " << trial;
  }
}

TEST(OnnxCorruptTest, ByteFlipsNeverCrash) {
  // Each byte of a valid model flipped in turn; whatever loads must also run.
  SK_EXPECT_IN_SUBPROCESS([] {
    const std::string bytes = Bytes(BaseModel());
    for (size_t i = 0; i < bytes.size(); ++i) {
      for (uint8_t mask : {0xFF, 0x01, 0x80}) {
        std::string mutated = bytes;
        mutated[i] = static_cast<char>(mutated[i] ^ mask);
        auto session = LoadModelFromBytes(mutated, test::Options());
        if (!session.ok()) continue;
        std::vector<Tensor> inputs;
        bool small = true;
        for (const TensorSpec& spec : (*session)->inputs()) {
          const Shape shape = Evaluate(spec.shape, 1);
          auto n = CheckedNumElements(shape, 1 << 20);
          if (!n.ok() || spec.dtype == DType::kUndefined) {
            small = false;
            break;
          }
          auto t = Tensor::Allocate(spec.dtype, shape);
          if (!t.ok()) {
            small = false;
            break;
          }
          std::memset(t->raw_data(), 0, t->num_bytes());
          inputs.push_back(*t);
        }
        if (small) (void)(*session)->Run(inputs);
      }
    }
    return true;
  });
}

TEST(OnnxCorruptTest, NoGraphNoInputsNoOutputs) {
  onnx::ModelProto no_graph = BaseModel();
  no_graph.clear_graph();
  EXPECT_TRUE(IsInvalid(Read(no_graph), {"has no graph"}));
  onnx::ModelProto no_inputs = BaseModel();
  no_inputs.mutable_graph()->clear_input();
  EXPECT_TRUE(IsInvalid(Read(no_inputs), {"the model has no runtime inputs"}));
  onnx::ModelProto no_outputs = BaseModel();
  no_outputs.mutable_graph()->clear_output();
  EXPECT_TRUE(IsInvalid(Read(no_outputs), {"the model has no outputs"}));
}

// --- opsets and domains --------------------------------------------------------------------

TEST(OnnxOpsetTest, OpsetBelow13) {
  EXPECT_TRUE(IsInvalid(Read(BaseModel(12)), {"the model uses opset 12", "opset 13 and newer"}));
  EXPECT_TRUE(IsInvalid(Read(BaseModel(7)), {"opset 7"}));
  SK_ASSERT_OK(Read(BaseModel(13)));
}

TEST(OnnxOpsetTest, DefaultDomainRequired) {
  onnx::ModelProto m = BaseModel();
  m.mutable_opset_import(0)->set_domain("com.microsoft");
  EXPECT_TRUE(IsInvalid(Read(m), {"imports no version of the default ONNX operator set"}));
  m.mutable_opset_import(0)->set_domain("ai.onnx");
  SK_ASSERT_OK(Read(m));
}

TEST(OnnxOpsetTest, NodeOfAnotherDomain) {
  onnx::ModelProto m = BaseModel();
  m.mutable_graph()->mutable_node(0)->set_domain("com.microsoft");
  EXPECT_TRUE(IsInvalid(
      Read(m), {"node 'mm' (MatMul)", "operators of domain 'com.microsoft' are not supported"}));
}

// --- hostile tensors -----------------------------------------------------------------------

onnx::ModelProto WithInitializer(const std::function<void(onnx::TensorProto*)>& edit) {
  onnx::ModelProto m = BaseModel();
  edit(m.mutable_graph()->mutable_initializer(0));
  return m;
}

TEST(OnnxTensorTest, HugeDeclaredDims) {
  const onnx::ModelProto m = WithInitializer([](onnx::TensorProto* t) {
    t->clear_dims();
    t->add_dims(int64_t{1} << 40);
    t->add_dims(int64_t{1} << 40);
  });
  EXPECT_TRUE(IsInvalid(Read(m), {"initializer 'w'", "invalid dims", "more than"}));
  const onnx::ModelProto overflow = WithInitializer([](onnx::TensorProto* t) {
    t->clear_dims();
    for (int i = 0; i < 4; ++i) t->add_dims(std::numeric_limits<int64_t>::max() / 2);
  });
  EXPECT_TRUE(IsInvalid(Read(overflow), {"initializer 'w'", "invalid dims"}));
}

TEST(OnnxTensorTest, NegativeDims) {
  const onnx::ModelProto m = WithInitializer([](onnx::TensorProto* t) {
    t->clear_dims();
    t->add_dims(-2);
    t->add_dims(-3);
  });
  EXPECT_TRUE(IsInvalid(Read(m), {"initializer 'w'", "negative dimension"}));
}

TEST(OnnxTensorTest, RawDataShorterOrLongerThanTheShape) {
  const onnx::ModelProto shorter =
      WithInitializer([](onnx::TensorProto* t) { t->set_raw_data(std::string(16, '\0')); });
  EXPECT_TRUE(IsInvalid(Read(shorter),
                        {"initializer 'w'", "has 16 bytes of raw_data but its shape needs 24"}));
  const onnx::ModelProto longer =
      WithInitializer([](onnx::TensorProto* t) { t->set_raw_data(std::string(28, '\0')); });
  EXPECT_TRUE(IsInvalid(Read(longer),
                        {"initializer 'w'", "has 28 bytes of raw_data but its shape needs 24"}));
  const onnx::ModelProto empty = WithInitializer([](onnx::TensorProto* t) { t->set_raw_data(""); });
  EXPECT_TRUE(IsInvalid(Read(empty), {"initializer 'w'", "has 0 bytes of raw_data"}));
}

TEST(OnnxTensorTest, TypedFieldCountMismatch) {
  const onnx::ModelProto floats = WithInitializer([](onnx::TensorProto* t) {
    t->clear_raw_data();
    for (int i = 0; i < 5; ++i) t->add_float_data(1.0f);
  });
  EXPECT_TRUE(IsInvalid(Read(floats),
                        {"initializer 'w'", "has 5 float_data values but its shape needs 6"}));
  const onnx::ModelProto no_data =
      WithInitializer([](onnx::TensorProto* t) { t->clear_raw_data(); });
  EXPECT_TRUE(IsInvalid(Read(no_data),
                        {"initializer 'w'", "has 0 float_data values but its shape needs 6"}));
  const onnx::ModelProto int64s = WithInitializer([](onnx::TensorProto* t) {
    t->clear_raw_data();
    t->set_data_type(OnnxType::INT64);
    for (int i = 0; i < 7; ++i) t->add_int64_data(i);
  });
  EXPECT_TRUE(IsInvalid(Read(int64s), {"has 7 int64_data values but its shape needs 6"}));
  const onnx::ModelProto doubles = WithInitializer([](onnx::TensorProto* t) {
    t->clear_raw_data();
    t->set_data_type(OnnxType::DOUBLE);
    t->add_double_data(1.0);
  });
  EXPECT_TRUE(IsInvalid(Read(doubles), {"has 1 double_data values but its shape needs 6"}));
  const onnx::ModelProto int8s = WithInitializer([](onnx::TensorProto* t) {
    t->clear_raw_data();
    t->set_data_type(OnnxType::INT8);
    t->add_int32_data(1);
  });
  EXPECT_TRUE(IsInvalid(Read(int8s), {"has 1 int32_data values but its shape needs 6"}));
}

TEST(OnnxTensorTest, TypedFieldsThatMatchLoad) {
  onnx::TensorProto t;
  t.set_data_type(OnnxType::INT8);
  t.add_dims(3);
  for (int v : {-5, 0, 100}) t.add_int32_data(v);
  SK_ASSERT_OK_AND_ASSIGN(Tensor i8, TensorFromProto(t, ""));
  EXPECT_EQ(test::Values<int8_t>(i8), (std::vector<int8_t>{-5, 0, 100}));
  onnx::TensorProto b;
  b.set_data_type(OnnxType::BOOL);
  b.add_dims(2);
  b.add_int32_data(1);
  b.add_int32_data(0);
  SK_ASSERT_OK_AND_ASSIGN(Tensor bools, TensorFromProto(b, ""));
  EXPECT_EQ(test::Values<bool>(bools), (std::vector<bool>{true, false}));
  onnx::TensorProto f;
  f.set_data_type(OnnxType::FLOAT);
  f.add_dims(2);
  f.add_float_data(1.5f);
  f.add_float_data(-2.0f);
  SK_ASSERT_OK_AND_ASSIGN(Tensor floats, TensorFromProto(f, ""));
  EXPECT_EQ(test::Values<float>(floats), (std::vector<float>{1.5f, -2.0f}));
  onnx::TensorProto l;
  l.set_data_type(OnnxType::INT64);
  l.add_int64_data(int64_t{1} << 40);  // a scalar: no dims
  SK_ASSERT_OK_AND_ASSIGN(Tensor scalar, TensorFromProto(l, ""));
  EXPECT_EQ(scalar.shape(), Shape{});
  EXPECT_EQ(test::Values<int64_t>(scalar), (std::vector<int64_t>{int64_t{1} << 40}));
}

TEST(OnnxTensorTest, UnsupportedDtypes) {
  for (int32_t type : std::vector<int32_t>{OnnxType::FLOAT16, OnnxType::STRING, OnnxType::UINT64,
                                           OnnxType::UNDEFINED, 99}) {
    const onnx::ModelProto m =
        WithInitializer([type](onnx::TensorProto* t) { t->set_data_type(type); });
    EXPECT_TRUE(
        IsInvalid(Read(m), {"initializer 'w'", absl::StrCat("unsupported data type ", type)}))
        << type;
  }
  onnx::ModelProto input = BaseModel();
  input.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(
      OnnxType::FLOAT16);
  EXPECT_TRUE(IsInvalid(Read(input), {"input 'x' has an unsupported type (element type 10)"}));
}

TEST(OnnxTensorTest, DuplicateInitializer) {
  onnx::ModelProto m = BaseModel();
  *m.mutable_graph()->add_initializer() = m.graph().initializer(0);
  EXPECT_TRUE(IsInvalid(Read(m), {"initializer 'w' is defined twice"}));
}

TEST(OnnxTensorTest, HostileConstantAttribute) {
  onnx::ModelProto m = BaseModel();
  auto* n = m.mutable_graph()->add_node();
  n->set_name("k");
  n->set_op_type("Constant");
  n->add_output("k_out");
  auto* a = n->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(OnnxType::FLOAT);
  a->mutable_t()->add_dims(int64_t{1} << 35);
  EXPECT_TRUE(IsInvalid(Read(m), {"node 'k' (Constant)", "attribute 'value'", "invalid dims"}));
}

// --- inputs --------------------------------------------------------------------------------

TEST(OnnxInputTest, Shapes) {
  onnx::ModelProto negative = BaseModel();
  SetShape(negative.mutable_graph()->mutable_input(0), "x", OnnxType::FLOAT, {"N", "-3"});
  EXPECT_TRUE(IsInvalid(Read(negative), {"input 'x' has negative dimension -3"}));
  onnx::ModelProto dynamic = BaseModel();
  SetShape(dynamic.mutable_graph()->mutable_input(0), "x", OnnxType::FLOAT, {"N", "features"});
  EXPECT_TRUE(
      IsInvalid(Read(dynamic), {"input 'x' has a dynamic dimension at axis 1 ('features')"}));
  onnx::ModelProto no_shape = BaseModel();
  no_shape.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  EXPECT_TRUE(IsInvalid(Read(no_shape), {"input 'x' has no shape"}));
  onnx::ModelProto no_type = BaseModel();
  no_type.mutable_graph()->mutable_input(0)->clear_type();
  EXPECT_TRUE(IsInvalid(Read(no_type), {"input 'x' has an unsupported type"}));
  // An unnamed leading dim (no value, no param) is the batch.
  onnx::ModelProto unnamed = BaseModel();
  SetShape(unnamed.mutable_graph()->mutable_input(0), "x", OnnxType::FLOAT, {"", "3"});
  SK_ASSERT_OK_AND_ASSIGN(Graph graph, ReadOnnxModel(Bytes(unnamed), ""));
  EXPECT_EQ(SymShapeToString(graph.values[graph.inputs[0]].shape), "[N, 3]");
}

TEST(OnnxInputTest, HugeInputDimsFailAtLoad) {
  onnx::ModelProto m = BaseModel();
  SetShape(m.mutable_graph()->mutable_input(0), "x", OnnxType::FLOAT,
           {"N", "1099511627776", "1099511627776", "3"});
  EXPECT_TRUE(IsInvalid(Load(m), {"too large to run"}));
}

TEST(OnnxInputTest, InitializerAlsoListedAsInputIsAConstant) {
  onnx::ModelProto m = BaseModel();
  SetShape(m.mutable_graph()->add_input(), "w", OnnxType::FLOAT, {"3", "2"});
  SK_ASSERT_OK_AND_ASSIGN(Graph graph, ReadOnnxModel(Bytes(m), ""));
  EXPECT_EQ(graph.inputs.size(), 1u);
  SK_ASSERT_OK_AND_ASSIGN(auto session, LoadModelFromBytes(Bytes(m), test::Options()));
  EXPECT_EQ(session->inputs().size(), 1u);
}

// --- nodes ---------------------------------------------------------------------------------

TEST(OnnxNodeTest, UnknownOperator) {
  onnx::ModelProto m = BaseModel();
  m.mutable_graph()->mutable_node(0)->set_op_type("Frobnicate");
  EXPECT_TRUE(IsInvalid(Load(m), {"node 'mm' (Frobnicate)", "unsupported operator 'Frobnicate'"}));
}

TEST(OnnxNodeTest, UnknownAttribute) {
  onnx::ModelProto m = BaseModel();
  auto* a = m.mutable_graph()->mutable_node(0)->add_attribute();
  a->set_name("bogus");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(1);
  EXPECT_TRUE(IsInvalid(Load(m), {"node 'mm' (MatMul)", "unknown attribute 'bogus'"}));
}

TEST(OnnxNodeTest, UnsupportedAttributeKinds) {
  onnx::ModelProto graph_attr = BaseModel();
  auto* a = graph_attr.mutable_graph()->mutable_node(0)->add_attribute();
  a->set_name("body");
  a->set_type(onnx::AttributeProto::GRAPH);
  EXPECT_TRUE(IsInvalid(Read(graph_attr), {"node 'mm' (MatMul)", "attribute 'body'",
                                           "attribute type 5 is not supported"}));
  onnx::ModelProto ref_attr = BaseModel();
  auto* r = ref_attr.mutable_graph()->mutable_node(0)->add_attribute();
  r->set_name("alpha");
  r->set_type(onnx::AttributeProto::FLOAT);
  r->set_ref_attr_name("outer_alpha");
  EXPECT_TRUE(IsInvalid(Read(ref_attr), {"attribute 'alpha'", "attribute references"}));
}

TEST(OnnxNodeTest, MissingInitializerOrUndefinedInput) {
  onnx::ModelProto m = BaseModel();
  m.mutable_graph()->clear_initializer();
  EXPECT_TRUE(IsInvalid(
      Read(m),
      {"node 'mm' (MatMul)", "input 'w' is not defined by any node, graph input or initializer"}));
  onnx::ModelProto typo = BaseModel();
  typo.mutable_graph()->mutable_node(0)->set_input(0, "X");
  EXPECT_TRUE(IsInvalid(Read(typo), {"input 'X' is not defined"}));
}

TEST(OnnxNodeTest, UndefinedGraphOutput) {
  onnx::ModelProto m = BaseModel();
  SetShape(m.mutable_graph()->add_output(), "nope", OnnxType::FLOAT, {"N"});
  EXPECT_TRUE(IsInvalid(Read(m), {"graph output 'nope' is not computed by any node"}));
}

TEST(OnnxNodeTest, OutputDefinedTwice) {
  onnx::ModelProto m = BaseModel();
  auto* n = m.mutable_graph()->add_node();
  n->set_name("again");
  n->set_op_type("Relu");
  n->add_input("x");
  n->add_output("y");
  EXPECT_TRUE(
      IsInvalid(Read(m), {"node 'again' (Relu)", "output 'y' is already defined elsewhere"}));
  onnx::ModelProto shadow = BaseModel();
  shadow.mutable_graph()->mutable_node(0)->set_output(0, "w");
  EXPECT_TRUE(IsInvalid(Read(shadow), {"output 'w' is already defined elsewhere"}));
}

TEST(OnnxNodeTest, Cycle) {
  // a = Relu(b); b = Relu(a): a cycle, which a file can only express with a
  // node that reads a value defined later.
  onnx::ModelProto m = BaseModel();
  auto* g = m.mutable_graph();
  auto* n1 = g->add_node();
  n1->set_name("n1");
  n1->set_op_type("Add");
  n1->add_input("y");
  n1->add_input("b");
  n1->add_output("a");
  auto* n2 = g->add_node();
  n2->set_name("n2");
  n2->set_op_type("Relu");
  n2->add_input("a");
  n2->add_output("b");
  SetShape(g->add_output(), "b", OnnxType::FLOAT, {"N", "2"});
  const Status status = Load(m);
  EXPECT_TRUE(IsInvalid(status, {"cycle"}));
  EXPECT_TRUE(status.message().find("'n1'") != absl::string_view::npos ||
              status.message().find("'n2'") != absl::string_view::npos)
      << status;
}

TEST(OnnxNodeTest, NodesOutOfOrderInTheFile) {
  // Consumers listed before producers: the reader resolves names over the
  // whole graph and InferGraph sorts the nodes.
  onnx::ModelProto m = BaseModel();
  auto* g = m.mutable_graph();
  g->clear_node();
  auto* relu = g->add_node();
  relu->set_name("relu");
  relu->set_op_type("Relu");
  relu->add_input("h");
  relu->add_output("y");
  auto* mm = g->add_node();
  mm->set_name("mm");
  mm->set_op_type("MatMul");
  mm->add_input("x");
  mm->add_input("w");
  mm->add_output("h");
  SK_ASSERT_OK_AND_ASSIGN(auto session, LoadModelFromBytes(Bytes(m), test::Options()));
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({test::Floats({1, 3}, {1, -1, -1})}));
  EXPECT_TRUE(test::TensorNear(out[0], {1, 2}, {0, 0}));
}

TEST(OnnxNodeTest, NamesMustBeUtf8) {
  const std::string bad = "w\xff\xfe";
  onnx::ModelProto init = BaseModel();
  init.mutable_graph()->mutable_initializer(0)->set_name(bad);
  init.mutable_graph()->mutable_node(0)->set_input(1, bad);
  EXPECT_TRUE(IsInvalid(Read(init), {"not valid UTF-8"}));
  onnx::ModelProto node = BaseModel();
  node.mutable_graph()->mutable_node(0)->set_name(bad);
  EXPECT_TRUE(IsInvalid(Read(node), {"not valid UTF-8"}));
  onnx::ModelProto input = BaseModel();
  input.mutable_graph()->mutable_input(0)->set_name(bad);
  input.mutable_graph()->mutable_node(0)->set_input(0, bad);
  EXPECT_TRUE(IsInvalid(Read(input), {"not valid UTF-8"}));
}

TEST(OnnxNodeTest, NodeWithoutOutputs) {
  onnx::ModelProto m = BaseModel();
  auto* n = m.mutable_graph()->add_node();
  n->set_name("silent");
  n->set_op_type("Relu");
  n->add_input("x");
  EXPECT_TRUE(IsInvalid(Read(m), {"node 'silent' (Relu)", "has no outputs"}));
}

TEST(OnnxNodeTest, OmittedOptionalInputsAndOutputs) {
  // Clip(x, "", max) and Dropout with an unnamed trailing mask output.
  onnx::ModelProto m = BaseModel();
  auto* g = m.mutable_graph();
  SetFloats(g->add_initializer(), "hi", {}, {0.5f});
  auto* clip = g->add_node();
  clip->set_name("clip");
  clip->set_op_type("Clip");
  clip->add_input("y");
  clip->add_input("");
  clip->add_input("hi");
  clip->add_output("clipped");
  auto* drop = g->add_node();
  drop->set_name("drop");
  drop->set_op_type("Dropout");
  drop->add_input("clipped");
  drop->add_output("dropped");
  drop->add_output("");
  g->clear_output();
  SetShape(g->add_output(), "dropped", OnnxType::FLOAT, {"N", "2"});
  SK_ASSERT_OK_AND_ASSIGN(Graph graph, ReadOnnxModel(Bytes(m), ""));
  EXPECT_EQ(graph.nodes[1].inputs[1], -1);
  EXPECT_EQ(graph.nodes[2].outputs.size(), 1u);
  SK_ASSERT_OK_AND_ASSIGN(auto session, LoadModelFromBytes(Bytes(m), test::Options()));
  SK_ASSERT_OK_AND_ASSIGN(auto out, session->Run({test::Floats({1, 3}, {0, 0.01f, -1})}));
  EXPECT_TRUE(test::TensorNear(out[0], {1, 2}, {std::min(0.03 - 5, 0.5), std::min(0.04 - 6, 0.5)},
                               1e-5, 1e-6));
}

// --- external data -------------------------------------------------------------------------

onnx::ModelProto WithExternalWeights(const std::string& location, const std::string& offset = "",
                                     const std::string& length = "") {
  return WithInitializer([&](onnx::TensorProto* t) {
    t->clear_raw_data();
    t->set_data_location(OnnxType::EXTERNAL);
    auto* e = t->add_external_data();
    e->set_key("location");
    e->set_value(location);
    if (!offset.empty()) {
      auto* o = t->add_external_data();
      o->set_key("offset");
      o->set_value(offset);
    }
    if (!length.empty()) {
      auto* l = t->add_external_data();
      l->set_key("length");
      l->set_value(length);
    }
  });
}

std::string FloatBytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

TEST(OnnxExternalDataTest, LoadsFromTheModelDirectory) {
  TempDir dir;
  dir.Write("weights/data.bin", "HEADER__" + FloatBytes({1, 2, 3, 4, 5, 6}));
  dir.Write("model.onnx", Bytes(WithExternalWeights("weights/data.bin", "8", "24")));
  SK_ASSERT_OK_AND_ASSIGN(Graph graph, ReadOnnxFile(dir.path().string()));
  const int w = graph.FindValue("w");
  ASSERT_GE(w, 0);
  EXPECT_EQ(test::Values<float>(*graph.values[w].constant), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // No length: the shape decides.
  dir.Write("model.onnx", Bytes(WithExternalWeights("weights/data.bin", "8")));
  SK_ASSERT_OK(ReadOnnxFile(dir.path().string()).status());
}

TEST(OnnxExternalDataTest, OutsideTheDirectory) {
  TempDir dir;
  dir.Write("inside/model.onnx", "");
  dir.Write("secret.bin", FloatBytes({9, 9, 9, 9, 9, 9}));
  const std::string base = (dir.path() / "inside").string();
  for (const std::string& location :
       {std::string("../secret.bin"), (dir.path() / "secret.bin").string(),
        std::string("a/../../secret.bin"), std::string("/etc/passwd")}) {
    EXPECT_TRUE(IsInvalid(Read(WithExternalWeights(location), base),
                          {"initializer 'w'", "must stay inside the model directory"}))
        << location;
  }
}

TEST(OnnxExternalDataTest, SymlinkOutOfTheDirectory) {
  TempDir dir;
  dir.Write("inside/model.onnx", "");
  dir.Write("secret.bin", FloatBytes({9, 9, 9, 9, 9, 9}));
  fs::create_symlink(dir.path() / "secret.bin", dir.path() / "inside" / "link.bin");
  const Status status = Read(WithExternalWeights("link.bin"), (dir.path() / "inside").string());
  EXPECT_FALSE(status.ok())
      << "a symlink let external data be read from outside the model directory";
}

TEST(OnnxExternalDataTest, MissingShortAndMalformed) {
  TempDir dir;
  dir.Write("short.bin", FloatBytes({1, 2}));
  dir.Write("exact.bin", FloatBytes({1, 2, 3, 4, 5, 6}));
  const std::string base = dir.path().string();
  EXPECT_TRUE(IsInvalid(Read(WithExternalWeights("missing.bin"), base),
                        {"initializer 'w'", "external data file 'missing.bin' cannot be read"}));
  EXPECT_TRUE(IsInvalid(
      Read(WithExternalWeights("short.bin"), base),
      {"initializer 'w'", "external data file 'short.bin' is shorter than offset 0 + length 24"}));
  EXPECT_TRUE(IsInvalid(Read(WithExternalWeights("exact.bin", "4"), base),
                        {"is shorter than offset 4 + length 24"}));
  EXPECT_TRUE(IsInvalid(Read(WithExternalWeights("exact.bin", "1000000"), base),
                        {"shorter than offset 1000000"}));
  EXPECT_TRUE(IsInvalid(Read(WithExternalWeights("exact.bin", "0", "8"), base),
                        {"external data length 8 but its shape needs 24 bytes"}));
  EXPECT_TRUE(IsInvalid(Read(WithExternalWeights("exact.bin", "abc"), base),
                        {"external data offset 'abc' is not a valid number"}));
  EXPECT_TRUE(IsInvalid(Read(WithExternalWeights("exact.bin", "-4"), base),
                        {"offset '-4' is not a valid number"}));
  EXPECT_TRUE(IsInvalid(Read(WithExternalWeights("exact.bin", "", "99999999999999999999"), base),
                        {"length", "not a valid number"}));
  EXPECT_TRUE(IsInvalid(Read(WithExternalWeights(""), base), {"external data has no location"}));
  EXPECT_TRUE(IsInvalid(Read(WithExternalWeights("dir_not_file"), base), {"cannot be read"}));
  SK_ASSERT_OK(Read(WithExternalWeights("exact.bin"), base));
}

TEST(OnnxExternalDataTest, NotAllowedFromBytes) {
  EXPECT_TRUE(IsInvalid(Read(WithExternalWeights("exact.bin")),
                        {"initializer 'w'", "uses external data", "loaded from a file"}));
  EXPECT_TRUE(IsInvalid(Load(WithExternalWeights("exact.bin")), {"uses external data"}));
}

TEST(OnnxExternalDataTest, HugeDimsDoNotAllocate) {
  TempDir dir;
  dir.Write("exact.bin", FloatBytes({1, 2, 3, 4, 5, 6}));
  const onnx::ModelProto m = WithInitializer([](onnx::TensorProto* t) {
    t->clear_raw_data();
    t->clear_dims();
    t->add_dims(int64_t{1} << 30);
    t->add_dims(4);
    t->set_data_location(OnnxType::EXTERNAL);
    auto* e = t->add_external_data();
    e->set_key("location");
    e->set_value("exact.bin");
  });
  EXPECT_TRUE(IsInvalid(Read(m, dir.path().string()), {"initializer 'w'"}));
}

}  // namespace
}  // namespace servekit
