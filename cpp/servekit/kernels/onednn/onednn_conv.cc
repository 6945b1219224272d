#include "servekit/kernels/onednn/onednn_conv.h"

#include <Eigen/Core>
#include <algorithm>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "servekit/kernels/activation.h"
#include "servekit/kernels/onednn/onednn_util.h"

namespace servekit {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using namespace onednn;  // NOLINT: this file is oneDNN glue

// Everything one call for one batch size runs.
struct ConvPlan {
  memory::desc src_user, dst_user, src_conv, dst_conv, bias, residual;
  bool fused_residual = false, fused_activation = false;  // as post-ops of `conv`
  dnnl::convolution_forward conv;
  std::optional<dnnl::reorder> to_conv_src, to_user_dst;  // absent: the layouts match
  memory::desc conv_scratchpad, src_scratchpad, dst_scratchpad;
  std::shared_ptr<PackedWeights> weights;
  // Scratch: [src in oneDNN's layout | dst in oneDNN's layout | oneDNN's scratchpad].
  size_t src_bytes = 0, dst_bytes = 0, scratchpad_bytes = 0;
  int threads = 1;  // OpenMP threads it was built for and runs with
  enum Binding {
    kSrcUser,
    kDstUser,
    kSrcConv,
    kDstConv,
    kBias,
    kResidual,
    kConvPad,
    kSrcPad,
    kDstPad
  };
  mutable std::unique_ptr<BindingsPool> bindings;  // in Binding order

  size_t Bytes() const { return src_bytes + dst_bytes + scratchpad_bytes; }
};

}  // namespace

// oneDNN's choice of convolution for one batch size, and which of the
// epilogue's steps it runs as post-ops.
struct ConvChoice {
  dnnl::convolution_forward::primitive_desc pd;
  bool fused_residual = false, fused_activation = false;
};

struct OneDnnConv::Impl {
  ConvGeometry g;
  Activation activation;
  dnnl::primitive_attr reorder_attr;  // user-managed scratchpad
  memory::desc user_weights;          // OIHW, or GOIHW with groups
  memory::dims strides, dilations, pad_l, pad_r;
  Tag src_tag = Tag::any;
  mutable PackedWeightsSet packed;
  // The weights as packed when created: every other layout is made from them.
  memory source_weights;
  mutable std::once_flag unpack_once;
  mutable std::vector<float> original_weights;  // OriginalWeights(), once asked for
  mutable Status unpack_status;
  PlanCache<ConvPlan> plans;

  int64_t FlopsPerImage() const {
    return 2 * g.filters * g.window.out_h * g.window.out_w * (g.channels / g.group) *
           g.window.kernel_h * g.window.kernel_w;
  }
  // The plan for `batch` images on a pool of `pool_threads`.
  StatusOr<std::shared_ptr<const ConvPlan>> PlanFor(int64_t batch, int pool_threads) const {
    const int threads = TeamSize(batch * FlopsPerImage(), pool_threads);
    return plans.Get(PlanKey(batch, threads),
                     [this, batch, threads](int64_t) { return Build(batch, threads); });
  }
  // Built for `threads` OpenMP threads.
  StatusOr<std::shared_ptr<ConvPlan>> Build(int64_t batch, int threads) const;
  // oneDNN's choice of convolution for `batch` images; fails when it has only
  // its reference code. Cheap next to Build, which also generates code.
  StatusOr<ConvChoice> Describe(int64_t batch) const;
  StatusOr<dnnl::convolution_forward::primitive_desc> DescribeWith(
      int64_t batch, const dnnl::primitive_attr& attr) const;
  // The output in servekit's layout for `batch` images (y, and the residual).
  memory::desc UserDst(int64_t batch) const {
    return memory::desc({batch, g.filters, g.window.out_h, g.window.out_w}, memory::data_type::f32,
                        g.channels_last ? Tag::nhwc : Tag::nchw);
  }
  Status RunPlan(const ConvPlan& plan, const float* x, const float* bias, const float* residual,
                 float* y, char* scratch) const;
};

