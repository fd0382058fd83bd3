#!/usr/bin/env bash
# tools/run_compression_experiments.sh: the compression experiments (article claims C1-C3,
# docs/compression.md) for one trained base checkpoint:
#
#   for each method (svd, input) and each share of the replaced layers' parameters kept
#   (0.75, 0.5, 0.25 = 25 %, 50 %, 75 % fewer):
#     compress (calibration, per-layer errors, held-out loss, paired dense / low-rank timings)
#       -> loradiff eval (prompt accuracy, Frechet distance)           "before fine-tuning"
#     fine-tune the compressed model FT_STEPS steps with loss (1)
#       -> loradiff eval                                                "after fine-tuning"
#   plus the dense base as it is, and the dense base fine-tuned FT_STEPS steps the same way
#   (so "after fine-tuning" rows can be told apart from the effect of extra training).
# Series names in results.jsonl and the plots: svd, input (before fine-tuning), svd ft, input ft
# (after), dense, dense ft.
#
# Usage: tools/run_compression_experiments.sh BASE.safetensors CLASSIFIER.safetensors [OUT_DIR]
# Writes OUT_DIR/results.jsonl (one JSON object per row), OUT_DIR/*.json (full reports),
# OUT_DIR/params_vs_accuracy.png, params_vs_frechet.png, params_vs_heldout_loss.png.
# Re-running skips the rows whose JSON files already exist.
#
# Settings (environment):
#   LORADIFF (build/release/apps/loradiff)  DATA (data/mnist)      METHODS ("svd input")
#   SHARES ("0.75 0.5 0.25")                 LAYERS (default)        FT_STEPS (500)
#   FT_LR (1e-4)   FT_BATCH (64)   CALIB (512)   HELDOUT (1024)   BENCH_REPS (3)   BENCH_BATCH (64)
#   N_PER_DIGIT (100)   EVAL_STEPS (50)   GUIDANCE (3)   ETA (0)   SEED (0)
# A quick smoke run: FT_STEPS=20 N_PER_DIGIT=10 EVAL_STEPS=10 CALIB=64 HELDOUT=128 BENCH_REPS=1.
set -euo pipefail

