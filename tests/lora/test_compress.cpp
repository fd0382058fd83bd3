// Tests of lora/calibration and lora/compress on the tiny text-to-image model: the recorders
// accumulate exactly X^T X (Linear rows, Conv2d im2col patches, <pad> tokens left out) and put
// the layers back; compress_model replaces the default layers, counts parameters, keeps the
// model running, and the input method beats plain SVD on the calibration outputs of every
// layer; a compressed model saves and loads (diffusion::load_model) to the same outputs; 3x3
// convs; clear errors for an unknown pattern, a rank too large, missing calibration data.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "data/mnist.h"
#include "diffusion/model_io.h"
#include "lora/compress.h"
#include "nn/attention.h"
#include "nn/low_rank_conv2d.h"
#include "nn/low_rank_layout.h"
#include "nn/low_rank_linear.h"
#include "nn/sequential.h"
#include "tensor/conv.h"
#include "tensor/elementwise.h"
#include "tensor/index.h"
#include "tensor/matmul.h"
#include "tensor/reduce.h"
#include "tests/lora/lora_fixture.h"
#include "tests/tensor_compare.h"

using namespace ld;
using namespace ld::lora;
using ld::test::max_abs_diff;
using ld::test::tiny_model;
namespace fs = std::filesystem;

namespace {

// 40 "digits": a bar whose column depends on the label.
data::CaptionedImages tiny_digits() {
  data::Digits d;
  Generator g(7);
  std::vector<uint8_t> img(784);
  for (int i = 0; i < 40; ++i) {
    std::fill(img.begin(), img.end(), 0);
    const int col = 4 + 2 * (i % 10) + static_cast<int>(g.next_int(3));
    for (int r = 5; r < 23; ++r)
      for (int c = col; c < col + 3; ++c) img[r * 28 + c] = 255;
    d.append(img.data(), static_cast<uint8_t>(i % 10));
  }
  return data::captioned_mnist(d, data::CaptionMode::Varied);
}

Tensor eps_prediction(diffusion::TextToImageModel& m) {
  ag::NoGrad ng;
  m.eval();
  Generator g(3);
  const Tensor x = rand_normal({2, 1, 28, 28}, g);
  const Tensor t = Tensor::from_ints({10, 500}, {2});
  Tensor ids = Tensor::zeros({2, 16}, DType::I32);
  for (int b = 0; b < 2; ++b) {
    ids.i32()[b * 16] = 1;
    ids.i32()[b * 16 + 1] = 5 + b;
  }
  return m.forward(ag::Var(x), t, ids).value();
}

}  // namespace

TEST_CASE("InputRecorder: S = sum x x^T of Linear rows and Conv2d patches, <pad> rows left out") {
  Generator gen(1);
  auto model = std::make_shared<nn::Sequential>();
  model->push_back(nn::make<nn::Conv2d>(2, 3, 3, 1, 1, true, gen));
  CHECK_FALSE(reads_text_tokens("unet.mid.attn.self_attn.to_k"));
  CHECK(reads_text_tokens("unet.mid.attn.cross_attn.to_v"));
  CHECK(reads_text_tokens("text.layers.0.ff.fc1"));
  const Tensor x = rand_normal({2, 2, 5, 5}, gen);
  InputMomentsMap moments;
  {
    InputRecording rec(*model, {"0"});
    CHECK(model->get_module("0")->type_name() == "InputRecorder");
    model->forward(ag::Var(x));
    moments = rec.moments();
  }
  CHECK(model->get_module("0")->type_name() == "Conv2d");  // put back
  const Tensor col = im2col(x, 3, 3, 1, 1);                // (18, 50)
  const InputMoments& m = moments.at("0");
  CHECK(m.rows == 50);
  CHECK(m.input_shape == Shape{2, 2, 5, 5});
  CHECK(max_abs_diff(m.second_moment(), mul_scalar(matmul(col, col.transpose(0, 1)), 1.0f / 50)) < 1e-5);
  const Tensor mu = mul_scalar(sum(col, {1}), 1.0f / 50);  // (18)
  CHECK(max_abs_diff(m.mean(), mu) < 1e-5);
  CHECK(max_abs_diff(m.covariance(), sub(m.second_moment(), matmul(mu.view({18, 1}), mu.view({1, 18})))) <
        1e-5);

  // a Linear reading text tokens: rows whose mask is 0 are not counted
  auto text = std::make_shared<nn::Sequential>();
  text->push_back(nn::make<nn::Linear>(4, 3, false, gen));
  const Tensor tokens = rand_normal({2, 3, 4}, gen);
  InputRecorder r(text->get_module("0"), "text.layers.0.ff.fc1",
                  std::make_shared<Tensor>(Tensor::from_vector({1, 1, 0, 1, 0, 0}, {2, 3})));
  r.forward(ag::Var(tokens));
  CHECK(r.moments.rows == 3);
  const Tensor kept = concat({tokens.select(0, 0).narrow(0, 0, 2), tokens.select(0, 1).narrow(0, 0, 1)}, 0);
  CHECK(max_abs_diff(r.moments.second_moment(), mul_scalar(matmul(kept.transpose(0, 1), kept), 1.0f / 3)) <
        1e-5);
  InputMoments empty;
  CHECK_THROWS_WITH_AS(empty.second_moment(), doctest::Contains("no input rows"), Error);
}

