// Every `loradiff` subcommand with missing, malformed and out-of-range arguments (negative steps,
// rank 0 or larger than the layer, NaN guidance, an unknown sampler, missing files, a folder
// where a file is expected, a file that is not what the option wants): each must exit non-zero
// with one error line that names the argument (the option or the offending value), and never
// crash (a signal), hang, or print a stack trace or sanitizer report. A second check keeps the
// table complete: every command `loradiff --help` lists has at least one case.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "data/image.h"
#include "data/mnist.h"
#include "data/png.h"
#include "diffusion/model_io.h"
#include "lora/adapter_file.h"
#include "lora/attach.h"
#include "nn/classifier.h"
#include "tensor/file_io.h"
#include "tests/apps/cli_fixture.h"
#include "tests/apps/cli_run.h"

namespace fs = std::filesystem;
using namespace ld;

namespace {

using Result = test::ExecResult;
// Runs the binary with `args` (no shell, so arguments may hold spaces), killing it after `timeout_s`.
Result run(const std::vector<std::string>& args, int timeout_s = 120) {
  return test::run_argv(args, timeout_s);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

// What the cases need, made once with the library's own writers in a temporary folder.
struct Fixture {
  fs::path dir;
  Fixture() {
    dir = fs::temp_directory_path() / ("loradiff-bad-args-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir / "adir");
    write_file_atomic((dir / "notes.txt").string(), "not a checkpoint\n");
    // a tiny MNIST, two tiny-config checkpoints (different seeds), an adapter for the first, a
    // classifier, an image + caption folder of 4 pairs (tests/apps/cli_fixture.h)
    test::write_bar_mnist(dir);
    test::write_tiny_models(dir);
    test::write_seven_folder(dir);
    // configs that do not fit the data or the tokenizer
    nlohmann::json c32 = diffusion::load_config("mnist-t2i-tiny").to_json();
    c32["image_size"] = 32;
    write_file_atomic((dir / "config32.json").string(), c32.dump());
    nlohmann::json ct = diffusion::load_config("mnist-t2i-tiny").to_json();
    ct["max_tokens"] = 32;
    write_file_atomic((dir / "config-tokens.json").string(), ct.dump());
  }
  ~Fixture() { fs::remove_all(dir); }

  // "sample --model {model}" -> arguments; {x} is a file or folder of the fixture, {prompt} one
  // argument with spaces.
  std::vector<std::string> args(const std::string& line) const {
    std::vector<std::string> out;
    std::istringstream in(line);
    for (std::string w; in >> w;) {
      if (w == "{prompt}") {
        out.push_back("a handwritten digit seven");
        continue;
      }
      if (w == "{latin1-prompt}") {  // 'é' in Latin-1: not UTF-8
        out.push_back("a s\xE9ven");
        continue;
      }
      if (w == "{two-line-prompt}") {
        out.push_back("a seven\nand a nine");
        continue;
      }
      for (size_t b; (b = w.find('{')) != std::string::npos;) {
        const size_t e = w.find('}', b);
        const std::string key = w.substr(b + 1, e - b - 1);
        const std::string path =
            (dir / (key == "model" || key == "model2" || key == "adapter" || key == "classifier"
                        ? key + ".safetensors"
                    : key == "notes"                              ? "notes.txt"
                    : key == "config32" || key == "config-tokens" ? key + ".json"
                                                                  : key))
                .string();
        w.replace(b, e - b + 1, path);
      }
      out.push_back(w);
    }
    return out;
  }
};

struct Case {
  const char* args;   // placeholders: see Fixture::args
  const char* names;  // the error line must contain this: the argument or the offending value
};

// Missing, malformed and out-of-range arguments, command by command.
const Case kCases[] = {
    {"", "A subcommand is required"},
    {"frobnicate", "unknown command 'frobnicate'"},
    // gradcheck
    {"gradcheck --filter (", "--filter"},
    {"gradcheck --filter no_such_op", "--filter"},
    {"gradcheck --bogus", "--bogus"},
    // bench
    {"bench", "A subcommand is required"},
    {"bench ops --reps 0", "--reps"},
    {"bench ops --reps abc", "--reps"},
    {"bench winograd --reps 0", "--reps"},
    {"bench train --config no-such-config", "--config"},
    {"bench train --batch -1", "--batch"},
    {"bench sample --steps 0", "--steps"},
    {"bench sample --guidance nan --reps 1", "--guidance"},
    {"bench sample --guidance inf --reps 1", "--guidance"},
    {"bench lora --rank 0", "--rank"},
    {"bench lora --rank 5000", "--rank"},
    // data
    {"data", "A subcommand is required"},
    {"data nosuch", "unknown command 'nosuch'"},
    {"data fetch-mnist --from {missing} --out {out}", "--from"},
    {"data fetch-mnist --tgz {adir} --out {out}", "adir"},
    {"data fetch-mnist --tgz {notes} --out {out}", "notes.txt"},
    {"data export-mnist --digit 10 --out {out}", "--digit"},
    {"data export-mnist --digit -1 --out {out}", "--digit"},
    {"data export-mnist --digit 3", "--out is required"},
    {"data export-mnist --digit 3 --n 0 --out {out} --data {mnist}", "--n"},
    {"data export-mnist --digit 3 --out {out} --data {missing}", "missing"},
    {"data export-mnist --digit 3 --out {out} --data {mnist} --split val", "'val'"},
    {"data export-mnist --digit 3 --out {notes} --data {mnist}", "--out"},
    {"data export-mnist --digit 3 --out {out} --seed -5", "--seed"},
    {"data export-mnist --digit 3.5 --out {out}", "--digit"},
    {"data info --data {missing}", "missing"},
    {"data info --data {notes}", "notes.txt"},
    {"data make-shapes --out {out} --n 0", "--n"},
    {"data make-shapes --out {out} --two-shape-fraction 2", "--two-shape-fraction"},
    {"data make-shapes --out {out} --exclude hexagon", "'hexagon' is not a shape"},
    {"data make-shapes --out {out} --exclude red", "a colour alone cannot be left out"},
    {"data make-shapes --out {notes} --n 2", "--out"},
    {"data make-shapes --out {out} --seed -1", "--seed"},
    {"data make-shapes --n 2", "--out is required"},
    {"data check-folder {missing} --channels 2", "--channels"},
    {"data check-folder {images} --vocab {missing}", "missing"},
    {"data check-folder {missing}", "missing"},
    {"data check-folder {notes}", "notes.txt"},
    {"data check-folder {images} --invert sideways", "'sideways'"},
    {"data check-folder {images} --size 0", "--size"},
    {"data check-folder {images} --min -3", "--min"},
    {"data check-folder {images} --min 100", "images"},
    {"data tokenize", "text is required"},
    {"data tokenize {latin1-prompt}", "text: not valid UTF-8 at byte 3"},
    // classifier
    {"classifier", "A subcommand is required"},
    {"classifier train --epochs 0", "--epochs"},
    {"classifier train --batch-size 0", "--batch-size"},
    {"classifier train --lr nan", "--lr"},
    {"classifier train --lr -1", "--lr"},
    {"classifier train --max-shift 9", "--max-shift"},
    {"classifier train --seed -1", "--seed"},
    {"classifier train --epochs 1e30", "--epochs"},
    {"classifier train --data {missing} --out {out}", "missing"},
    {"classifier eval --model {missing} --data {mnist}", "missing"},
    {"classifier eval --model {adir} --data {mnist}", "adir"},
    {"classifier eval --model {model} --data {mnist}", "not a loradiff classifier"},
    {"classifier eval --model {classifier} --data {mnist} --split val", "'val'"},
    // train
    {"train", "--out is required"},
    {"train --out {out} --steps -5", "--steps"},
    {"train --out {out} --steps abc", "--steps"},
    {"train --out {out} --batch 0", "--batch"},
    {"train --out {out} --batch 1000 --data {mnist}", "--batch"},
    {"train --out {out} --lr nan", "--lr"},
    {"train --out {out} --prediction-type x0", "--prediction-type"},
    {"train --out {out} --lr -1", "--lr"},
    {"train --out {out} --ema 1.5", "--ema"},
    {"train --out {out} --warmup -1", "--warmup"},
    {"train --out {out} --clip nan", "--clip"},
    {"train --out {out} --exclude-digits 11", "--exclude-digits"},
    {"train --out {out} --captions weird --data {mnist} --batch 8", "'weird'"},
    {"train --out {out} --captions weird",
     "--captions: 'weird' is not simple, varied, ru, ru-varied or ru-simple"},
    {"train --out {out} --val-fraction 0.9", "--val-fraction: 0.9"},
    {"train --out {out} --vocab-size 2", "--vocab-size: 2"},
    {"train --out {out} --config no-such-config", "--config"},
    {"train --out {out} --config {adir}", "adir"},
    {"train --out {out} --config {notes}", "notes.txt"},
    {"train --out {out} --data {missing}", "missing"},
    {"train --out {notes} --data {mnist}", "--out"},
    {"train --out {out} --batch 1000000 --data {mnist}", "--batch 1000000 needs about"},
    {"train --out {out} --steps 1.5", "--steps"},
    {"train --out {out} --steps 99999999999999999999", "--steps"},
    {"train --out {out} --steps 0x10", "--steps"},
    {"train --out {out} --seed -1", "--seed"},
    {"train --out {out} --seed 18446744073709551616", "--seed"},
    {"train --out {out} --seed 1e30", "--seed"},
    {"train --out {out} --ema nan", "--ema"},
    {"train --out {out} --weight-decay inf", "--weight-decay"},
    {"train --out {out} --sample-steps 0", "--sample-steps"},
    {"train --out {out} --sample-steps 5000 --config mnist-t2i-tiny --data {mnist}", "--sample-steps"},
    {"train --out {out} --eval-batches 0", "--eval-batches"},
    {"train --out {out} --max-train-samples -1", "--max-train-samples"},
    {"train --out {out} --checkpoint-every -1", "--checkpoint-every"},
    {"train --out {out} --exclude-digits 3,x", "--exclude-digits"},
    {"train --out {out} --config {config32} --data {mnist}", "has image_size 32 but the data"},
    {"train --out {out} --config {config-tokens} --data {mnist}", "'max_tokens' must be 16"},
    // sample
    {"sample --model {model} --prompt {prompt}", "--out is required"},
    {"sample --prompt {prompt} --out {out}.png", "--model is required"},
    {"sample --model {missing} --prompt {prompt} --out {out}.png", "missing"},
    {"sample --model {adir} --prompt {prompt} --out {out}.png", "adir"},
    {"sample --model {notes} --prompt {prompt} --out {out}.png", "notes.txt"},
    {"sample --model {adapter} --prompt {prompt} --out {out}.png", "adapter.safetensors"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --sampler heun", "--sampler"},
    {"sample --model {model} --out {out}.png", "--prompt"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --negative-prompt {two-line-prompt}",
     "--negative-prompt: control character"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --strength 0.5", "--strength"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --init-image {images}/seven0.png --strength "
     "1.5",
     "--strength"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --init-image {images}/seven0.png --strength "
     "nan",
     "--strength"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --mask {images}/seven0.png", "--mask"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --init-image {missing}", "--init-image"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --init-image {notes}", "--init-image"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --init-image {adir}", "--init-image"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --init-image {images}/seven0.png --mask "
     "{notes}",
     "--mask"},
    {"sample --model {model} --prompt {prompt} --init-image {images}/seven0.png --out {images}/seven0.png",
     "--init-image"},
    {"sample --model {model} --from-png {images}/seven0.png --out {out}.png",
     "has no 'parameters' text chunk"},
    {"sample --model {model} --from-png {missing} --out {out}.png", "--from-png"},
    {"sample --model {model} --from-png {notes} --out {out}.png", "--from-png"},
    {"sample --model {model} --from-png {images}/seven0.png --seed 3 --out {out}.png", "--from-png: --seed"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --guidance nan", "--guidance"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --guidance -1", "--guidance"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --steps 0", "--steps"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --steps -3", "--steps"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --steps 5000", "--steps"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --n 0", "--n"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --eta -1", "--eta"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --batch 0", "--batch"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --lora {missing}", "missing"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --lora {model}",
     "not a loradiff LoRA adapter"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --lora {adapter}:nan", "--lora"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --lora {adapter}:0.8:left=1",
     "unknown block or key 'left'"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --lora {adapter}:0.8:up=x",
     "the value of up 'x'"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --lora {adapter}:0.8:start=0.6,end=0.5",
     "below end"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --lora {adapter}:0.8:end=2", "in [0, 1]"},
    {"sample --model {model} --prompt {prompt} --out {adir} --n 1 --steps 1", "adir"},
    {"sample --model {model} --prompt {prompt} --out {missing}/s.png --n 1 --steps 1", "missing"},
    {"sample --model {model} --prompt {prompt} --out {missing}/s.png",
     "--out"},  // before 64 images are sampled
    {"sample --model {model} --prompt {prompt} --out {out}.png --out-dir {notes}", "--out-dir"},
    {"eval --model {model} --classifier {classifier} --data {mnist} --json {missing}/e.json", "--json"},
    {"compress --model {model} --out {missing}/c.safetensors --rank 2", "--out"},
    {"compress --model {model} --out {out}.safetensors --rank 2 --json {adir}", "--json"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --eta 1.5", "--eta"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --eta nan", "--eta"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --guidance inf", "--guidance"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --guidance 1e39", "--guidance"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --n 100000000",
     "--n 100000000 images x 1 prompt(s) needs about"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --n 500000",
     "--n 500000 images x 1 prompt(s)"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --n 1e99", "--n"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --seed -5", "--seed"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --seed 1e30", "--seed"},
    {"sample --model {model} --prompt {prompt} --out {out}.png --steps 2.5", "--steps"},
    {"sample --model {model} --prompt {latin1-prompt} --out {out}.png",
     "--prompt: not valid UTF-8 at byte 3"},
    {"sample --model {model} --prompt {two-line-prompt} --out {out}.png", "--prompt: control character"},
    // eval
    {"eval --model {model}", "--classifier is required"},
    {"denoiser-error --model {model} --data {mnist} --t 1000", "--t: 1000 must be between 0 and 999"},
    {"denoiser-error --model {notes} --data {mnist}", "notes.txt"},
    {"denoiser-error --model {model} --data {mnist} --json {model}", "--json"},
    {"denoiser-error --model {model} --data {images}", "t10k-images-idx3-ubyte.gz' does not exist"},
    {"eval --model {model} --classifier {classifier} --data {mnist} --sampler heun", "--sampler"},
    {"eval --model {model} --classifier {missing}", "missing"},
    {"eval --model {model} --classifier {adir}", "adir"},
    {"eval --model {model} --classifier {model} --data {mnist}", "not a loradiff classifier"},
    {"eval --model {model} --classifier {classifier} --data {mnist} --n-per-digit 0", "--n-per-digit"},
    {"eval --model {model} --classifier {classifier} --data {mnist} --digits 12", "--digits"},
    {"eval --model {model} --classifier {classifier} --data {mnist} --sampler foo", "--sampler"},
    {"eval --model {model} --classifier {classifier} --data {mnist} --guidance nan", "--guidance"},
    {"eval --model {model} --classifier {classifier} --data {mnist} --steps 0", "--steps"},
    {"eval --model {model} --classifier {classifier} --data {mnist} --batch 0", "--batch"},
    {"eval --model {model} --classifier {classifier} --data {missing}", "missing"},
    {"eval --model {model} --classifier {classifier} --data {mnist} --n-per-digit 1e9",
     "--n-per-digit 1000000000"},
    {"eval --model {model} --classifier {classifier} --data {mnist} --n-per-digit 1", "--n-per-digit"},
    {"eval --model {model} --classifier {classifier} --data {mnist} --seed -1", "--seed"},
    {"eval --model {model} --classifier {classifier} --data {mnist} --guidance inf", "--guidance"},
    {"eval --model {model} --dataset pictures", "--dataset"},
    {"eval --model {model} --dataset shapes --exclude hexagon", "'hexagon' is not a shape"},
    {"eval --model {model} --dataset shapes --n-prompts 0", "--n-prompts"},
    {"eval --model {model} --dataset shapes --two-shape-fraction -1", "--two-shape-fraction"},
    {"eval --model {model} --dataset shapes --prompts {missing}", "missing"},
    {"eval --model {model} --dataset shapes --prompts {notes}", "--prompts"},
    {"eval --model {model} --dataset shapes --n-prompts 2 --steps 2", "the shapes judge needs colour"},
    // lora
    {"lora", "A subcommand is required"},
    {"lora frobnicate", "unknown command 'frobnicate'"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --batch 2 --rank 0", "--rank"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --batch 2 --rank 100000", "--rank"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --batch 2 --alpha nan", "--alpha"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --batch 2 --dropout 1.5",
     "--dropout"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --batch 2 --steps -1", "--steps"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --batch 2 --lr nan", "--lr"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --batch 2 --targets nomatch",
     "--targets"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --batch 100", "--batch"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --batch 2 --prior-weight -1",
     "--prior-weight"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --batch 2 --save-every -1",
     "--save-every"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --batch 2 --reg {missing}",
     "missing"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --batch 2 --resume", "--resume"},
    {"lora train --base {model} --data {missing} --out {out}.safetensors", "missing"},
    {"lora train --base {model} --data {notes} --out {out}.safetensors", "notes.txt"},
    {"lora train --base {missing} --data {images} --out {out}.safetensors", "missing"},
    {"lora train --base {adir} --data {images} --out {out}.safetensors", "adir"},
    {"lora train --base {adapter} --data {images} --out {out}.safetensors", "adapter.safetensors"},
    {"lora train --base {model} --data {images} --out {adir} --batch 2 --steps 1", "--out"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --alpha 1e39", "--alpha"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --dropout 1", "--dropout"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --eval-repeats 0", "--eval-repeats"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --sample-steps 0", "--sample-steps"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --seed -1", "--seed"},
    {"lora train --base {model} --data {images} --out {out}.safetensors --batch 1000000",
     "--batch 1000000 needs about"},
    {"lora merge --base {model} --lora {missing} --out {out}.safetensors", "missing"},
    {"lora merge --base {model} --lora {adapter} --out {adir}", "adir"},
    {"lora merge --base {adir} --lora {adapter} --out {out}.safetensors", "adir"},
    {"lora merge --base {model} --lora {adapter}:inf --out {out}.safetensors", "--lora"},
    {"lora merge --base {model} --lora {adapter}:0.5:start=0.5 --out {out}.safetensors", "step range"},
    {"lora merge --out-lora {out}.safetensors {adapter}:0.5:start=0.2", "step range"},
    {"lora merge --out-lora {adapter} {adapter}", "--out-lora"},
    {"lora merge --out-lora {out}.safetensors --base {model} {adapter}", "--out-lora"},
    {"lora merge --out-lora {out}.safetensors {adapter} --rank 99999", "--rank"},
    {"lora merge --base {model} --out {out}.safetensors", "adapters"},
    {"lora convert {adapter} --to onnx --out {out}.safetensors", "--to"},
    {"lora convert {model} --to kohya --out {out}.safetensors", "not a loradiff LoRA adapter"},
    {"lora convert {adapter} --to kohya --out {adapter}", "--out"},
    {"lora convert {adapter} --to peft --out {notes}", "--out"},
    {"lora convert {missing} --to peft --out {out}", "missing"},
    {"lora extract --base {model} --tuned {model2} --out {out}.safetensors --rank 0", "--rank"},
    {"lora extract --base {model} --tuned {model2} --out {out}.safetensors --alpha -1", "--alpha"},
    {"lora extract --base {model} --tuned {model2} --out {out}.safetensors --rank 100000", "--rank"},
    {"lora extract --base {model} --tuned {missing} --out {out}.safetensors", "missing"},
    {"lora extract --base {model} --tuned {classifier} --out {out}.safetensors", "classifier.safetensors"},
    {"lora extract --base {model} --tuned {model2} --out {out}.safetensors --targets nomatch", "--targets"},
    {"lora extract --base {model} --tuned {model2} --out {out}.safetensors --alpha nan", "--alpha"},
    {"lora resize --in {adapter} --out {out}.safetensors --rank 0", "--rank"},
    {"lora resize --in {adapter} --out {out}.safetensors --rank 3", "--rank"},
    {"lora resize --in {adapter} --out {out}.safetensors", "--rank"},
    {"lora resize --in {adapter} --out {out}.safetensors --rank 2 --energy 0.5", "--energy"},
    {"lora resize --in {adapter} --out {out}.safetensors --energy 1.5", "--energy"},
    {"lora resize --in {adapter} --out {out}.safetensors --energy nan", "--energy"},
    {"lora resize --in {adapter} --out {out}.safetensors --energy 0", "--energy"},
    {"lora resize --in {missing} --out {out}.safetensors --rank 1", "missing"},
    {"lora resize --in {model} --out {out}.safetensors --rank 1", "not a loradiff LoRA adapter"},
    {"lora info {missing}", "missing"},
    {"lora info {adir}", "adir"},
    {"lora info {model}", "not a loradiff LoRA adapter"},
    {"lora info {notes}", "notes.txt"},
    // compress
    {"compress --model {model}", "--out"},
    {"compress --model {model} --out {out}.safetensors --method foo", "--method"},
    {"compress --model {model} --out {out}.safetensors --rank -2", "--rank"},
    {"compress --model {model} --out {out}.safetensors --energy 2", "--energy"},
    {"compress --model {model} --out {out}.safetensors --energy nan", "--energy"},
    {"compress --model {model} --out {out}.safetensors --params 1.5", "--params"},
    {"compress --model {model} --out {out}.safetensors --rank 2 --energy 0.5", "--energy"},
    {"compress --model {model} --out {out}.safetensors --rank 2 --lr nan --finetune-steps 1", "--lr"},
    {"compress --model {model} --out {out}.safetensors --rank 100000 --data {mnist}", "--rank"},
    {"compress --model {model} --out {out}.safetensors --rank 2 --layers nomatch --data {mnist}", "--layers"},
    {"compress --model {missing} --out {out}.safetensors --rank 2", "missing"},
    {"compress --model {model} --out {out}.safetensors --rank 2 --ema 1", "--ema"},
    {"compress --model {model} --out {out}.safetensors --rank 2 --calib-batch 0", "--calib-batch"},
    {"compress --model {model} --out {out}.safetensors --rank 2 --heldout-samples -1", "--heldout-samples"},
    {"compress --model {model} --out {out}.safetensors --rank 2 --bench-batch 0", "--bench-batch"},
    {"compress --model {model} --out {out}.safetensors --rank 2 --seed -1", "--seed"},
    {"compress --model {model} --out {out}.safetensors --rank 2 --captions weird",
     "--captions: 'weird' is not simple or varied"},
    {"compress --model {model} --out {out}.safetensors --rank 2 --finetune-steps 1 --batch 100000000",
     "--batch 100000000 needs about"},
    {"compress-plot --results {missing} --out {out}.png", "--results"},
    {"compress-plot --results {notes} --out {out}.png", "--results"},
};

// The lines that report the error: loradiff's own, or CLI11's (its first line; exit codes 100-115).
std::vector<std::string> error_lines(const Result& r) {
  std::vector<std::string> out;
  const std::vector<std::string> lines = lines_of(r.output);
  for (const auto& l : lines)
    if (l.rfind("loradiff: error: ", 0) == 0 || l.rfind("loradiff: unknown command", 0) == 0)
      out.push_back(l);
  if (out.empty() && r.code >= 100 && r.code <= 115 && !lines.empty()) out.push_back(lines[0]);
  return out;
}

// The leaf commands `--help` lists: "train", "data fetch-mnist", ...
std::vector<std::string> listed_commands(const std::string& group = "") {
  std::vector<std::string> args;
  if (!group.empty()) args.push_back(group);
  args.push_back("--help");
  const Result r = run(args);
  std::vector<std::string> out;
  bool in_list = false;
  for (const auto& l : lines_of(r.output)) {
    if (l == "Subcommands:") {
      in_list = true;
      continue;
    }
    if (l[0] != ' ') in_list = false;  // the next section
    if (!in_list || l.size() < 3) continue;
    const std::string name = l.substr(2, l.find(' ', 2) - 2);
    const std::string path = group.empty() ? name : group + " " + name;
    std::vector<std::string> sub = group.empty() ? listed_commands(name) : std::vector<std::string>{};
    if (sub.empty()) out.push_back(path);
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

}  // namespace

TEST_CASE("every bad command line exits non-zero with one error line naming the argument") {
  Fixture fx;
  int n = 0;
  for (const Case& c : kCases) {
    std::string line = c.args;
    for (size_t at; (at = line.find("{out}")) != std::string::npos;)
      line.replace(at, 5, "{out" + std::to_string(n) + "}");  // a fresh output path per case
    ++n;
    const Result r = run(fx.args(line));
    INFO("loradiff ", std::string(c.args), "\n--- output:\n", r.output);
    CHECK_FALSE(r.timed_out);
    REQUIRE(r.exited);  // not killed by a signal (a crash)
    CHECK(r.code != 0);
    CHECK(r.code < 128);
    for (const char* crash : {"terminate called", "Aborted", "Segmentation fault", "AddressSanitizer",
                              "LeakSanitizer", "runtime error:", "what():", "core dumped", "#0 0x"})
      CHECK(r.output.find(crash) == std::string::npos);
    const std::vector<std::string> errors = error_lines(r);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find(c.names) != std::string::npos);
  }
}

TEST_CASE("the table covers every command that --help lists") {
  std::set<std::string> covered;
  for (const Case& c : kCases) {
    std::istringstream in(c.args);
    std::string first, second;
    in >> first >> second;
    covered.insert(first);
    covered.insert(first + " " + second);
  }
  const std::vector<std::string> commands = listed_commands();
  CHECK(commands.size() >= 20);
  for (const std::string& cmd : commands) {
    INFO("`loradiff ", cmd, "` has no case in kCases");
    CHECK(covered.count(cmd) == 1);
  }
}

TEST_CASE("every numeric option of every command has a range, checked while parsing") {
  // Every number loradiff takes is >= 0, so "-1" must be refused by each, as must a non-number,
  // values no integer type holds and (for real numbers) nan and inf. The refusal must come from
  // the parser (CLI11's exit codes 100-115, naming the option), before required options are
  // even looked at: i.e. before any work. An option added without an entry in
  // apps/option_checks.cpp fails here.
  int checked = 0;
  for (const std::string& cmd : listed_commands()) {
    std::vector<std::string> words;
    std::istringstream in(cmd);
    for (std::string w; in >> w;) words.push_back(w);
    std::vector<std::string> help_args = words;
    help_args.push_back("--help");
    bool in_options = false;
    for (const std::string& line : lines_of(run(help_args).output)) {
      if (line == "Options:") in_options = true;
      if (!in_options || line.rfind("  --", 0) != 0) continue;
      std::istringstream l(line);
      std::string name, type;
      l >> name >> type;
      type = type.substr(0, type.find_first_of(":="));
      if (type != "INT" && type != "UINT" && type != "FLOAT") continue;
      std::vector<std::string> bad = {"-1", "abc"};
      if (type == "FLOAT")
        bad.insert(bad.end(), {"nan", "inf"});
      else
        bad.insert(bad.end(), {"1e30", "1.5"});
      for (const std::string& value : bad) {
        std::vector<std::string> args = words;
        args.push_back(name);
        args.push_back(value);
        const Result r = run(args, 30);
        INFO("loradiff ", cmd, " ", name, " ", value, "\n--- output:\n", r.output);
        CHECK(r.exited);
        CHECK(r.code >= 100);
        CHECK(r.code <= 115);
        const std::vector<std::string> errors = error_lines(r);
        REQUIRE(errors.size() == 1);
        CHECK(errors[0].rfind(name + ":", 0) == 0);
        ++checked;
      }
    }
  }
  CHECK(checked >= 300);  // about 90 numeric options
}
