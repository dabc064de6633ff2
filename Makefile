# Everything a fresh machine needs is installed by these targets: Go modules through the Go
# module proxy, workerd (pinned in package-lock.json) through npm. `make test` also installs the
# test-only clients pinned under localcf/fidelity/clients/ (`make clients`); `make demo` does not.
GO      ?= go
NPM     ?= npm
EXAMPLE ?= examples/text-to-image
CLIENTS  = localcf/fidelity/clients

.PHONY: setup clients demo test vet fuzz bench build install

# npm ci installs exactly what a lock file records and never writes it, so a fresh clone stays
# clean. Each lock records the platform packages of every platform (workerd-linux-64,
# workerd-darwin-arm64, ...; npm installs only the one that fits), which npm ci needs to accept it
# as in sync: regenerate a lock with `npm install --package-lock-only` after changing its
# package.json. The allowScripts field of each package.json approves the install scripts that
# are needed (workerd's and esbuild's put the platform binary in place) and denies the rest, so
# npm prints no install-script warnings.
node_modules/.flareform-installed: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

# Test-only clients for localcf/fidelity: wrangler 4.86.0 (node20/), the newest wrangler 4.x,
# Alchemy 0.94 and Node 22 from npm (node22/). Two directories because wrangler 4.86 and Alchemy
# need conflicting @cloudflare/workers-types majors. npm itself runs on the system Node, so the
# node22/ install warns EBADENGINE for packages that need Node 22: the tests run those on the
# Node 22 installed next to them.
clients: $(CLIENTS)/node20/node_modules/.flareform-installed $(CLIENTS)/node22/node_modules/.flareform-installed

$(CLIENTS)/%/node_modules/.flareform-installed: $(CLIENTS)/%/package.json $(CLIENTS)/%/package-lock.json
	cd $(CLIENTS)/$* && $(NPM) ci --no-audit --no-fund
	@touch $@

setup: node_modules/.flareform-installed
	$(GO) mod download

# Static: CGO_ENABLED=0 links no libc, so the binary starts without the dynamic loader (it
# resolves no shared libraries before main) and runs on any Linux of its architecture. The
# pure-Go DNS resolver and user lookup replace libc's, which flareform's loopback-and-API-host
# networking does not miss. `make bench` builds its hello-world yardstick the same way.
STATIC = CGO_ENABLED=0

build: setup
	$(STATIC) $(GO) build -o bin/flareform ./cmd/flareform

# flareform onto PATH: `go install` puts it in $(go env GOBIN), else $(go env GOPATH)/bin; says
# so, and how to put that directory on PATH when it is not. The installed binary needs nothing
# from this checkout: its first --local run installs the pinned workerd into the user cache (npm).
install:
	$(STATIC) $(GO) install ./cmd/flareform
	@bin=$$($(GO) env GOBIN); [ -n "$$bin" ] || bin=$$($(GO) env GOPATH | cut -d: -f1)/bin; \
	  echo "Installed $$bin/flareform"; \
	  case ":$$PATH:" in *":$$bin:"*) ;; *) echo "$$bin is not on PATH; add it: export PATH=\"$$bin:\$$PATH\"" ;; esac

# The main job: a local deploy of the example (bundle, upload, workers.dev smoke test with the
# real key), no account needed. The PNG the deployed worker made is written to $(EXAMPLE)/out/
# and its path printed. The generated API key is kept in the project's key store
# ($(EXAMPLE)/.flareform/keys.json, 0600, never printed without a terminal), so the smoke run
# after it proves the key works on every `make demo`, also when apply has nothing to change.
demo: build
	./bin/flareform apply --local --auto-approve -f $(EXAMPLE)/flareform.yaml
	./bin/flareform smoke --local -f $(EXAMPLE)/flareform.yaml --out $(EXAMPLE)/out

vet: setup
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# The fidelity tests fail (not skip) when a client is missing; `clients` installs them.
test: vet clients
	$(GO) test -count=1 -timeout 30m ./...

# Short coverage-guided runs of every fuzz target (longer: make fuzz FUZZTIME=5m).
FUZZTIME ?= 20s
fuzz: setup
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Side-by-side benchmark (not part of CI; takes a while): the fault-convergence suite with 200
# schedules, then flareform vs wrangler and Alchemy on a local Cloudflare (the newest wrangler,
# Alchemy 0.94 and Node 22 from `make clients`; another -wrangler-version is installed from npm
# into .bench/), fleets against a null API stub, and `flareform version` against a hello world
# built like it. Writes docs/design/benchmarks.md, also when schedules of the suite fail: the report
# says which targets are not met (`make test` is where a failure stops). Fewer rounds or fleet
# sizes: make bench BENCHFLAGS='-rounds 3 -fleet-sizes 1,10,100'.
BENCHFLAGS ?=
bench: build clients
	@mkdir -p .bench
	$(STATIC) $(GO) build -o .bench/hello ./bench/hello
	@rm -f .bench/convergence.json
	-$(GO) test ./cmd/flareform -run '^TestFaultConvergence$$' -count=1 -parallel 6 -timeout 60m \
	  -args -convergence.schedules=200 -convergence.report=.bench/convergence.json
	$(GO) run ./bench -convergence .bench/convergence.json -out docs/design/benchmarks.md $(BENCHFLAGS)