TEST_CASE("compress the tiny model: default layers, parameters, input <= svd on calibration outputs") {
  const data::CaptionedImages digits = tiny_digits();
  auto base = tiny_model(1);
  CHECK(find_compress_targets(*base, default_compress_targets()).size() == 50);  // 5 AttnBlocks x 10
  CalibrationOptions co;
  co.samples = 24;
  co.batch = 16;
  const CalibrationResult cal =
      calibrate_inputs(*base, digits, data::Vocabulary::builtin(),
                       find_compress_targets(*base, default_compress_targets()), co);
  CHECK(cal.samples == 24);
  CHECK(cal.moments.size() == 50);
  CHECK(std::isfinite(cal.loss));
  CHECK(cal.moments.at("unet.mid.attn.ff.fc2").dim == 128);
  CHECK(base->get_module("unet.mid.attn.ff.fc2")->type_name() == "Linear");  // recorders removed

  CompressOptions o;
  o.rule.param_share = 0.5;
  auto by_svd = tiny_model(1), by_input = tiny_model(1);
  const Tensor dense_out = eps_prediction(*by_svd);
  const CompressionReport rs = compress_model(*by_svd, o, &cal.moments);
  o.method = CompressMethod::Input;
  const CompressionReport ri = compress_model(*by_input, o, &cal.moments);
  REQUIRE(rs.layers.size() == 50);
  REQUIRE(ri.layers.size() == 50);
  CHECK(rs.replaced() == 50);
  CHECK(nn::low_rank_layout(*by_input).size() == 50);
  for (size_t i = 0; i < 50; ++i) {
    CAPTURE(rs.layers[i].name);
    CHECK(rs.layers[i].rank == ri.layers[i].rank);
    CHECK(ri.layers[i].output_error <= rs.layers[i].output_error * (1 + 1e-3) + 1e-6);
    CHECK(rs.layers[i].weight_error <= ri.layers[i].weight_error * (1 + 1e-3) + 1e-6);
    CHECK(2 * rs.layers[i].params_after <= rs.layers[i].params_before + 2 * rs.layers[i].out);  // bias kept
  }
  const auto& fc1 = rs.layers[std::distance(
      rs.layers.begin(), std::find_if(rs.layers.begin(), rs.layers.end(),
                                      [](auto& l) { return l.name == "unet.mid.attn.ff.fc1"; }))];
  CHECK(fc1.rank == 12);  // 32 -> 128: r (32 + 128) <= 0.5 * 4096 = 2048, r = 12.8 rounded down
  CHECK(fc1.params_after == 12 * 160 + 128);
  CHECK(rs.params_before - rs.params_after == rs.model_params_before - rs.model_params_after);
  CHECK(rs.params_after < 0.51 * rs.params_before);
  CHECK(ri.mean_output_error() < rs.mean_output_error());
  // centring (the default) against the plain second moment: never a larger output error; the
  // mean's shift goes to the own bias (ff, to_out), softmax (to_k) or to_out's bias (to_v)
  o.centre = false;
  auto by_plain = tiny_model(1);
  const CompressionReport rp = compress_model(*by_plain, o, &cal.moments);
  for (size_t i = 0; i < 50; ++i) {
    CAPTURE(ri.layers[i].name);
    CHECK(rp.layers[i].centring.empty());
    CHECK(ri.layers[i].output_error <= rp.layers[i].output_error * (1 + 1e-3) + 1e-6);
    const std::string& n = ri.layers[i].name;
    const std::string expected = n.find("ff.fc") != std::string::npos || n.find("to_out") != std::string::npos
                                     ? "own bias"
                                 : n.find("to_k") != std::string::npos ? "softmax"
                                 : n.find("to_v") != std::string::npos ? "to_out bias"
                                                                       : "";
    CHECK(ri.layers[i].centring == expected);
  }
  CHECK(ri.mean_output_error() < rp.mean_output_error());
  // the model still runs, close to the dense one
  const Tensor out_svd = eps_prediction(*by_svd);
  CHECK(out_svd.shape() == dense_out.shape());
  CHECK(std::isfinite(max_abs_diff(out_svd, dense_out)));
  CHECK(rs.to_json()["layers"].size() == 50);
  CHECK(rs.table().find("total: 50 of 50 layers low-rank (svd, params 0.5)") != std::string::npos);
}

