# hubline: the two commands a newcomer needs are `make run` and `make test`.
.PHONY: run test setup web build bench

# Run the gateway with the local default (demo trunk, loopback only).
run: setup
	go run ./cmd/gateway -config configs/local.yaml

# Everything CI runs (.ci/run calls this).
test:
	scripts/test.sh

# Install apt/npm/Go dependencies (idempotent).
setup:
	scripts/setup.sh

# Rebuild the embedded softphone (web/dist).
web: setup
	npm --prefix web run build

# The gateway binary, static.
build:
	CGO_ENABLED=0 go build -o bin/gateway ./cmd/gateway
	CGO_ENABLED=0 go build -o bin/softphone ./cmd/softphone

# The performance suite (docs/performance.md): the media micro-benchmarks,
# each interleaved with its floor (BENCH_ROUNDS rounds), then the load sweep
# (hubload: floors, gateway, floors at each of BENCH_CALLS). Prints one table;
# the results go to BENCH_OUT and the summary to docs/perf/. Takes about
# half an hour; run it on an otherwise idle machine.
BENCH_OUT ?= /tmp/hubline-bench
BENCH_CALLS ?= 100,250,500
BENCH_ROUNDS ?= 9
BENCH_HOLD ?= 20s
bench:
	mkdir -p $(BENCH_OUT) docs/perf
	@echo "micro-benchmarks, then the sweep (progress: $(BENCH_OUT)/sweep.log)"
	CGO_ENABLED=0 go build -o $(BENCH_OUT)/gateway ./cmd/gateway
	CGO_ENABLED=0 go build -o $(BENCH_OUT)/hubload ./cmd/hubload
	HUBLINE_BENCH_ROUNDS=$(BENCH_ROUNDS) go test -run '^$$' -bench 'BenchmarkPerPacket|BenchmarkCallRelay|BenchmarkSetup' \
		-benchmem -timeout 60m ./media/ | tee $(BENCH_OUT)/micro.txt
	$(BENCH_OUT)/hubload sweep -gateway $(BENCH_OUT)/gateway -calls $(BENCH_CALLS) -hold $(BENCH_HOLD) \
		-micro $(BENCH_OUT)/micro.txt -at 1000 -out $(BENCH_OUT) > $(BENCH_OUT)/sweep.log 2>&1 || \
		{ tail -20 $(BENCH_OUT)/sweep.log; exit 1; }
	cp $(BENCH_OUT)/cost.svg $(BENCH_OUT)/results.csv $(BENCH_OUT)/summary.csv $(BENCH_OUT)/table.md \
		$(BENCH_OUT)/machine.txt $(BENCH_OUT)/micro.txt docs/perf/
	@echo; cat $(BENCH_OUT)/machine.txt; echo; cat $(BENCH_OUT)/table.md
