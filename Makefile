# Ferry: `make demo` runs a sample migration, `make test` runs every test, `make bench`
# measures the reference work against pgloader and mydumper/myloader.
CARGO ?= cargo
BIN := target/release
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

.PHONY: build services demo test lint bench clean samples s9-fixture s9-migrate lustores-fixture lustores-migrate abparts-fixture abparts-migrate

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

# S9 → DynamoDB with a config file (default: the local one, on the fixture database that
# `make s9-fixture` creates). ARGS passes migrate-s9 flags, e.g.
#   make s9-migrate ARGS="--phase extract --entity buyers"
#   make s9-migrate ARGS=--dry-run      make s9-migrate ARGS=--resume
S9_CONFIG ?= config/s9/config.local.json
S9_DATABASE ?= ferry_s9
export S9_DATABASE
s9-fixture: build services
	psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $(S9_DATABASE) WITH (FORCE)" -c "CREATE DATABASE $(S9_DATABASE)"
	$(BIN)/ferry-gen s9 --target postgres://postgres@127.0.0.1:5432/$(S9_DATABASE)

s9-migrate: build services
	DB_PASSWORD=$${DB_PASSWORD:-} AWS_ACCESS_KEY_ID=$${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=$${AWS_SECRET_ACCESS_KEY:-local} \
	  $(BIN)/migrate-s9 --config $(S9_CONFIG) $(ARGS)

# LUStores: the legacy physicsstores fixture (MariaDB, LUS_ISSUES extra generated issues) and
# its migration into PostgreSQL university_inventory. ARGS passes migrate-lustores flags, e.g.
#   make lustores-migrate ARGS=--dry-run      make lustores-migrate ARGS=--resume
LUS_SOURCE ?= physicsstores
LUS_TARGET ?= university_inventory
LUS_ISSUES ?= 0
lustores-fixture: build services
	mariadb -h 127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $(LUS_SOURCE); CREATE DATABASE $(LUS_SOURCE)"
	$(BIN)/ferry-gen lustores --target mysql://root@127.0.0.1/$(LUS_SOURCE) --issues $(LUS_ISSUES)
	psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $(LUS_TARGET) WITH (FORCE)" -c "CREATE DATABASE $(LUS_TARGET)"

lustores-migrate: build services
	$(BIN)/migrate-lustores --schema-file fixtures/lustores/migrations/database_schemas_export_20250911_152208.json \
	  --source-host 127.0.0.1 --source-user root --source-database $(LUS_SOURCE) \
	  --target-host 127.0.0.1 --target-user postgres --target-database $(LUS_TARGET) $(ARGS)

# ABParts: the BEFORE fixture (fixtures/abparts/before.sql; ABP_SAMPLE=production_scale etc.
# for a generated sample instead) and its in-place restructuring. ARGS passes migrate-abparts
# arguments (default: migrate --yes), e.g.
#   make abparts-migrate ARGS="migrate --dry-run"     make abparts-migrate ARGS=validate
#   make abparts-migrate ARGS="rollback --migration-id ID"
ABP_DATABASE ?= abparts
ABP_SAMPLE ?=
abparts-fixture: build services
	psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $(ABP_DATABASE) WITH (FORCE)" -c "CREATE DATABASE $(ABP_DATABASE)"
	$(BIN)/ferry-gen abparts --target postgres://postgres@127.0.0.1/$(ABP_DATABASE) $(if $(ABP_SAMPLE),--sample $(ABP_SAMPLE),)

abparts-migrate: build services
	$(BIN)/migrate-abparts --target postgres://postgres@127.0.0.1/$(ABP_DATABASE) $(or $(ARGS),migrate --yes)

# Measures the binaries users get: the `dist` profile (thin LTO, not incremental). The everyday
# `release` profile is incremental for quick rebuilds, which costs about 8% on the hot paths.
bench: services
	$(CARGO) build --profile dist --workspace --bins
	FERRY_BIN=$(CURDIR)/target/dist bash scripts/bench.sh
	FERRY_BIN=$(CURDIR)/target/dist bash scripts/bench-dynamo.sh
	FERRY_BIN=$(CURDIR)/target/dist bash scripts/bench-lustores.sh
	FERRY_BIN=$(CURDIR)/target/dist bash scripts/bench-abparts.sh

clean:
	$(CARGO) clean
	rm -rf .ferry data
