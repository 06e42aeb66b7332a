#!/usr/bin/env bash
# ABParts benchmark: migrate-abparts on generated BEFORE databases (ferry-gen abparts).
#  1. production_scale (100 orgs, 200 users, 200 parts, 150 machines, 7,500 inventory rows):
#     migrate --yes --force + validate + rollback, the goal being < 5 s in all;
#  2. 1,000,000 inventory rows (1,000 orgs × 1,000 parts): migrate --yes --force, goal < 60 s
#     with peak memory < 200 MB.
# Prints wall time and peak RSS (GNU time) of each command.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FERRY_BIN:-target/release}
WORK=${TMPDIR:-/tmp}/ferry-bench-abparts
INV=${ABP_INVENTORY:-1000000}
rm -rf "$WORK" && mkdir -p "$WORK"

fresh() {
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
}

timed() { # label command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" > "$WORK/out" 2> "$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
  read -r secs kb < <(tail -1 "$WORK/time")
  printf '  %-40s %7.2fs  peak RSS %4d MB\n' "$label" "$secs" $((kb / 1024))
  total=$(echo "${total:-0} + $secs" | bc -l)
}

echo
echo "ABParts benchmark on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
DB=ferry_bench_abp_prod
fresh $DB
"$BIN/ferry-gen" abparts --target "postgres://postgres@127.0.0.1/$DB" --sample-size production_scale
A=("$BIN/migrate-abparts" --target "postgres://postgres@127.0.0.1/$DB" --log-level WARNING
   --log-dir "$WORK/logs" --report-dir "$WORK/reports" --backup-dir "$WORK/backups")
echo "production_scale (7,500 inventory rows):"
total=0
timed "migrate --yes --force" "${A[@]}" migrate --yes --force
timed "validate (31 checks)" "${A[@]}" validate
id=$(ls "$WORK/backups" | sed -n 's/^migration_backup_\(.*\)\.json$/\1/p' | head -1)
timed "rollback (fingerprint checked)" "${A[@]}" rollback --migration-id "$id"
printf '  %-40s %7.2fs  (goal < 5 s)\n' "migrate + validate + rollback" "$total"

DB=ferry_bench_abp_1m
fresh $DB
t0=$(date +%s.%N)
"$BIN/ferry-gen" abparts --target "postgres://postgres@127.0.0.1/$DB" --orgs 1000 --users 2000 --parts 1000 --machines 1500 --inventory "$INV"
echo "$INV inventory rows (generated in $(echo "$(date +%s.%N) - $t0" | bc -l | xargs printf '%.1f') s):"
A=("$BIN/migrate-abparts" --target "postgres://postgres@127.0.0.1/$DB" --log-level WARNING
   --log-dir "$WORK/logs" --report-dir "$WORK/reports1m" --backup-dir "$WORK/backups1m")
total=0
timed "migrate --yes --force" "${A[@]}" migrate --yes --force
printf '  %-40s %s transactions, backup %s MB (goal < 60 s, < 200 MB)\n' "" \
  "$(psql -h 127.0.0.1 -U postgres -d $DB -Atc 'SELECT count(*) FROM transactions')" \
  "$(du -m "$WORK"/backups1m/*.json | cut -f1)"
id=$(ls "$WORK/backups1m" | sed -n 's/^migration_backup_\(.*\)\.json$/\1/p' | head -1)
timed "rollback (fingerprint checked)" "${A[@]}" rollback --migration-id "$id"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS ferry_bench_abp_prod WITH (FORCE)" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
