#!/usr/bin/env bash
# `make bench`: the reference work of DESIGN.md on this machine, in one run.
#   MariaDB → PostgreSQL, SQLite → PostgreSQL (extract | load-postgres, and sqlite-consolidate)
#   MariaDB → MariaDB (extract | load-mysql), customer-filter to the second MariaDB, with pgloader and mydumper/myloader on the
#   same rows where installed; rows/s, peak memory of each of our processes, ratios.
#   Then the MariaDB → PostgreSQL path again at BENCH_ROWS_LARGE rows, to show memory flat.
# Environment: BENCH_ROWS (2000000), BENCH_ROWS_LARGE (4000000, 0 to skip), BENCH_TOOLS=0
# to skip installing pgloader/mydumper.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FERRY_BIN:-$PWD/target/release}
ROWS=${BENCH_ROWS:-2000000}
LARGE=${BENCH_ROWS_LARGE:-4000000}
WORK=$PWD/target/bench
mkdir -p "$WORK"
MYB=mysql://root@127.0.0.1:3306/ferry_bench
PGB=postgres://postgres@127.0.0.1:5432/ferry_bench
export FERRY_PROGRESS_SECS=3600

say() { printf 'bench: %s\n' "$*" >&2; }
if [ "${BENCH_TOOLS:-1}" = 1 ]; then
  need=""
  command -v pgloader >/dev/null || need="$need pgloader"
  command -v mydumper >/dev/null || need="$need mydumper"
  [ -x /usr/bin/time ] || need="$need time"
  command -v bc >/dev/null || need="$need bc"
  if [ -n "$need" ]; then
    say "installing$need"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null || say "could not install$need"
  fi
fi

