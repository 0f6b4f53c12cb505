# The Promptetheus collector. `make run` and `make test` are the two commands
# a newcomer needs; see README.md.

GO        ?= go
BIN       := $(CURDIR)/bin
COLLECTOR := $(BIN)/otelcol-promptetheus
JAEGER    := $(BIN)/jaeger
DEVTOOLS  := $(GO) tool -modfile=$(CURDIR)/internal/tools/devtools/go.mod
DATA_DIR  ?= $(CURDIR)/data

# Every Go module of the repository: the root (the distribution, client, e2e,
# deploy), internal (the packages our components share), one module per
# component and deploy/kubernetes. The tool modules under internal/tools are
# not part of it. `go test ./...` stops at a module's boundary, so targets loop.
MODULES := $(sort $(patsubst %/go.mod,%,$(shell find . -name go.mod -not -path './internal/tools/*' -not -path '*/node_modules/*' -not -path './bin/*')))
COMPONENTS := \
	receiver/promptetheusreceiver \
	processor/promptetheusprocessor \
	extension/agentrulesextension \
	connector/agentmetricsconnector \
	exporter/tempoexporter

export PROMPTETHEUS_COLLECTOR_BIN := $(COLLECTOR)
export PROMPTETHEUS_JAEGER_BIN    := $(JAEGER)

.PHONY: all build jaeger run test e2e instrumented-testdata reliability scale bench fuzz lint fmt tidy generate generate-distribution generate-metadata prices release-prepare release-tags check-generated clean

all: build

# Static and -trimpath, as the Collector Builder and the image build it: the
# build cache then serves TestE2EConsumerBuild's distribution too.
build: ## Build the collector distribution into bin/.
	CGO_ENABLED=0 $(GO) build -trimpath -o $(COLLECTOR) ./cmd/otelcol-promptetheus

# Jaeger v2, the local OTLP backend, is built from the module proxy in its
# own module (internal/tools/jaeger) and kept in bin/ between runs.
jaeger: $(JAEGER)
$(JAEGER): internal/tools/jaeger/go.mod internal/tools/jaeger/go.sum
	$(GO) build -C internal/tools/jaeger -o $(JAEGER) github.com/jaegertracing/jaeger/cmd/jaeger

run: build jaeger ## Run the collector on config/dev.yaml with Jaeger (UI/API on 127.0.0.1:16686).
	@mkdir -p $(DATA_DIR)
	@$(JAEGER) --config internal/tools/jaeger/config.yaml > $(DATA_DIR)/jaeger.log 2>&1 & \
	  jaeger_pid=$$!; trap 'kill $$jaeger_pid 2>/dev/null' EXIT INT TERM; \
	  echo "Jaeger (pid $$jaeger_pid): query API and UI on http://127.0.0.1:16686, log in $(DATA_DIR)/jaeger.log"; \
	  echo "Promptetheus API on http://127.0.0.1:4318 (dev key pt_dev_key, console token pt_console_token)"; \
	  PROMPTETHEUS_DATA_DIR=$(DATA_DIR) $(COLLECTOR) --config config/dev.yaml

# Every module is tested even when one fails; the failing ones are named last.
test: build jaeger ## Unit, golden, contract and end-to-end tests of every module.
	@failed=; for m in $(MODULES); do echo "== $$m"; \
	  $(GO) test -C $$m -race -count=1 ./... || failed="$$failed $$m"; \
	done; test -z "$$failed" || { echo "FAIL:$$failed"; exit 1; }

e2e: build jaeger ## End-to-end tests only: the built binary against Jaeger.
	$(GO) test -count=1 -run 'E2E' -v ./e2e/...

# The OTLP that the instrumented agents of e2e/agents (real npm libraries)
# send, captured by TestE2EInstrumentedAgents as the processor's golden inputs.
instrumented-testdata: build jaeger ## Rewrite processor/promptetheusprocessor/testdata/instrumented.
	$(GO) test -count=1 -run 'TestE2EInstrumentedAgents' -v ./e2e/ -args -instrumented-testdata

