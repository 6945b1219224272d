// The request path alone, with a codec of the test's own: spec resolution,
// signature and name checks, output selection, metrics. The transports' tests
// test only their codecs.
#include "servekit/serving/request_path.h"

#include <gtest/gtest.h>

#include <map>

#include "servekit/serving/model_status.h"
#include "serving_test_util.h"

namespace servekit {
namespace {

using test::BatchShape;
using test::Floats;
using test::GraphBuilder;
using test::Options;

// a, b of shape [N, 1] → sum_out = a + b + version, diff_out = a - b.
std::shared_ptr<const LoadedModel> PairModel(int64_t version) {
  GraphBuilder g;
  const int a = g.Input("a", BatchShape({1, 1}));
  const int b = g.Input("b", BatchShape({1, 1}));
  const int sum = g.Op("Add", {a, b});
  g.Output(g.Op("Add", {sum, g.Constant("version", Floats({1}, {static_cast<float>(version)}))}, {},
                "sum"));
  g.Output(g.Op("Sub", {a, b}, {}, "diff"));
  auto session = BuildSession(g.Build(), Options());
  EXPECT_TRUE(session.ok()) << session.status();
  return LoadedModel::WithOneSignature(std::move(*session));
}

// <base>/<version> of model "pair" loads PairModel; of any other model, the
// one-input VersionedModel.
StatusOr<std::shared_ptr<const LoadedModel>> Load(const std::string& path,
                                                  const std::string& platform) {
  ASSIGN_OR_RETURN(std::shared_ptr<const LoadedModel> single,
                   test::LoadVersionFromDisk(path, platform));
  const std::filesystem::path p(path);
  const int64_t version = std::stoll(p.filename().string());
  if (p.parent_path().filename() == "twosig") {
    // serving_default is the pair model; "single" the one-input model.
    return std::make_shared<const LoadedModel>(std::vector<LoadedSignature>{
        {"serving_default", kPredictMethodName, PairModel(version)->signatures()[0].session},
        {"single", kPredictMethodName, single->signatures()[0].session}});
  }
  if (p.parent_path().filename() != "pair") return single;
  return PairModel(version);
}

// A codec that hands over fixed inputs and keeps what comes back.
class FakeCodec : public InferenceCodec {
 public:
  explicit FakeCodec(std::vector<std::pair<std::string, float>> inputs)
      : inputs_(std::move(inputs)) {}

  Status DecodeInputs(const ModelSignature& signature, InferenceInputs* inputs) override {
    ++decodes;
    for (const TensorSpec& spec : signature.inputs) decoded_for.push_back(spec.name);
    for (const auto& [name, value] : inputs_)
      inputs->tensors.push_back(NamedTensor{name, Floats({1, 1}, {value})});
    inputs->signature_name = body_signature_name;
    inputs->output_filter = output_filter;
    return decode_status;
  }
  std::string SignatureNameInBody() override { return peeked_signature_name; }
  Status EncodeOutputs(const ModelSignature&, int64_t served, NamedTensors answer) override {
    ++encodes;
    version = served;
    for (NamedTensor& t : answer) outputs[t.name] = t.tensor.data<float>()[0];
    return encode_status;
  }

  // Set by the test.
  std::string body_signature_name;    // what DecodeInputs reports the body names
  std::string peeked_signature_name;  // what SignatureNameInBody finds
  std::vector<std::string> output_filter;
  Status decode_status, encode_status;
  // Seen by the codec.
  int decodes = 0, encodes = 0;
  std::vector<std::string> decoded_for;
  int64_t version = 0;
  std::map<std::string, float> outputs;

 private:
  std::vector<std::pair<std::string, float>> inputs_;  // in the codec's order
};

class RequestPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerCoreOptions o;
    o.load = Load;
    o.file_system_poll_wait = absl::ZeroDuration();
    o.max_num_load_retries = 0;
    core_ = std::make_unique<ServerCore>(o);
    for (int64_t v : {1, 2}) {
      test::PublishVersion(dir_.path() / "pair", v);
      test::PublishVersion(dir_.path() / "single", v);
      test::PublishVersion(dir_.path() / "twosig", v);
    }
    std::vector<ModelConfig> models;
    for (const std::string name : {"pair", "single", "twosig"}) {
      ModelConfig c;
      c.name = name;
      c.base_path = (dir_.path() / name).string();
      c.version_policy = ModelVersionPolicy::All();
      c.version_labels = {{"stable", 1}};
      models.push_back(c);
    }
    ASSERT_TRUE(core_->ReloadConfig(models).ok());
  }