# Every timed run, ours and the references', starts from the same quiet machine: what the
# previous step (or the fixtures) left dirty in the servers' memory is written out first, so
# no run pays for another's flushing (that moved single runs by ±30 %). PostgreSQL: CHECKPOINT.
# MariaDB (both servers): innodb_max_dirty_pages_pct set to 0 until the dirty pages are gone
# (at most 60 s), then restored. Then the kernel's own dirty pages (sync).
settle() {
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "CHECKPOINT" 2>/dev/null || true
  local port old dirty i
  for port in 3306 "${FERRY_MARIADB2_PORT:-3307}"; do
    old=$(mariadb -h 127.0.0.1 -P "$port" -uroot -N -e "SELECT @@innodb_max_dirty_pages_pct" 2>/dev/null) || continue
    mariadb -h 127.0.0.1 -P "$port" -uroot -e "SET GLOBAL innodb_max_dirty_pages_pct = 0"
    for i in $(seq 120); do
      dirty=$(mariadb -h 127.0.0.1 -P "$port" -uroot -N -e "SELECT variable_value FROM information_schema.global_status WHERE variable_name = 'INNODB_BUFFER_POOL_PAGES_DIRTY'")
      [ "${dirty:-0}" -lt 50 ] && break
      sleep 0.5
    done
    mariadb -h 127.0.0.1 -P "$port" -uroot -e "SET GLOBAL innodb_max_dirty_pages_pct = $old"
  done
  sync
}
pg_reset() { psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" 2>/dev/null; settle; }
my_reset() { mariadb -h 127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1 CHARACTER SET utf8mb4"; settle; }

# Runs a pipeline of two of our tools; prints "seconds rss1_kb rss2_kb".
timed_pipe() { # producer-args... -- consumer-args...
  local a=() b=() seen=""
  for x in "$@"; do if [ "$x" = "--" ]; then seen=1; elif [ -z "$seen" ]; then a+=("$x"); else b+=("$x"); fi; done
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$WORK/rss1" "${a[@]}" -q | /usr/bin/time -f "%M" -o "$WORK/rss2" "${b[@]}" -q -
  t1=$(date +%s.%N)
  echo "$(echo "$t1 - $t0" | bc -l) $(tail -1 "$WORK/rss1") $(tail -1 "$WORK/rss2")"
}
timed() { local t0 t1; t0=$(date +%s.%N); "$@" >"$WORK/last.log" 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
# Runs one command (which may start children); prints "seconds rss_kb" (the largest process).
timed_rss() { local t0 t1; t0=$(date +%s.%N); /usr/bin/time -f "%M" -o "$WORK/rss_one" "$@" >"$WORK/last.log" 2>&1; t1=$(date +%s.%N); echo "$(echo "$t1 - $t0" | bc -l) $(tail -1 "$WORK/rss_one")"; }
JOBS=${BENCH_JOBS:-2}
rate() { echo "$1 / $2" | bc -l | xargs printf '%.0f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }

results=()
row() { results+=("$(printf '%-34s %10s rows %8.2fs %10s rows/s %s' "$1" "$2" "$3" "$(rate "$2" "$3")" "$4")"); }

# ---- data -----------------------------------------------------------------------------
ensure_mysql_rows() { # rows
  local have
  have=$(mariadb -h 127.0.0.1 -uroot -N -e "SELECT COUNT(*) FROM ferry_bench.bench" 2>/dev/null || echo 0)
  if [ "$have" != "$1" ]; then
    say "generating $1 rows in MariaDB ferry_bench.bench"
    mariadb -h 127.0.0.1 -uroot -e "CREATE DATABASE IF NOT EXISTS ferry_bench"
    "$BIN/ferry-gen" bench --target "$MYB" --table bench --rows "$1" --drop
  fi
}
ensure_mysql_rows "$ROWS"
SQLITE=$WORK/bench-$ROWS.db
if [ ! -s "$SQLITE" ]; then
  say "generating $ROWS rows in $SQLITE"
  rm -f "$SQLITE"; "$BIN/ferry-gen" bench --target "sqlite://$SQLITE" --table bench --rows "$ROWS"
fi

# ---- MariaDB → PostgreSQL ----------------------------------------------------------------
say "MariaDB → PostgreSQL: extract | load-postgres"
pg_reset ferry_bench
read -r secs r1 r2 < <(timed_pipe "$BIN/extract" --source "$MYB" --table bench -- "$BIN/load-postgres" --target "$PGB" --table bench --create)
ours_my_pg=$secs
row "ferry MariaDB→PostgreSQL" "$ROWS" "$secs" "peak RSS extract $((r1/1024)) MB, load-postgres $((r2/1024)) MB"
"$BIN/verify" --source "$MYB" --target "$PGB" --table bench -q && say "verify: equal"
mem_my_pg="$r1 $r2"

say "MariaDB → PostgreSQL: ferry copy --jobs $JOBS (key ranges at once)"
pg_reset ferry_bench
rm -rf "$WORK/copy"
read -r secs rss < <(timed_rss "$BIN/ferry" copy --source "$MYB" --target "$PGB" --table bench --jobs "$JOBS" --create --state-dir "$WORK/copy" -q)
ours_my_pg_jobs=$secs
row "ferry copy --jobs $JOBS MariaDB→PG" "$ROWS" "$secs" "peak RSS $((rss/1024)) MB"
"$BIN/verify" --source "$MYB" --target "$PGB" --table bench -q && say "verify: equal"
if command -v pgloader >/dev/null; then
  say "MariaDB → PostgreSQL: pgloader"
  pg_reset ferry_bench_pgl
  secs=$(timed pgloader --quiet "mysql://root@127.0.0.1/ferry_bench" "postgresql://postgres@127.0.0.1/ferry_bench_pgl")
  row "pgloader MariaDB→PostgreSQL" "$ROWS" "$secs" "ratio ferry/pgloader $(ratio "$secs" "$ours_my_pg")x, --jobs $JOBS $(ratio "$secs" "$ours_my_pg_jobs")x"
fi

# ---- SQLite → PostgreSQL ------------------------------------------------------------------
say "SQLite → PostgreSQL: extract | load-postgres"
pg_reset ferry_bench_sq
read -r secs r1 r2 < <(timed_pipe "$BIN/extract" --source "sqlite://$SQLITE" --table bench -- "$BIN/load-postgres" --target "postgres://postgres@127.0.0.1:5432/ferry_bench_sq" --table bench --create)
ours_sq_pg=$secs
row "ferry SQLite→PostgreSQL" "$ROWS" "$secs" "peak RSS extract $((r1/1024)) MB, load-postgres $((r2/1024)) MB"
say "SQLite → PostgreSQL: sqlite-consolidate (generic mode, one process)"
pg_reset ferry_bench_sc
rm -rf "$WORK/consolidate"
t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$WORK/rss_sc" "$BIN/sqlite-consolidate" "bench=$SQLITE" --target "postgres://postgres@127.0.0.1:5432/ferry_bench_sc" \
  --batch-size 50000 --no-backup --work-dir "$WORK/consolidate" -q
t1=$(date +%s.%N)
ours_sc=$(echo "$t1 - $t0" | bc -l)
row "ferry sqlite-consolidate" "$ROWS" "$ours_sc" "peak RSS $(( $(tail -1 "$WORK/rss_sc") / 1024 )) MB"
"$BIN/verify" --source "sqlite://$SQLITE" --target "postgres://postgres@127.0.0.1:5432/ferry_bench_sc" --table bench --target-table bench.bench -q && say "verify: equal"
if command -v pgloader >/dev/null; then
  say "SQLite → PostgreSQL: pgloader"
  pg_reset ferry_bench_sqpgl
  secs=$(timed pgloader --quiet "sqlite://$SQLITE" "postgresql://postgres@127.0.0.1/ferry_bench_sqpgl")
  row "pgloader SQLite→PostgreSQL" "$ROWS" "$secs" "ratio ferry/pgloader $(ratio "$secs" "$ours_sq_pg")x, sqlite-consolidate/pgloader $(ratio "$secs" "$ours_sc")x"
fi

# ---- MariaDB → MariaDB --------------------------------------------------------------------
# The servers' own share of a MariaDB → MariaDB copy, with no tool between them: the rows,
# exported beforehand as LOAD DATA text, loaded as two halves at once (two server threads)
# while a plain client reads the whole table from the source. A copy cannot take less on
# this machine, so the ratio to mydumper+myloader ($1 s) is the most any tool could show.
mariadb_floor() {
  local dir t0 t1 n
  dir=$(mktemp -d /tmp/ferry-floor.XXXXXX); chmod 777 "$dir"
  if ! mariadb -h 127.0.0.1 -uroot -e "SELECT * FROM ferry_bench.bench INTO OUTFILE '$dir/rows.tsv'" 2>/dev/null \
    || [ ! -s "$dir/rows.tsv" ]; then
    say "MariaDB floor not measured: the server cannot write $dir (secure_file_priv?)"; rm -rf "$dir"; return 0
  fi
  split -n l/2 -d "$dir/rows.tsv" "$dir/half."
  my_reset ferry_bench_floor
  mariadb -h 127.0.0.1 -uroot -e "CREATE TABLE ferry_bench_floor.bench LIKE ferry_bench.bench"
  settle
  t0=$(date +%s.%N)
  mariadb -h 127.0.0.1 -uroot --quick -N -e "SELECT * FROM ferry_bench.bench" >/dev/null &
  for h in "$dir"/half.*; do
    mariadb -h 127.0.0.1 -uroot --local-infile=1 ferry_bench_floor \
      -e "LOAD DATA LOCAL INFILE '$h' INTO TABLE bench CHARACTER SET utf8mb4" &
  done
  wait
  t1=$(date +%s.%N)
  n=$(mariadb -h 127.0.0.1 -uroot -N -e "SELECT COUNT(*) FROM ferry_bench_floor.bench")
  rm -rf "$dir"
  mariadb -h 127.0.0.1 -uroot -e "DROP DATABASE ferry_bench_floor"
  [ "$n" = "$ROWS" ] || { say "MariaDB floor not measured: $n of $ROWS rows loaded"; return 0; }
  secs=$(echo "$t1 - $t0" | bc -l)
  row "MariaDB alone (read + 2 LOAD DATA)" "$ROWS" "$secs" "no tool between the servers: the most any copy can show here is $(ratio "$1" "$secs")x mydumper+myloader"
}
say "MariaDB → MariaDB: extract | load-mysql"
my_reset ferry_bench_copy
read -r secs r1 r2 < <(timed_pipe "$BIN/extract" --source "$MYB" --table bench -- "$BIN/load-mysql" --target "mysql://root@127.0.0.1:3306/ferry_bench_copy" --table bench --create)
ours_my_my=$secs
row "ferry MariaDB→MariaDB" "$ROWS" "$secs" "peak RSS extract $((r1/1024)) MB, load-mysql $((r2/1024)) MB"
say "MariaDB → MariaDB: ferry copy --jobs $JOBS"
my_reset ferry_bench_copy
rm -rf "$WORK/copy"
read -r secs rss < <(timed_rss "$BIN/ferry" copy --source "$MYB" --target "mysql://root@127.0.0.1:3306/ferry_bench_copy" --table bench --jobs "$JOBS" --create --state-dir "$WORK/copy" -q)
ours_my_my_jobs=$secs
row "ferry copy --jobs $JOBS MariaDB→MariaDB" "$ROWS" "$secs" "peak RSS $((rss/1024)) MB"
if command -v mydumper >/dev/null && command -v myloader >/dev/null; then
  say "MariaDB → MariaDB: mydumper + myloader"
  my_reset ferry_bench_myl
  rm -rf "$WORK/dump"
  d=$(timed mydumper -h 127.0.0.1 -u root -B ferry_bench -T bench -o "$WORK/dump" -t 2)
  l=$(timed myloader -h 127.0.0.1 -u root -d "$WORK/dump" -B ferry_bench_myl -t 2 -o)
  total=$(echo "$d + $l" | bc -l)
  row "mydumper+myloader MariaDB→MariaDB" "$ROWS" "$total" "(dump $(printf '%.1f' "$d")s + load $(printf '%.1f' "$l")s) ratio ferry/mydumper $(ratio "$total" "$ours_my_my")x, --jobs $JOBS $(ratio "$total" "$ours_my_my_jobs")x"
  mariadb_floor "$total"
fi

# ---- customer-filter (MariaDB → second MariaDB, every row selected) ----------------------
MY2=mysql://root@127.0.0.1:${FERRY_MARIADB2_PORT:-3307}
my2() { mariadb -h 127.0.0.1 -P "${FERRY_MARIADB2_PORT:-3307}" -uroot "$@"; }
have=$(mariadb -h 127.0.0.1 -uroot -N -e "SELECT COUNT(*) FROM ferry_bench_cf.bench" 2>/dev/null || echo 0)
if [ "$have" != "$ROWS" ]; then
  say "preparing ferry_bench_cf.bench: the $ROWS rows with customer_id in 1..3"
  mariadb -h 127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS ferry_bench_cf; CREATE DATABASE ferry_bench_cf CHARACTER SET utf8mb4;
    CREATE TABLE ferry_bench_cf.bench LIKE ferry_bench.bench;
    INSERT INTO ferry_bench_cf.bench SELECT * FROM ferry_bench.bench;
    UPDATE ferry_bench_cf.bench SET customer_id = id % 3 + 1;"
fi
say "customer-filter: $ROWS rows to the second MariaDB"
my2 -e "DROP DATABASE IF EXISTS ferry_bench_cf"
"$BIN/schema-copy" --source mysql://root@127.0.0.1:3306/ --target "$MY2/" --databases ferry_bench_cf -q
rm -rf "$WORK/cf-state"
settle
t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$WORK/rss_cf" "$BIN/customer-filter" --source mysql://root@127.0.0.1:3306/ --target "$MY2/" \
  --databases ferry_bench_cf --customer-ids 1,2,3 --state-dir "$WORK/cf-state" -q
t1=$(date +%s.%N)
ours_cf=$(echo "$t1 - $t0" | bc -l)
row "ferry customer-filter" "$ROWS" "$ours_cf" "peak RSS $(( $(tail -1 "$WORK/rss_cf") / 1024 )) MB"
if command -v mydumper >/dev/null && command -v myloader >/dev/null; then
  say "customer-filter's table: mydumper + myloader to the second MariaDB"
  my2 -e "DROP DATABASE IF EXISTS ferry_bench_cf_myl"
  rm -rf "$WORK/dump_cf"
  settle
  d=$(timed mydumper -h 127.0.0.1 -u root -B ferry_bench_cf -T bench -o "$WORK/dump_cf" -t 2)
  l=$(timed myloader -h 127.0.0.1 -P "${FERRY_MARIADB2_PORT:-3307}" -u root -d "$WORK/dump_cf" -B ferry_bench_cf_myl -t 2 -o)
  total=$(echo "$d + $l" | bc -l)
  row "mydumper+myloader (same table)" "$ROWS" "$total" "(dump $(printf '%.1f' "$d")s + load $(printf '%.1f' "$l")s) ratio customer-filter/mydumper+myloader $(ratio "$total" "$ours_cf")x"
fi

# ---- memory at a larger table ----------------------------------------------------------
if [ "$LARGE" -gt 0 ]; then
  ensure_mysql_rows "$LARGE"
  say "MariaDB → PostgreSQL at $LARGE rows (memory must stay flat)"
  pg_reset ferry_bench
  read -r secs r1 r2 < <(timed_pipe "$BIN/extract" --source "$MYB" --table bench -- "$BIN/load-postgres" --target "$PGB" --table bench --create)
  row "ferry MariaDB→PostgreSQL (large)" "$LARGE" "$secs" "peak RSS extract $((r1/1024)) MB, load-postgres $((r2/1024)) MB (at $ROWS rows: $(( ${mem_my_pg% *}/1024 )) / $(( ${mem_my_pg#* }/1024 )) MB)"
  ensure_mysql_rows "$ROWS"
fi

echo
echo "Ferry benchmark on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%s\n' "${results[@]}"
