# The Promptetheus collector. `make run` and `make test` are the two commands
# a newcomer needs; see README.md.

GO        ?= go
BIN       := $(CURDIR)/bin
COLLECTOR := $(BIN)/otelcol-promptetheus
JAEGER    := $(BIN)/jaeger
DEVTOOLS  := $(GO) tool -modfile=$(CURDIR)/internal/tools/devtools/go.mod
DATA_DIR  ?= $(CURDIR)/data

export PROMPTETHEUS_COLLECTOR_BIN := $(COLLECTOR)
export PROMPTETHEUS_JAEGER_BIN    := $(JAEGER)

.PHONY: all build jaeger run test e2e instrumented-testdata reliability scale bench fuzz lint fmt generate generate-distribution generate-metadata prices clean

all: build

build: ## Build the collector distribution into bin/.
	$(GO) build -o $(COLLECTOR) ./cmd/otelcol-promptetheus

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

test: build jaeger ## Unit, golden, contract and end-to-end tests.
	$(GO) test -race -count=1 ./...
	$(GO) test -C deploy/kubernetes -count=1 ./...

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
bench: build
	$(GO) test -run XXX -bench . -benchmem -count 6 ./internal/wire/ ./internal/mapping/ \
	  ./receiver/promptetheusreceiver/ ./processor/promptetheusprocessor/ | tee $(BIN)/bench-go.txt
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
FUZZ_TARGETS := \
	FuzzDecodeEvent:./internal/wire \
	FuzzDecodeValidJSON:./internal/wire \
	FuzzDecodeEventBody:./internal/wire \
	FuzzDecodeCreateRun:./internal/wire \
	FuzzMapEvent:./internal/mapping \
	FuzzArtifactNames:./receiver/promptetheusreceiver/internal/artifactstore \
	FuzzAuthenticate:./receiver/promptetheusreceiver \
	FuzzUserRuleCondition:./extension/agentrulesextension \
	FuzzDecodeBatch:./receiver/promptetheusreceiver/internal/runstore

fuzz: ## Run every fuzz target for FUZZTIME.
	@set -e; for t in $(FUZZ_TARGETS); do \
	  name=$${t%%:*}; pkg=$${t#*:}; echo "== $$name ($$pkg)"; \
	  $(GO) test -run XXX -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

lint: ## gofmt, go vet and staticcheck (all build tags).
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	$(GO) vet ./...
	$(GO) vet -C deploy/kubernetes ./...
	$(DEVTOOLS) staticcheck -tags bench,reliability,scale ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

generate: generate-metadata generate-distribution ## Regenerate mdatagen code and the distribution.

generate-metadata:
	cd receiver/promptetheusreceiver && $(DEVTOOLS) mdatagen metadata.yaml
	cd processor/promptetheusprocessor && $(DEVTOOLS) mdatagen metadata.yaml
	cd exporter/tempoexporter && $(DEVTOOLS) mdatagen metadata.yaml
	cd extension/agentrulesextension && $(DEVTOOLS) mdatagen metadata.yaml
	cd connector/agentmetricsconnector && $(DEVTOOLS) mdatagen metadata.yaml

generate-distribution:
	$(DEVTOOLS) builder --config builder-config.yaml --skip-compilation --skip-get-modules
	gofmt -w cmd/otelcol-promptetheus

clean:
	rm -rf $(BIN) $(DATA_DIR)
