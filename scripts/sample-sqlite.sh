#!/usr/bin/env bash
# Fetches a public SQLite database the project did not write, for the generic-mode test of
# sqlite-consolidate: zipcodes.db from the PyPI package pyzipcode 3.0.1 (43,191 US ZIP
# codes, a table without a primary key). Into target/samples/zipcodes.db; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/samples
[ -s "$out/zipcodes.db" ] && exit 0
mkdir -p "$out/dl"
python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$out/dl" pyzipcode==3.0.1 >&2
tar -xzf "$out/dl"/pyzipcode-3.0.1.tar.gz -C "$out/dl" pyzipcode-3.0.1/pyzipcode/zipcodes.db
mv "$out/dl/pyzipcode-3.0.1/pyzipcode/zipcodes.db" "$out/zipcodes.db"
rm -rf "$out/dl"
echo "sample: $out/zipcodes.db" >&2