  static InferenceSpec Spec(ModelSpec model, RequestKind kind = RequestKind::kPredict) {
    return InferenceSpec{std::move(model), "", kind, "test"};
  }

  // servekit_requests_total{api="test", model, status, version}.
  uint64_t Count(const std::string& model, const std::string& status,
                 const std::string& version) const {
    for (const Metrics::CounterSample& c : core_->metrics().Counters()) {
      const Metrics::Labels want{
          {"api", "test"}, {"model", model}, {"status", status}, {"version", version}};
      if (c.name == "servekit_requests_total" && c.labels == want) return c.value;
    }
    return 0;
  }

  test::TempDir dir_;
  std::unique_ptr<ServerCore> core_;
};

TEST_F(RequestPathTest, ResolvesLatestVersionNumberAndLabel) {
  FakeCodec latest({{"a", 3}, {"b", 4}});
  ASSERT_TRUE(RunInference(*core_, Spec(ModelSpec::Latest("pair")), latest).ok());
  EXPECT_EQ(latest.version, 2);
  EXPECT_EQ(latest.outputs, (std::map<std::string, float>{{"sum_out", 9}, {"diff_out", -1}}));
  EXPECT_EQ(latest.decoded_for, (std::vector<std::string>{"a", "b"}));

  FakeCodec numbered({{"a", 3}, {"b", 4}});
  ASSERT_TRUE(RunInference(*core_, Spec(ModelSpec::Version("pair", 1)), numbered).ok());
  EXPECT_EQ(numbered.outputs["sum_out"], 8);

  FakeCodec labelled({{"a", 3}, {"b", 4}});
  ASSERT_TRUE(RunInference(*core_, Spec(ModelSpec::Label("pair", "stable")), labelled).ok());
  EXPECT_EQ(labelled.version, 1);

  FakeCodec missing_version({{"a", 3}, {"b", 4}});
  EXPECT_EQ(RunInference(*core_, Spec(ModelSpec::Version("pair", 7)), missing_version).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(missing_version.decodes, 0) << "nothing is decoded for a version that does not serve";
}

TEST_F(RequestPathTest, SignatureNamesInTheSpecOrTheBody) {
  for (const std::string name : {"", "serving_default"}) {
    FakeCodec codec({{"x", 1}});
    InferenceSpec spec = Spec(ModelSpec::Latest("single"));
    spec.signature_name = name;
    codec.body_signature_name = name;
    EXPECT_TRUE(RunInference(*core_, spec, codec).ok()) << name;
  }
  FakeCodec in_spec({{"x", 1}});
  InferenceSpec spec = Spec(ModelSpec::Latest("single"));
  spec.signature_name = "train";
  const Status refused = RunInference(*core_, spec, in_spec);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.message(), "Serving signature name: \"train\" not found in signature def");
  EXPECT_EQ(in_spec.decodes, 0);

  FakeCodec in_body({{"x", 1}});
  in_body.body_signature_name = "train";
  EXPECT_EQ(RunInference(*core_, Spec(ModelSpec::Latest("single")), in_body).message(),
            "Serving signature name: \"train\" not found in signature def");
  EXPECT_EQ(in_body.encodes, 0) << "a refused request never runs";
}

