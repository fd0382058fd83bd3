# tests/faults/test_interrupt.sh: Ctrl-C (SIGINT) in the middle of each long command, on a tiny
# MNIST and the tiny config (tensor/interrupt.h, docs/reliability.md):
#   train, lora train  interrupted inside a long sample grid: the grid is abandoned, the steps
#                      done are checkpointed, exit status 0 and an "interrupted:" line;
#   compress           inside calibration: status 130, nothing written; inside fine-tuning: the
#                      steps done are saved (a complete checkpoint), status 0;
#   sample, eval,      between sampler steps / training steps: status 130, one line, no output
#   classifier train   (the previous file unchanged);
#   a calling script   stops too (loradiff ends by the signal, not by a plain exit 130);
#   a second Ctrl-C    during a long training step: quits at once with status 130.
# Each must exit within $LIMIT_MS of the signal, every output must be complete or absent, and
# no temporary file may be left anywhere.
#   tests/faults/test_interrupt.sh build/release/apps/loradiff
source "$(dirname "$0")/lib.sh"
setup_work "$1"
# stdbuf (below) works by preloading a library, which an ASan build refuses unless told that its runtime
# need not come first in the library list (the asan preset runs this script too).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
LIMIT_MS=${INTERRUPT_LIMIT_MS:-2000}
M="$WORK/mnist"
make_tiny_mnist "$M"
T=(--config mnist-t2i-tiny --batch 8 --warmup 2 --log-every 1 --eval-every 0 --no-progress)
"$LORADIFF" train "${T[@]}" --sample-every 0 --data "$M" --out "$WORK/base" --steps 2 >/dev/null 2>&1 ||
  fail "setup: training the base model failed"
MODEL="$WORK/base/model.safetensors"
CLS=(--c1 4 --c2 4 --hidden 16 --batch-size 8)
"$LORADIFF" classifier train --data "$M" --out "$WORK/cls.safetensors" --steps 2 "${CLS[@]}" >/dev/null 2>&1 ||
  fail "setup: training the classifier failed"
"$LORADIFF" data export-mnist --data "$M" --digit 9 --n 6 --out "$WORK/nines" >/dev/null ||
  fail "setup: export-mnist failed"

# start NAME ARGS...: run loradiff ARGS in the background, output in $WORK/NAME.log; sets pid
# (stdbuf execs loradiff: the same pid). stdout line-buffered, so the log can be waited on.
start() {
  local name=$1
  shift
  stdbuf -oL "$LORADIFF" "$@" >"$WORK/$name.log" 2>&1 &
  pid=$!
}
# wait_for WHAT CONDITION...: poll CONDITION (a command) for up to 60 s.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 600); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$WORK/$name.log"; fail "$name: exited before $what"; }
    sleep 0.1
  done
  fail "$name: no $what after 60 s"
}
logged() { grep -q "$1" "$WORK/$name.log"; }
# interrupt [twice]: send SIG$SIG (default INT; twice 0.3 s apart with "twice"), wait for the
# exit; sets rc and ms (from the last signal to the exit). A process still alive 10 s later is
# killed: fail.
interrupt() {
  local t0 t1 watchdog
  kill -"${SIG:-INT}" "$pid"
  if [ "${1:-}" = twice ]; then
    sleep 0.3
    kill -"${SIG:-INT}" "$pid"
  fi
  t0=$(date +%s%N)
  (sleep 10 && kill -KILL "$pid" 2>/dev/null) &
  watchdog=$!
  set +e
  wait "$pid"
  rc=$?
  set -e
  t1=$(date +%s%N)
  kill "$watchdog" 2>/dev/null || true
  wait "$watchdog" 2>/dev/null || true
  ms=$(((t1 - t0) / 1000000))
  [ "$rc" -ne 137 ] || { cat "$WORK/$name.log"; fail "$name: still running 10 s after Ctrl-C"; }
  [ "$ms" -le "$LIMIT_MS" ] || { cat "$WORK/$name.log"; fail "$name: took $ms ms to stop after Ctrl-C (limit $LIMIT_MS)"; }
}
expect_status() {
  [ "$rc" -eq "$1" ] || { cat "$WORK/$name.log"; fail "$name: exit status $rc after Ctrl-C, expected $1"; }
  logged 'loradiff: [a-z]*: stopping at the next safe point' ||
    { cat "$WORK/$name.log"; fail "$name: no 'stopping at the next safe point' line"; }
  if [ "$1" -ne 0 ]; then
    [ "$(grep -c 'loradiff: interrupted: stopped before the output was written' "$WORK/$name.log")" -eq 1 ] ||
      { cat "$WORK/$name.log"; fail "$name: no one-line 'stopped before the output was written' message"; }
  fi
}
no_temp_files() {
  local left
  left=$(find "$WORK" -name '*.tmp-*')
  [ -z "$left" ] || fail "$name: temporary files left behind: $left"
}
absent() { [ ! -e "$1" ] || fail "$name: $1 was written though the command was interrupted"; }
complete() { safetensors_complete "$1" || fail "$name: $1 is not a complete safetensors file"; }
loads() {
  "$LORADIFF" sample --model "$1" --prompt "a handwritten digit one" --n 1 --steps 1 --out "$WORK/check.png" \
    >"$WORK/check.log" 2>&1 || { cat "$WORK/check.log"; fail "$name: $1 does not load"; }
}
done_note() { note "$name: $* ($ms ms after Ctrl-C)"; }