StatusOr<ConvChoice> OneDnnConv::Impl::Describe(int64_t batch) const {
  // The activation as a post-op, as without a residual. The residual's sum
  // joins it (before it) only when that convolution writes servekit's layout
  // anyway: asking for that layout for the sum's sake made oneDNN fall back to
  // slower GEMM-based convolutions on NCHW. Otherwise the convolution runs
  // bare and the kernel adds the residual, then applies the activation.
  auto attr_with = [](const dnnl::post_ops& ops) {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    attr.set_post_ops(ops);
    return attr;
  };
  try {
    ConvChoice choice;
    dnnl::post_ops activation_ops;
    choice.fused_activation = AppendActivation(activation, activation_ops);
    ASSIGN_OR_RETURN(choice.pd, DescribeWith(batch, attr_with(activation_ops)));
    if (!g.has_residual) return choice;
    if (choice.pd.dst_desc() == UserDst(batch)) {
      dnnl::post_ops ops;
      ops.append_binary(dnnl::algorithm::binary_add, UserDst(batch));
      const bool fused_activation = AppendActivation(activation, ops);
      auto fused = DescribeWith(batch, attr_with(ops));
      if (fused.ok() && fused->dst_desc() == UserDst(batch)) {
        return ConvChoice{*std::move(fused), /*fused_residual=*/true, fused_activation};
      }
    }
    ASSIGN_OR_RETURN(choice.pd, DescribeWith(batch, attr_with(dnnl::post_ops())));
    choice.fused_activation = false;
    return choice;
  } catch (const dnnl::error& e) {
    return FromDnnl(e, absl::StrCat("has no convolution for batch ", batch));
  }
}

StatusOr<dnnl::convolution_forward::primitive_desc> OneDnnConv::Impl::DescribeWith(
    int64_t batch, const dnnl::primitive_attr& attr) const {
  const auto f32 = memory::data_type::f32;
  const memory::dims src_dims = {batch, g.channels, g.height, g.width};
  const memory::dims dst_dims = {batch, g.filters, g.window.out_h, g.window.out_w};
  const memory::desc bias = g.has_bias ? memory::desc({g.filters}, f32, Tag::x) : memory::desc();
  // The preferred input layout first, then oneDNN's choice: on AVX2 machines
  // oneDNN 2.6 has no fast convolution reading NHWC with few channels.
  Status failure;
  for (Tag tag : {src_tag, Tag::any}) {
    try {
      dnnl::convolution_forward::desc desc(
          dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
          memory::desc(src_dims, f32, tag), memory::desc(user_weights.dims(), f32, Tag::any), bias,
          memory::desc(dst_dims, f32, Tag::any), strides, dilations, pad_l, pad_r);
      dnnl::convolution_forward::primitive_desc pd(desc, attr, CpuEngine());
      // oneDNN's reference code is far slower than servekit's own path.
      if (absl::string_view(pd.impl_info_str()).substr(0, 3) != "ref") return pd;
      failure = absl::UnimplementedError(
          absl::StrCat("oneDNN has only its reference convolution (", pd.impl_info_str(), ")"));
    } catch (const dnnl::error& e) {
      failure = FromDnnl(e, absl::StrCat("has no convolution for batch ", batch));
    }
    if (tag == Tag::any) break;
  }
  return failure;
}