// Inputs that vary along one direction d around a large mean mu: x_j = mu + alpha_j d. Centred,
// rank 1 reproduces such a layer exactly (the variation is rank 1, the mean's shift is absorbed);
// the plain second moment spends its one direction on mu + something and cannot.
TEST_CASE("centred input compression at rank 1 is exact for inputs mu + alpha d: bias, to_k, to_v") {
  auto run = [](bool centre) {
    Generator gen(5);
    auto root = std::make_shared<nn::Sequential>();
    auto attn = std::make_shared<nn::MultiHeadAttention>(8, 2, 6, false, true, gen);  // to_k, to_v: no bias
    root->push_back(attn);
    root->push_back(nn::make<nn::Linear>(6, 5, true, gen));
    const Tensor mu = mul_scalar(rand_normal({1, 1, 6}, gen), 3.0f), d = rand_normal({1, 1, 6}, gen);
    const Tensor context = add(mu, mul(rand_normal({2, 5, 1}, gen), d));  // (2, 5, 6)
    const Tensor x = rand_normal({2, 4, 8}, gen);
    auto outputs = [&] {  // the Linear looked up each time: recording and compression swap it
      ag::NoGrad ng;
      return std::make_pair(attn->forward(ag::Var(x), ag::Var(context)).value(),
                            root->get_module("1")->forward(ag::Var(context)).value());
    };
    const auto [dense_attn, dense_fc] = outputs();
    InputMomentsMap moments;
    {
      InputRecording rec(*root, {"0.to_k", "0.to_v", "1"});
      outputs();
      moments = rec.moments();
    }
    CompressOptions o;
    o.method = CompressMethod::Input;
    o.rule.rank = 1;
    o.layers = {"0.to_k", "0.to_v", "1"};
    o.centre = centre;
    const CompressionReport rep = compress_model(*root, o, &moments);
    const auto [attn_out, fc_out] = outputs();
    return std::make_tuple(rep, max_abs_diff(attn_out, dense_attn), max_abs_diff(fc_out, dense_fc));
  };
  const auto [rc, attn_c, fc_c] = run(true);
  REQUIRE(rc.layers.size() == 3);
  CHECK(rc.layers[0].centring == "softmax");
  CHECK(rc.layers[1].centring == "to_out bias");
  CHECK(rc.layers[2].centring == "own bias");
  for (const auto& l : rc.layers) CHECK(l.output_error < 1e-3);
  CHECK(attn_c < 1e-4);
  CHECK(fc_c < 1e-4);
  const auto [rp, attn_p, fc_p] = run(false);
  CHECK(attn_p > 1e-2);
  CHECK(fc_p > 1e-2);
  for (const auto& l : rp.layers) CHECK(l.output_error > 1e-2);
}

