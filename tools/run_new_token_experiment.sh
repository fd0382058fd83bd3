#!/usr/bin/env bash
# tools/run_new_token_experiment.sh BASE CLASSIFIER OUT_DIR
# A new word inside a LoRA adapter (textual inversion + LoRA, `lora train --new-token`), on a base
# trained WITHOUT nines (`loradiff train ... --exclude-digits 9`):
#   20 nines captioned "a handwritten digit sks" -> an adapter that adds the word "sks" and trains its
#   token-embedding row with the adapter; then the share of images judged a nine for the prompt
#   "a handwritten digit sks": the base alone (sks is an unknown word there, mapped to <unk>) and with
#   the adapter at weight 1.
# Results: OUT_DIR/sks_base.json, OUT_DIR/sks_lora.json (eval; prompt_accuracy = share judged nine),
# OUT_DIR/sks_lora-log/loss.csv. Knobs (environment): LORA_STEPS (400), RANK (4; alpha = rank),
# LORA_ARGS (more `lora train` options, e.g. --text-encoder), EVAL_N (50), SAMPLE_STEPS (50),
# PAIRS (20), MNIST_DIR (data/mnist), LORADIFF (the binary). A smoke run on a tiny model and MNIST folder:
# LORA_STEPS=2 EVAL_N=4 SAMPLE_STEPS=2 PAIRS=4 MNIST_DIR=tiny_mnist.
set -euo pipefail
if [ $# -ne 3 ]; then echo "usage: $0 BASE CLASSIFIER OUT_DIR" >&2; exit 2; fi
BASE=$1; CLS=$2; OUT=$3
bin=${LORADIFF:-build/release/apps/loradiff}
STEPS=${LORA_STEPS:-400}
N=${EVAL_N:-50}
SAMPLE_STEPS=${SAMPLE_STEPS:-50}
PAIRS=${PAIRS:-20}
DATA=${MNIST_DIR:-data/mnist}
mkdir -p "$OUT"
if [ ! -d "$OUT/sks" ]; then
  $bin data export-mnist --data "$DATA" --digit 9 --n "$PAIRS" --out "$OUT/sks.tmp"
  # the same nines, every caption "a handwritten digit sks"
  for f in "$OUT"/sks.tmp/*.txt; do echo "a handwritten digit sks" > "$f"; done
  mv "$OUT/sks.tmp" "$OUT/sks"
fi
$bin lora train --base "$BASE" --data "$OUT/sks" --out "$OUT/sks_lora.safetensors" --new-token sks \
  --rank "${RANK:-4}" --alpha "${RANK:-4}" ${LORA_ARGS:-} --steps "$STEPS" --batch "$(( STEPS < 8 ? 4 : 8 ))" --lr 1e-3 --no-progress --overwrite
$bin eval --model "$BASE" --classifier "$CLS" --data "$DATA" --digits 9 --prompt "a handwritten digit sks" \
  --n-per-digit "$N" --batch "$N" --steps "$SAMPLE_STEPS" --guidance 3 --eta 0 --json "$OUT/sks_base.json" --overwrite
$bin eval --model "$BASE" --classifier "$CLS" --data "$DATA" --digits 9 --prompt "a handwritten digit sks" \
  --n-per-digit "$N" --batch "$N" --steps "$SAMPLE_STEPS" --guidance 3 --eta 0 --lora "$OUT/sks_lora.safetensors:1" \
  --json "$OUT/sks_lora.json" --overwrite
share() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['prompt_accuracy'])" "$1"; }
echo "share judged nine for \"a handwritten digit sks\": base $(share "$OUT/sks_base.json"), with the adapter $(share "$OUT/sks_lora.json")"
echo "done: $OUT"
