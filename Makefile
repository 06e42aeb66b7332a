# Ferry: `make demo` runs a sample migration, `make test` runs every test, `make bench`
# measures the reference work against pgloader and mydumper/myloader, and each migration has
# `make NAME-fixture` and `make NAME-migrate` whose steps are real files under data/make/NAME/
# (a rerun redoes only what is stale). `make help` lists everything; docs/make.md explains it.
CARGO ?= cargo## the cargo of `build`, `test`, `lint`, `bench`
BIN := target/release## where the binaries are run from (BIN=DIR with -o build: no cargo at all)
ARGS ?=## NAME-migrate ARGS="…": run that migration's own tool once with these flags, not the steps
PREFIX ?= $(HOME)/.local## make install: the tools to PREFIX/bin, completions and man pages under PREFIX/share
DESTDIR ?=## make install/uninstall: a staging root put before PREFIX (for packaging)
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
# A recipe that fails leaves no target behind (a stamp or a file is made only by success).
.DELETE_ON_ERROR:

.PHONY: help build services services-up demo test lint bench clean samples browser deploy-check

##@ Build, test, demo, bench

help: ## this list: every target, then the variables you can set
	@awk 'BEGIN { FS = ":.*## " } \
	  /^##@/ { printf "\n%s\n", substr($$0, 5); next } \
	  /^[a-zA-Z0-9_.-]+:.*## / { printf "  %-20s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo; echo "Variables (make NAME=VALUE …; the default in brackets)"
	@awk '/^[A-Z0-9_]+ [?:]?=.*## / { n = $$1; sub(/^[A-Z0-9_]+ [?:]?= */, ""); d = $$0; \
	  sub(/ *## .*/, "", d); sub(/.*## /, ""); printf "  %-16s %s [%s]\n", n, $$0, d }' $(MAKEFILE_LIST)

build: ## cargo build --release of every binary (skip it with -o build and BIN=DIR)
	$(CARGO) build --release --workspace --bins

# The tools are the names `ferry list --names` prints (shared/src/tools.rs, which a test keeps
# equal to the workspace's binaries); each prints its own completions and man page when run
# with FERRY_GENERATE=bash|zsh|fish|man. bash-completion >= 2.9 and man-db find them under
# ~/.local/share (or PREFIX/share when PREFIX/bin is on PATH) by themselves.
INSTALL_DIRS = bin share/bash-completion/completions share/zsh/site-functions share/fish/vendor_completions.d share/man/man1
.PHONY: install uninstall
install: build ## the tools to PREFIX/bin [~/.local], their bash/zsh/fish completions and man pages under PREFIX/share
	@d='$(DESTDIR)$(PREFIX)'; tools=$$($(BIN)/ferry list --names); \
	for sub in $(INSTALL_DIRS); do mkdir -p "$$d/$$sub"; done; \
	for t in $$tools; do \
	  install -m 755 '$(BIN)'/$$t "$$d/bin/$$t"; \
	  FERRY_GENERATE=bash '$(BIN)'/$$t > "$$d/share/bash-completion/completions/$$t"; \
	  FERRY_GENERATE=zsh '$(BIN)'/$$t > "$$d/share/zsh/site-functions/_$$t"; \
	  FERRY_GENERATE=fish '$(BIN)'/$$t > "$$d/share/fish/vendor_completions.d/$$t.fish"; \
	  FERRY_GENERATE=man '$(BIN)'/$$t > "$$d/share/man/man1/$$t.1"; \
	done; \
	echo "installed $$(echo $$tools | wc -w) tools in $$d/bin, with completions and man pages under $$d/share"; \
	case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; *) echo "note: $(PREFIX)/bin is not on PATH: add it (export PATH=\"$(PREFIX)/bin:\$$PATH\")";; esac; \
	echo "zsh: fpath+=($(PREFIX)/share/zsh/site-functions) before compinit; bash, fish and man find theirs"

uninstall: ## remove what make install put under PREFIX
	@d='$(DESTDIR)$(PREFIX)'; \
	tools=$$("$$d/bin/ferry" list --names 2>/dev/null || '$(BIN)'/ferry list --names); \
	for t in $$tools; do \
	  rm -f "$$d/bin/$$t" "$$d/share/bash-completion/completions/$$t" "$$d/share/zsh/site-functions/_$$t" \
	    "$$d/share/fish/vendor_completions.d/$$t.fish" "$$d/share/man/man1/$$t.1"; \
	done; \
	echo "removed $$(echo $$tools | wc -w) tools and their completions and man pages from $$d"

services: ## start (or install) MariaDB 3306+3307, PostgreSQL 5432, moto_server 5500; says what it did
	bash scripts/services.sh

# services, but silent and instant when every server answers already: the order-only
# prerequisite of the migration steps, so a rerun with nothing stale prints nothing.
SERVICES_DOWN = $(shell for p in 3306 $${FERRY_MARIADB2_PORT:-3307} 5432 $${FERRY_DYNAMO_PORT:-5500}; do \
  (exec 3<>/dev/tcp/127.0.0.1/$$p) 2>/dev/null || echo $$p; done)
services-up:
	$(if $(SERVICES_DOWN),bash scripts/services.sh)