if [ $# -lt 2 ]; then
  sed -n '2,26p' "$0"
  exit 2
fi
BASE="$1"
CLASSIFIER="$2"
OUT="${3:-runs/compression}"
BIN="${LORADIFF:-build/release/apps/loradiff}"
DATA="${DATA:-data/mnist}"
METHODS="${METHODS:-svd input}"
SHARES="${SHARES:-0.75 0.5 0.25}"
LAYERS="${LAYERS:-default}"
FT_STEPS="${FT_STEPS:-500}"
FT_LR="${FT_LR:-1e-4}"
FT_BATCH="${FT_BATCH:-64}"
CALIB="${CALIB:-512}"
HELDOUT="${HELDOUT:-1024}"
BENCH_REPS="${BENCH_REPS:-3}"
BENCH_BATCH="${BENCH_BATCH:-64}"
N_PER_DIGIT="${N_PER_DIGIT:-100}"
EVAL_STEPS="${EVAL_STEPS:-50}"
GUIDANCE="${GUIDANCE:-3}"
SEED="${SEED:-0}"

for f in "$BASE" "$CLASSIFIER" "$BIN"; do
  [ -e "$f" ] || { echo "run_compression_experiments: '$f' does not exist" >&2; exit 1; }
done
command -v jq > /dev/null || { echo "run_compression_experiments: needs jq (apt-get install jq)" >&2; exit 1; }
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"

common=(--data "$DATA" --heldout-samples "$HELDOUT" --seed "$SEED" --no-progress)
finetune=(--finetune-steps "$FT_STEPS" --lr "$FT_LR" --batch "$FT_BATCH")

# eval MODEL JSON: prompt accuracy and Frechet distance of N_PER_DIGIT digits per prompt
evaluate() {
  [ -s "$2" ] || "$BIN" eval --model "$1" --classifier "$CLASSIFIER" --data "$DATA" --n-per-digit "$N_PER_DIGIT" \
    --steps "$EVAL_STEPS" --guidance "$GUIDANCE" --eta "${ETA:-0}" --seed "$SEED" --json "$2" > /dev/null
}

# row SERIES STAGE SHARE COMPRESS_JSON HELDOUT_KEY EVAL_JSON [FINETUNE_JSON]: one line of results.jsonl
row() {
  local ft="${7:-}"
  jq -c -n --arg series "$1" --arg stage "$2" --argjson share "$3" --slurpfile c "$4" --arg hk "$5" \
    --slurpfile e "$6" --slurpfile f "${ft:-/dev/null}" '
    ($c[0]) as $c | ($e[0]) as $e | ($f[0] // null) as $f | {
      series: $series, stage: $stage, params_kept_share: $share, config: $c.config, method: $c.method,
      params: ($c.compression.params_after // $c.dense_params),
      params_dense: ($c.compression.params_before // $c.dense_params),
      layers_replaced: ($c.compression.layers_replaced // 0),
      mean_weight_error: $c.compression.mean_weight_error, mean_output_error: $c.compression.mean_output_error,
      heldout_loss: (if $f then $f.heldout_loss.finetuned else $c.heldout_loss[$hk] end),
      accuracy: $e.prompt_accuracy, frechet: $e.frechet_distance, frechet_real_floor: $e.frechet_real_vs_real,
      eval_seconds: $e.seconds,
      layers_fwd_bwd_ms: $c.bench.layers_forward_backward, layers_fwd_ms: $c.bench.layers_forward,
      train_step_ms: $c.bench.train_step, ddim_step_ms: $c.bench.ddim_step,
      finetune_steps: (if $f then $f.finetune.steps else 0 end),
      finetune_step_ms: (if $f then $f.finetune.median_step_ms else null end),
      model_params: (if $f then $f.model_params_after else $c.model_params_after end)}' >> "$RESULTS"
}

# --- the compressed models
for method in $METHODS; do
  for share in $SHARES; do
    tag="$method-$share"
    echo "== $tag: compress"
    [ -s "$OUT/$tag.json" ] || "$BIN" compress --model "$BASE" --method "$method" --params "$share" \
      --layers "$LAYERS" --calib-samples "$CALIB" --bench-reps "$BENCH_REPS" --bench-batch "$BENCH_BATCH" \
      "${common[@]}" --out "$OUT/$tag.safetensors" --json "$OUT/$tag.json"
    evaluate "$OUT/$tag.safetensors" "$OUT/$tag-eval.json"
    row "$method" before "$share" "$OUT/$tag.json" compressed "$OUT/$tag-eval.json"
    if [ "$FT_STEPS" -gt 0 ]; then
      echo "== $tag: fine-tune $FT_STEPS steps"
      [ -s "$OUT/$tag-ft.json" ] || "$BIN" compress --model "$OUT/$tag.safetensors" --method none "${finetune[@]}" \
        "${common[@]}" --out "$OUT/$tag-ft.safetensors" --json "$OUT/$tag-ft.json"
      evaluate "$OUT/$tag-ft.safetensors" "$OUT/$tag-ft-eval.json"
      row "$method ft" after "$share" "$OUT/$tag.json" compressed "$OUT/$tag-ft-eval.json" \
        "$OUT/$tag-ft.json"
    fi
  done
done

# --- the dense references: the parameter count of the replaced layers is the first row's params_dense
dense_params=$(head -n 1 "$RESULTS" | jq '.params_dense')
echo "== dense base"
[ -s "$OUT/dense.json" ] || "$BIN" compress --model "$BASE" --method none "${common[@]}" --json "$OUT/dense.json"
jq --argjson p "$dense_params" '. + {dense_params: $p}' "$OUT/dense.json" > "$OUT/dense.json.tmp" &&
  mv "$OUT/dense.json.tmp" "$OUT/dense.json"
evaluate "$BASE" "$OUT/dense-eval.json"
jq -c -n --slurpfile c "$OUT/dense.json" --slurpfile e "$OUT/dense-eval.json" '($c[0]) as $c | ($e[0]) as $e | {
  series: "dense", stage: "before", params_kept_share: 1, config: $c.config, method: "dense", params: $c.dense_params,
  params_dense: $c.dense_params, heldout_loss: $c.heldout_loss.input, accuracy: $e.prompt_accuracy,
  frechet: $e.frechet_distance, frechet_real_floor: $e.frechet_real_vs_real, eval_seconds: $e.seconds, model_params: $c.model_params_before,
  finetune_steps: 0}' >> "$RESULTS"
if [ "$FT_STEPS" -gt 0 ]; then
  echo "== dense base, fine-tuned $FT_STEPS steps (the control for 'after fine-tuning')"
  [ -s "$OUT/dense-ft.json" ] || "$BIN" compress --model "$BASE" --method none "${finetune[@]}" "${common[@]}" \
    --out "$OUT/dense-ft.safetensors" --json "$OUT/dense-ft.json"
  jq --argjson p "$dense_params" '. + {dense_params: $p}' "$OUT/dense-ft.json" > "$OUT/dense-ft.json.tmp" &&
    mv "$OUT/dense-ft.json.tmp" "$OUT/dense-ft.json"
  evaluate "$OUT/dense-ft.safetensors" "$OUT/dense-ft-eval.json"
  jq -c -n --slurpfile c "$OUT/dense-ft.json" --slurpfile e "$OUT/dense-ft-eval.json" '($c[0]) as $c | ($e[0]) as $e | {
    series: "dense ft", stage: "after", params_kept_share: 1, config: $c.config, method: "dense",
    params: $c.dense_params, params_dense: $c.dense_params, heldout_loss: $c.heldout_loss.finetuned,
    accuracy: $e.prompt_accuracy, frechet: $e.frechet_distance, frechet_real_floor: $e.frechet_real_vs_real, eval_seconds: $e.seconds,
    model_params: $c.model_params_after, finetune_steps: $c.finetune.steps,
    finetune_step_ms: $c.finetune.median_step_ms}' >> "$RESULTS"
fi

# --- plots: parameters of the replaced layers vs quality, one line per series
for y in accuracy frechet heldout_loss; do
  "$BIN" compress-plot --results "$RESULTS" --x params --y "$y" --out "$OUT/params_vs_$y.png" \
    --title "low-rank compression ($(head -n 1 "$RESULTS" | jq -r .config))" \
    --x-label "parameters in the replaced layers" --y-label "$y"
done
echo "results: $RESULTS"
