# `make demo` and `make test` each set up .venv on first use (torch first, pinned to the
# CPU build), install the Debian packages they need when missing, then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: demo test bench preview clean system audit-deps docs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# poppler-utils: pdfsig/pdftoppm/pdftotext; libharfbuzz-subset0: WeasyPrint's font subsetting.
SYSTEM_PACKAGES := poppler-utils libharfbuzz-subset0
system:
	@dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; }

demo: $(STAMP) system
	$(BIN)/audit demo
	$(BIN)/audit verify audit-demo/report.pdf

test: $(STAMP) system
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

# Known vulnerabilities in the installed pinned set. Needs the network (PyPI's JSON API);
# --strict fails when a package cannot be checked, so an offline run never looks clean.
# pip-audit lives in its own venv so its dependencies stay out of the pinned set.
TOOLS := $(VENV)/.tools
audit-deps: $(STAMP)
	test -x $(TOOLS)/bin/pip-audit || { $(PYTHON) -m venv $(TOOLS) && \
	  $(TOOLS)/bin/python -m pip install --quiet pip-audit==2.10.1; }
	$(TOOLS)/bin/pip-audit --strict --skip-editable --progress-spinner off \
	  --path "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

preview: demo
	rm -f docs/report-preview/page-*.png
	pdftoppm -png -r 60 audit-demo/report.pdf docs/report-preview/page

clean:
	rm -rf $(VENV) audit-demo audit-out .pytest_cache .mypy_cache

# The generated spec reference; tests/unit/test_spec_reference.py fails when it is stale.
docs: $(STAMP)
	$(BIN)/python -m audit.spec_reference > docs/spec.md.partial && mv docs/spec.md.partial docs/spec.md
