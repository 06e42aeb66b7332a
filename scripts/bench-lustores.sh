#!/usr/bin/env bash
# LUStores benchmark: a legacy physicsstores database with LUS_ISSUES generated issues
# (default 1,000,000; ferry-gen lustores) migrated end to end by migrate-lustores into an
# empty university_inventory (the fixture's migrations applied by step 0). Prints the wall
# time, issues per second and the peak memory of the run (the largest of its processes).
# A second run over the migrated target follows (it backs up the 2 million rows first).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FERRY_BIN:-target/release}
ISSUES=${LUS_ISSUES:-1000000}
DB=ferry_bench_lus
WORK=${TMPDIR:-/tmp}/ferry-bench-lus
SCHEMA=fixtures/lustores/migrations/database_schemas_export_20250911_152208.json

have=$(mariadb -h 127.0.0.1 -uroot -N -e "SELECT COUNT(*) FROM $DB.issues" 2>/dev/null || echo 0)
if [ "$have" -lt "$ISSUES" ] || [ "$have" -gt $((ISSUES + 1000)) ]; then
  mariadb -h 127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
  t0=$(date +%s.%N)
  "$BIN/ferry-gen" lustores --target "mysql://root@127.0.0.1/$DB" --issues "$ISSUES"
  echo "generated $ISSUES issues in $(echo "$(date +%s.%N) - $t0" | bc -l | xargs printf '%.1f') s" >&2
fi
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
rm -rf "$WORK" && mkdir -p "$WORK"

run() {
  local label=$1
  local rc=0
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN/migrate-lustores" --schema-file "$SCHEMA" \
    --source "mysql://root@127.0.0.1/$DB" --target "postgres://postgres@127.0.0.1/$DB" \
    --work-dir "$WORK/data" --log-file "$WORK/data_migration.log" -q || rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || { echo "bench-lustores: migrate-lustores exited $rc" >&2; exit 1; }
  read -r secs kb < <(tail -1 "$WORK/time")
  local migrated
  migrated=$(psql -h 127.0.0.1 -U postgres -d $DB -Atc "SELECT count(*) FROM sales")
  printf '%-44s %9s issues %7.1fs %9.0f issues/s  peak RSS %d MB  (%s sales, verified, exit %s)\n' \
    "$label" "$ISSUES" "$secs" "$(echo "$ISSUES / $secs" | bc -l)" $((kb / 1024)) "$migrated" "$rc"
}
echo
echo "LUStores benchmark on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
run "migrate-lustores, empty target"
run "migrate-lustores, rerun (backs up the target)"