TEST_CASE("a compressed model saves and loads like any checkpoint, with the same outputs") {
  const fs::path dir = fs::temp_directory_path() / ("loradiff-test-compress-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto model = tiny_model(2);
  CompressOptions o;
  o.rule.rank = 3;
  o.layers = {"unet.mid.*", "conv1"};  // a Linear set and every ResBlock's 3x3 conv1
  const CompressionReport rep = compress_model(*model, o);
  CHECK(std::isnan(rep.mean_output_error()));  // no calibration data given
  CHECK(model->get_module("unet.down0.res.conv1")->type_name() == "LowRankConv2d");
  CHECK(model->get_module("unet.mid.attn.ff.fc1")->type_name() == "LowRankLinear");
  CHECK(model->get_module("unet.down1.attn.ff.fc1")->type_name() == "Linear");
  const Tensor before = eps_prediction(*model);
  const std::string path = (dir / "c.safetensors").string();
  diffusion::save_model(path, *model, data::Vocabulary::builtin());
  diffusion::LoadedModel lm = diffusion::load_model(path);
  CHECK(lm.metadata.count(nn::kLowRankMetadataKey) == 1);
  CHECK(nn::low_rank_layout(*lm.model) == nn::low_rank_layout(*model));
  CHECK(lm.model->get_module_as<nn::LowRankConv2d>("unet.down0.res.conv1")->rank == 3);
  CHECK(eps_prediction(*lm.model).to_vector() == before.to_vector());
  CHECK(lm.model->num_parameters() == model->num_parameters());
  // the conv's U V is close to its dense kernel's best rank-3 approximation
  for (const auto& l : rep.layers) CHECK(l.weight_error < 1.0);
  // compressing again: the U / V inside low-rank layers are not candidates
  CHECK_THROWS_WITH_AS(compress_model(*lm.model, o),
                       doctest::Contains("pattern 'unet.mid.*' matches no dense"), Error);
  fs::remove_all(dir);
}

TEST_CASE("compress errors: unknown pattern, rank too large (nothing changed), missing calibration") {
  auto model = tiny_model(3);
  const int64_t params = model->num_parameters();
  CompressOptions o;
  o.rule.rank = 4;
  o.layers = {"to_q", "no_such_layer"};
  CHECK_THROWS_WITH_AS(compress_model(*model, o),
                       doctest::Contains("pattern 'no_such_layer' matches no dense"), Error);
  o.layers = {"unet.*.ff.fc1", "unet.down1.attn.self_attn.to_q"};  // to_q is 16 x 16: at most rank 7
  o.rule.rank = 8;
  CHECK_THROWS_WITH_AS(
      compress_model(*model, o),
      doctest::Contains("layer unet.down1.attn.self_attn.to_q (16 -> 16, 256 weights) allows at "
                        "most rank 7"),
      Error);
  CHECK(model->num_parameters() == params);
  CHECK(nn::low_rank_layout(*model).empty());
  o.rule.rank = 2;
  o.method = CompressMethod::Input;
  CHECK_THROWS_WITH_AS(compress_model(*model, o), doctest::Contains("no calibration inputs were recorded"),
                       Error);
  CHECK_THROWS_WITH_AS(parse_compress_method("pca"), doctest::Contains("--method: 'pca' must be svd"), Error);
  // energy 1 needs full rank, which never saves: every layer stays dense
  CompressOptions e;
  e.rule.energy = 1.0;
  const CompressionReport rep = compress_model(*model, e);
  CHECK(rep.replaced() == 0);
  CHECK(rep.params_after == rep.params_before);
  CHECK(rep.layers[0].note.find("kept dense") != std::string::npos);
}
