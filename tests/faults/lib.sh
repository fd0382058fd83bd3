# tests/faults/lib.sh: helpers shared by the fault-injection scripts (sourced, not run).
#   LORADIFF   the binary under test (first argument of each script)
#   WORK       a fresh temporary folder, removed on exit

set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "-- $*"; }

setup_work() {
  LORADIFF=${1:?usage: $0 path/to/loradiff}
  [ -x "$LORADIFF" ] || fail "not an executable: $LORADIFF"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/loradiff-faults.XXXXXX")
  chmod 755 "$WORK"  # readable by the unprivileged user of the read-only test
  trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
  export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} LORADIFF_NUM_THREADS=${LORADIFF_NUM_THREADS:-2}
}

# 32-bit big-endian bytes of $1 (IDX sizes).
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }

# IDX files of $2 random 28x28 digits (labels 0..9 in turn) named with prefix $1 in $3.
write_idx_split() {
  local prefix=$1 n=$2 dir=$3 i labels=""
  { printf '\x00\x00\x08\x03'; be32 "$n"; be32 28; be32 28; head -c $((n * 784)) /dev/urandom; } \
    >"$dir/$prefix-images-idx3-ubyte"
  for ((i = 0; i < n; i++)); do labels+="\\x0$((i % 10))"; done
  { printf '\x00\x00\x08\x01'; be32 "$n"; printf "$labels"; } >"$dir/$prefix-labels-idx1-ubyte"
}

# A tiny MNIST folder at $1 (64 train, 16 test digits), through `loradiff data fetch-mnist --from`.
make_tiny_mnist() {
  local raw="$WORK/raw-idx"
  mkdir -p "$raw"
  write_idx_split train 64 "$raw"
  write_idx_split t10k 16 "$raw"
  "$LORADIFF" data fetch-mnist --from "$raw" --out "$1" >/dev/null || fail "data fetch-mnist --from failed"
}

# The JSON header of safetensors file $1 (read without early-closing pipes: with pipefail,
# a SIGPIPE in `... | head -1` would fail the script).
safetensors_header() {
  local n
  n=$(od -An -t u8 -N8 "$1" | tr -d ' ')
  head -c $((8 + n)) "$1" | tail -c "$n"
}

# Whether $1 is a complete safetensors file: 8-byte header length N, a JSON header, and
# exactly as many data bytes as the largest data_offsets end says.
safetensors_complete() {
  local f=$1 size n header ends last=0 e
  size=$(stat -c %s "$f")
  [ "$size" -ge 10 ] || return 1
  n=$(od -An -t u8 -N8 "$f" | tr -d ' ')
  [ "$n" -le $((size - 8)) ] || return 1
  header=$(safetensors_header "$f")
  [ "${header:0:1}" = "{" ] || return 1
  ends=$(grep -ao '"data_offsets":\[[0-9]*,[0-9]*\]' <<<"$header" | sed 's/.*,\([0-9]*\)\]/\1/') || true
  for e in $ends; do if [ "$e" -gt "$last" ]; then last=$e; fi; done
  [ "$size" -eq $((8 + n + last)) ]
}

# The "step" of a train_state.safetensors (from its metadata).
state_step() {
  local steps
  steps=$(safetensors_header "$1" | grep -ao '"step":"[0-9]*"') || true
  steps=${steps%%$'\n'*}
  echo "${steps//[^0-9]/}"
}

# Training options shared by the fault tests: the tiny config, no sample grids, no held-out
# loss (callers add --checkpoint-every).
TRAIN_OPTS=(--config mnist-t2i-tiny --batch 8 --warmup 2 --log-every 1 --sample-every 0 --eval-every 0 --no-progress)
