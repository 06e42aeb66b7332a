#!/usr/bin/env bash
# `make bench`, DynamoDB part: BENCH_SALES (100000) generated S9 sales through
# transform-sales | load-dynamo into the local DynamoDB-compatible server, beside the
# reference sequential 25-item batch writer (scripts/s9/reference_writer.py, boto3) on the
# same items in the same run. Prints items/s and client CPU seconds per 10,000 items.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FERRY_BIN:-$PWD/target/release}
SALES=${BENCH_SALES:-100000}
WORK=$PWD/target/bench/s9
ENDPOINT=${FERRY_TEST_DYNAMO:-http://127.0.0.1:5500}
PG=postgres://postgres@127.0.0.1:5432/ferry_bench_s9
export FERRY_PROGRESS_SECS=3600 AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-bench} \
  AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-bench} AWS_REGION=${AWS_REGION:-us-east-1} \
  AWS_EC2_METADATA_DISABLED=true
say() { printf 'bench: %s\n' "$*" >&2; }
mkdir -p "$WORK"
drop_table() {
  python3 -c "import boto3,sys; c=boto3.client('dynamodb', endpoint_url=sys.argv[1], region_name='us-east-1')
try: c.delete_table(TableName=sys.argv[2])
except c.exceptions.ResourceNotFoundException: pass" "$ENDPOINT" "$1"
}

if [ "$(psql -h 127.0.0.1 -U postgres -d ferry_bench_s9 -tAc 'SELECT count(*) FROM sales' 2>/dev/null || echo 0)" -lt "$SALES" ]; then
  say "generating $SALES S9 sales in PostgreSQL ferry_bench_s9"
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS ferry_bench_s9 WITH (FORCE)" -c "CREATE DATABASE ferry_bench_s9"
  "$BIN/ferry-gen" s9 --target "$PG" --sales "$SALES"
fi
say "extracting sales"
"$BIN/extract-sales" --source "$PG" -o "$WORK/sales.extracted.ndjson" -q
say "transforming sales (for the reference's input)"
"$BIN/transform-sales" "$WORK/sales.extracted.ndjson" -o "$WORK/sales.items.ndjson" --rejects "$WORK/sales.rejects.ndjson" -q || true
ITEMS=$(wc -l <"$WORK/sales.items.ndjson")
# Keyed puts: a key twice in the input (the fixture's duplicate sale 100) is one item.
DISTINCT=$(python3 -c "import json,sys; print(len({json.loads(l)['saleId']['S'] for l in open(sys.argv[1])}))" "$WORK/sales.items.ndjson")

# CPU of the client side: user + system seconds of the processes, from /usr/bin/time.
measure() { # label items command...
  local label=$1 n=$2; shift 2
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$@" >"$WORK/$label.out" 2>"$WORK/$label.err" || {
    code=$?; [ "$code" = 3 ] || { cat "$WORK/$label.err" >&2; exit "$code"; }; }
  read -r wall user sys rss <"$WORK/time"
  local cpu per10k rate
  cpu=$(echo "$user + $sys" | bc -l)
  per10k=$(echo "$cpu * 10000 / $n" | bc -l)
  rate=$(echo "$n / $wall" | bc -l)
  printf '%-44s %7d items %7.2fs %7.0f items/s  client CPU %6.2fs = %6.3f s/10k items  peak RSS %s kB\n' \
    "$label" "$n" "$wall" "$rate" "$cpu" "$per10k" "$rss"
  echo "$rate $per10k" >"$WORK/$label.result"
}

T_REF=FerryBenchRef T_OURS=FerryBenchOurs T_LOAD=FerryBenchLoad
for t in $T_REF $T_OURS $T_LOAD; do drop_table "$t"; done
"$BIN/load-dynamo" /dev/null --table $T_REF --endpoint-url "$ENDPOINT" --create --key saleId:S -q
say "reference: sequential 25-item batch writer (boto3), $ITEMS items"
measure reference "$ITEMS" python3 scripts/s9/reference_writer.py "$WORK/sales.items.ndjson" $T_REF "$ENDPOINT"
say "ferry: transform-sales | load-dynamo, $ITEMS items"
measure transform+load "$ITEMS" bash -c "'$BIN/transform-sales' '$WORK/sales.extracted.ndjson' -o - --rejects '$WORK/r.ndjson' -q | '$BIN/load-dynamo' - --table $T_OURS --endpoint-url '$ENDPOINT' --create --key saleId:S -q --rejects '$WORK/load.rejects.ndjson'"
say "ferry: load-dynamo alone, $ITEMS items"
measure load-dynamo "$ITEMS" "$BIN/load-dynamo" "$WORK/sales.items.ndjson" --table $T_LOAD --endpoint-url "$ENDPOINT" --create --key saleId:S -q --rejects "$WORK/load2.rejects.ndjson"
read -r ref_rate ref_cpu <"$WORK/reference.result"
read -r our_rate our_cpu <"$WORK/transform+load.result"
printf 'ferry transform+load vs reference: items/s ×%.2f, client CPU per item ×%.3f (%.1f× less)\n' \
  "$(echo "$our_rate / $ref_rate" | bc -l)" "$(echo "$our_cpu / $ref_cpu" | bc -l)" "$(echo "$ref_cpu / $our_cpu" | bc -l)"
# The local server keeps ItemCount exact (a Scan of 100,000 items is slow on it).
for t in $T_REF $T_OURS $T_LOAD; do
  n=$(python3 -c "import boto3,sys; print(boto3.client('dynamodb', endpoint_url=sys.argv[1], region_name='us-east-1').describe_table(TableName=sys.argv[2])['Table']['ItemCount'])" "$ENDPOINT" "$t")
  [ "$n" = "$DISTINCT" ] || { say "table $t holds $n items, not $DISTINCT"; exit 1; }
done
say "all three tables hold the $DISTINCT distinct items of the $ITEMS lines"
for t in $T_REF $T_OURS $T_LOAD; do drop_table "$t"; done
