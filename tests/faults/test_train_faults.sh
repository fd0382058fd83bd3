#!/usr/bin/env bash
# tests/faults/test_train_faults.sh: training under faults other than a kill.
#   1. disk full: a file-size limit (`ulimit -f`) on the training process, and, where this
#      user may mount, a real ENOSPC from a tiny tmpfs: a clear error naming the file, the
#      previous checkpoint intact and no temporary file left behind;
#   2. read-only run folder: a clear error, the previous checkpoint intact. chmod does not
#      stop root, so as root the run is done as user nobody (setpriv); without setpriv this
#      case is skipped with a message;
#   3. Ctrl-C (SIGINT): a final checkpoint at the step reached, exit status 0;
#   4. NaN/Inf loss or weights (an absurd --lr): training stops naming the step, the last
#      good checkpoint is kept and training goes on from it with a sane --lr.
#   tests/faults/test_train_faults.sh build/release/apps/loradiff
source "$(dirname "$0")/lib.sh"
setup_work "$1"
make_tiny_mnist "$WORK/mnist"
# A checkpoint after every step unless the caller gives --checkpoint-every.
train() {
  local every=(--checkpoint-every 1)
  [[ " $* " == *" --checkpoint-every "* ]] && every=()
  "$LORADIFF" train "${TRAIN_OPTS[@]}" "${every[@]}" --data "$WORK/mnist" "$@"
}

# A run folder with a checkpoint at step 3, and a copy of it to compare against.
fresh_run() {
  rm -rf "$WORK/$1" "$WORK/$1.before"
  train --out "$WORK/$1" --steps 3 >/dev/null 2>&1 || fail "$1: the first 3 steps failed"
  cp -r "$WORK/$1" "$WORK/$1.before"
}
same_checkpoints() {
  local f
  for f in train_state.safetensors model.safetensors; do
    cmp -s "$WORK/$1.before/$f" "$WORK/$1/$f" || fail "$2: $f changed"
  done
  [ -z "$(find "$WORK/$1" -name '*.tmp-*')" ] || fail "$2: a temporary file was left behind: $(find "$WORK/$1" -name '*.tmp-*')"
}
# Exit status $1 must be a plain failure (not 0, not a signal) and the log $2 one clear line.
expect_clear_error() {
  local rc=$1 log=$2 what=$3
  [ "$rc" -ne 0 ] || fail "$what: exit status 0"
  [ "$rc" -lt 128 ] || { cat "$log"; fail "$what: killed by a signal (status $rc)"; }
  grep -q '^loradiff: error: ' "$log" || { cat "$log"; fail "$what: no 'loradiff: error:' line"; }
}

# --- 1a. file-size limit: the state file (~$state_kb KB) no longer fits
fresh_run disk
state_kb=$(($(stat -c %s "$WORK/disk/train_state.safetensors") / 1024))
set +e
(ulimit -f $((state_kb / 2)); train --out "$WORK/disk" --steps 6 --resume) >"$WORK/disk.log" 2>&1
rc=$?
set -e
expect_clear_error $rc "$WORK/disk.log" "file-size limit"
grep -q 'train_state.safetensors' "$WORK/disk.log" || { cat "$WORK/disk.log"; fail "file-size limit: the error does not name the file"; }
same_checkpoints disk "file-size limit"
note "file-size limit (ulimit -f $((state_kb / 2)) KB): $(grep '^loradiff: error' "$WORK/disk.log")"

# --- 1b. a full file system (tiny tmpfs), where mounting is allowed (in a private mount namespace)
if unshare -m true 2>/dev/null; then
  fresh_run full
  set +e
  unshare -m bash -c '
    set -e
    used=$(du -sk "$1" | cut -f1)
    mount -t tmpfs -o size=$((used + 8))k tmpfs "$1"
    cp -a "$2/." "$1/"
    set +e
    "$3" train "${@:4}"
    rc=$?
    mkdir -p "$2.after" && cp -a "$1/." "$2.after/"
    exit $rc' _ "$WORK/full" "$WORK/full.before" "$LORADIFF" "${TRAIN_OPTS[@]}" --checkpoint-every 1 --data "$WORK/mnist" \
      --out "$WORK/full" --steps 6 --resume >"$WORK/full.log" 2>&1
  rc=$?
  set -e
  expect_clear_error $rc "$WORK/full.log" "full disk"
  grep -qi 'no space' "$WORK/full.log" || { cat "$WORK/full.log"; fail "full disk: the error does not say the disk is full"; }
  rm -rf "$WORK/full" && mv "$WORK/full.before.after" "$WORK/full"
  same_checkpoints full "full disk"
  note "full tmpfs: $(grep '^loradiff: error' "$WORK/full.log")"
