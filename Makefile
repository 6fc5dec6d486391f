# meterlink — one command to run the main job, one to run the tests, on a fresh Debian/Ubuntu machine.
#   make demo   system packages + virtualenv, then simulated meters → collector → broker → accounting
#   make test   system packages + virtualenv, then the full test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# command → Debian package; only the missing ones are installed.
SYSTEM_PACKAGES := mosquitto:mosquitto tesseract:tesseract-ocr ssocr:ssocr \
                   pg_ctlcluster:postgresql openssl:openssl

.PHONY: demo test bench system venv clean

demo: venv
	$(VENV)/bin/meterlink demo

test: venv
	$(PY) -m pytest -n 2 -q

bench: venv
	$(PY) bench/run_all.py

system:
	@missing=""; \
	for pair in $(SYSTEM_PACKAGES); do \
	  cmd=$${pair%%:*}; pkg=$${pair#*:}; \
	  command -v $$cmd >/dev/null 2>&1 || [ -x /usr/sbin/$$cmd ] || missing="$$missing $$pkg"; \
	done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv python3-pip"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing tesseract-ocr-eng; \
	fi

$(VENV)/.installed: pyproject.toml
	$(MAKE) system
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
