# make run   follows FILE (default /var/log/dpkg.log) and serves it on LISTEN
# make test  installs the programs the tests need, then runs every test
# make bench  runs the three standard load scenarios (BENCHMARKS.md)
GO      ?= go
FILE    ?= /var/log/dpkg.log
NAME    ?= $(notdir $(FILE))
LISTEN  ?= :8080
WORKERS ?=

.PHONY: build run test deps vet bench clean

build:
	$(GO) build -o tailcast .

run: build
	@echo "open http://localhost$(LISTEN)/ or ws://localhost$(LISTEN)/ws/$(NAME)"
	./tailcast serve --listen $(LISTEN) --file $(NAME)=$(FILE) $(if $(WORKERS),--workers $(WORKERS))

deps:
	./scripts/install-deps.sh

vet:
	$(GO) vet ./...

test: deps vet
	$(GO) test -race -count=1 -timeout 60m ./...

# W1 latency, W2 throughput, W3 memory; see BENCHMARKS.md.
bench: deps
	./scripts/bench.sh

clean:
	rm -rf tailcast bench-results