demo: build services ## build, start the servers, run every sample migration (scripts/demo.sh)
	bash scripts/demo.sh

lint: ## cargo fmt --check and clippy -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The end-to-end tests run the release binaries against the real servers. The last line
# sums every test binary's result.
deploy-check: ## validate deploy/ (Kubernetes Indexed Job, AWS Batch array job) offline; installs the validator
	bash scripts/validate-deploy.sh

browser: ## install headless Chromium and bash-completion where missing (the HTML report's test needs them)
	bash scripts/browser.sh

test: services browser deploy-check build samples ## every test (unit + end-to-end against the real servers), then lint
	mkdir -p target
	$(CARGO) test --release --workspace 2>&1 | tee target/test.log
	$(MAKE) lint
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0) }' target/test.log

samples: ## fetch the public SQLite sample of the generic-mode test (target/samples/zipcodes.db)
	bash scripts/sample-sqlite.sh

# Measures the binaries users get: the `dist` profile (thin LTO, not incremental). The everyday
# `release` profile is incremental for quick rebuilds, which costs about 8% on the hot paths.
bench: services ## the reference benchmark (dist profile) beside pgloader and mydumper/myloader
	$(CARGO) build --profile dist --workspace --bins
	FERRY_BIN=$(CURDIR)/target/dist bash scripts/bench.sh
	FERRY_BIN=$(CURDIR)/target/dist bash scripts/bench-dynamo.sh
	FERRY_BIN=$(CURDIR)/target/dist bash scripts/bench-lustores.sh
	FERRY_BIN=$(CURDIR)/target/dist bash scripts/bench-abparts.sh

clean: ## cargo clean, and remove .ferry and data/ (every migration's files; databases stay)
	$(CARGO) clean
	rm -rf .ferry data

# ---------------------------------------------------------------------------------------------
# Full runs per migration. Every step writes a real file under $(MAKE_DATA)/NAME/ (the step's
# output, or a stamp `*.stamp` when the step's result lives in a database), and its
# prerequisites are the files of the steps before it, so `make` redoes exactly what is older
# than what it reads. `make NAME-migrate ARGS="…"` instead runs the migration's own tool once
# with those flags (the user asks for one action: it always runs, and touches no stamp).
# A tool's exit 3 (finished; rejected rows are in its rejects file) completes its step
# unless STRICT=1. See docs/make.md.
# ---------------------------------------------------------------------------------------------
MAKE_DATA ?= data/make## where the migrations' files and stamps go
STRICT ?=## 1: a tool's exit 3 (rejected rows) fails its step instead of completing it

OK3 = $(if $(STRICT),,|| [ $$? = 3 ])

# $(call remember,FILE,TEXT): FILE holds TEXT; rewritten, and so newer, only when TEXT changed.
# The settings files (fixture.vars, migrate.vars) make a step stale when a variable it uses
# changed (S9_DATABASE=other remakes the fixture). Written while the makefile is read, only
# when a goal names that migration, and not under -n or -q (which must change nothing).
remember = $(if $(findstring n,$(firstword -$(MAKEFLAGS)))$(findstring q,$(firstword -$(MAKEFLAGS))),, \
  $(shell mkdir -p $(dir $(1)) && t='$(2)' && { [ "$$(cat $(1) 2>/dev/null)" = "$$t" ] || printf '%s\n' "$$t" > $(1); }))
goals-of = $(filter $(1)-% $(MAKE_DATA)/$(1)/%,$(MAKECMDGOALS))
$(MAKE_DATA)/%.vars:
	@mkdir -p $(@D) && touch $@

# $(call fixture-of,NAME): NAME's fixture stamp as a prerequisite when NAME-fixture is a goal
# or its stamp exists. So re-made fixtures make the first step stale, while `make NAME-migrate`
# alone never makes (drops and fills) a database: it migrates whatever the variables name.
fixture-of = $(if $(or $(filter $(1)-fixture,$(MAKECMDGOALS)),$(wildcard $(MAKE_DATA)/$(1)/fixture.stamp)),$(MAKE_DATA)/$(1)/fixture.stamp)

# $(call record,"LINE" …): the fixture stamp $@ lists what the fixtures made (its lines so far,
# and these), which NAME-clean drops (scripts/make-drop.sh).
record = bash scripts/make-drop.sh --record $@ $(1)

PG_ADMIN = psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d postgres
pg-recreate = $(PG_ADMIN) -c "DROP DATABASE IF EXISTS $(1) WITH (FORCE)" -c "CREATE DATABASE $(1)"

##@ S9 → DynamoDB (docs/migrations/s9-to-dynamodb.md): extract → transform → validate → load → verify, per entity

