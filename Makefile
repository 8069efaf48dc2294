# Bulkhead. `make help` lists the targets.

GO        ?= go
AXE       := web/testdata/axe
BIN       := bin/bulkhead
TEMPL     := $(GO) run github.com/a-h/templ/cmd/templ@v0.3.977
FUZZTIME  ?= 30s

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/bulkhead
	$(GO) build -o $(BIN) ./cmd/bulkhead

.PHONY: run
run: build ## serve on http://127.0.0.1:8080 (starts a local PostgreSQL unless DATABASE_URL is set)
	./$(BIN) serve

.PHONY: test
test: $(AXE)/node_modules ## run every test against a real PostgreSQL
	$(GO) test -count=1 -timeout 30m ./...

# axe-core, pinned in $(AXE)/package-lock.json, for the console's
# accessibility browser test; installed once, when missing.
$(AXE)/node_modules:
	npm ci --prefix $(AXE) --no-audit --no-fund

.PHONY: test-pgbouncer
test-pgbouncer: $(AXE)/node_modules ## run every test through PgBouncer in transaction mode (apt-get install pgbouncer)
	BULKHEAD_TEST_PGBOUNCER=1 $(GO) test -count=1 -timeout 30m ./...

.PHONY: bench
bench: ## run the benchmarks and print their tables
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 60m ./...

.PHONY: soak
soak: ## the load and fault tests at full size (500 tenants, 60 s)
	BULKHEAD_LOAD_TENANTS=500 BULKHEAD_LOAD_SECONDS=60 $(GO) test -count=1 -timeout 30m -v \
	  -run 'TestIsolationUnderLoad|TestDeleteTenantUnderTraffic|TestDatabaseRestart|TestPoolExhausted' ./web

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

.PHONY: generate
generate: ## regenerate the templ components (*_templ.go are committed)
	$(TEMPL) generate ./templates

.PHONY: screenshots
screenshots: ## run the console's browser tests and save their screenshots to docs/screenshots
	$(GO) test -count=1 -run '^Test(ConsoleInBrowser|TenantSectionsInBrowser|ConsoleStaffInBrowser|ActivityInBrowser|WebhooksInBrowser)$$' ./web -args -screenshots

.PHONY: generate-check
generate-check: ## fail when the committed *_templ.go differ from what templ generates
	$(TEMPL) generate ./templates
	@git diff --exit-code -- templates || (echo "the committed templ files are stale: run make generate and commit them" >&2; exit 1)

.PHONY: lint
lint: ## go vet, gofmt and staticcheck
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$'))" || (gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$'); exit 1)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

.PHONY: clean
clean: ## remove the binary (the local database under .bulkhead stays)
	rm -rf bin
