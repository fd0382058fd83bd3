// Tests of `--lora FILE:W[:down=a,mid=b,up=c,te=d][:start=s,end=e]` (lora/adapter_file.h): per-block
// weights and step ranges at generation time, Eq. (LoRA) W' = W + w (alpha / r) B A with w per block.
// Exactness: every block at W is bit-identical to FILE:W, every block at 0 to the base, start=0,end=1 to
// the plain spec; `lora merge` with block weights equals run-time application; bad specs fail in one line.
#include <doctest/doctest.h>

#include <cmath>

#include "data/vocab.h"
#include "diffusion/model_io.h"
#include "diffusion/sampler.h"
#include "lora/adapter_file.h"
#include "lora/attach.h"
#include "tensor/elementwise.h"
#include "tests/lora/lora_fixture.h"
#include "tests/temp_dir.h"
#include "tests/tensor_compare.h"

using namespace ld;
using namespace ld::lora;
using ld::test::max_abs_diff;

namespace {

using ld::test::TempDir;
using ld::test::tiny_model;
using ld::test::two_prompts;

// An adapter with random B on the UNet attention and the text encoder, saved to `path`.
void write_adapter(const std::string& path) {
  auto model = tiny_model();
  LoRAConfig c;
  c.rank = 2;
  c.alpha = 3;
  c.targets = default_targets();
  for (const auto& t : text_encoder_targets()) c.targets.push_back(t);
  attach_lora(*model, c, "mine");
  ld::test::randomize_up(*model, 9);
  Adapter a = adapter_from_model(*model, "mine");
  a.targets = c.targets;
  save_adapter(path, a);
}

// A short DDIM run of the tiny model with the specs loaded (and their step schedule hooked).
Tensor sample_with(const std::vector<std::string>& specs, bool hook = true) {
  auto model = tiny_model();
  const auto reports = load_lora_specs(*model, specs);
  return ld::test::sample_tiny(*model, 4, hook ? adapter_step_schedule(*model, reports) : nullptr);
}

Tensor eps_of(diffusion::TextToImageModel& m) {
  Generator gen(3);
  ag::NoGrad ng;
  m.eval();
  return m.forward(Var(rand_normal({2, 1, 28, 28}, gen)), Tensor::from_ints({3, 500}, {2}), two_prompts())
      .value();
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.contiguous().to_vector() == b.contiguous().to_vector();
}

}  // namespace

TEST_CASE("--lora specs: weight, per-block weights, step range; bad specs fail in one line") {
  LoRASpec s = parse_lora_spec("a.safetensors:0.8:down=0.5,mid=1:start=0.25,end=0.75");
  CHECK(s.path == "a.safetensors");
  CHECK(s.weight == doctest::Approx(0.8));
  CHECK(s.blocks.at("down") == 0.5f);
  CHECK(s.blocks.at("mid") == 1.0f);
  CHECK(s.start == 0.25f);
  CHECK(s.end == 0.75f);
  CHECK(s.weight_for("unet.down1.attn.self_attn.to_q") == 0.5f);
  CHECK(s.weight_for("unet.up1.attn.self_attn.to_q") == doctest::Approx(0.8));  // not named: W
  CHECK(s.weight_for("text.layers.0.attn.to_q") == doctest::Approx(0.8));
  s = parse_lora_spec("dir/a.safetensors:te=0,up=2");  // no W: 1
  CHECK(s.path == "dir/a.safetensors");
  CHECK(s.weight == 1.0f);
  CHECK(s.weight_for("text.layers.0.attn.to_q") == 0.0f);
  CHECK(s.weight_for("unet.up2.attn.cross_attn.to_v") == 2.0f);
  CHECK(!s.has_range());
  CHECK(lora_block_of("unet.mid.attn.self_attn.to_k") == "mid");
  CHECK(lora_block_of("unet.conv_in") == "");
  CHECK(parse_lora_spec("dir:x/a.safetensors").path == "dir:x/a.safetensors");

  auto refused = [](const std::string& spec, const std::string& what) {
    CAPTURE(spec);
    try {
      parse_lora_spec(spec);
      FAIL("accepted");
    } catch (const Error& e) {
      const std::string msg = e.what();
      CHECK_MESSAGE(msg.find(what) != std::string::npos, msg);
      CHECK(msg.find('\n') == std::string::npos);
      CHECK(msg.find("--lora '" + spec + "'") != std::string::npos);
    }
  };
  refused("a.safetensors:0.8:left=1", "unknown block or key 'left'");
  refused("a.safetensors:0.8:down=x", "the value of down 'x' is not a number");
  refused("a.safetensors:0.8:down=inf", "must be a finite number");
  refused("a.safetensors:0.8:start=0.5,end=0.5", "must be below end");
  refused("a.safetensors:0.8:start=0.7,end=0.2", "must be below end");
  refused("a.safetensors:0.8:end=1.5", "in [0, 1]");
  refused("a.safetensors:0.8:start=-0.1", "in [0, 1]");
  refused("a.safetensors:heavy:up=1", "the weight 'heavy' is not a number");
  refused("a.safetensors:0.8:up", "is not key=value");
  refused("a.safetensors:up=1,up=2", "'up' is given twice");
}