# --- train: Ctrl-C inside the step-2 sample grid (1000 DDIM steps), checkpoints after every step
name=train
start train train "${T[@]}" --data "$M" --out "$WORK/run" --steps 100000 --checkpoint-every 1 --sample-every 2 \
  --sample-steps 1000
wait_for "a checkpoint of step 1" test -e "$WORK/run/train_state.safetensors"
sleep 0.5  # step 2 takes a few ms, its grid many seconds
interrupt
expect_status 0
logged '^interrupted: steps 0 -> 2,' || { cat "$WORK/train.log"; fail "train: no 'interrupted: steps 0 -> 2' line"; }
[ "$(state_step "$WORK/run/train_state.safetensors")" = 2 ] || fail "train: the checkpoint is not of step 2"
complete "$WORK/run/train_state.safetensors"
complete "$WORK/run/model.safetensors"
loads "$WORK/run/model.safetensors"
absent "$WORK/run/samples/step_0000002.png"
no_temp_files
done_note "grid abandoned, checkpoint of step 2, status 0"

# --- lora train: resumed at step 1, Ctrl-C inside the step-2 sample grid
name=lora
L=(lora train --base "$MODEL" --data "$WORK/nines" --out "$WORK/lora/a.safetensors" --batch 2 --save-every 1
  --eval-every 0 --no-progress)
mkdir -p "$WORK/lora"
"$LORADIFF" "${L[@]}" --steps 1 >"$WORK/lora1.log" 2>&1 || { cat "$WORK/lora1.log"; fail "lora: the first step failed"; }
start lora "${L[@]}" --steps 100000 --resume --sample-every 2 --sample-steps 1000
wait_for "the resume line" logged '^resuming '
sleep 0.5
interrupt
expect_status 0
logged '^interrupted: 2 steps' || { cat "$WORK/lora.log"; fail "lora: no 'interrupted: 2 steps' line"; }
[ "$(state_step "$WORK/lora/a-log/train_state.safetensors")" = 2 ] || fail "lora: the state is not of step 2"
complete "$WORK/lora/a-log/train_state.safetensors"
complete "$WORK/lora/a.safetensors"
"$LORADIFF" lora info "$WORK/lora/a.safetensors" >/dev/null 2>&1 || fail "lora: the adapter does not load"
absent "$WORK/lora/a-log/samples/step_0000002.png"
no_temp_files
done_note "grid abandoned, adapter and state of step 2, status 0"

# --- lora train, a new run: Ctrl-C inside the step-0 grid (the base model alone): nothing is
# worth saving yet, so status 130 and no adapter
name=lora-new
start lora-new lora train --base "$MODEL" --data "$WORK/nines" --out "$WORK/lora/b.safetensors" --batch 2 \
  --steps 100000 --sample-every 5 --sample-steps 1000 --eval-every 0 --no-progress
wait_for "the LoRA line" logged '^LoRA rank '
sleep 0.5
interrupt
expect_status 130
absent "$WORK/lora/b.safetensors"
absent "$WORK/lora/b-log/train_state.safetensors"
absent "$WORK/lora/b-log/samples/step_0000000.png"
no_temp_files
done_note "step-0 grid abandoned, status 130, no adapter"

# --- compress: Ctrl-C during calibration (nothing written), then during fine-tuning (saved)
name=compress-calib
start compress-calib compress --model "$MODEL" --data "$M" --method input --rank 2 --calib-samples 10000000 \
  --calib-batch 8 --heldout-samples 0 --out "$WORK/c1.safetensors" --json "$WORK/c1.json" --no-progress
wait_for "the layers line" logged '^layers: '
sleep 0.5
interrupt
expect_status 130
absent "$WORK/c1.safetensors"
absent "$WORK/c1.json"
no_temp_files
done_note "status 130, nothing written"

name=compress-finetune
start compress-finetune compress --model "$MODEL" --data "$M" --method svd --rank 2 --finetune-steps 10000000 \
  --batch 8 --heldout-samples 16 --out "$WORK/c2.safetensors" --json "$WORK/c2.json" --no-progress