else
  note "SKIP full tmpfs: this user cannot mount (unshare -m); the file-size limit above covers the write path"
fi

# --- 2. read-only run folder
fresh_run ro
chmod -R a-w "$WORK/ro"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  if command -v setpriv >/dev/null; then
    as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
  else
    as_user=(skip)
  fi
fi
if [ "${as_user[0]:-}" = skip ]; then
  note "SKIP read-only folder: running as root without setpriv, and chmod does not stop root"
else
  set +e
  "${as_user[@]}" "$LORADIFF" train "${TRAIN_OPTS[@]}" --checkpoint-every 1 --data "$WORK/mnist" --out "$WORK/ro" --steps 6 --resume \
    >"$WORK/ro.log" 2>&1
  rc=$?
  set -e
  expect_clear_error $rc "$WORK/ro.log" "read-only folder"
  grep -q "$WORK/ro" "$WORK/ro.log" || { cat "$WORK/ro.log"; fail "read-only folder: the error does not name the folder"; }
  chmod -R u+w "$WORK/ro"
  same_checkpoints ro "read-only folder"
  note "read-only folder${as_user:+ (as nobody)}: $(grep '^loradiff: error' "$WORK/ro.log")"
fi

# --- 3. Ctrl-C: a final checkpoint and exit status 0
rm -rf "$WORK/int"
# started directly, not through the train function, so that $! is loradiff itself
"$LORADIFF" train "${TRAIN_OPTS[@]}" --checkpoint-every 1 --data "$WORK/mnist" --out "$WORK/int" --steps 100000 >"$WORK/int.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ -e "$WORK/int/train_state.safetensors" ] && [ "$(state_step "$WORK/int/train_state.safetensors")" -ge 2 ] && break
  sleep 0.1
done
kill -INT $pid
set +e
wait $pid
rc=$?
set -e
[ $rc -eq 0 ] || { cat "$WORK/int.log"; fail "Ctrl-C: exit status $rc, expected 0"; }
grep -q '^interrupted: steps 0 -> ' "$WORK/int.log" || { cat "$WORK/int.log"; fail "Ctrl-C: no 'interrupted' line"; }
end=$(sed -n 's/^interrupted: steps 0 -> \([0-9]*\),.*/\1/p' "$WORK/int.log")
saved=$(state_step "$WORK/int/train_state.safetensors")
[ "$saved" = "$end" ] || fail "Ctrl-C: stopped at step $end but the checkpoint holds step $saved"
safetensors_complete "$WORK/int/train_state.safetensors" || fail "Ctrl-C: train_state.safetensors is partial"
train --out "$WORK/int" --steps $((end + 1)) --resume >"$WORK/int2.log" 2>&1 || { cat "$WORK/int2.log"; fail "Ctrl-C: resuming failed"; }
note "Ctrl-C: checkpoint at step $end, exit 0, resumed to step $((end + 1))"

# --- 4. NaN/Inf, forced by an absurd learning rate
# blow_up NAME WHAT STOP_PATTERN TRAIN_ARGS...: from a fresh run (checkpoint at step 3), train
# with TRAIN_ARGS; expect one clear error matching STOP_PATTERN, the checkpoints as they were,
# and training going on from them with the normal --lr.
blow_up() {
  local name=$1 what=$2 pattern=$3 rc
  shift 3
  fresh_run "$name"
  set +e
  train --out "$WORK/$name" --steps 200 --resume --clip 0 "$@" >"$WORK/$name.log" 2>&1
  rc=$?
  set -e
  expect_clear_error $rc "$WORK/$name.log" "$what"
  grep -q "$pattern" "$WORK/$name.log" || { cat "$WORK/$name.log"; fail "$what: no step number"; }
  same_checkpoints "$name" "$what"
  train --out "$WORK/$name" --steps 4 --resume >"$WORK/$name.2.log" 2>&1 ||
    { cat "$WORK/$name.2.log"; fail "$what: the kept checkpoint does not train on with the normal --lr"; }
  note "$what: $(grep '^loradiff: error' "$WORK/$name.log")"
}
#   4a. --lr 1e30: finite but enormous weights after the first update, a NaN loss one step
#       later; the checkpoint of step 3 (the last one written) is kept as it was.
blow_up nan "NaN loss" 'training stopped at step [0-9]*: the loss is' --lr 1e30 --checkpoint-every 1000
#   4b. --lr 1e39 (infinite as a float) with a checkpoint after every step: the weights are
#       Inf/NaN right after the update, at a checkpoint step; that checkpoint must not be written.
blow_up inf "Inf weights" 'training stopped at step 4' --lr 1e39
echo "PASS: disk full, read-only folder, Ctrl-C and NaN handled"
