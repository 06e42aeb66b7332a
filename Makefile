# Ferry: `make demo` runs a sample migration, `make test` runs every test, `make bench`
# measures the reference work against pgloader and mydumper/myloader.
CARGO ?= cargo
BIN := target/release
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

.PHONY: build services demo test lint bench clean samples

build:
	$(CARGO) build --release --workspace --bins

services:
	bash scripts/services.sh

demo: build services
	bash scripts/demo.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The end-to-end tests run the release binaries against the real servers. The last line
# sums every test binary's result.
test: services build samples
	mkdir -p target
	$(CARGO) test --release --workspace 2>&1 | tee target/test.log
	$(MAKE) lint
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0) }' target/test.log

samples:
	bash scripts/sample-sqlite.sh

bench: build services
	bash scripts/bench.sh
	bash scripts/bench-dynamo.sh

clean:
	$(CARGO) clean
	rm -rf .ferry data
