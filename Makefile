# cnnkit: `make demo` trains LeNet-5 on Fashion-MNIST from a fresh clone; `make test` runs the suite.
# `make docs` builds the documentation site into build/site/.
# All of them create the virtual environment .venv with the pinned dependencies of constraints.txt first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test install data docs bench clean

demo: install data
	$(BIN)/cnnkit train --model lenet5 --data fashion-mnist

test: install
	$(BIN)/python -m pytest -q

install: $(STAMP)

# Re-install only when the declared or pinned dependencies change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test,docs]"
	touch $(STAMP)

# The documentation site, offline, into build/site/ (open build/site/index.html): the lecture's
# figures first (build/lecture/, which docs/hooks.py reads), then MkDocs, whose tutorials run as it builds.
docs: install
	$(BIN)/cnnkit lecture --out build/lecture
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --config-file mkdocs.yml

# Fashion-MNIST: Debian's package when we are root on Debian, otherwise cnnkit downloads it
# (with SHA-256 verification) on first use.
data:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then \
		echo "Fashion-MNIST: /usr/share/datasets/fashion-mnist"; \
	elif [ "$$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null; then \
		echo "Fashion-MNIST: installing Debian's dataset-fashion-mnist"; \
		(apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1)) || \
		echo "Fashion-MNIST: apt-get failed; cnnkit will download it"; \
	else \
		echo "Fashion-MNIST: cnnkit will download it on first use"; \
	fi

bench: install
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/time_to_accuracy.py
	$(BIN)/python benchmarks/checkpoint_overhead.py
	$(BIN)/python benchmarks/ops_speed.py
	$(BIN)/python benchmarks/explain_ascent_speed.py
	$(BIN)/python benchmarks/serve.py

clean:
	rm -rf $(VENV) runs