# The reliability suite: a steady load with a backend outage and a SIGKILL
# of the collector in the middle; prints a summary table (docs/reliability.md).
AGENTS   ?= 20
RATE     ?= 200
DURATION ?= 2m
reliability: build jaeger ## Load, outage and crash; nothing acknowledged may be lost.
	$(GO) test -tags reliability -count=1 -timeout 60m -run TestReliabilitySuite -v ./e2e/ \
	  -args -agents=$(AGENTS) -rate=$(RATE) -duration=$(DURATION)

# A fleet of NODES collectors behind Debian's nginx on deploy/nginx, all
# exporting to one Jaeger: throughput per core, a SIGKILL of one collector
# under load, memory per open run, analyze and artifacts through the load
# balancer; prints the figures of docs/scaling.md.
NODES ?= 3
scale: build jaeger ## A fleet behind nginx: balance, node loss, per-node limits.
	$(GO) test -tags scale -count=1 -timeout 20m -run TestScale -v ./e2e/ -args -nodes=$(NODES)

# Benchmarks: Go benchmarks of decode, mapping and rules (compare runs with
# benchstat), then the same collector ingesting the same agent runs through
# our receiver and through the OTLP receiver (docs/performance.md).
BENCH_EVENTS ?= 200000
BENCH_ROUNDS ?= 3
BENCH_PACKAGES := internal/wire internal/mapping receiver/promptetheusreceiver processor/promptetheusprocessor
bench: build
	@set -e; for p in $(BENCH_PACKAGES); do \
	  $(GO) test -C $$p -run XXX -bench . -benchmem -count 6 . ; \
	done | tee $(BIN)/bench-go.txt
	$(GO) test -tags bench -count=1 -timeout 60m -run 'TestSideBySide|TestAnalyzeCost|TestOpenRunMemory' -v ./e2e/ \
	  -args -events=$(BENCH_EVENTS) -rounds=$(BENCH_ROUNDS)

# The embedded LLM price table (internal/pricing/data) is the data of an npm
# package, MIT-licensed, kept with its licence and version. `make prices`
# installs the package into a temporary directory, writes its data there and
# the golden table of its own calcPrice results that the Go lookup is tested
# against. Needs node and npm. Bump PRICES_PACKAGE to refresh.
PRICES_PACKAGE ?= @pydantic/genai-prices@0.1.8
prices: ## Refresh the embedded LLM price table and its golden test table from npm.
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  npm install --prefix "$$tmp" --no-save --no-audit --no-fund --ignore-scripts $(PRICES_PACKAGE) >/dev/null; \
	  cp internal/pricing/scripts/dump.mjs internal/pricing/scripts/golden.mjs "$$tmp/"; \
	  node "$$tmp/dump.mjs" internal/pricing/data; \
	  node "$$tmp/golden.mjs" > internal/pricing/testdata/calcprice.json; \
	  echo "internal/pricing/data: $$(cat internal/pricing/data/VERSION)"

# Fuzz targets: every decoder and mapper that reads user input, each for
# FUZZTIME: a count of inputs (Nx) or a duration. CI uses a count: with a
# duration, Go 1.26's fuzz coordinator can fail a target with "context deadline
# exceeded" when time runs out mid-input (golang/go#75804, fixed in Go 1.27).
# Longer campaigns locally, e.g. `make fuzz FUZZTIME=10m`.
FUZZTIME ?= 20000x
# Each target is name:package directory; go test runs in that directory, so
# in the module that holds it.
FUZZ_TARGETS := \
	FuzzDecodeEvent:internal/wire \
	FuzzDecodeValidJSON:internal/wire \
	FuzzDecodeEventBody:internal/wire \
	FuzzDecodeCreateRun:internal/wire \
	FuzzMapEvent:internal/mapping \
	FuzzArtifactNames:receiver/promptetheusreceiver/internal/artifactstore \
	FuzzAuthenticate:receiver/promptetheusreceiver \
	FuzzUserRuleCondition:extension/agentrulesextension \
	FuzzDecodeBatch:receiver/promptetheusreceiver/internal/runstore

fuzz: ## Run every fuzz target for FUZZTIME.
	@set -e; for t in $(FUZZ_TARGETS); do \
	  name=$${t%%:*}; dir=$${t#*:}; echo "== $$name ($$dir)"; \
	  $(GO) test -C $$dir -run XXX -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) . ; \
	done