TEST_CASE("block weights and step ranges: the exact cases are bit-identical") {
  TempDir tmp("test-lora-spec");
  const std::string f = tmp / "a.safetensors";
  write_adapter(f);
  const Tensor plain = sample_with({f + ":0.7"});
  const Tensor base = sample_with({});
  REQUIRE(max_abs_diff(plain, base) > 1e-3);  // the adapter does something, else nothing is tested
  CHECK(same_bits(sample_with({f + ":0.7:down=0.7,mid=0.7,up=0.7,te=0.7"}), plain));
  CHECK(same_bits(sample_with({f + ":0.7:down=0,mid=0,up=0,te=0"}), base));
  CHECK(same_bits(sample_with({f + ":0.7:start=0,end=1"}), plain));
  // a real range differs from both, and is what the hook makes of it
  const Tensor half = sample_with({f + ":0.7:start=0.5,end=1"});
  CHECK(max_abs_diff(half, plain) > 1e-4);
  CHECK(max_abs_diff(half, base) > 1e-4);
  CHECK(same_bits(sample_with({f + ":0.7:start=0,end=0.25"}, true),
                  sample_with({f + ":0.7:start=0,end=0.25"})));
  // a block at another weight changes the output
  CHECK(max_abs_diff(sample_with({f + ":0.7:te=0"}), plain) > 1e-5);
}

TEST_CASE("the step schedule switches the adapter's weight: start <= index / total < end") {
  TempDir tmp("test-lora-schedule");
  const std::string f = tmp / "a.safetensors";
  write_adapter(f);
  auto model = tiny_model();
  const auto reports = load_lora_specs(*model, {f + ":0.5:up=2:start=0.25,end=0.75"});
  auto hook = adapter_step_schedule(*model, reports);
  REQUIRE(hook);
  auto weight_of = [&](const std::string& layer) {
    auto l = std::dynamic_pointer_cast<LoRALayer>(model->get_module(layer));
    return l->adapter(static_cast<size_t>(l->find_adapter("a"))).weight;
  };
  const std::string up = "unet.up1.attn.self_attn.to_q", te = "text.layers.0.attn.to_q";
  const std::vector<std::pair<int64_t, bool>> steps{{0, false}, {1, true}, {2, true}, {3, false}};
  for (auto [i, on] : steps) {
    hook(i, 4);
    CAPTURE(i);
    CHECK(weight_of(up) == (on ? 2.0f : 0.0f));
    CHECK(weight_of(te) == (on ? 0.5f : 0.0f));
  }
  CHECK(!adapter_step_schedule(*model, load_lora_specs(*tiny_model(), {f})));  // no range: no hook
}

TEST_CASE("merging with block weights equals applying them at run time (float tolerance)") {
  TempDir tmp("test-lora-spec-merge");
  const std::string f = tmp / "a.safetensors";
  write_adapter(f);
  const std::vector<std::string> specs{f + ":0.7:down=0.3,up=1.2,te=0.5"};
  auto run_time = tiny_model();
  load_lora_specs(*run_time, specs);
  auto merged = tiny_model();
  load_lora_specs(*merged, specs);
  merge_lora(*merged);
  remove_lora(*merged);
  const Tensor a = eps_of(*run_time), b = eps_of(*merged), base = eps_of(*tiny_model());
  REQUIRE(max_abs_diff(a, base) > 1e-3);
  CHECK(max_abs_diff(a, b) < 1e-5);
}
