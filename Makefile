# Everything a fresh machine needs is installed by these targets: Go modules through the Go
# module proxy, workerd and wrangler (pinned in package-lock.json) through npm.
GO      ?= go
NPM     ?= npm
EXAMPLE ?= examples/text-to-image

.PHONY: setup demo test vet fuzz bench build

# npm install (not npm ci) only when node_modules is missing or older than the lock file: the
# lock records workerd's platform packages for this platform only, which npm ci rejects as out of
# sync, while npm install follows the lock as it is and leaves it unchanged. Versions are exact
# in package.json, so both resolve to the same pinned workerd and wrangler.
node_modules/.flareform-installed: package.json package-lock.json
	$(NPM) install --no-audit --no-fund
	@touch $@

setup: node_modules/.flareform-installed
	$(GO) mod download

build: setup
	$(GO) build -o bin/flareform ./cmd/flareform

# The main job: a local deploy of the example (bundle, upload, workers.dev smoke test), no
# account needed. The PNG the deployed worker made is written to $(EXAMPLE)/out/ and its path
# printed. The generated API key goes to a 0600 file (never the terminal), so the smoke run
# after it can prove the key works on every `make demo`, also when apply has nothing to change.
KEYFILE = $(EXAMPLE)/.flareform/api-key
demo: build
	@mkdir -p $(dir $(KEYFILE))
	./bin/flareform apply --local --auto-approve -f $(EXAMPLE)/flareform.yaml --key-out $(KEYFILE) --force --no-smoke
	./bin/flareform smoke --local -f $(EXAMPLE)/flareform.yaml --key-file $(KEYFILE) --out $(EXAMPLE)/out

vet: setup
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

test: vet
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
# schedules, then flareform vs wrangler on a local Cloudflare (wrangler, and Node when the system
# one is too old for it, come from npm into .bench/). Writes docs/benchmarks.md.
bench: build
	@mkdir -p .bench
	@rm -f .bench/convergence.json
	$(GO) test ./cmd/flareform -run '^TestFaultConvergence$$' -count=1 -parallel 6 -timeout 60m \
	  -args -convergence.schedules=200 -convergence.report=.bench/convergence.json
	$(GO) run ./bench -convergence .bench/convergence.json -out docs/benchmarks.md
