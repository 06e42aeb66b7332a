#!/usr/bin/env bash
# `make NAME-clean`: drops what the Makefile's stamp files say make created, and nothing else.
# Each line of a stamp names one object:
#   postgres DB                  a PostgreSQL database on 127.0.0.1:5432 (user postgres)
#   mariadb PORT DB              a MariaDB database on 127.0.0.1:PORT (user root)
#   dynamodb TABLE ENDPOINT REGION  a DynamoDB table, deleted only on a local endpoint
#                                (http://127.0.0.1:… or http://localhost:…), else left with a note
# Other lines are ignored. Missing stamps are skipped; every action is printed.
#
#   make-drop.sh STAMP...                 drop what the stamps list
#   make-drop.sh --record STAMP LINE...   add LINEs to STAMP (a fixture's recipe, last)
set -euo pipefail
if [ "${1-}" = --record ]; then
  stamp=$2; shift 2
  { cat "$stamp" 2>/dev/null || true; printf '%s\n' "$@"; } | sort -u >"$stamp.part"
  mv "$stamp.part" "$stamp"
  exit 0
fi
say() { printf 'make-drop: %s\n' "$*" >&2; }
# A local DynamoDB-compatible server takes any keys.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
declare -A seen=()
for stamp in "$@"; do
  [ -f "$stamp" ] || continue
  while read -r kind a b c _; do
    [ -n "${kind:-}" ] || continue
    [ -z "${seen["$kind $a $b"]+x}" ] || continue
    seen["$kind $a $b"]=1
    case $kind in
      postgres)
        say "DROP DATABASE $a (PostgreSQL 127.0.0.1:5432)"
        psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS \"$a\" WITH (FORCE)"
        ;;
      mariadb)
        say "DROP DATABASE $b (MariaDB 127.0.0.1:$a)"
        mariadb -h 127.0.0.1 -P "$a" -uroot -e "DROP DATABASE IF EXISTS \`$b\`"
        ;;
      dynamodb)
        case $b in
          http://127.0.0.1:* | http://localhost:*)
            aws=(aws dynamodb --endpoint-url "$b" --region "${c:-us-east-1}")
            if "${aws[@]}" describe-table --table-name "$a" >/dev/null 2>&1; then
              say "delete-table $a ($b, ${c:-us-east-1})"
              "${aws[@]}" delete-table --table-name "$a" >/dev/null
            fi
            ;;
          *) say "left DynamoDB table $a (${b:-AWS}): not a local endpoint; delete it yourself if it is scratch" ;;
        esac
        ;;
    esac
  done <"$stamp"
done
