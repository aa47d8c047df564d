# Quick start: `make demo` and `make test`. Both create .venv on first use and install from the pinned
# constraints.txt, so pip never backtracks (a fresh install takes a couple of minutes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := train,skypilot,modal,runpod,team,dev

.PHONY: demo test bench install clean templates

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tuneplan needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'
	@touch $(STAMP)

# The main job on the embedded default (the local provider; no account anywhere): plan and rank a
# realistic job, then launch a tiny SFT LoRA run here, pull and verify its adapter, show the ledger.
demo: $(STAMP)
	$(BIN)/tuneplan plan --spec examples/qwen7b-qlora-sft.yaml --gpu RTX4090
	$(BIN)/tuneplan recommend --spec examples/qwen7b-qlora-sft.yaml --top 5
	$(BIN)/tuneplan launch examples/tiny-sft.yaml --yes
	$(BIN)/tuneplan pull tiny-sft
	$(BIN)/tuneplan jobs --limit 1
	$(BIN)/tuneplan report

# Two worker processes, each test file on one of them (so a file's shared fixtures are built once): much of the
# suite waits on subprocesses, so the two cores of the test machine stay busy.
# The report tests render HTML/PDF in headless Chromium (CONTRACTS §8: installed, not skipped). As root with
# apt-get this installs the Debian package once; otherwise it says what to do and the tests name it too.
test: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
	      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; }; } || \
	  echo "chromium is missing and could not be installed here: run 'sudo apt-get install chromium'"
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# Each standalone templates/<task>.py from templates/source/ (standard library only; the generated files are
# committed, and a test fails when one is out of date).
templates:
	$(PYTHON) templates/build.py

# The performance figures of the closing notes: cold start and estimate, ranking, TUI first paint and
# re-estimate (needs tmux for the first paint), report generation on 10,000 runs.
bench: $(STAMP)
	$(BIN)/python bench/bench_plan.py
	$(BIN)/python bench/bench_recommend.py
	$(BIN)/python bench/bench_tui.py
	$(BIN)/python bench/bench_report.py
	$(BIN)/python bench/bench_distributed.py

clean:
	rm -rf $(VENV) build *.egg-info
