// N-API class wrapping the exact Gaussian-mixture model (native/core/mixture.h,
// MATH.md §7). The core object is shared with in-flight jobs, so a mixture that is
// garbage-collected mid-call stays alive until the call settles.
#include <napi.h>

#include <memory>

#include "args.h"
#include "block_args.h"
#include "core_args.h"
#include "job.h"
#include "mixture.h"
#include "mixture_vjp.h"
#include "ops.h"

namespace condiff_binding {
namespace {

using condiff::GaussianMixture;
using condiff::Threads;
using condiff::MixturePosterior;
using condiff::StreamKey;

// Marks the JS objects that wrap a mixture, so mixture_model() can tell them apart.
const napi_type_tag kMixtureTag = {0x636f6e6469666621ull, 0x6d69787475726531ull};

class MixtureWrap : public Napi::ObjectWrap<MixtureWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "GaussianMixture",
                       {Method<&MixtureWrap::Score>("score"), Method<&MixtureWrap::ScoreDirect>("scoreDirect"),
                        Method<&MixtureWrap::Vjp>("vjp"), Method<&MixtureWrap::Posterior>("posterior"),
                        Method<&MixtureWrap::SamplePosterior>("samplePosterior"),
                        InstanceAccessor("dim", &MixtureWrap::Dim, nullptr),
                        InstanceAccessor("components", &MixtureWrap::Components, nullptr)});
  }

  // new GaussianMixture(dim, components, weights, means, covariance, diagonal)
  explicit MixtureWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MixtureWrap>(info) {
    guard_op(info.Env(), "new GaussianMixture", [&] { Construct(info); });
    info.This().As<Napi::Object>().TypeTag(&kMixtureTag);
  }

  std::shared_ptr<const GaussianMixture> model() const { return model_; }

 private:
  // A method whose C++ exceptions become JS errors naming it (job.h guard_op); its name
  // travels as the method's data.
  template <Napi::Value (MixtureWrap::*M)(const Napi::CallbackInfo&)>
  static PropertyDescriptor Method(const char* name) {
    return InstanceMethod(name, &MixtureWrap::Guarded<M>, napi_default, const_cast<char*>(name));
  }
  template <Napi::Value (MixtureWrap::*M)(const Napi::CallbackInfo&)>
  Napi::Value Guarded(const Napi::CallbackInfo& info) {
    const std::string op = std::string("GaussianMixture.") + static_cast<const char*>(info.Data());
    return guard_op(info.Env(), op.c_str(), [&] { return (this->*M)(info); });
  }

  void Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int64_t d = integer(info[0], "dim", 1, 4096);
    const int64_t j = integer(info[1], "components", 1, 1 << 20);
    auto w = float64_array(info[2], "weights");
    auto m = float64_array(info[3], "means");
    auto c = float64_array(info[4], "covariance");
    if (!info[5].IsBoolean()) throw_type(env, "diagonal must be a boolean, got " + describe(info[5]));
    const bool diagonal = info[5].As<Napi::Boolean>().Value();
    require_length(env, w, j, "one weight per component");
    require_length(env, m, j * d, "components x dim");
    require_length(env, c, diagonal ? j * d : j * d * d, diagonal ? "components x dim" : "components x dim x dim");
    std::string error;
    std::unique_ptr<GaussianMixture> gm = GaussianMixture::create(d, j, w.data, m.data, c.data, diagonal, &error);
    if (!gm) throw_range(env, error);
    model_ = std::move(gm);
  }

  Napi::Value Dim(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(model_->dim())); }
  Napi::Value Components(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(model_->components()));
  }

  // score(z, alpha, sigma2, out, threads) -> Promise<first non-finite index of out, or -1>;
  // scoreDirect: the same for a caller that owns z and out for the whole call (the
  // driver), which uses them in place (job.h).
  Napi::Value Score(const Napi::CallbackInfo& info) { return ScoreCall(info, false); }
  Napi::Value ScoreDirect(const Napi::CallbackInfo& info) { return ScoreCall(info, true); }
  Napi::Value ScoreCall(const Napi::CallbackInfo& info, bool direct) {
    auto a = parse_mixture_score<HostArrays>(info, 0, model_->dim());
    std::shared_ptr<const GaussianMixture> model = model_;
    Async call(info.Env(), "GaussianMixture.score", direct,
               a.z.length * model_->components() * (model_->diagonal() ? 2 : 2 * model_->dim()));
    call.read(a.z);
    call.write(a.out);
    return call.run([a, model](JobError&) {
      return static_cast<double>(model->score(a.z.data, a.rows, a.alpha, a.sigma2, a.out.data, a.threads));
    });
  }

  // vjp(z, alpha, sigma2, out, threads, u) -> Promise<first non-finite index of out, or -1>:
  // out = Jᵀu, J = ∂x̂₀/∂z at each row of z (mixture_vjp.h). The driver owns z, u and out
  // for the whole call, so they are used in place.
  Napi::Value Vjp(const Napi::CallbackInfo& info) {
    auto a = parse_mixture_score<HostArrays>(info, 0, model_->dim());
    auto u = HostArrays::f32(info[5], "u");
    require_length(info.Env(), u, a.z.length, "same as z");
    require_disjoint(info.Env(), a.out, u);
    std::shared_ptr<const GaussianMixture> model = model_;
    const bool shared = model_->structure().shared;
    const int64_t per_element = model_->diagonal() ? 4 * model_->components()
                                : shared           ? 4 * model_->dim() + 4 * model_->components()
                                                   : 4 * model_->components() * model_->dim();
    Async call(info.Env(), "GaussianMixture.vjp", true, a.z.length * per_element);
    call.read(a.z);
    call.read(u);
    call.write(a.out);
    return call.run([a, u, model, shared](JobError&) {
      return static_cast<double>(condiff::mixture_vjp(model->prepare(a.alpha, a.sigma2), shared, a.alpha, a.sigma2, a.z.data,
                                                      u.data, a.rows, a.out.data, a.threads));
    });
  }

  bool compute_posterior(const Napi::CallbackInfo& info, MixturePosterior* post) {
    Napi::Env env = info.Env();
    auto obs = int32_array(info[0], "observed");
    auto y = float32_array(info[1], "values");
    require_indices(env, obs, model_->dim());
    require_length(env, y, obs.length, "one value per observed index");
    for (int64_t i = 0; i < y.length; ++i)
      if (!std::isfinite(y.data[i])) throw_range(env, "values[" + std::to_string(i) + "] must be finite");
    std::string error;
    if (!model_->posterior(obs.data, obs.length, y.data, post, &error)) throw_range(env, error);
    return true;
  }

  // posterior(observed, values) -> { latent, logWeights, means, covariances }
  Napi::Value Posterior(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    MixturePosterior post;
    compute_posterior(info, &post);
    Napi::Object o = Napi::Object::New(env);
    auto lat = Napi::Int32Array::New(env, post.latent.size());
    std::copy(post.latent.begin(), post.latent.end(), lat.Data());
    auto lw = Napi::Float64Array::New(env, post.log_weights.size());
    std::copy(post.log_weights.begin(), post.log_weights.end(), lw.Data());
    auto means = Napi::Float64Array::New(env, post.means.size());
    std::copy(post.means.begin(), post.means.end(), means.Data());
    auto cov = Napi::Float64Array::New(env, post.covariances.size());
    std::copy(post.covariances.begin(), post.covariances.end(), cov.Data());
    o.Set("latent", lat);
    o.Set("logWeights", lw);
    o.Set("means", means);
    o.Set("covariances", cov);
    return o;
  }

  // samplePosterior(observed, values, n, stream{seed, run, step}, out, threads) -> Promise
  Napi::Value SamplePosterior(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto post = std::make_shared<MixturePosterior>();
    compute_posterior(info, post.get());
    const int64_t n = integer(info[2], "n", 1, kMaxInt32);
    Napi::Object so = object(info[3], "stream");
    StreamKey s{};
    seed_arg(so.Get("seed"), "stream.seed", &s);
    s.run = static_cast<uint32_t>(integer(so.Get("run"), "stream.run", 0, 4294967295LL));
    s.step = static_cast<uint32_t>(integer(so.Get("step"), "stream.step", 0, 4294967295LL));
    auto out = float32_array(info[4], "out");
    const Threads threads = threads_arg(info[5]);
    require_length(env, out, n * model_->dim(), "n x dim");
    Async call(env, "GaussianMixture.samplePosterior", false);
    call.write(out);
    return call.run([=](JobError&) {
      condiff::sample_posterior(*post, n, s, out.data, threads);
      return 0.0;
    });
  }

  std::shared_ptr<const GaussianMixture> model_;
};

}  // namespace

void register_mixture(Napi::Env env, Napi::Object exports) { exports.Set("GaussianMixture", MixtureWrap::Define(env)); }

std::shared_ptr<const condiff::GaussianMixture> mixture_model(const Napi::Value& v) {
  if (!v.IsObject()) return nullptr;
  Napi::Object o = v.As<Napi::Object>();
  if (!o.CheckTypeTag(&kMixtureTag)) return nullptr;
  return MixtureWrap::Unwrap(o)->model();
}

}  // namespace condiff_binding
