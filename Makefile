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

bench:
	go test -run '^$$' -bench . -benchmem ./media/ ./sip/
