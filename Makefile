# Switchboard's two commands are `make run` and `make test`; the rest serve them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO     ?= go
PG     := scripts/pg.sh
PKGS   := ./...

.PHONY: help run sandbox simulate test fuzz graphiql generate schema check-generated migration migration-rehash lint bench bench-go db db-stop build clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

build: ## build the switchboard binary into bin/
	@scripts/graphiql.sh
	$(GO) build -o bin/switchboard .

db: ## start the project-local PostgreSQL (installs it with apt-get when missing)
	@$(PG) start

db-stop: ## stop the project-local PostgreSQL
	@$(PG) stop

# Without DATABASE_URL, run uses the local cluster and the development secrets
# and admin of dev.env beside it (made on first run, see scripts/dev-env.sh);
# any variable set in the environment wins over those.
RUN_ARGS ?=
run: ## start Switchboard on :8080 with a local database and a development admin
	@scripts/graphiql.sh
	@set -a; eval "$$(scripts/dev-env.sh | sed 's/^\([A-Z_]*\)=\(.*\)$$/: "$${\1:=\2}"/')"; set +a; \
	if [ -z "$${DATABASE_URL:-}" ]; then \
	  $(PG) start; $(PG) createdb switchboard; DATABASE_URL=$$($(PG) url); export DATABASE_URL; \
	fi; \
	echo "Development admin: $$BOOTSTRAP_ADMIN_EMAIL / $$BOOTSTRAP_ADMIN_PASSWORD (created only when the database has no users)"; \
	echo "GraphQL: http://localhost$${ADDR:-:8080}/graphql, GraphiQL: http://localhost$${ADDR:-:8080}/"; \
	$(GO) run . $(RUN_ARGS)

# sandbox is run with the platforms faked inside the server (package
# sandbox): a demo campaign with a Telegram bot, a Facebook page, a WhatsApp
# number and a Zalo OA, all offline. It prints what to do next.
sandbox: ## like run, with Telegram, Facebook, WhatsApp and Zalo faked offline and a demo campaign connected
	@$(MAKE) --no-print-directory run RUN_ARGS=sandbox

# simulate posts signed platform webhooks to the server make run started,
# reading the connection's secrets from the same database with the same
# development environment: make simulate ARGS='telegram --connection con_… --text hi'.
ARGS ?=
simulate: ## post a signed platform webhook to the running server (ARGS='telegram --connection ID --text hi')
	@set -a; eval "$$(scripts/dev-env.sh | sed 's/^\([A-Z_]*\)=\(.*\)$$/: "$${\1:=\2}"/')"; set +a; \
	if [ -z "$${DATABASE_URL:-}" ]; then \
	  $(PG) start >/dev/null; DATABASE_URL=$$($(PG) url); export DATABASE_URL; \
	fi; \
	$(GO) run . simulate $(ARGS)

test: ## run every test with the race detector against a throwaway PostgreSQL (and Chromium for the browser test)
	@$(PG) start
	@scripts/chromium.sh
	@scripts/graphiql.sh
	TEST_DATABASE_URL=$$($(PG) admin-url) $(GO) test -race -count=1 -timeout 20m $(PKGS)

# bench builds the server and the limit probes (bench/probe), starts the
# local PostgreSQL, serves Switchboard on a fresh database against a fake
# Telegram and prints one table of figures with their limits (PERFORMANCE.md).
# Iterate on one figure with e.g. make bench BENCH_ARGS='-only ack,inbox -runs 1 -dur 3s'.
BENCH_ARGS ?=

bench: ## measure Switchboard against its limit probes and print the table (~15 min; BENCH_ARGS='-h' lists the knobs)
	$(GO) build -o bin/bench ./bench
	bin/bench $(BENCH_ARGS)

bench-go: ## run the Go micro-benchmarks
	@$(PG) start
	TEST_DATABASE_URL=$$($(PG) admin-url) $(GO) test -run '^$$' -bench . -benchtime 20000x ./webhooks
	TEST_DATABASE_URL=$$($(PG) admin-url) $(GO) test -run '^$$' -bench . -benchtime 1000x ./events
	TEST_DATABASE_URL=$$($(PG) admin-url) $(GO) test -run '^$$' -bench InboxPage -benchtime 300x ./graph
	$(GO) test -run '^$$' -bench . ./platform/...

# Each platform's webhook fuzzers (signature check; split and decode), one
# after the other: go test fuzzes one target of one package at a time.
FUZZTIME ?= 1m
FUZZ_PACKAGES = telegram facebook whatsapp zalo

fuzz: ## run every platform's webhook fuzzers for FUZZTIME each (default 1m)
	@set -e; for p in $(FUZZ_PACKAGES); do for f in FuzzVerify FuzzWebhook; do \
		echo "fuzz: platform/$$p $$f for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./platform/$$p; \
	done; done

# GraphiQL's files are built from the npm packages pinned in graphiql/src
# (package-lock.json); build, run and test build them when missing.
graphiql: ## rebuild graphiql/assets (GraphiQL at /) from the pinned npm packages
	scripts/graphiql.sh --force

generate: ## regenerate ent, the GraphQL schema and gqlgen code
	$(GO) generate $(PKGS)

# A fresh, empty database to replay the migrations on when diffing.
DEV_DB = $(PG) dropdb switchboard_migrate_dev >/dev/null 2>&1; $(PG) createdb switchboard_migrate_dev >/dev/null; \
	DEV_DATABASE_URL=$$($(PG) admin-url | sed 's|/postgres?|/switchboard_migrate_dev?|')

migration: ## write a migration for schema changes: make migration name=add_thing
	@test -n "$(name)" || { echo "usage: make migration name=what_changed" >&2; exit 2; }
	@$(PG) start
	@$(DEV_DB) $(GO) run ./migrations/diff.go "$(name)"

migration-rehash: ## after completing a generated migration by hand (a data step), rewrite atlas.sum
	$(GO) run ./migrations/diff.go -rehash

# schema.graphql is what SPAs and their code generators read: the schema as
# clients see it (no gqlgen directives), kept current by CI.
schema: ## write the GraphQL schema clients see to schema.graphql
	$(GO) run . schema > schema.graphql.tmp && mv schema.graphql.tmp schema.graphql

check-generated: ## fail when generated code, schema.graphql or migrations are stale
	@$(PG) start
	$(GO) generate $(PKGS)
	$(MAKE) --no-print-directory schema
	@if [ -n "$$(git status --porcelain -- ent graph gqlgen.yml go.mod go.sum schema.graphql)" ]; then \
	  git status --porcelain -- ent graph gqlgen.yml go.mod go.sum schema.graphql; \
	  echo "generated code is stale: run 'make generate' and 'make schema' and commit the result" >&2; exit 1; \
	fi
	@$(DEV_DB) $(GO) run ./migrations/diff.go -check

STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint: ## gofmt, go vet, staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)

clean: ## stop the local database and delete its data and build output
	-@$(PG) stop
	rm -rf bin "$$(dirname "$$($(PG) dir)")" .data
