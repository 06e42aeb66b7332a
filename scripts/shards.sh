#!/usr/bin/env bash
# Runs one table as N shards, each an independent `extract --shard I/N | load-… --shard I/N`
# process, as N machines (or a Kubernetes Indexed Job) would; then `verify --shard I/N` for
# each and `verify --combine`. Usage:
#   scripts/shards.sh N SOURCE_URL TARGET_URL TABLE [STATE_DIR]
# A shard that fails can be rerun alone: SHARDS_ONLY=I scripts/shards.sh N … (it resumes).
# Exit 0 only when the combined verdict is EQUAL.
set -euo pipefail
if [ $# -lt 4 ]; then
  sed -n '2,7p' "$0" >&2
  exit 2
fi
N=$1 SRC=$2 DST=$3 TABLE=$4 STATE=${5:-.ferry/shards}
BIN=${FERRY_BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
case "$DST" in
  postgres://*|postgresql://*) LOADER=load-postgres ;;
  mysql://*|mariadb://*) LOADER=load-mysql ;;
  *) echo "shards.sh: TARGET_URL must be postgres:// or mysql://" >&2; exit 2 ;;
esac
mkdir -p "$STATE"
shard() { # I: one shard, as one machine would run it
  local i=$1
  "$BIN/extract" --source "$SRC" --table "$TABLE" --shard "$i/$N" -q \
    --rejects "$STATE/$TABLE-$i.extract.rejects.ndjson" |
  "$BIN/$LOADER" --target "$DST" --table "$TABLE" --shard "$i/$N" --create --resume -q --progress never \
    --checkpoint "$STATE/$TABLE-$i.checkpoint.json" --rejects "$STATE/$TABLE-$i.rejects.ndjson" \
    --report "$STATE/$TABLE-$i.load.json" -
}
pids=()
for i in $(seq 0 $((N - 1))); do
  if [ -n "${SHARDS_ONLY:-}" ] && [ "$SHARDS_ONLY" != "$i" ]; then continue; fi
  ( shard "$i" 2> "$STATE/$TABLE-$i.log" ) &
  pids+=("$!:$i")
done
fail=0
for p in "${pids[@]}"; do
  if wait "${p%%:*}"; then
    echo "shard ${p#*:}/$N: loaded" >&2
  else
    echo "shard ${p#*:}/$N: FAILED: $(tail -1 "$STATE/$TABLE-${p#*:}.log")" >&2
    fail=1
  fi
done
[ "$fail" = 0 ] || { echo "rerun a failed shard alone: SHARDS_ONLY=I $0 $*" >&2; exit 1; }
reports=()
for i in $(seq 0 $((N - 1))); do
  "$BIN/verify" --source "$SRC" --target "$DST" --table "$TABLE" --shard "$i/$N" -q --progress never \
    --report "$STATE/$TABLE-$i.verify.json" || true
  reports+=("$STATE/$TABLE-$i.verify.json")
done
"$BIN/verify" --combine "${reports[@]}"
