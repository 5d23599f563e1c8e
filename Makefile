# ketaclinic: two commands on a fresh machine with python3 and make.
#   make demo   set up, migrate, seed the demo clinic (once), serve on 127.0.0.1:$(PORT)
#   make test   set up, then run the whole suite, browser tests included
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint format browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: setup
	$(BIN)/ketaclinic migrate --no-input
	$(BIN)/ketaclinic demo --if-empty
	# An example video service address, so the demo shows video links (docs/scheduling.md).
	KETACLINIC_VIDEO_URL_PATTERN="$${KETACLINIC_VIDEO_URL_PATTERN:-https://video.example.org/demo/{room}}" \
		$(BIN)/ketaclinic serve --port $(PORT)

# Browser tests drive Debian's Chromium; install it when it is missing.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Chromium for the browser tests (Debian package 'chromium')"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; \
	fi

test: setup browser
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) build *.egg-info test-artifacts