StatusOr<std::shared_ptr<ConvPlan>> OneDnnConv::Impl::Build(int64_t batch, int threads) const {
  ThreadsPerCall(threads);  // oneDNN sizes its work split when it builds
  ASSIGN_OR_RETURN(ConvChoice choice, Describe(batch));
  const dnnl::convolution_forward::primitive_desc& pd = choice.pd;
  try {
    const dnnl::engine& engine = CpuEngine();
    auto plan = std::make_shared<ConvPlan>();
    const auto f32 = memory::data_type::f32;
    const Tag user_tag = g.channels_last ? Tag::nhwc : Tag::nchw;
    plan->src_user = memory::desc({batch, g.channels, g.height, g.width}, f32, user_tag);
    plan->dst_user = UserDst(batch);
    plan->fused_residual = choice.fused_residual;
    plan->fused_activation = choice.fused_activation;
    if (choice.fused_residual) plan->residual = plan->dst_user;
    plan->bias = pd.bias_desc();
    plan->conv = dnnl::convolution_forward(pd);
    plan->conv_scratchpad = pd.scratchpad_desc();
    plan->src_conv = pd.src_desc();
    plan->dst_conv = pd.dst_desc();
    size_t scratchpad = plan->conv_scratchpad.get_size();
    if (plan->src_conv != plan->src_user) {
      dnnl::reorder::primitive_desc rd(engine, plan->src_user, engine, plan->src_conv,
                                       reorder_attr);
      plan->to_conv_src = dnnl::reorder(rd);
      plan->src_scratchpad = rd.scratchpad_desc();
      scratchpad = std::max(scratchpad, plan->src_scratchpad.get_size());
      plan->src_bytes = RoundUpScratch(plan->src_conv.get_size());
    }
    if (plan->dst_conv != plan->dst_user) {
      dnnl::reorder::primitive_desc rd(engine, plan->dst_conv, engine, plan->dst_user,
                                       reorder_attr);
      plan->to_user_dst = dnnl::reorder(rd);
      plan->dst_scratchpad = rd.scratchpad_desc();
      scratchpad = std::max(scratchpad, plan->dst_scratchpad.get_size());
      plan->dst_bytes = RoundUpScratch(plan->dst_conv.get_size());
    }
    plan->scratchpad_bytes = RoundUpScratch(scratchpad);
    plan->threads = threads;
    plan->weights = packed.ForLayout(pd.weights_desc());
    plan->bindings = std::make_unique<BindingsPool>(std::vector<memory::desc>{
        plan->src_user, plan->dst_user, plan->src_conv, plan->dst_conv, plan->bias, plan->residual,
        plan->conv_scratchpad, plan->src_scratchpad, plan->dst_scratchpad});
    return plan;
  } catch (const dnnl::error& e) {
    return FromDnnl(e, absl::StrCat("has no convolution for batch ", batch));
  }
}

Status OneDnnConv::Impl::RunPlan(const ConvPlan& plan, const float* x, const float* bias,
                                 const float* residual, float* y, char* scratch) const {
  try {
    ThreadsPerCall(plan.threads);
    ASSIGN_OR_RETURN(
        memory packed_weights,
        plan.weights->Get(source_weights.get_desc(),
                          static_cast<const float*>(source_weights.get_data_handle())));
    BindingsPool::Lease call = plan.bindings->Acquire();
    using P = ConvPlan;
    char* pad = scratch + plan.src_bytes + plan.dst_bytes;
    // Each primitive's scratchpad, when it has one (they run one after another
    // and share the region).
    auto scratchpad = [&](P::Binding binding, const memory::desc& desc) {
      return desc.get_size() > 0 ? &call->Bind(binding, pad) : nullptr;
    };
    const memory& src_user = call->Bind(P::kSrcUser, x);
    const memory& dst_user = call->Bind(P::kDstUser, y);
    const memory& src = plan.to_conv_src ? call->Bind(P::kSrcConv, scratch) : src_user;
    const memory& dst =
        plan.to_user_dst ? call->Bind(P::kDstConv, scratch + plan.src_bytes) : dst_user;
    if (plan.to_conv_src) {
      Execute(*plan.to_conv_src,
              {{DNNL_ARG_FROM, &src_user},
               {DNNL_ARG_TO, &src},
               {DNNL_ARG_SCRATCHPAD, scratchpad(P::kSrcPad, plan.src_scratchpad)}});
    }
    Execute(plan.conv, {{DNNL_ARG_SRC, &src},
                        {DNNL_ARG_WEIGHTS, &packed_weights},
                        {DNNL_ARG_BIAS, g.has_bias ? &call->Bind(P::kBias, bias) : nullptr},
                        {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
                         plan.fused_residual ? &call->Bind(P::kResidual, residual) : nullptr},
                        {DNNL_ARG_DST, &dst},
                        {DNNL_ARG_SCRATCHPAD, scratchpad(P::kConvPad, plan.conv_scratchpad)}});
    if (plan.to_user_dst) {
      Execute(*plan.to_user_dst,
              {{DNNL_ARG_FROM, &dst},
               {DNNL_ARG_TO, &dst_user},
               {DNNL_ARG_SCRATCHPAD, scratchpad(P::kDstPad, plan.dst_scratchpad)}});
    }
    return absl::OkStatus();
  } catch (const dnnl::error& e) {
    return FromDnnl(e, "convolution failed");
  }
}