wait_for "the fine-tuning line" logged '^fine-tuning '
sleep 0.5
interrupt
expect_status 0
logged '^interrupted: ' || { cat "$WORK/compress-finetune.log"; fail "compress: no 'interrupted:' line"; }
complete "$WORK/c2.safetensors"
loads "$WORK/c2.safetensors"
grep -q '"interrupted": true' "$WORK/c2.json" || fail "compress: the JSON report does not say interrupted"
no_temp_files
done_note "fine-tuned steps saved, status 0"

# --- sample: many images, all 1000 DDPM steps; the previous grid must stay as it was
name=sample
cp "$WORK/check.png" "$WORK/s.png"  # a grid of an earlier run (a real PNG: loradiff refuses to replace other kinds)
cp "$WORK/s.png" "$WORK/s-previous.png"
start sample sample --model "$MODEL" --prompt "a handwritten digit one" --n 400 --batch 100 --sampler ddpm \
  --out "$WORK/s.png" --out-dir "$WORK/s-images"
sleep 1.5
interrupt
expect_status 130
cmp -s "$WORK/s.png" "$WORK/s-previous.png" || fail "sample: the previous grid was changed"
absent "$WORK/s-images"
no_temp_files
done_note "status 130, the previous grid unchanged"

# --- sample again, stopped by SIGTERM (as `kill` or a shutdown sends it): the same, status 143
name=sample-term
start sample-term sample --model "$MODEL" --prompt "a handwritten digit two" --n 400 --batch 100 --sampler ddpm \
  --out "$WORK/s2.png"
sleep 1.5
SIG=TERM interrupt
expect_status 143
absent "$WORK/s2.png"
no_temp_files
done_note "SIGTERM: status 143, nothing written"

# --- eval
name=eval
start eval eval --model "$MODEL" --classifier "$WORK/cls.safetensors" --data "$M" --n-per-digit 50 --batch 50 \
  --steps 1000 --json "$WORK/e.json"
sleep 1.5
interrupt
expect_status 130
absent "$WORK/e.json"
no_temp_files
done_note "status 130, no JSON"

# --- classifier train
name=classifier
start classifier classifier train --data "$M" --out "$WORK/c/cls2.safetensors" --steps 10000000 "${CLS[@]}"
wait_for "the parameters line" logged '^classifier: '
sleep 0.5
interrupt
expect_status 130
absent "$WORK/c/cls2.safetensors"
no_temp_files
done_note "status 130, no classifier written"

# --- Ctrl-C in a terminal reaches the whole foreground group: loradiff ends by the signal (not a
# plain exit 130), so the shell script that ran it stops too. `set -m` gives the script its own
# process group, as a terminal would.
name=script
set -m
bash -c "stdbuf -oL \"$LORADIFF\" classifier train --data \"$M\" --out \"$WORK/c/cls3.safetensors\" \
  --steps 10000000 ${CLS[*]}; echo the script went on" >"$WORK/script.log" 2>&1 &
pid=$!
set +m
wait_for "the parameters line" logged '^classifier: '
sleep 0.5
kill -INT -- -"$pid"
set +e
wait "$pid"
rc=$?
set -e
[ "$rc" -eq 130 ] || { cat "$WORK/script.log"; fail "script: status $rc, expected 130"; }
logged 'the script went on' && { cat "$WORK/script.log"; fail "script: the calling script went on after Ctrl-C"; }
absent "$WORK/c/cls3.safetensors"
note "script: Ctrl-C stopped loradiff and the script that ran it"

# --- a second Ctrl-C during a long step (the reference config, batch 32): quit now, status 130
name=twice
start twice train --config mnist-t2i --batch 32 --warmup 2 --sample-every 0 --eval-every 0 --no-progress \
  --data "$M" --out "$WORK/twice" --steps 100000 --checkpoint-every 1
wait_for "a checkpoint of step 1" test -e "$WORK/twice/train_state.safetensors"
LIMIT_MS=1000 interrupt twice
[ "$rc" -eq 130 ] || { cat "$WORK/twice.log"; fail "twice: exit status $rc after two Ctrl-C, expected 130"; }
logged '^loradiff: interrupted again: quitting now' || { cat "$WORK/twice.log"; fail "twice: no 'quitting now' line"; }
logged '^interrupted: steps' && fail "twice: it stopped at a safe point instead of quitting at once"
for f in "$WORK"/twice/*.safetensors; do complete "$f"; done
no_temp_files
done_note "quit at once, status 130"

echo "PASS: Ctrl-C stops train, lora train, compress, sample, eval and classifier train promptly"
