# dsmip6 — see README.md. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
RUST_CRATES := -p dsmip6-wire -p dsmip6-dataplane
# Modules kept clean under mypy (session 13: the HA's IKEv2 hot path; the rest of the package
# is not yet, see docs/performance-history.md).
MYPY_CLEAN := $(addprefix dsmip6/ikev2/,_fast.py _fast_child.py sk.py transforms.py keys.py \
	_engine.py exchange.py responder.py sa.py initiator.py)
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_LONG_SECONDS ?= 600

.PHONY: all deps build demo test test-rust test-python lint fuzz fuzz-smoke bench clean

all: build

deps:
	./scripts/install-deps.sh

# The extension, built in release mode into the venv (editable: python/ is used in place).
build: deps
	$(VENV)/bin/maturin develop --release --quiet

demo: build
	./scripts/demo.sh

test: build lint test-rust test-python fuzz-smoke

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --release -- -D warnings
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	cd python && ../$(VENV)/bin/mypy --follow-imports=silent --cache-dir=../target/mypy $(MYPY_CLEAN)

test-rust:
	cargo test --release $(RUST_CRATES)

test-python:
	$(PY) -m pytest -q

fuzz-smoke:
	./scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS)

fuzz:
	./scripts/fuzz.sh $(FUZZ_LONG_SECONDS)

bench: build
	cargo bench $(RUST_CRATES)
	$(PY) -m pytest benches -q -p no:cacheprovider --benchmark-enable -s

clean:
	cargo clean
	rm -rf $(VENV) fuzz/target
