// `loradiff compress` and `loradiff compress-plot`: low-rank compression of a trained model
// (article claims C1-C3; docs/compression.md). Dense layers become U V products, initialised by
// truncated SVD or by input compression (whitened SVD on calibration data), optionally
// fine-tuned with loss (1); the result loads with `loradiff sample` / `loradiff eval`.
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/guard.h"
#include "apps/option_checks.h"
#include "data/plot.h"
#include "lora/attach.h"
#include "lora/compress.h"
#include "lora/compression_run.h"
#include "tensor/file_io.h"
#include "tensor/interrupt.h"

namespace ld::app {

namespace {

// "default" and "extended" stand for the built-in pattern lists.
std::vector<std::string> expand_layer_patterns(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& p : lora::split_patterns(text)) {
    if (p == "default" || p == "extended") {
      for (const auto& q :
           p == "default" ? lora::default_compress_targets() : lora::extended_compress_targets())
        out.push_back(q);
    } else {
      out.push_back(p);
    }
  }
  return out;
}

void register_compress_run(CLI::App& app, Runner& run) {
  auto o = std::make_shared<lora::CompressRunOptions>();
  auto layers = std::make_shared<std::string>();
  auto quiet = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "compress",
      "replace dense layers by low-rank ones (SVD or input compression), optionally fine-tune (C1-C3)");
  cmd->add_option("--model", o->model, "trained checkpoint to compress")->required();
  cmd->add_option("--out", o->out,
                  "compressed checkpoint to write (loads with sample / eval); required unless --method none "
                  "without fine-tuning (a report only)");
  cmd->add_option("--method", o->method,
                  "svd (truncated SVD of each weight), input (input compression: whitened SVD on calibration "
                  "inputs), or none (only fine-tune the model as it is)")
      ->capture_default_str();
  cmd->add_flag("--no-centring", o->no_centring,
                "input method: whiten with the inputs' plain second moment in every layer, instead of "
                "their covariance where the mean's output shift can be absorbed (a bias, to_k, to_v)");
  auto* r = cmd->add_option("--rank", o->rule.rank, "the same rank r in every selected layer");
  auto* e =
      cmd->add_option("--energy", o->rule.energy,
                      "per layer, the smallest rank keeping this share of sum S^2 (e.g. 0.9); a layer that "
                      "would not shrink stays dense");
  auto* p =
      cmd->add_option("--params", o->rule.param_share,
                      "per layer, the largest rank keeping at most this share of its parameters (0.5 = 50% "
                      "fewer)");
  r->excludes(e)->excludes(p);
  e->excludes(p);
  cmd->add_option(
      "--layers", *layers,
      "comma-separated layer patterns ('*' matches anything, a bare name the last part); 'default' = "
      "the UNet attention projections and feed-forwards, 'extended' = those plus time_proj and the 1x1 "
      "convs (proj_in, proj_out, skip)");
  cmd->add_option("--data", o->data_dir,
                  "MNIST folder: training digits for calibration and fine-tuning, test digits for the "
                  "held-out loss; or an image + caption folder (e.g. colour shapes) used for all three")
      ->capture_default_str();
  cmd->add_option(
         "--calib-samples", o->calib_samples,
         "training digits (at random t) whose layer inputs calibrate --method input (0 = none, svd only)")
      ->capture_default_str();
  cmd->add_option("--calib-batch", o->calib_batch, "batch size of the calibration passes")
      ->capture_default_str();
  cmd->add_option("--heldout-samples", o->heldout_samples, "test digits for the held-out loss (0 = skip)")
      ->capture_default_str();
  cmd->add_option("--captions", o->caption_mode, "captions of the training digits: varied or simple")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "seed of calibration, fine-tuning data order and noise")
      ->capture_default_str();
  cmd->add_option("--finetune-steps", o->finetune_steps,
                  "fine-tuning steps with loss (1) after compression (0 = none)")
      ->capture_default_str();
  cmd->add_option("--batch", o->batch, "fine-tuning batch size")->capture_default_str();
  cmd->add_option("--lr", o->lr, "fine-tuning AdamW learning rate")->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "fine-tuning linear warm-up steps")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "fine-tuning AdamW decoupled weight decay")
      ->capture_default_str();
  cmd->add_option("--clip", o->clip, "clip gradients to this global norm (0 = off)")->capture_default_str();
  cmd->add_option("--ema", o->ema, "EMA decay of the fine-tuned weights that are saved (0 = off)")
      ->capture_default_str();
  cmd->add_flag("--finetune-low-rank-only", o->finetune_low_rank_only,
                "fine-tune only the low-rank layers (U, V, bias); default: every weight");
  cmd->add_option("--bench-reps", o->bench_reps,
                  "time dense vs compressed (replaced layers, training step, DDIM step) this many times, "
                  "alternately (0 = no benchmark)")
      ->capture_default_str();
  cmd->add_option("--bench-batch", o->bench_batch, "batch size of the benchmark")->capture_default_str();
  cmd->add_option("--bench-sample-steps", o->bench_sample_steps, "DDIM steps per timed sampling run")
      ->capture_default_str();
  cmd->add_option("--json", o->json_out, "also write the full report (every layer, losses, timings) as JSON");
  auto overwrite = std::make_shared<bool>(false);
  cmd->add_flag("--overwrite", *overwrite, "replace --out / --json even when they hold another kind of file");
  cmd->add_flag("--no-progress", *quiet, "no progress bar");
  cmd->callback([&run, o, layers, quiet, overwrite] {
    run = [o, layers, quiet, overwrite] {
      check_outputs_distinct({{"--model", o->model}, {"--data", o->data_dir}},
                             {{"--out", o->out}, {"--json", o->json_out}});
      check_output_file({"--out", o->out}, FileKind::Model, *overwrite);
      check_output_file({"--json", o->json_out}, FileKind::Json, *overwrite);
      o->layers = expand_layer_patterns(*layers);
      if (!layers->empty() && o->layers.empty()) fail("--layers: '", *layers, "' holds no pattern");
      o->progress = !*quiet;
      // Ctrl-C: while fine-tuning, save the steps done; before, stop and write nothing
      install_interrupt_handler();
      lora::run_compression(*o, std::cout);
      return 0;
    };
  });
}

