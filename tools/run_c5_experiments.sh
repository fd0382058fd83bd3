#!/usr/bin/env bash
# tools/run_c5_experiments.sh BASE CLASSIFIER OUT_DIR
# GUIDANCE, ETA (defaults 3 and 0, what its results in docs/results.md were measured at; `eval` now defaults to 2 and 0.5).
# Claim C5 (quality on what the base already draws) for the C6 adapter recipe, on a base trained
# WITHOUT nines (`loradiff train ... --exclude-digits 9`), as in docs/results.md:
#   nines_lora_te_r8_reg      LoRA rank 8 + text encoder on 20 nines, prior preservation on
#                             180 real digits 0-8 (export-mnist --seed 1, 20 per digit)
#   nines_lora_te_r8_reggen   the same, prior preservation on 180 of the base's own samples
#                             of "a handwritten digit <d>", d = 0..8 (DreamBooth's recipe)
# then eval: C6 (nines, 50 images) for each adapter, C5 (digits 0-8, N_PER_DIGIT each) for the
# base and each adapter, plus the adapter without prior preservation if OUT_DIR/../c6 holds it.
# Needs OUT_DIR/../c6/nines and nines_val (tools/run_lora_experiments.sh makes them).
set -euo pipefail
BASE=$1; CLS=$2; OUT=$3
bin=${LORADIFF:-build/release/apps/loradiff}
N=${N_PER_DIGIT:-100}
C6=${C6_DIR:-$(dirname "$OUT")/c6}
words=(zero one two three four five six seven eight)
mkdir -p "$OUT"
train() {  # name reg_dir
  [ -f "$OUT/$1.safetensors" ] && return
  $bin lora train --base "$BASE" --data "$C6/nines" --val "$C6/nines_val" --reg "$2" --prior-weight 1 \
    --out "$OUT/$1.safetensors" --rank 8 --alpha 8 --text-encoder --steps 1000 --batch 8 --lr 1e-3 \
    --eval-every 100 --no-progress
}
if [ ! -d "$OUT/reg" ]; then
  for d in 0 1 2 3 4 5 6 7 8; do
    $bin data export-mnist --digit $d --n 20 --seed 1 --out "$OUT/tmp_$d" > /dev/null
    for f in "$OUT/tmp_$d"/*; do mkdir -p "$OUT/reg"; cp "$f" "$OUT/reg/d${d}_$(basename "$f")"; done
    rm -rf "$OUT/tmp_$d"
  done
fi
if [ ! -d "$OUT/reg_gen" ]; then
  mkdir -p "$OUT/reg_gen.tmp"
  for d in 0 1 2 3 4 5 6 7 8; do
    $bin sample --model "$BASE" --prompt "a handwritten digit ${words[$d]}" --n 20 --steps 50 --guidance 3 --eta 0 \
      --seed $((100 + d)) --out "$OUT/reg_gen.tmp/grid_$d.png" --out-dir "$OUT/reg_gen.tmp/$d" > /dev/null
    for f in "$OUT/reg_gen.tmp/$d"/*.png; do
      b=$(basename "$f" .png)
      cp "$f" "$OUT/reg_gen.tmp/d${d}_$b.png"
      echo "a handwritten digit ${words[$d]}" > "$OUT/reg_gen.tmp/d${d}_$b.txt"
    done
    rm -rf "$OUT/reg_gen.tmp/$d" "$OUT/reg_gen.tmp/grid_$d.png"
  done
  mv "$OUT/reg_gen.tmp" "$OUT/reg_gen"
fi
train nines_lora_te_r8_reg "$OUT/reg"
train nines_lora_te_r8_reggen "$OUT/reg_gen"
for a in reg reggen; do
  $bin eval --guidance "${GUIDANCE:-3}" --eta "${ETA:-0}" --model "$BASE" --classifier "$CLS" --digits 9 --n-per-digit 50 \
    --lora "$OUT/nines_lora_te_r8_$a.safetensors:1" --json "$OUT/c6_lora_te_r8_$a.json"
done
digits=0,1,2,3,4,5,6,7,8
$bin eval --guidance "${GUIDANCE:-3}" --eta "${ETA:-0}" --model "$BASE" --classifier "$CLS" --digits $digits --n-per-digit "$N" --json "$OUT/c5_base.json"
[ -f "$C6/nines_lora_te_r8.safetensors" ] &&
  $bin eval --guidance "${GUIDANCE:-3}" --eta "${ETA:-0}" --model "$BASE" --classifier "$CLS" --digits $digits --n-per-digit "$N" \
    --lora "$C6/nines_lora_te_r8.safetensors:1" --json "$OUT/c5_noreg.json"
for a in reg reggen; do
  $bin eval --guidance "${GUIDANCE:-3}" --eta "${ETA:-0}" --model "$BASE" --classifier "$CLS" --digits $digits --n-per-digit "$N" \
    --lora "$OUT/nines_lora_te_r8_$a.safetensors:1" --json "$OUT/c5_$a.json"
done
echo "done: $OUT/c5_*.json, $OUT/c6_*.json"