TEST_F(RequestPathTest, InputsAreCheckedByNameInAnyOrder) {
  FakeCodec reversed({{"b", 4}, {"a", 3}});  // not the model's order
  ASSERT_TRUE(RunInference(*core_, Spec(ModelSpec::Version("pair", 1)), reversed).ok());
  EXPECT_EQ(reversed.outputs["diff_out"], -1);

  FakeCodec unknown({{"a", 3}, {"b", 4}, {"c", 5}});
  EXPECT_EQ(
      RunInference(*core_, Spec(ModelSpec::Latest("pair")), unknown).message(),
      "input tensor alias not found in signature: c. Inputs expected to be in the set {a, b}.");
  FakeCodec missing({{"a", 3}});
  EXPECT_EQ(RunInference(*core_, Spec(ModelSpec::Latest("pair")), missing).message(),
            "the request has no input 'b'; the model's inputs are {a, b}");
  EXPECT_EQ(unknown.encodes + missing.encodes, 0);
}

TEST_F(RequestPathTest, AnInputNamedTwiceIsRefused) {
  class Twice : public FakeCodec {
   public:
    Twice() : FakeCodec({{"x", 1}}) {}
    Status DecodeInputs(const ModelSignature& signature, InferenceInputs* inputs) override {
      RETURN_IF_ERROR(FakeCodec::DecodeInputs(signature, inputs));
      inputs->tensors.push_back(NamedTensor{"x", Floats({1, 1}, {2})});
      return absl::OkStatus();
    }
  } codec;
  const Status status = RunInference(*core_, Spec(ModelSpec::Latest("single")), codec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("'x' twice"), absl::string_view::npos) << status;
}

TEST_F(RequestPathTest, OutputFilterSelectsByName) {
  FakeCodec filtered({{"a", 3}, {"b", 4}});
  filtered.output_filter = {"diff_out"};
  ASSERT_TRUE(RunInference(*core_, Spec(ModelSpec::Latest("pair")), filtered).ok());
  EXPECT_EQ(filtered.outputs, (std::map<std::string, float>{{"diff_out", -1}}));

  FakeCodec unknown({{"a", 3}, {"b", 4}});
  unknown.output_filter = {"mean_out"};
  EXPECT_EQ(
      RunInference(*core_, Spec(ModelSpec::Latest("pair")), unknown).message(),
      "output tensor alias not found in signature: mean_out. Outputs expected to be in the set "
      "{sum_out, diff_out}.");
}

TEST_F(RequestPathTest, ClassifyAndRegressNeedOneFloatOutput) {
  FakeCodec pair({{"a", 3}, {"b", 4}});
  const Status refused =
      RunInference(*core_, Spec(ModelSpec::Latest("pair"), RequestKind::kClassify), pair);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find(":classify needs a model with one float output"),
            absl::string_view::npos)
      << refused;
  EXPECT_EQ(pair.decodes, 0) << "the kind is checked before the body is read";
  for (RequestKind kind : {RequestKind::kClassify, RequestKind::kRegress}) {
    FakeCodec single({{"x", 1}});
    ASSERT_TRUE(RunInference(*core_, Spec(ModelSpec::Latest("single"), kind), single).ok());
    EXPECT_EQ(single.outputs.size(), 1u);
  }
}

TEST_F(RequestPathTest, EveryRequestIsCountedWithItsOutcome) {
  FakeCodec ok({{"x", 1}});
  ASSERT_TRUE(RunInference(*core_, Spec(ModelSpec::Latest("single")), ok).ok());
  FakeCodec bad_body({{"x", 1}});
  bad_body.decode_status = absl::InvalidArgumentError("malformed");
  EXPECT_EQ(RunInference(*core_, Spec(ModelSpec::Latest("single")), bad_body),
            bad_body.decode_status);
  FakeCodec too_large({{"x", 1}});
  too_large.encode_status = absl::ResourceExhaustedError("too large");
  EXPECT_EQ(RunInference(*core_, Spec(ModelSpec::Version("single", 1)), too_large),
            too_large.encode_status);
  FakeCodec unknown({{"x", 1}});
  EXPECT_EQ(RunInference(*core_, Spec(ModelSpec::Latest("nope")), unknown).code(),
            absl::StatusCode::kNotFound);

  EXPECT_EQ(Count("single", "OK", "2"), 1u);
  EXPECT_EQ(Count("single", "INVALID_ARGUMENT", "2"), 1u);
  EXPECT_EQ(Count("single", "RESOURCE_EXHAUSTED", "1"), 1u);
  EXPECT_EQ(Count("", "NOT_FOUND", ""), 1u) << "unknown models are counted under the name \"\"";
  uint64_t timed = 0;
  for (const Metrics::HistogramSample& h : core_->metrics().Histograms()) {
    if (h.name == "servekit_request_latency_seconds" && h.labels.at("api") == "test")
      timed += h.snapshot.count;
  }
  EXPECT_EQ(timed, 4u);
}