// Parameters-vs-quality plots from the JSON lines of tools/run_compression_experiments.sh.
void register_compress_plot(CLI::App& app, Runner& run) {
  struct Args {
    std::string results, out, x = "params", y = "accuracy", series = "series", order, title, x_label, y_label;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("compress-plot",
                                 "plot one number against another from JSON lines, one line per series");
  cmd->add_option("--results", a->results, "JSON lines file (one object per measurement)")->required();
  cmd->add_option("--out", a->out, "PNG to write")->required();
  cmd->add_option("--x", a->x, "key of the x value")->capture_default_str();
  cmd->add_option("--y", a->y, "key of the y value")->capture_default_str();
  cmd->add_option("--series", a->series, "key whose value names the series of a point")
      ->capture_default_str();
  cmd->add_option(
      "--order", a->order,
      "key whose value orders each series' line (default: --x), e.g. guidance for a trade-off curve");
  cmd->add_option("--title", a->title, "plot title");
  cmd->add_option("--x-label", a->x_label, "x axis label (default: the key)");
  cmd->add_option("--y-label", a->y_label, "y axis label (default: the key)");
  cmd->callback([&run, a] {
    run = [a] {
      try {
        check_regular_file(a->results);  // a FIFO or /dev/zero would never end
      } catch (const Error& e) {
        fail("--results: ", e.what());
      }
      check_outputs_distinct({{"--results", a->results}}, {{"--out", a->out}});
      check_output_file({"--out", a->out}, FileKind::Png);
      std::ifstream in(a->results);
      if (!in) fail("--results: cannot open '", a->results, "'");
      std::map<std::string, data::PlotSeries> by_name;
      std::map<std::string, std::vector<double>> order_of;  // per series, the --order value of each point
      std::vector<std::string> order;
      std::string line;
      int64_t lineno = 0, points = 0;
      while (std::getline(in, line)) {
        ++lineno;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        nlohmann::json j;
        try {
          j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
          fail("--results '", a->results, "' line ", lineno, ": not JSON (", e.what(), ")");
        }
        if (!j.is_object() || !j.contains(a->x) || !j.contains(a->y) || !j[a->x].is_number() ||
            !j[a->y].is_number())
          continue;  // a line without both numbers (e.g. a failed run) is not a point
        const std::string name =
            j.contains(a->series)
                ? (j[a->series].is_string() ? j[a->series].get<std::string>() : j[a->series].dump())
                : "all";
        if (!by_name.count(name)) {
          order.push_back(name);
          by_name[name].label = name;
        }
        by_name[name].x.push_back(j[a->x].get<double>());
        by_name[name].y.push_back(j[a->y].get<double>());
        const std::string& ok = a->order.empty() ? a->x : a->order;
        if (!j.contains(ok) || !j[ok].is_number())
          fail("--results '", a->results, "' line ", lineno, ": no number under the --order key '", ok, "'");
        order_of[name].push_back(j[ok].get<double>());
        ++points;
      }
      if (points == 0)
        fail("--results '", a->results, "': no line has numbers under both '", a->x, "' and '", a->y, "'");
      std::vector<data::PlotSeries> series;
      for (const auto& n : order) {
        data::PlotSeries s = by_name[n];
        // points in --order (default x) order, so each series is drawn as one line through them
        const std::vector<double>& key = order_of[n];
        std::vector<size_t> idx(s.x.size());
        for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
        std::sort(idx.begin(), idx.end(), [&](size_t i, size_t k) { return key[i] < key[k]; });
        data::PlotSeries sorted{s.label, {}, {}};
        for (size_t i : idx) {
          sorted.x.push_back(s.x[i]);
          sorted.y.push_back(s.y[i]);
        }
        series.push_back(sorted);
      }
      data::PlotOptions po;
      po.title = a->title.empty() ? a->y + " vs " + a->x : a->title;
      po.x_label = a->x_label.empty() ? a->x : a->x_label;
      po.y_label = a->y_label.empty() ? a->y : a->y_label;
      data::write_line_plot(a->out, series, po);
      std::cout << "wrote " << a->out << " (" << points << " points in " << series.size() << " series)\n";
      return 0;
    };
  });
}

}  // namespace

void register_compress(CLI::App& app, Runner& run) {
  register_compress_run(app, run);
  register_compress_plot(app, run);
}

}  // namespace ld::app
