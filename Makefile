# Two commands do all set-up: `make demo` and `make test` (see README.md).
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The CPU wheel; a GPU user may override, e.g. `make TORCH=torch==2.13.0+cu128 demo`.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,train]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ecg-agent demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/ecg-agent bench foundation

clean:
	rm -rf $(VENV) out .pytest_cache
