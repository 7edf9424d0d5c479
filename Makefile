# One command each: `make serve` (set up and run on the sample entries), `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: serve test check conformance clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/feedsvc serve --config config.toml

test: $(STAMP)
	$(BIN)/python -m pytest -q

check: $(STAMP)
	$(BIN)/feedsvc check --config config.toml

# Export the sample site and check every feed against the Atom RELAX NG and JSON Feed
# schemas, the RSS 2.0 rules, feedparser and the cross-format rules.
conformance: $(STAMP)
	rm -rf out/conformance
	$(BIN)/feedsvc export out/conformance --config config.toml
	$(BIN)/python -m conformance.check --export out/conformance

clean:
	rm -rf $(VENV) build *.egg-info
