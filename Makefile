# Quick start: `make demo` and `make test`. Both create .venv on first use and install from the pinned
# constraints.txt, so pip never backtracks (a fresh install takes a couple of minutes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := train,skypilot,modal,runpod,dev

.PHONY: demo test bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tuneplan needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tuneplan plan --model Qwen/Qwen2.5-7B-Instruct --method qlora --seq-len 2048 --batch-size 2 \
		--examples 5000 --avg-tokens 600 --epochs 3

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bench_plan.py

clean:
	rm -rf $(VENV) build *.egg-info
