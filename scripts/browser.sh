#!/usr/bin/env bash
# Makes a headless browser available for tests/html_report.rs: installs Debian's `chromium`
# (apt-get, as root or through sudo) when it is missing. Idempotent; says what it did.
# Also installs `bash-completion`, so `make install`'s completions can be tried in a shell.
set -euo pipefail

say() { printf 'browser: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v chromium >/dev/null || missing+=(chromium)
[ -f /usr/share/bash-completion/bash_completion ] || missing+=(bash-completion)

if [ ${#missing[@]} -eq 0 ]; then
  say "chromium already installed ($(chromium --version 2>/dev/null || echo '?'))"
  exit 0
fi
say "installing ${missing[*]} (apt-get install)"
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" fonts-dejavu-core >/dev/null
say "installed: $(chromium --version 2>/dev/null || echo 'chromium: not found')"