lint: ## gofmt, go mod tidy, go vet and staticcheck (all build tags) in every module.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	@set -e; for m in $(MODULES); do echo "== $$m"; \
	  $(GO) -C $$m mod tidy -diff || { echo "go.mod of $$m is not tidy: make tidy"; exit 1; }; \
	  $(GO) vet -C $$m ./...; \
	  (cd $$m && $(DEVTOOLS) staticcheck -tags bench,reliability,scale ./...); \
	done
	@$(MAKE) --no-print-directory check-generated

# Fails when `make generate` changes a file: metadata.yaml, the builder
# manifest and what is generated from them must be committed together.
check-generated:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  sums() { find $(COMPONENTS) cmd/otelcol-promptetheus -type f -not -name otelcol-promptetheus | LC_ALL=C sort | xargs sha256sum; }; \
	  sums > "$$tmp/before"; \
	  $(MAKE) --no-print-directory generate > "$$tmp/log" 2>&1 || { cat "$$tmp/log"; exit 1; }; \
	  sums > "$$tmp/after"; \
	  diff "$$tmp/before" "$$tmp/after" >/dev/null || { diff "$$tmp/before" "$$tmp/after"; echo "make generate changed the files above: commit its output"; exit 1; }

fmt:
	gofmt -w $$(git ls-files '*.go')

tidy: ## go mod tidy in every module.
	@set -e; for m in $(MODULES); do echo "== $$m"; $(GO) -C $$m mod tidy; done

generate: generate-metadata generate-distribution ## Regenerate mdatagen code and the distribution.

generate-metadata: ## mdatagen in every component: code, tests, documentation and the README status.
	@set -e; for c in $(COMPONENTS); do echo "== $$c"; (cd $$c && $(DEVTOOLS) mdatagen metadata.yaml); done

generate-distribution:
	$(DEVTOOLS) builder --config builder-config.yaml --skip-compilation --skip-get-modules
	gofmt -w cmd/otelcol-promptetheus

# Releases (RELEASING.md): every module of versions.yaml's module set under
# one version. release-prepare writes VERSION everywhere our modules are
# named with a version; release-tags tags HEAD with one tag per module.
RELEASED_MODULES = $(shell sed -n '/^module-sets:/,/^excluded-modules:/s/^ *- //p' versions.yaml)
RELEASE_VERSION  = $(shell sed -n '/^module-sets:/,/^excluded-modules:/s/^ *version: //p' versions.yaml)
ROOT_MODULE      := github.com/promptetheus/otelcol-promptetheus

release-prepare: ## Set every released module to VERSION (vX.Y.Z).
	@echo "$(VERSION)" | grep -Eq '^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$$' || { echo "usage: make release-prepare VERSION=vX.Y.Z"; exit 1; }
	@set -e; old=$(RELEASE_VERSION); new=$(VERSION); \
	  files=$$(git ls-files 'go.mod' '*/go.mod' '*.md' '*.yaml' '*.tmpl'); \
	  perl -pi -e 's{(\Q$(ROOT_MODULE)\E(?:/[\w./-]+)?) \Q'$$old'\E(?![\w.-])}{$$1 '$$new'}g' $$files; \
	  perl -pi -e 's{^(    version: )\Q'$$old'\E$$}{$${1}'$$new'}' versions.yaml; \
	  perl -pi -e 's{^(  version: )\Q'$${old#v}'\E$$}{$${1}'$${new#v}'}' builder-config.yaml; \
	  echo "$$old -> $$new"
	$(MAKE) generate-distribution
	$(GO) test -count=1 ./packaging/

release-tags: ## Tag HEAD with every released module's tag (versions.yaml).
	@test -z "$$(git status --porcelain)" || { echo "the working tree is not clean"; exit 1; }
	@set -e; for m in $(RELEASED_MODULES); do \
	  dir=$${m#$(ROOT_MODULE)}; dir=$${dir#/}; tag=$${dir:+$$dir/}$(RELEASE_VERSION); \
	  git tag -a "$$tag" -m "$$m $(RELEASE_VERSION)"; echo "$$tag"; \
	done

clean:
	rm -rf $(BIN) $(DATA_DIR)
