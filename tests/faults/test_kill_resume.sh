#!/usr/bin/env bash
# tests/faults/test_kill_resume.sh: power loss during training, simulated by SIGKILL.
#
# A tiny-config run is killed at 20 random moments (during steps and during checkpoint
# writes alike: a checkpoint is written after every step) and resumed each time. After
# every kill, each checkpoint file that exists must be complete (never a partial file:
# write_file_atomic's temp file + fsync + rename) and the sampling checkpoint must load.
# The final train_state.safetensors and model.safetensors must equal those of an
# uninterrupted run byte for byte (weights, EMA, AdamW moments, RNG and loader state).
#   tests/faults/test_kill_resume.sh build/release/apps/loradiff [kills]
source "$(dirname "$0")/lib.sh"
setup_work "$1"
KILLS=${2:-20}
STEPS=30
SEED=${FAULT_SEED:-$(date +%s)}
RANDOM=$SEED
note "random seed $SEED (rerun with FAULT_SEED=$SEED)"

make_tiny_mnist "$WORK/mnist"
# Not a shell function: a backgrounded function runs in a subshell, and $! would be that
# subshell rather than loradiff itself.
train=("$LORADIFF" train "${TRAIN_OPTS[@]}" --checkpoint-every 1 --data "$WORK/mnist" --steps $STEPS)

t0=$(date +%s%N)
"${train[@]}" --out "$WORK/full" >"$WORK/full.log" 2>&1 || { cat "$WORK/full.log"; fail "the uninterrupted run failed"; }
run_ms=$((($(date +%s%N) - t0) / 1000000))
note "uninterrupted run: $STEPS steps in $run_ms ms"

check_files() {
  local f
  for f in "$WORK/run"/*.safetensors; do
    [ -e "$f" ] || continue
    safetensors_complete "$f" || fail "after kill $1: $(basename "$f") is partial ($(stat -c %s "$f") bytes)"
  done
  if [ -e "$WORK/run/model.safetensors" ]; then
    "$LORADIFF" sample --model "$WORK/run/model.safetensors" --prompt "a handwritten digit one" --n 1 --steps 1 \
      --out "$WORK/check.png" >/dev/null 2>"$WORK/check.log" || { cat "$WORK/check.log"; fail "after kill $1: model.safetensors does not load"; }
  fi
}

kills=0 attempts=0 finished=0
while [ $kills -lt "$KILLS" ] && [ $attempts -lt $((3 * KILLS)) ]; do
  attempts=$((attempts + 1))
  # a random moment in the first third of a run's length (startup included), at least 20 ms
  delay_ms=$((20 + RANDOM % (run_ms / 3 + 1)))
  # --resume once a state exists (a kill during start-up may leave none), as scripts/demo.sh does
  resume=()
  [ -e "$WORK/run/train_state.safetensors" ] && resume=(--resume)
  "${train[@]}" --out "$WORK/run" "${resume[@]}" >>"$WORK/run.log" 2>&1 &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  if kill -KILL $pid 2>/dev/null; then
    wait $pid 2>/dev/null || true
    kills=$((kills + 1))
    step=none
    [ -e "$WORK/run/train_state.safetensors" ] && step=$(state_step "$WORK/run/train_state.safetensors")
    note "kill $kills at ${delay_ms} ms: checkpoint at step $step"
    check_files $kills
  else
    wait $pid || { tail -5 "$WORK/run.log"; fail "a resumed run failed"; }
    finished=$((finished + 1))
    note "the run ended before the kill at ${delay_ms} ms; starting over in a new folder"
    cmp -s "$WORK/full/train_state.safetensors" "$WORK/run/train_state.safetensors" ||
      fail "a run resumed after kills ended different from the uninterrupted run"
    rm -rf "$WORK/run"
  fi
done
[ $kills -ge "$KILLS" ] || fail "only $kills kills landed in $attempts attempts"

resume=()
[ -e "$WORK/run/train_state.safetensors" ] && resume=(--resume)
"${train[@]}" --out "$WORK/run" "${resume[@]}" >>"$WORK/run.log" 2>&1 || { tail -5 "$WORK/run.log"; fail "the final resume failed"; }
for f in train_state.safetensors model.safetensors; do
  cmp "$WORK/full/$f" "$WORK/run/$f" || fail "$f after $kills kills differs from the uninterrupted run"
done
leftover=$(find "$WORK/run" -name '*.tmp-*' | wc -l)
note "$kills kills in $attempts attempts ($finished runs completed between kills); $leftover temporary files left by killed writes"
echo "PASS: killed $kills times, every checkpoint complete, final weights bit-identical"
