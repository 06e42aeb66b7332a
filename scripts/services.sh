#!/usr/bin/env bash
# Makes MariaDB (127.0.0.1:3306, and a second instance on 127.0.0.1:${FERRY_MARIADB2_PORT:-3307}), PostgreSQL (127.0.0.1:5432) and a DynamoDB-compatible
# server (moto_server, 127.0.0.1:${FERRY_DYNAMO_PORT:-5500}) reachable: starts them, or
# installs them first where they are missing. Idempotent; says what it did.
set -euo pipefail

DYNAMO_PORT="${FERRY_DYNAMO_PORT:-5500}"
say() { printf 'services: %s\n' "$*" >&2; }
reachable() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # port name seconds
  for _ in $(seq 1 "$3"); do reachable "$1" && return 0; sleep 1; done
  say "$2 did not come up on 127.0.0.1:$1"; return 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# ---- MariaDB -------------------------------------------------------------------------
if reachable 3306; then
  say "MariaDB already reachable on 127.0.0.1:3306"
else
  if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; then
    say "installing MariaDB (apt-get install mariadb-server)"
    apt_install mariadb-server mariadb-client
    fresh_mariadb=1
  fi
  say "starting MariaDB"
  as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql >/dev/null
  wait_for 3306 MariaDB 60
  if [ -n "${fresh_mariadb:-}" ]; then
    # Tests connect as root over TCP with an empty password, as on the development machines.
    as_root mariadb -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; FLUSH PRIVILEGES;" || true
  fi
fi
mariadb -h 127.0.0.1 -uroot -e "CREATE DATABASE IF NOT EXISTS test; SET GLOBAL local_infile = 1;" >/dev/null 2>&1 \
  || say "warning: could not prepare MariaDB (database test, local_infile)"

# ---- a second MariaDB (the "WRITE" server of the two-server tests) ---------------------
# Its own data directory and socket, started from the same binaries; root over TCP with an
# empty password like the first one.
MY2_PORT="${FERRY_MARIADB2_PORT:-3307}"
MY2_DIR="${FERRY_MARIADB2_DIR:-/var/lib/ferry-mariadb2}"
if reachable "$MY2_PORT"; then
  say "second MariaDB already reachable on 127.0.0.1:$MY2_PORT"
else
  if [ ! -d "$MY2_DIR/mysql" ]; then
    say "initialising a second MariaDB in $MY2_DIR"
    as_root mkdir -p "$MY2_DIR"
    as_root chown mysql:mysql "$MY2_DIR" 2>/dev/null || true
    as_root mariadb-install-db --no-defaults --user=mysql --datadir="$MY2_DIR" \
      --auth-root-authentication-method=normal --skip-test-db >/dev/null
  fi
  say "starting the second MariaDB on 127.0.0.1:$MY2_PORT"
  as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
  as_root start-stop-daemon --start --oknodo --background --pidfile "$MY2_DIR/ferry2.pid" \
    --exec /usr/sbin/mariadbd -- --no-defaults --user=mysql --datadir="$MY2_DIR" \
    --port="$MY2_PORT" --bind-address=127.0.0.1 --socket=/run/mysqld/ferry2.sock \
    --pid-file="$MY2_DIR/ferry2.pid" --local-infile=1 --character-set-server=utf8mb4 \
    --collation-server=utf8mb4_general_ci --log-error="$MY2_DIR/error.log" >/dev/null
  wait_for "$MY2_PORT" "second MariaDB" 60
fi
mariadb -h 127.0.0.1 -P "$MY2_PORT" -uroot -e "SET GLOBAL local_infile = 1;" >/dev/null 2>&1 \
  || say "warning: could not prepare the second MariaDB (local_infile)"

# ---- PostgreSQL ----------------------------------------------------------------------
if reachable 5432; then
  say "PostgreSQL already reachable on 127.0.0.1:5432"
else
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    say "installing PostgreSQL (apt-get install postgresql)"
    apt_install postgresql postgresql-client
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
      # Local test server: trust on loopback, like the development machines.
      as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/; s/^(local\s+all\s+all\s+)\S+/\1trust/' "$hba"
    done
  fi
  say "starting PostgreSQL"
  ver=$(ls /etc/postgresql | sort -n | tail -1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  wait_for 5432 PostgreSQL 60
fi
# PostGIS: the geometry tests load into and read from PostGIS `geometry` columns.
pg_ver=$(psql -h 127.0.0.1 -U postgres -tAc "SHOW server_version_num" 2>/dev/null | cut -c1-2)
if [ -n "$pg_ver" ] && ! psql -h 127.0.0.1 -U postgres -tAc \
    "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'" 2>/dev/null | grep -q 1; then
  say "installing PostGIS (apt-get install postgresql-$pg_ver-postgis-3)"
  apt_install --no-install-recommends "postgresql-$pg_ver-postgis-3"
fi
for db in test root; do
  psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" 2>/dev/null | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE \"$db\"" >/dev/null 2>&1 || true
done

# ---- DynamoDB-compatible server ------------------------------------------------------
if reachable "$DYNAMO_PORT"; then
  say "moto_server already reachable on 127.0.0.1:$DYNAMO_PORT"
else
  if ! command -v moto_server >/dev/null; then
    say "installing moto_server (pip install 'moto[server]')"
    python3 -m pip install -q 'moto[server]' >/dev/null 2>&1 || pip install -q 'moto[server]' >/dev/null
    hash -r
  fi
  say "starting moto_server on 127.0.0.1:$DYNAMO_PORT"
  nohup moto_server -H 127.0.0.1 -p "$DYNAMO_PORT" >"${TMPDIR:-/tmp}/ferry-moto.log" 2>&1 &
  wait_for "$DYNAMO_PORT" moto_server 60
fi
say "ready: MariaDB 127.0.0.1:3306 and 127.0.0.1:$MY2_PORT, PostgreSQL 127.0.0.1:5432, DynamoDB http://127.0.0.1:$DYNAMO_PORT"