OneDnnConv::OneDnnConv(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

OneDnnConv::~OneDnnConv() = default;

std::unique_ptr<OneDnnConv> OneDnnConv::Create(const ConvGeometry& geometry,
                                               const Activation& activation, const float* weights) {
  const Window2D& w = geometry.window;
  if (geometry.group < 1 || geometry.channels % geometry.group != 0 ||
      geometry.filters % geometry.group != 0 || w.out_h < 1 || w.out_w < 1) {
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->g = geometry;
  impl->activation = activation;
  const auto f32 = memory::data_type::f32;
  const int64_t group = geometry.group;
  if (group == 1) {
    impl->user_weights =
        memory::desc({geometry.filters, geometry.channels, w.kernel_h, w.kernel_w}, f32, Tag::oihw);
  } else {
    impl->user_weights = memory::desc(
        {group, geometry.filters / group, geometry.channels / group, w.kernel_h, w.kernel_w}, f32,
        Tag::goihw);
  }
  impl->strides = {w.stride_h, w.stride_w};
  impl->dilations = {w.dilation_h - 1, w.dilation_w - 1};  // oneDNN counts the gaps
  impl->pad_l = {w.pad_top, w.pad_left};
  impl->pad_r = {w.pad_bottom, w.pad_right};
  // One or a few input channels: reading NCHW directly beats reordering it
  // (measured on a 1-channel 28x28 input: 4.2 µs against 6.0 µs plus the reorder).
  const Tag user_tag = geometry.channels_last ? Tag::nhwc : Tag::nchw;
  impl->src_tag = geometry.channels / group <= 4 && group == 1 ? user_tag : Tag::any;
  try {
    impl->reorder_attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  } catch (const dnnl::error&) {
    return nullptr;
  }
  // oneDNN must have a convolution for these dims; checked with one image,
  // whose weight layout the weights are packed into now. The code is
  // generated on first use: loading stays fast.
  auto choice = impl->Describe(1);
  if (!choice.ok()) return nullptr;
  auto packed = impl->packed.ForLayout(choice->pd.weights_desc())->Get(impl->user_weights, weights);
  if (!packed.ok()) return nullptr;
  impl->source_weights = *packed;
  return std::unique_ptr<OneDnnConv>(new OneDnnConv(std::move(impl)));
}

StatusOr<const float*> OneDnnConv::OriginalWeights() const {
  const Impl& impl = *impl_;
  std::call_once(impl.unpack_once, [&impl] {
    try {
      OneThreadPerCall();
      impl.original_weights.resize(impl.user_weights.get_size() / sizeof(float));
      memory source = impl.source_weights;
      memory original(impl.user_weights, CpuEngine(), impl.original_weights.data());
      dnnl::reorder(source, original).execute(ThreadStream(), source, original);
      ThreadStream().wait();
    } catch (const dnnl::error& e) {
      impl.unpack_status = FromDnnl(e, "could not unpack convolution weights");
    }
  });
  if (!impl.unpack_status.ok()) return impl.unpack_status;
  return impl.original_weights.data();
}

std::optional<size_t> OneDnnConv::ScratchBytes(int64_t batch, int num_threads) const {
  if (batch <= 0) return size_t{0};
  auto plan = impl_->PlanFor(batch, num_threads);
  if (!plan.ok()) return std::nullopt;
  return (*plan)->Bytes();
}

Status OneDnnConv::Run(const float* x, int64_t batch, const float* bias, const float* residual,
                       float* y, void* scratch, const IntraOpPool& pool) const {
  if (batch <= 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::shared_ptr<const ConvPlan> plan, impl_->PlanFor(batch, pool.num_threads()));
  RETURN_IF_ERROR(impl_->RunPlan(*plan, x, bias, residual, y, static_cast<char*>(scratch)));
  // The epilogue's steps oneDNN did not run, in order.
  const Impl& impl = *impl_;
  const int64_t elements = batch * impl.g.filters * impl.g.window.out_h * impl.g.window.out_w;
  if (impl.g.has_residual && !plan->fused_residual) {
    Eigen::Map<Eigen::ArrayXf>(y, elements) += Eigen::Map<const Eigen::ArrayXf>(residual, elements);
  }
  if (!plan->fused_activation) ApplyActivation(impl.activation, y, elements);
  return absl::OkStatus();
}

}  // namespace servekit
