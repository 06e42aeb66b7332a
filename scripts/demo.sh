#!/usr/bin/env bash
# A sample migration on the fixtures: MariaDB → NDJSON → PostgreSQL, then verify; then the
# MINGUS consolidation (five SQLite files → PostgreSQL database ferry_demo_mingus).
# Uses databases ferry_demo on both servers (recreated each run).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release
MY=mysql://root@127.0.0.1:3306/ferry_demo
PG=postgres://postgres@127.0.0.1:5432/ferry_demo
OUT=data/demo
rm -rf "$OUT" && mkdir -p "$OUT"

mariadb -h 127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS ferry_demo; CREATE DATABASE ferry_demo CHARACTER SET utf8mb4"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS ferry_demo WITH (FORCE)" -c "CREATE DATABASE ferry_demo"

echo "== fixtures: 100000 orders and the awkward-types table in MariaDB" >&2
$BIN/ferry-gen bench --target "$MY" --table orders --rows 100000
$BIN/ferry-gen awkward --target "$MY"

echo "== extract (files + sidecars)" >&2
$BIN/extract --source "$MY" --table orders --table awkward -o "$OUT/" --report "$OUT/extract.json"

echo "== load-postgres (orders from a file, awkward through a pipe)" >&2
$BIN/load-postgres --target "$PG" --table orders --create "$OUT/orders.ndjson" --report "$OUT/load-orders.json"
$BIN/extract --source "$MY" --table awkward -q \
  | $BIN/load-postgres --target "$PG" --table awkward --create --nul strip --report "$OUT/load-awkward.json" -

echo "== verify" >&2
$BIN/verify --source "$MY" --target "$PG" --table orders --table awkward --report "$OUT/verify.json"

echo "== sqlite-consolidate: the five MINGUS SQLite files (with dirty rows) → ferry_demo_mingus" >&2
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS ferry_demo_mingus WITH (FORCE)" -c "CREATE DATABASE ferry_demo_mingus"
$BIN/ferry-gen mingus -o "$OUT/mingus"
rc=0
$BIN/sqlite-consolidate --config config/mingus.json --sqlite-dir "$OUT/mingus" \
  --target postgres://postgres@127.0.0.1:5432/ferry_demo_mingus --work-dir "$OUT/consolidate" \
  --backup-dir "$OUT/consolidate/backups" --report "$OUT/consolidate.json" 2> >(grep -v ' WARN rejected' >&2) || rc=$?
[ "$rc" = 3 ] || { echo "demo: sqlite-consolidate exited $rc (expected 3: the fixture's 22 invalid rows)" >&2; exit 1; }
echo "== S9 → DynamoDB: migrate-s9 --full on the S9 fixture (PostgreSQL ferry_demo_s9 → local DynamoDB)" >&2
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS ferry_demo_s9 WITH (FORCE)" -c "CREATE DATABASE ferry_demo_s9"
$BIN/ferry-gen s9 --target postgres://postgres@127.0.0.1:5432/ferry_demo_s9
mkdir -p "$OUT/s9"
rc=0
( cd "$OUT/s9" && S9_DATABASE=ferry_demo_s9 DB_PASSWORD=${DB_PASSWORD:-demo} \
    AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-demo} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-demo} \
    AWS_EC2_METADATA_DISABLED=true "$OLDPWD/$BIN/migrate-s9" --full --config "$OLDPWD/config/s9/config.local.json" \
    2> >(grep -v ' WARN rejected' >&2) ) || rc=$?
[ "$rc" = 3 ] || { echo "demo: migrate-s9 exited $rc (expected 3: the fixture's dirty rows)" >&2; exit 1; }
cat "$OUT/s9/data/reports/count_comparison.json" >&2
echo "== LUStores: migrate-lustores on the physicsstores fixture (MariaDB ferry_demo_lus → PostgreSQL ferry_demo_lus)" >&2
mariadb -h 127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS ferry_demo_lus; CREATE DATABASE ferry_demo_lus"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS ferry_demo_lus WITH (FORCE)" -c "CREATE DATABASE ferry_demo_lus"
$BIN/ferry-gen lustores --target mysql://root@127.0.0.1:3306/ferry_demo_lus
rc=0
$BIN/migrate-lustores --schema-file fixtures/lustores/migrations/database_schemas_export_20250911_152208.json \
  --source mysql://root@127.0.0.1:3306/ferry_demo_lus --target postgres://postgres@127.0.0.1:5432/ferry_demo_lus \
  --work-dir "$OUT/lustores" --log-file "$OUT/lustores/data_migration.log" || rc=$?
[ "$rc" = 3 ] || { echo "demo: migrate-lustores exited $rc (expected 3: the fixture's skipped legacy rows)" >&2; exit 1; }
echo "== ABParts: migrate-abparts on the BEFORE fixture (PostgreSQL ferry_demo_abp, restructured in place)" >&2
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS ferry_demo_abp WITH (FORCE)" -c "CREATE DATABASE ferry_demo_abp"
$BIN/ferry-gen abparts --target postgres://postgres@127.0.0.1:5432/ferry_demo_abp
ABP=("$BIN/migrate-abparts" --target postgres://postgres@127.0.0.1:5432/ferry_demo_abp
     --log-dir "$OUT/abparts/logs" --report-dir "$OUT/abparts/reports" --backup-dir "$OUT/abparts/backups")
rc=0
"${ABP[@]}" validate || rc=$?
[ "$rc" = 1 ] || { echo "demo: migrate-abparts validate exited $rc (expected 1: the fixture's rows no rule covers)" >&2; exit 1; }
echo "demo: the operator's resolution of those rows (fixtures/abparts/RULES.md section 3)" >&2
sed -n '/^DELETE FROM users/,/^DELETE FROM organizations/p' fixtures/abparts/RULES.md \
  | psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d ferry_demo_abp
"${ABP[@]}" migrate --yes
"${ABP[@]}" status
echo "demo: reports in $OUT/ (extract.json, load-*.json, verify.json, consolidate.json, s9/data/reports/, lustores/reports/, abparts/reports/; rejected rows in $OUT/consolidate/*/rejects.ndjson $OUT/s9/data/ and $OUT/lustores/rejects/)" >&2