# The steps are the tools migrate-s9 runs, one file each, with the values of S9_CONFIG
# (scripts/make-s9-config.sh reads it as migrate-s9 does). ARGS runs migrate-s9 itself, in the
# same folder: make s9-migrate ARGS="--phase extract --entity buyers", ARGS=--dry-run,
# ARGS=--resume, ARGS=--full.
S9_CONFIG ?= config/s9/config.local.json## migrate-s9 configuration (source, tables, endpoint, batch size, retries)
S9_DATABASE ?= ferry_s9## PostgreSQL database of the S9 fixture (the config's ${S9_DATABASE})
export S9_DATABASE
S9_DIR := $(MAKE_DATA)/s9
S9_ENTITIES := buyers producers sales
S9_EXTRACTED := $(S9_ENTITIES:%=$(S9_DIR)/extracted/%.ndjson)
S9_TRANSFORMED := $(S9_ENTITIES:%=$(S9_DIR)/transformed/%.ndjson)
S9_VALIDATED := $(S9_ENTITIES:%=$(S9_DIR)/validated/%.ndjson)
S9_LOADED := $(S9_ENTITIES:%=$(S9_DIR)/loaded/%.stamp)
S9_VERIFIED := $(S9_DIR)/verify/counts.stamp $(S9_DIR)/verify/integrity.stamp
S9_STEPS := $(S9_DIR)/reports/steps

s9cfg = $(shell S9_DATABASE='$(S9_DATABASE)' bash scripts/make-s9-config.sh $(S9_CONFIG) $(1) $(2))
S9_SOURCE = $(call s9cfg,source-url)
S9_DYNAMO = --target dynamodb://$(call s9cfg,.target.region,us-east-1) \
  $(addprefix --endpoint-url ,$(call s9cfg,.target.endpointUrl))
S9_TABLE_buyers = $(call s9cfg,.target.buyersTable,BuyersTable-dev)
S9_TABLE_producers = $(call s9cfg,.target.producersTable,ProducersTable-dev)
S9_TABLE_sales = $(call s9cfg,.target.salesTable,SalesTable-dev)
S9_TABLES = --buyers-table $(S9_TABLE_buyers) --producers-table $(S9_TABLE_producers) --sales-table $(S9_TABLE_sales)
# The table designs (crates/s9/src/migrate/loading.rs): key, then global secondary indexes.
S9_KEYS_buyers := --key buyerId:S --gsi email-index=email:S --gsi vatNumber-index=vatNumber:S
S9_KEYS_producers := --key producerId:S --gsi vatNumber-index=vatNumber:S
S9_KEYS_sales := --key saleId:S --gsi buyerId-saleDate-index=buyerId:S,saleDate:S \
  --gsi producerId-saleDate-index=producerId:S,saleDate:S --gsi status-index=status:S,statusSaleDate:S
# The source password of the steps that read S9, from the configuration (DB_PASSWORD, say) in
# the step's environment: never on a command line, never echoed.
S9_PASSWORD = FERRY_SOURCE_PASSWORD="$$(DB_PASSWORD="$${DB_PASSWORD-}" bash scripts/make-s9-config.sh $(S9_CONFIG) password)"
# Local AWS keys for the DynamoDB-compatible server, unless set.
$(S9_DIR)/%: export AWS_ACCESS_KEY_ID ?= local
$(S9_DIR)/%: export AWS_SECRET_ACCESS_KEY ?= local
$(S9_DIR)/%: export AWS_EC2_METADATA_DISABLED ?= true

ifneq ($(call goals-of,s9),)
$(call remember,$(S9_DIR)/fixture.vars,S9_DATABASE=$(S9_DATABASE))
$(call remember,$(S9_DIR)/migrate.vars,S9_DATABASE=$(S9_DATABASE) S9_CONFIG=$(S9_CONFIG))
endif

