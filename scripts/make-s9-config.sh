#!/usr/bin/env bash
# Prints one setting of an S9 configuration file (migrate-s9's config.json) for the Makefile's
# S9 steps, read the way migrate-s9 reads it: `${NAME}` is replaced from the environment, else
# from `.env` in the current directory (an unset one is exit 2, naming it).
#
#   make-s9-config.sh CONFIG source-url          postgres://USER@HOST:PORT/DB[?sslmode=…&connect_timeout=…&statement_timeout=…]
#                                               (no password; empty without source.host: the tools then read FERRY_SOURCE)
#   make-s9-config.sh CONFIG password            source.password (empty when absent)
#   make-s9-config.sh CONFIG JQ-PATH [DEFAULT]   any other value, e.g. .target.buyersTable BuyersTable-dev
set -euo pipefail
shopt -s inherit_errexit
cfg=${1:?usage: make-s9-config.sh CONFIG KEY [DEFAULT]}
key=${2:?usage: make-s9-config.sh CONFIG KEY [DEFAULT]}
default=${3-}
[ -r "$cfg" ] || { echo "make-s9-config: cannot read $cfg" >&2; exit 2; }

lookup() { # NAME: the environment (non-empty), else .env, else the (empty) environment value
  local name=$1 line
  if [ -n "${!name-}" ]; then printf '%s' "${!name}"; return; fi
  if [ -f .env ] && line=$(grep -E "^[[:space:]]*(export[[:space:]]+)?$name=" .env | tail -1); then
    line=${line#*=}
    line=${line%\"}; line=${line#\"}; line=${line%\'}; line=${line#\'}
    printf '%s' "$line"; return
  fi
  if [ -n "${!name+set}" ]; then return; fi
  echo "make-s9-config: $cfg: \${$name} is not set (environment or .env)" >&2
  exit 2
}

expand() { # TEXT with every ${NAME} replaced
  local s=$1 out='' re='^([^$]*)\$\{([A-Za-z_][A-Za-z0-9_]*)\}(.*)$'
  while [[ $s =~ $re ]]; do
    out+=${BASH_REMATCH[1]}$(lookup "${BASH_REMATCH[2]}")
    s=${BASH_REMATCH[3]}
  done
  printf '%s' "$out$s"
}

get() { # JQ-PATH DEFAULT
  local v
  v=$(jq -r --arg d "$2" "($1) as \$v | if \$v == null then \$d else \$v end | tostring" "$cfg")
  expand "$v"
}

case $key in
  source-url)
    host=$(get .source.host '')
    [ -n "$host" ] || exit 0
    url="postgres://$(get .source.username postgres)@$host:$(get .source.port 5432)/$(get .source.database postgres)"
    q=()
    ssl=$(get .source.ssl '')
    [ "$ssl" = true ] && q+=(sslmode=require)
    [ "$ssl" = false ] && q+=(sslmode=disable)
    ct=$(get .source.connectionTimeout '')
    [ -n "$ct" ] && q+=("connect_timeout=$(( (ct + 999) / 1000 ))")
    st=$(get .source.statementTimeout '')
    [ -n "$st" ] && q+=("statement_timeout=$st")
    if [ ${#q[@]} -gt 0 ]; then url+="?$(IFS='&'; echo "${q[*]}")"; fi
    printf '%s\n' "$url"
    ;;
  password) get .source.password ''; echo ;;
  .*) get "$key" "$default"; echo ;;
  *) echo "make-s9-config: unknown key $key" >&2; exit 2 ;;
esac
