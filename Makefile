# Ferry: `make demo` runs a sample migration, `make test` runs every test, `make bench`
# measures the reference work against pgloader and mydumper/myloader.
CARGO ?= cargo
BIN := target/release

.PHONY: build services demo test lint bench clean

build:
	$(CARGO) build --release --workspace --bins

services:
	bash scripts/services.sh

demo: build services
	bash scripts/demo.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The end-to-end tests run the release binaries against the real servers.
test: services build
	$(CARGO) test --release --workspace
	$(MAKE) lint

bench: build services
	bash scripts/bench.sh

clean:
	$(CARGO) clean
	rm -rf .ferry data