TEST_F(RequestPathTest, MetadataNamesTheVersionAndItsSignature) {
  StatusOr<ModelMetadata> metadata =
      GetModelMetadata(*core_, ModelSpec::Label("pair", "stable"), "test");
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  EXPECT_EQ(metadata->handle.version(), 1);
  ASSERT_EQ(metadata->signatures.size(), 1u);
  const ModelSignature& signature = metadata->signatures[0];
  EXPECT_EQ(signature.name, "serving_default");
  EXPECT_EQ(signature.method_name, "tensorflow/serving/predict");
  EXPECT_EQ(SpecNames(signature.inputs), "a, b");
  EXPECT_EQ(SpecNames(signature.outputs), "sum_out, diff_out");
  EXPECT_EQ(Count("pair", "OK", "1"), 1u);
  EXPECT_TRUE(GetModelMetadata(*core_, ModelSpec::Latest("pair"), "").ok());
  EXPECT_EQ(Count("pair", "OK", "2"), 0u) << "no api: not counted";
}

TEST_F(RequestPathTest, ModelStatusSelectsByVersionOrLabel) {
  StatusOr<std::vector<VersionStatus>> all = GetModelStatus(*core_, ModelSpec::Latest("pair"));
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 2u);
  StatusOr<std::vector<VersionStatus>> stable =
      GetModelStatus(*core_, ModelSpec::Label("pair", "stable"));
  ASSERT_TRUE(stable.ok());
  ASSERT_EQ(stable->size(), 1u);
  EXPECT_EQ((*stable)[0].version, 1);
  EXPECT_EQ((*stable)[0].state, VersionState::kAvailable);
  const Status missing = GetModelStatus(*core_, ModelSpec::Version("pair", 9)).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "Could not find version 9 of model pair");
  EXPECT_EQ(GetModelStatus(*core_, ModelSpec::Latest("nope")).status().code(),
            absl::StatusCode::kNotFound);
}

// A version with several signatures: the request's signature picks the
// session, from the spec (gRPC) or from the body (REST), before decoding.
TEST_F(RequestPathTest, TheNamedSignatureRunsWhereverTheNameComesFrom) {
  InferenceSpec spec = Spec(ModelSpec::Latest("twosig"));
  FakeCodec by_spec({{"x", 5}});
  spec.signature_name = "single";
  ASSERT_TRUE(RunInference(*core_, spec, by_spec).ok());
  EXPECT_EQ(by_spec.decoded_for, std::vector<std::string>{"x"});
  EXPECT_EQ(by_spec.outputs.size(), 1u);
  EXPECT_EQ(by_spec.outputs.begin()->second, 7) << "x + version";

  spec.signature_name = "";
  FakeCodec by_body({{"x", 5}});
  by_body.peeked_signature_name = by_body.body_signature_name = "single";
  ASSERT_TRUE(RunInference(*core_, spec, by_body).ok());
  EXPECT_EQ(by_body.decodes, 1);
  EXPECT_EQ(by_body.decoded_for, std::vector<std::string>{"x"});

  // Named where SignatureNameInBody cannot see it: decoded again for it.
  FakeCodec late({{"x", 5}});
  late.body_signature_name = "single";
  ASSERT_TRUE(RunInference(*core_, spec, late).ok());
  EXPECT_EQ(late.decodes, 2);
  EXPECT_EQ(late.decoded_for, (std::vector<std::string>{"a", "b", "x"}));
  EXPECT_EQ(late.outputs.begin()->second, 7);

  FakeCodec unknown({{"x", 5}});
  unknown.peeked_signature_name = "nope";
  const Status status = RunInference(*core_, spec, unknown);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.decodes, 0);
}

}  // namespace
}  // namespace servekit
