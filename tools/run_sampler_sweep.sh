#!/usr/bin/env bash
# tools/run_sampler_sweep.sh MODEL CLASSIFIER OUT: prompt accuracy and time against sampler steps, one
# `loradiff eval` per (sampler, steps), each writing OUT/<sampler>_<steps>.json, then OUT/summary.csv
# (sampler, steps, prompt_accuracy, frechet_distance, seconds) and the same table in Markdown on stdout.
# DDPM always takes every timestep, so it runs once (steps = T). Re-running skips runs whose JSON exists.
#
#   SAMPLERS      samplers to sweep      (default "ddim dpmpp-2m euler euler-a ddpm")
#   STEPS         steps of each sampler  (default "5 10 20 50")
#   N_PER_DIGIT   images per digit       (default 100)
#   DIGITS        digits prompted        (default 0,1,2,3,4,5,6,7,8,9)
#   DATA          MNIST folder           (default data/mnist)
#   GUIDANCE, ETA, SEED                  (defaults 3, 0 and 0: the settings of docs/results.md)
#   LORADIFF      the binary             (default build/release/apps/loradiff)
#
# e.g. tools/run_sampler_sweep.sh runs/ref/model.safetensors runs/classifier.safetensors runs/sampler_sweep
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 MODEL CLASSIFIER OUT  (env: SAMPLERS STEPS N_PER_DIGIT DIGITS DATA GUIDANCE SEED LORADIFF)" >&2
  exit 2
fi
model=$1 classifier=$2 out=$3
bin=${LORADIFF:-build/release/apps/loradiff}
samplers=${SAMPLERS:-ddim dpmpp-2m euler euler-a ddpm}
steps_list=${STEPS:-5 10 20 50}
n=${N_PER_DIGIT:-100}
digits=${DIGITS:-0,1,2,3,4,5,6,7,8,9}
data=${DATA:-data/mnist}
guidance=${GUIDANCE:-3}
seed=${SEED:-0}
for f in "$model" "$classifier"; do [ -f "$f" ] || { echo "$0: '$f' does not exist" >&2; exit 1; }; done
[ -x "$bin" ] || { echo "$0: the binary '$bin' is missing (build it, or set LORADIFF)" >&2; exit 1; }
mkdir -p "$out"

for s in $samplers; do
  list=$steps_list
  [ "$s" = ddpm ] && list=all
  for k in $list; do
    json="$out/${s}_${k}.json"
    [ -f "$json" ] && { echo "skip $json (exists)" >&2; continue; }
    step_arg=()
    [ "$k" != all ] && step_arg=(--steps "$k")
    echo "eval --sampler $s ${step_arg[*]}" >&2
    "$bin" eval --model "$model" --classifier "$classifier" --data "$data" --n-per-digit "$n" --digits "$digits" \
      --sampler "$s" "${step_arg[@]}" --guidance "$guidance" --eta "${ETA:-0}" --seed "$seed" --json "$json" >/dev/null
  done
done

{
  echo "sampler,steps,prompt_accuracy,frechet_distance,seconds"
  for s in $samplers; do
    for json in "$out/${s}"_*.json; do
      [ -f "$json" ] || continue
      k=$(basename "$json" .json)
      k=${k#"${s}_"}
      case "$k" in *[!0-9a-z]*) continue ;; esac  # euler_* must not pick up euler-a_*
      jq -r --arg k "$k" '[.sampler, $k, .prompt_accuracy, .frechet_distance, .seconds] | @csv' "$json" | tr -d '"'
    done
  done
} > "$out/summary.csv"

echo "| sampler | steps | prompt accuracy | Frechet distance | seconds |"
echo "|---|---|---|---|---|"
tail -n +2 "$out/summary.csv" | sort -t, -k1,1 -k2,2n |
  awk -F, '{ printf "| %s | %s | %.3f | %.4g | %.1f |\n", $1, $2, $3, $4, $5 }'
