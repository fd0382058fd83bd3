// lora/compress.cpp: replacing dense layers by low-rank layers, by SVD or input compression
// (see compress.h; article claims C1-C3).
#include "lora/compress.h"

#include <cmath>
#include <iomanip>
#include <set>
#include <sstream>

#include "lora/attach.h"
#include "lora/input_compression.h"
#include "nn/attention.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/low_rank_conv2d.h"
#include "nn/low_rank_layout.h"
#include "nn/low_rank_linear.h"
#include "tensor/elementwise.h"
#include "tensor/interrupt.h"
#include "tensor/matmul.h"

namespace ld::lora {

std::vector<std::string> default_compress_targets() {
  return {"unet.*.to_q", "unet.*.to_k", "unet.*.to_v", "unet.*.to_out", "unet.*.ff.fc1", "unet.*.ff.fc2"};
}

std::vector<std::string> extended_compress_targets() {
  std::vector<std::string> t = default_compress_targets();
  for (const char* p : {"unet.*.time_proj", "unet.*.proj_in", "unet.*.proj_out", "unet.*.skip"})
    t.push_back(p);
  return t;
}

std::vector<std::string> find_compress_targets(const nn::Module& model,
                                               const std::vector<std::string>& patterns) {
  if (patterns.empty()) fail("--layers: no layer patterns given (e.g. unet.*.to_q,unet.*.ff.fc1)");
  std::vector<std::string> low_rank_prefixes;
  for (const auto& [name, rank] : nn::low_rank_layout(model)) low_rank_prefixes.push_back(name + ".");
  std::vector<std::string> names;
  std::vector<bool> used(patterns.size(), false);
  for (const auto& [name, m] : model.named_modules()) {
    if (!std::dynamic_pointer_cast<nn::Linear>(m) && !std::dynamic_pointer_cast<nn::Conv2d>(m)) continue;
    bool inside = false;  // the U / V of a layer compressed before
    for (const auto& p : low_rank_prefixes) inside = inside || name.rfind(p, 0) == 0;
    if (inside) continue;
    bool hit = false;
    for (size_t i = 0; i < patterns.size(); ++i)
      if (matches_target(name, patterns[i])) used[i] = hit = true;
    if (hit) names.push_back(name);
  }
  for (size_t i = 0; i < patterns.size(); ++i)
    if (!used[i])
      fail("--layers: pattern '", patterns[i], "' matches no dense (Linear or Conv2d) layer of the ",
           model.type_name(),
           " (names look like 'unet.down1.attn.self_attn.to_q' or 'unet.mid.attn.ff.fc1'; '*' matches any "
           "characters; layers already low-rank are not matched)");
  return names;
}

CompressMethod parse_compress_method(const std::string& name) {
  if (name == "svd") return CompressMethod::SVD;
  if (name == "input") return CompressMethod::Input;
  fail("--method: '", name,
       "' must be svd (truncated SVD of each weight) or input (input compression: "
       "whitened SVD on calibration data)");
}

const char* compress_method_name(CompressMethod m) { return m == CompressMethod::SVD ? "svd" : "input"; }

namespace {

// A Linear or Conv2d as the matrix it multiplies by: W (out, fan_in) and its bias.
struct DenseView {
  Tensor W, bias;
  std::string kind;
};

DenseView dense_view(const nn::Module& m, const std::string& name) {
  if (auto l = dynamic_cast<const nn::Linear*>(&m))
    return {l->weight.value(), l->bias.defined() ? l->bias.value() : Tensor(), "Linear"};
  if (auto c = dynamic_cast<const nn::Conv2d*>(&m)) {
    const int64_t k = c->kernel_size;
    return {c->weight.value().contiguous().reshape({c->out_channels, c->in_channels * k * k}),
            c->bias.defined() ? c->bias.value() : Tensor(), str_cat("Conv2d ", k, "x", k)};
  }
  fail("compress: layer '", name, "' is a ", m.type_name(),
       "; only Linear and Conv2d layers can be compressed");
}

void set_factors(nn::Module& low_rank, const LowRankFactors& f, const Tensor& bias) {
  if (auto l = dynamic_cast<nn::LowRankLinear*>(&low_rank)) return l->set_factors(f.U, f.V, bias);
  dynamic_cast<nn::LowRankConv2d&>(low_rank).set_factors(f.U, f.V, bias);
}

// Centred input compression (lora/input_compression.h): where can the constant output shift
// c = (W - M) mu of layer `name` go at no cost?
struct ShiftSink {
  std::string where;                     // "own bias", "softmax", "to_out bias"; empty: nowhere
  std::shared_ptr<nn::Linear> to_out;    // "to_out bias": the attention's output projection
};

ShiftSink shift_sink(const nn::Module& model, const std::string& name, const DenseView& d) {
  if (d.bias.defined()) return {"own bias", nullptr};
  // to_k / to_v of a MultiHeadAttention (the module holding them)
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return {};
  auto attn = std::dynamic_pointer_cast<nn::MultiHeadAttention>(model.get_module(name.substr(0, dot)));
  if (!attn) return {};
  const std::string slot = name.substr(dot + 1);
  if (slot == "to_k") return {"softmax", nullptr};
  if (slot == "to_v")
    if (auto out = std::dynamic_pointer_cast<nn::Linear>(attn->to_out); out && out->bias.defined())
      return {"to_out bias", out};
  return {};
}

double mean_of(const std::vector<LayerCompression>& layers, double LayerCompression::*field) {
  double s = 0;
  int n = 0;
  for (const auto& l : layers)
    if (l.rank > 0) {
      s += l.*field;
      ++n;
    }
  return n ? s / n : NAN;
}

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json LayerCompression::to_json() const {
  return {{"name", name},
          {"kind", kind},
          {"fan_in", fan_in},
          {"out", out},
          {"rank", rank},
          {"max_rank", max_rank},
          {"params_before", params_before},
          {"params_after", params_after},
          {"energy_kept", number_or_null(energy_kept)},
          {"weight_error", number_or_null(weight_error)},
          {"output_error", number_or_null(output_error)},
          {"centring", centring},
          {"note", note}};
}

int64_t CompressionReport::replaced() const {
  int64_t n = 0;
  for (const auto& l : layers) n += l.rank > 0;
  return n;
}
double CompressionReport::mean_weight_error() const {
  return mean_of(layers, &LayerCompression::weight_error);
}
double CompressionReport::mean_output_error() const {
  return mean_of(layers, &LayerCompression::output_error);
}

nlohmann::json CompressionReport::to_json() const {
  nlohmann::json ls = nlohmann::json::array();
  for (const auto& l : layers) ls.push_back(l.to_json());
  return {{"method", compress_method_name(method)},
          {"rule", rule.str()},
          {"layers_selected", layers.size()},
          {"layers_replaced", replaced()},
          {"params_before", params_before},
          {"params_after", params_after},
          {"params_saved_share", params_before ? 1.0 - double(params_after) / double(params_before) : 0.0},
          {"model_params_before", model_params_before},
          {"model_params_after", model_params_after},
          {"mean_weight_error", number_or_null(mean_weight_error())},
          {"mean_output_error", number_or_null(mean_output_error())},
          {"layers", ls}};
}

std::string CompressionReport::table() const {
  std::ostringstream s;
  size_t w = 5;
  for (const auto& l : layers) w = std::max(w, l.name.size());
  s << std::left << std::setw(static_cast<int>(w)) << "layer"
    << "  kind        out x fan_in   rank  params before -> after   weight err  output err  energy kept\n";
  s << std::fixed;
  for (const auto& l : layers) {
    s << std::left << std::setw(static_cast<int>(w)) << l.name << "  " << std::setw(10) << l.kind << "  "
      << std::right << std::setw(5) << l.out << " x " << std::left << std::setw(6) << l.fan_in << " "
      << std::right << std::setw(5) << (l.rank > 0 ? std::to_string(l.rank) : "dense") << "  "
      << std::setw(13) << l.params_before << " -> " << std::left << std::setw(8) << l.params_after
      << std::right << std::setprecision(4) << std::setw(11) << l.weight_error << " " << std::setw(11);
    if (std::isfinite(l.output_error))
      s << l.output_error;
    else
      s << "-";
    s << std::setprecision(2) << std::setw(12) << 100.0 * l.energy_kept << "%";
    if (!l.centring.empty()) s << "  centred (mean shift -> " << l.centring << ")";
    if (!l.note.empty()) s << "  " << l.note;
    s << "\n";
  }
  const double saved = params_before ? 100.0 * (1.0 - double(params_after) / double(params_before)) : 0.0;
  s << std::setprecision(1) << "total: " << replaced() << " of " << layers.size() << " layers low-rank ("
    << compress_method_name(method) << ", " << rule.str() << "): " << params_before << " -> " << params_after
    << " parameters (" << saved << "% fewer); model " << model_params_before << " -> " << model_params_after
    << std::setprecision(4) << "; mean weight error " << mean_weight_error();
  if (std::isfinite(mean_output_error())) s << ", mean output error " << mean_output_error();
  s << "\n";
  return s.str();
}

std::vector<std::string> check_compress_options(const nn::Module& model, const CompressOptions& o) {
  o.rule.validate();
  const std::vector<std::string> names =
      find_compress_targets(model, o.layers.empty() ? default_compress_targets() : o.layers);
  for (const auto& name : names) {
    const DenseView d = dense_view(*model.get_module(name), name);
    if (o.rule.energy == 0) choose_rank(o.rule, Tensor(), d.W.size(1), d.W.size(0), name);
  }
  return names;
}

CompressionReport compress_model(nn::Module& model, const CompressOptions& o,
                                 const InputMomentsMap* moments) {
  const std::vector<std::string> names = check_compress_options(model, o);
  CompressionReport rep;
  rep.method = o.method;
  rep.rule = o.rule;
  rep.model_params_before = model.num_parameters();
  // every check before the first change: ranks that need no spectrum (above), calibration data
  for (const auto& name : names) {
    const bool have = moments && moments->count(name) && moments->at(name).rows > 0;
    if (o.method == CompressMethod::Input && !have)
      fail("compress --method input: no calibration inputs were recorded for layer '", name,
           "' (is it used by the model's forward? --calib-samples must be >= 1)");
  }
  Generator gen(0);  // the shells' initial values are overwritten by set_factors
  for (const auto& name : names) {
    throw_if_interrupted();  // Ctrl-C: the model is left part-compressed; callers discard it
    std::shared_ptr<nn::Module> dense = model.get_module(name);
    const DenseView d = dense_view(*dense, name);
    LayerCompression l;
    l.name = name;
    l.kind = d.kind;
    l.out = d.W.size(0);
    l.fan_in = d.W.size(1);
    l.max_rank = nn::max_compressing_rank(l.fan_in, l.out);
    const int64_t bias = d.bias.defined() ? d.bias.numel() : 0;
    l.params_before = l.params_after = d.W.numel() + bias;
    Tensor C, C_c, mu;  // second moment; covariance and mean when the layer is centred
    if (moments && moments->count(name) && moments->at(name).rows > 0) C = moments->at(name).second_moment();
    const ShiftSink sink = o.method == CompressMethod::Input && o.centre ? shift_sink(model, name, d) : ShiftSink{};
    if (!sink.where.empty()) {
      C_c = moments->at(name).covariance();
      mu = moments->at(name).mean();
    }
    // the spectrum the method truncates: of W (svd) or of W C^{1/2} / W C_c^{1/2} (input)
    const SVD spectrum = o.method == CompressMethod::SVD ? svd(d.W) : whitened_svd(d.W, C_c.defined() ? C_c : C);
    const int64_t r = choose_rank(o.rule, spectrum.S, l.fan_in, l.out, name);
    if (r == 0) {
      const int64_t needed = rank_for_energy(spectrum.S, o.rule.energy);
      l.weight_error = 0;
      l.output_error = C.defined() ? 0.0 : NAN;
      l.note = str_cat("kept dense: energy ", o.rule.energy, " needs rank ", needed, " > ", l.max_rank);
      rep.layers.push_back(l);
      continue;
    }
    const LowRankFactors f =
        o.method == CompressMethod::SVD ? svd_init(spectrum, r) : input_compression_init(d.W, spectrum, r);
    const Tensor M = f.product();
    l.rank = r;
    l.params_after = r * (l.fan_in + l.out) + bias;
    l.energy_kept = energy_kept(spectrum.S, r);
    l.weight_error = relative_frobenius_error(d.W, M);
    if (C.defined()) l.output_error = relative_output_error(d.W, M, C, C_c);
    Tensor new_bias = d.bias.defined() ? d.bias.clone() : Tensor();
    if (!sink.where.empty()) {  // the mean's shift c = (W - M) mu
      l.centring = sink.where;
      const Tensor c = matmul(sub(d.W, M), mu.view({l.fan_in, 1})).view({l.out});
      if (sink.where == "own bias") axpy_(new_bias, 1.0f, c);
      if (sink.where == "to_out bias") {  // b_out += W_out c
        const Tensor& W_out = sink.to_out->weight.value();
        axpy_(sink.to_out->bias.value(), 1.0f, matmul(W_out, c.view({l.out, 1})).view({W_out.size(0)}));
      }
    }
    std::shared_ptr<nn::Module> low_rank = nn::low_rank_like(*dense, r, gen);
    set_factors(*low_rank, f, new_bias);
    model.replace_module(name, low_rank);
    rep.layers.push_back(l);
  }
  for (const auto& l : rep.layers) {
    rep.params_before += l.params_before;
    rep.params_after += l.params_after;
  }
  rep.model_params_after = model.num_parameters();
  return rep;
}

}  // namespace ld::lora