.PHONY: s9-fixture s9-migrate s9-extract s9-transform s9-validate s9-load s9-verify s9-clean
s9-fixture: $(S9_DIR)/fixture.stamp ## the S9 fixture in PostgreSQL S9_DATABASE (dropped first)
ifdef ARGS
s9-migrate: | build services-up
	DB_PASSWORD=$${DB_PASSWORD:-} AWS_ACCESS_KEY_ID=$${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=$${AWS_SECRET_ACCESS_KEY:-local} \
	  $(BIN)/migrate-s9 --config $(S9_CONFIG) --work-dir $(S9_DIR) $(ARGS) $(OK3)
else
s9-migrate: s9-verify ## every step below, into DynamoDB; ARGS="…" runs migrate-s9 ARGS instead
endif
s9-extract: $(S9_EXTRACTED) ## extract-ENTITY: S9 → extracted/ENTITY.ndjson (+ .schema.json)
s9-transform: $(S9_TRANSFORMED) ## transform-ENTITY → transformed/ENTITY.ndjson, ENTITY.rejects.ndjson
s9-validate: $(S9_VALIDATED) ## validate-s9 per entity → validated/ENTITY.ndjson, reports/validation_*-ENTITY.*
s9-load: $(S9_LOADED) ## load-dynamo (table backed up first) → loaded/ENTITY.stamp
s9-verify: $(S9_VERIFIED) ## compare-counts and check-integrity → reports/count_comparison.json, integrity_report.json
s9-clean: ## remove data/make/s9, drop the fixture database and the local tables make loaded
	bash scripts/make-drop.sh $(S9_DIR)/fixture.stamp $(S9_LOADED)
	rm -rf $(S9_DIR)

$(S9_DIR)/fixture.stamp: $(S9_DIR)/fixture.vars | build services-up
	$(call pg-recreate,$(S9_DATABASE))
	$(BIN)/ferry-gen s9 --target postgres://postgres@127.0.0.1:5432/$(S9_DATABASE)
	$(call record,"postgres $(S9_DATABASE)")

$(S9_EXTRACTED): $(S9_DIR)/extracted/%.ndjson: $(call fixture-of,s9) $(S9_DIR)/migrate.vars $(S9_CONFIG) | build services-up
	@mkdir -p $(@D) $(S9_STEPS)
	$(S9_PASSWORD) $(BIN)/extract-$* --source '$(S9_SOURCE)' -o $@ --report $(S9_STEPS)/extract-$*.json

$(S9_TRANSFORMED): $(S9_DIR)/transformed/%.ndjson: $(S9_DIR)/extracted/%.ndjson | build
	@mkdir -p $(@D) $(S9_STEPS)
	$(BIN)/transform-$* $< -o $@ --rejects $(@D)/$*.rejects.ndjson --report $(S9_STEPS)/transform-$*.json $(OK3)

# Buyers and producers are validated alone; sales need the buyers and producers (references).
$(S9_DIR)/validated/buyers.ndjson: $(S9_DIR)/transformed/buyers.ndjson
$(S9_DIR)/validated/producers.ndjson: $(S9_DIR)/transformed/producers.ndjson
$(S9_DIR)/validated/sales.ndjson: $(S9_TRANSFORMED)
$(S9_VALIDATED): $(S9_DIR)/validated/%.ndjson: | build
	@mkdir -p $(@D) $(S9_STEPS)
	$(BIN)/validate-s9 --input $(S9_DIR)/transformed -o $(@D) --entity $* \
	  --rejects $(S9_DIR)/reports/validation_rejects-$*.ndjson --validation-report $(S9_DIR)/reports/validation_report-$*.json \
	  --report $(S9_STEPS)/validate-$*.json $(OK3)

$(S9_LOADED): $(S9_DIR)/loaded/%.stamp: $(S9_DIR)/validated/%.ndjson $(S9_CONFIG) | build services-up
	@mkdir -p $(@D) $(S9_STEPS)
	$(BIN)/load-dynamo $< --table $(S9_TABLE_$*) $(S9_DYNAMO) --create $(S9_KEYS_$*) \
	  --batch-size $(call s9cfg,.migration.batchSize,25) --max-retries $(call s9cfg,.migration.maxRetries,3) \
	  $(if $(filter true,$(call s9cfg,.migration.backupBeforeLoad,true)),--backup-before-load --backup-dir $(S9_DIR)/backups) \
	  --checkpoint $(S9_DIR)/.load-$*.checkpoint.json --rejects $(S9_DIR)/reports/load-$*.rejects.ndjson \
	  --report $(S9_STEPS)/load-$*.json $(OK3)
	echo "dynamodb $(S9_TABLE_$*) $(or $(call s9cfg,.target.endpointUrl),aws) $(call s9cfg,.target.region,us-east-1)" > $@

# Every rejects file counts (a missing one is none); /dev/null keeps the defaults (data/…) out.
$(S9_DIR)/verify/counts.stamp: $(S9_LOADED) | build services-up
	@mkdir -p $(@D) $(S9_STEPS)
	$(S9_PASSWORD) $(BIN)/compare-counts --source '$(S9_SOURCE)' $(S9_DYNAMO) $(S9_TABLES) \
	  $(addprefix --count-rejects ,$(or $(wildcard $(S9_ENTITIES:%=$(S9_DIR)/transformed/%.rejects.ndjson) \
	    $(S9_ENTITIES:%=$(S9_DIR)/reports/validation_rejects-%.ndjson)),/dev/null)) \
	  $(addprefix --load-rejects ,$(or $(wildcard $(S9_ENTITIES:%=$(S9_DIR)/reports/load-%.rejects.ndjson)),/dev/null)) \
	  $(foreach e,$(S9_ENTITIES),--expected $(e)=$(S9_DIR)/validated/$(e).ndjson) \
	  --output $(S9_DIR)/reports/count_comparison.json --report $(S9_STEPS)/verify-all.json
	touch $@

$(S9_DIR)/verify/integrity.stamp: $(S9_LOADED) | build services-up
	@mkdir -p $(@D) $(S9_STEPS)
	$(BIN)/check-integrity $(S9_DYNAMO) $(S9_TABLES) -o $(S9_DIR)/reports/integrity_report.json \
	  --report $(S9_STEPS)/integrity-all.json
	touch $@

##@ MariaDB → MariaDB (docs/tools/schema-copy.md, customer-filter.md): schema-copy, then one customer set

# The STARFOX and ONBOARDING fixtures on the READ server, copied to the WRITE server (the
# second MariaDB of scripts/services.sh) under the same names. ARGS runs customer-filter with
# the same servers, databases, ids and state folder: ARGS=--status, ARGS=--dry-run, ARGS=--force.
MDB_READ_PORT ?= 3306## MariaDB READ server (source) on 127.0.0.1, user root
MDB_WRITE_PORT ?= 3307## MariaDB WRITE server (target) on 127.0.0.1, user root
MDB_STARFOX ?= ferry_starfox## database of the STARFOX fixture (same name on both servers)
MDB_ONBOARDING ?= ferry_onboarding## database of the ONBOARDING fixture (same name on both servers)
MDB_CUSTOMERS ?= 1,2## the customer set customer-filter migrates
MDB_FLAGS ?= --yes## customer-filter flags of the make run (--yes: take large reference tables without asking)
MDB_DIR := $(MAKE_DATA)/mariadb
MDB_READ := mysql://root@127.0.0.1:$(MDB_READ_PORT)/
MDB_WRITE := mysql://root@127.0.0.1:$(MDB_WRITE_PORT)/
MDB_IDS = $(subst $(comma),_,$(MDB_CUSTOMERS))
comma := ,
MDB_CF = $(BIN)/customer-filter --source $(MDB_READ) --target $(MDB_WRITE) --databases $(MDB_STARFOX),$(MDB_ONBOARDING) \
  --customer-ids $(MDB_CUSTOMERS) --state-dir $(MDB_DIR)/state

ifneq ($(call goals-of,mariadb),)
$(call remember,$(MDB_DIR)/fixture.vars,$(MDB_READ_PORT) $(MDB_WRITE_PORT) $(MDB_STARFOX) $(MDB_ONBOARDING))
$(call remember,$(MDB_DIR)/migrate.vars,$(MDB_READ_PORT) $(MDB_WRITE_PORT) $(MDB_STARFOX) $(MDB_ONBOARDING))
endif

.PHONY: mariadb-fixture mariadb-migrate mariadb-schema mariadb-plan mariadb-clean
mariadb-fixture: $(MDB_DIR)/fixture.stamp ## STARFOX + ONBOARDING fixtures on READ (dropped first); the same names dropped on WRITE
ifdef ARGS
mariadb-migrate: | build services-up
	$(MDB_CF) $(ARGS)
else
mariadb-migrate: $(MDB_DIR)/customers-$(MDB_IDS).json ## schema-copy, plan, customer-filter; ARGS="…" runs customer-filter ARGS
endif
mariadb-schema: $(MDB_DIR)/schema-copy.json ## schema-copy READ → WRITE → schema-copy.json (its run report)
mariadb-plan: $(MDB_DIR)/plan-$(MDB_IDS).txt ## customer-filter --plan: each table, phase, rows and path
mariadb-clean: ## remove data/make/mariadb and drop the fixture's databases on both servers
	bash scripts/make-drop.sh $(MDB_DIR)/fixture.stamp
	rm -rf $(MDB_DIR)

$(MDB_DIR)/fixture.stamp: $(MDB_DIR)/fixture.vars | build services-up
	for db in $(MDB_STARFOX) $(MDB_ONBOARDING); do \
	  mariadb -h 127.0.0.1 -P $(MDB_READ_PORT) -uroot -e "DROP DATABASE IF EXISTS \`$$db\`; CREATE DATABASE \`$$db\`"; \
	  mariadb -h 127.0.0.1 -P $(MDB_WRITE_PORT) -uroot -e "DROP DATABASE IF EXISTS \`$$db\`"; done
	$(BIN)/ferry-gen starfox --target $(MDB_READ)$(MDB_STARFOX)
	$(BIN)/ferry-gen onboarding --target $(MDB_READ)$(MDB_ONBOARDING)
	$(call record,$(foreach p,$(MDB_READ_PORT) $(MDB_WRITE_PORT),$(foreach d,$(MDB_STARFOX) $(MDB_ONBOARDING),"mariadb $(p) $(d)")))

$(MDB_DIR)/schema-copy.json: $(call fixture-of,mariadb) $(MDB_DIR)/migrate.vars | build services-up
	@mkdir -p $(@D)
	$(BIN)/schema-copy --source $(MDB_READ) --target $(MDB_WRITE) --databases $(MDB_STARFOX),$(MDB_ONBOARDING) \
	  --state-dir $(MDB_DIR)/state --yes --report $@.part
	mv $@.part $@

$(MDB_DIR)/plan-$(MDB_IDS).txt: $(MDB_DIR)/schema-copy.json | build services-up
	$(MDB_CF) --plan > $@.part
	mv $@.part $@

$(MDB_DIR)/customers-$(MDB_IDS).json: $(MDB_DIR)/plan-$(MDB_IDS).txt | build services-up
	$(MDB_CF) $(MDB_FLAGS) --report $@.part
	mv $@.part $@

##@ MINGUS (docs/tools/sqlite-consolidate.md): five SQLite files → PostgreSQL with config/mingus.json

# ARGS runs sqlite-consolidate with the same target and folders: ARGS=--dry-run,
# ARGS=--validate-only, ARGS="--resume", ARGS="--rollback latest" (prints rollback.sql).
MINGUS_DATABASE ?= ferry_mingus## PostgreSQL database the five files are consolidated into
MINGUS_CONFIG ?= config/mingus.json## sqlite-consolidate mapping file
MINGUS_DIR := $(MAKE_DATA)/mingus
MINGUS_DBS := $(addprefix $(MINGUS_DIR)/sqlite/,mingus.db business_intelligence.db cache.db performance_metrics.db alerts.db)
MINGUS_URL = postgres://postgres@127.0.0.1:5432/$(MINGUS_DATABASE)
MINGUS_SC = $(BIN)/sqlite-consolidate --config $(MINGUS_CONFIG) --sqlite-dir $(MINGUS_DIR)/sqlite --target $(MINGUS_URL) \
  --work-dir $(MINGUS_DIR)/runs --backup-dir $(MINGUS_DIR)/backups

ifneq ($(call goals-of,mingus),)
$(call remember,$(MINGUS_DIR)/fixture.vars,$(MINGUS_DATABASE))
$(call remember,$(MINGUS_DIR)/migrate.vars,$(MINGUS_DATABASE) $(MINGUS_CONFIG))
endif

.PHONY: mingus-fixture mingus-migrate mingus-clean
mingus-fixture: $(MINGUS_DBS) $(MINGUS_DIR)/fixture.stamp ## the five SQLite files (sqlite/*.db) and an empty MINGUS_DATABASE (dropped first)
ifdef ARGS
mingus-migrate: | build services-up
	$(MINGUS_SC) $(ARGS) $(OK3)
else
mingus-migrate: $(MINGUS_DIR)/consolidate.json ## sqlite-consolidate → consolidate.json, rejects.ndjson; ARGS="…" runs it with ARGS
endif
mingus-clean: ## remove data/make/mingus and drop MINGUS_DATABASE (when the fixture made it)
	bash scripts/make-drop.sh $(MINGUS_DIR)/fixture.stamp
	rm -rf $(MINGUS_DIR)

$(MINGUS_DBS) &: | build
	rm -rf $(MINGUS_DIR)/sqlite $(MINGUS_DIR)/sqlite.part
	$(BIN)/ferry-gen mingus -o $(MINGUS_DIR)/sqlite.part
	mv $(MINGUS_DIR)/sqlite.part $(MINGUS_DIR)/sqlite

$(MINGUS_DIR)/fixture.stamp: $(MINGUS_DIR)/fixture.vars | build services-up
	$(call pg-recreate,$(MINGUS_DATABASE))
	$(call record,"postgres $(MINGUS_DATABASE)")

$(MINGUS_DIR)/consolidate.json: $(MINGUS_DBS) $(call fixture-of,mingus) $(MINGUS_DIR)/migrate.vars $(MINGUS_CONFIG) | build services-up
	$(MINGUS_SC) --rejects $(MINGUS_DIR)/rejects.ndjson --report $@.part $(OK3)
	mv $@.part $@

##@ LUStores (docs/migrations/lustores.md): physicsstores (MariaDB) → university_inventory (PostgreSQL)

# extracted/TABLE.ndjson and transformed/ENTITY.ndjson are the files migrate-lustores reads and
# loads, made here step by step with its own commands (extract with its ORDER BY,
# transform-lustores); then migrate-lustores runs in the same work folder and the step checks
# that it loaded exactly these files. ARGS runs migrate-lustores with the same flags and work
# folder: ARGS=--resume, ARGS=--dry-run (needs a migrated target), ARGS="--restore DIR".
LUS_SOURCE ?= physicsstores## MariaDB database of the legacy fixture (127.0.0.1:3306, user root)
LUS_TARGET ?= university_inventory## PostgreSQL database migrated into (127.0.0.1:5432, user postgres)
LUS_ISSUES ?= 0## extra generated issues in the fixture (ferry-gen lustores --issues)
LUS_MAPPING ?= config/lustores/mapping.json## the field-map settings (transform-lustores --mapping)
LUS_SCHEMA_FILE := fixtures/lustores/migrations/database_schemas_export_20250911_152208.json
LUS_DIR := $(MAKE_DATA)/lustores
LUS_X := $(LUS_DIR)/extracted
LUS_T := $(LUS_DIR)/transformed
LUS_TABLES := vatparams supplier stock charge orders issues
LUS_EXTRACTED := $(LUS_TABLES:%=$(LUS_X)/%.ndjson)
LUS_TRANSFORMED := $(addprefix $(LUS_T)/,categories.ndjson suppliers.ndjson items.ndjson chargecodes.ndjson \
  charge_code_authorized_users.ndjson orders.ndjson order_items.ndjson sales.ndjson sale_items.ndjson)
LUS_COUNTS := $(addprefix $(LUS_T)/,$(addsuffix .counts.json,categories suppliers items chargecodes orders sales))
# migrate-lustores' ORDER BY of each legacy table (crates/lustores/src/migrate/steps.rs,
# EXTRACTS): every column the migration uses, text as bytes, so ids are the same in every run.
LUS_ORDER_vatparams := `VAT`
LUS_ORDER_supplier := BINARY `CODE`, BINARY `NAME`, BINARY `ADDRESS1`, BINARY `ADDRESS2`, BINARY `ADDRESS3`, BINARY `ADDRESS4`, BINARY `TELEPHONE`, BINARY `ACCOUNT`
LUS_ORDER_stock := BINARY `CODE`, BINARY `DESC1`, BINARY `DESC2`, `PRICE`, `BALANCE`, `MIN`, BINARY `LOCATION`, BINARY `SIZE`, BINARY `HIDDEN`
LUS_ORDER_charge := BINARY `COSTCENTRE`, BINARY `ACTIVITY`, BINARY `PIN`, BINARY `TITLE`, `START`, `END`, BINARY `ONHOLD`
LUS_ORDER_orders := BINARY `ORDER_NO`, `DATE`, BINARY `SUPPLIER`, BINARY `STOCK_CODE`, `QTY`, `PRICE`, `VALUE`, `RECD_DATE`
LUS_ORDER_issues := `DATE`, BINARY `STOCK_CODE`, `QUANTITY`, `VALUE`, BINARY `COSTCENTRE`, BINARY `ACTIVITY`, BINARY `PIN`, BINARY `USER`, BINARY `ISSUEDTO`, BINARY `REASON`, BINARY `PERIODCODE`
LUS_RUN = $(BIN)/migrate-lustores --schema-file $(LUS_SCHEMA_FILE) \
  --source-host 127.0.0.1 --source-user root --source-database $(LUS_SOURCE) \
  --target-host 127.0.0.1 --target-user postgres --target-database $(LUS_TARGET) \
  --mapping $(LUS_MAPPING) --work-dir $(LUS_DIR) --log-file $(LUS_DIR)/data_migration.log
lus-transform = $(BIN)/transform-lustores --entity $(1) --input $(LUS_X) --output $(LUS_T) \
  --rejects-dir $(LUS_DIR)/rejects --mapping $(LUS_MAPPING) --log-file $(LUS_DIR)/data_migration.log $(OK3)

ifneq ($(call goals-of,lustores),)
$(call remember,$(LUS_DIR)/fixture.vars,$(LUS_SOURCE) $(LUS_TARGET) $(LUS_ISSUES))
$(call remember,$(LUS_DIR)/migrate.vars,$(LUS_SOURCE) $(LUS_TARGET))
endif

.PHONY: lustores-fixture lustores-migrate lustores-extract lustores-transform lustores-clean
lustores-fixture: $(LUS_DIR)/fixture.stamp ## the legacy fixture in LUS_SOURCE (+LUS_ISSUES) and an empty LUS_TARGET (both dropped first)
ifdef ARGS
lustores-migrate: | build services-up
	$(LUS_RUN) $(ARGS) $(OK3)
else
lustores-migrate: $(LUS_DIR)/migrated.stamp ## migrate-lustores on the files below; ARGS="…" runs migrate-lustores ARGS
endif
lustores-extract: $(LUS_EXTRACTED) ## extract, ordered as migrate-lustores does → extracted/TABLE.ndjson
lustores-transform: $(LUS_TRANSFORMED) ## transform-lustores per entity → transformed/*.ndjson, rejects/*.ndjson
lustores-clean: ## remove data/make/lustores and drop the fixture's two databases
	bash scripts/make-drop.sh $(LUS_DIR)/fixture.stamp
	rm -rf $(LUS_DIR)

$(LUS_DIR)/fixture.stamp: $(LUS_DIR)/fixture.vars | build services-up
	mariadb -h 127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS \`$(LUS_SOURCE)\`; CREATE DATABASE \`$(LUS_SOURCE)\`"
	$(BIN)/ferry-gen lustores --target mysql://root@127.0.0.1:3306/$(LUS_SOURCE) --issues $(LUS_ISSUES)
	$(call pg-recreate,$(LUS_TARGET))
	$(call record,"mariadb 3306 $(LUS_SOURCE)" "postgres $(LUS_TARGET)")

$(LUS_EXTRACTED): $(LUS_X)/%.ndjson: $(call fixture-of,lustores) $(LUS_DIR)/migrate.vars | build services-up
	@mkdir -p $(@D) $(LUS_DIR)/rejects
	$(BIN)/extract --source mysql://root@127.0.0.1:3306/$(LUS_SOURCE) --query 'SELECT * FROM `$*` ORDER BY $(LUS_ORDER_$*)' \
	  --name $* -o $@ --rejects $(LUS_DIR)/rejects/extract-$*.rejects.ndjson -q

# transform-lustores per entity, with what each reads (docs/tools/transform-lustores.md).
$(LUS_T)/categories.ndjson $(LUS_T)/categories.counts.json &: $(LUS_MAPPING) | build
	$(call lus-transform,categories)
$(LUS_T)/suppliers.ndjson $(LUS_T)/suppliers.counts.json &: $(LUS_X)/supplier.ndjson $(LUS_MAPPING) | build
	$(call lus-transform,suppliers)
$(LUS_T)/items.ndjson $(LUS_T)/items.counts.json &: $(LUS_X)/stock.ndjson $(LUS_X)/vatparams.ndjson $(LUS_MAPPING) | build
	$(call lus-transform,items)
$(LUS_T)/chargecodes.ndjson $(LUS_T)/charge_code_authorized_users.ndjson $(LUS_T)/chargecodes.counts.json &: \
  $(LUS_X)/charge.ndjson $(LUS_MAPPING) | build
	$(call lus-transform,chargecodes)
$(LUS_T)/orders.ndjson $(LUS_T)/order_items.ndjson $(LUS_T)/orders.counts.json &: $(LUS_X)/orders.ndjson \
  $(LUS_X)/vatparams.ndjson $(LUS_T)/items.ndjson $(LUS_T)/suppliers.ndjson $(LUS_MAPPING) | build
	$(call lus-transform,orders)
$(LUS_T)/sales.ndjson $(LUS_T)/sale_items.ndjson $(LUS_T)/sales.counts.json &: $(LUS_X)/issues.ndjson \
  $(LUS_X)/vatparams.ndjson $(LUS_T)/items.ndjson $(LUS_MAPPING) | build
	$(call lus-transform,sales)

# migrate-lustores reads and transforms again (into the same files: the run record needs its
# own); the checksums taken before prove it loaded exactly the files make built.
$(LUS_DIR)/migrated.stamp: $(LUS_TRANSFORMED) $(LUS_COUNTS) $(LUS_EXTRACTED) $(LUS_SCHEMA_FILE) | build services-up
	sha256sum $(LUS_EXTRACTED) $(LUS_TRANSFORMED) $(LUS_COUNTS) > $(LUS_DIR)/built.sha256
	$(LUS_RUN) $(OK3)
	sha256sum --quiet -c $(LUS_DIR)/built.sha256
	touch $@

##@ ABParts (docs/migrations/abparts.md): the in-place restructuring of one PostgreSQL database

# The fixture's five rows no rule covers are resolved as fixtures/abparts/RULES.md section 3
# says (resolution.sql; nothing for a generated ABP_SAMPLE), then validate, migrate, status.
# ARGS runs migrate-abparts with the same database and folders (logs/, reports/, backups/):
# ARGS="migrate --dry-run", ARGS=validate, ARGS=status, ARGS="rollback --migration-id ID".
ABP_DATABASE ?= abparts## PostgreSQL database restructured in place
ABP_SAMPLE ?=## a generated sample instead of the fixture (minimal_sample … production_scale)
ABP_DIR := $(MAKE_DATA)/abparts
ABP = $(BIN)/migrate-abparts --target postgres://postgres@127.0.0.1:5432/$(ABP_DATABASE) \
  --log-dir $(ABP_DIR)/logs --report-dir $(ABP_DIR)/reports --backup-dir $(ABP_DIR)/backups

ifneq ($(call goals-of,abparts),)
$(call remember,$(ABP_DIR)/fixture.vars,$(ABP_DATABASE) $(ABP_SAMPLE))
$(call remember,$(ABP_DIR)/migrate.vars,$(ABP_DATABASE))
endif

.PHONY: abparts-fixture abparts-migrate abparts-validate abparts-clean
abparts-fixture: $(ABP_DIR)/fixture.stamp ## ABP_DATABASE (dropped first) with the BEFORE fixture, or ABP_SAMPLE
ifdef ARGS
abparts-migrate: | build services-up
	$(ABP) $(ARGS)
else
abparts-migrate: $(ABP_DIR)/status.txt ## resolve, validate, migrate --yes, status; ARGS="…" runs migrate-abparts ARGS
endif
abparts-validate: $(ABP_DIR)/validation.json ## the pre-migration validation (after the fixture's resolution)
abparts-clean: ## remove data/make/abparts (its backups too) and drop ABP_DATABASE (when the fixture made it)
	bash scripts/make-drop.sh $(ABP_DIR)/fixture.stamp
	rm -rf $(ABP_DIR)

$(ABP_DIR)/fixture.stamp: $(ABP_DIR)/fixture.vars | build services-up
	$(call pg-recreate,$(ABP_DATABASE))
	$(BIN)/ferry-gen abparts --target postgres://postgres@127.0.0.1:5432/$(ABP_DATABASE)$(if $(ABP_SAMPLE), --sample-size $(ABP_SAMPLE))
	$(call record,"postgres $(ABP_DATABASE)")

# The operator's resolution of the fixture's rows no rule covers: RULES.md section 3, as SQL.
$(ABP_DIR)/resolution.sql: fixtures/abparts/RULES.md $(ABP_DIR)/fixture.vars
	@mkdir -p $(@D)
	$(if $(ABP_SAMPLE),echo "-- ABP_SAMPLE=$(ABP_SAMPLE): a generated sample; nothing to resolve" > $@,sed -n '/^DELETE FROM users/$(comma)/^DELETE FROM organizations/p' $< > $@)

# In place: the steps below need the BEFORE model (a stale step on a migrated database stops here).
$(ABP_DIR)/resolved.stamp: $(call fixture-of,abparts) $(ABP_DIR)/resolution.sql $(ABP_DIR)/migrate.vars | build services-up
	@$(ABP) status | grep -qx 'model: before' || { echo "make: $(ABP_DATABASE) is not in the BEFORE model" \
	  "(migrated already?); to start again: make abparts-clean abparts-fixture abparts-migrate" >&2; exit 1; }
	$(if $(call fixture-of,abparts),psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d $(ABP_DATABASE) -f $(ABP_DIR)/resolution.sql,echo "make: no abparts fixture here; resolution.sql is not applied to $(ABP_DATABASE)")
	touch $@

# migrate-abparts names its reports by time; the newest one is copied to a fixed name.
$(ABP_DIR)/validation.json: $(ABP_DIR)/resolved.stamp | build services-up
	$(ABP) validate
	cp "$$(ls -t $(ABP_DIR)/reports/validation_report_*.json | head -1)" $@

$(ABP_DIR)/migration.json: $(ABP_DIR)/validation.json | build services-up
	$(ABP) migrate --yes
	cp "$$(ls -t $(ABP_DIR)/reports/migration_report_*.json | head -1)" $@

$(ABP_DIR)/status.txt: $(ABP_DIR)/migration.json | build services-up
	$(ABP) status > $@.part
	mv $@.part $@
