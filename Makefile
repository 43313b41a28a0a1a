# swelm: `make demo` runs the main job end to end, `make test` runs the whole suite.
# Both create .venv on first use (offline-safe afterwards; CPU-only: no CUDA packages).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat setup.cfg setup.py pyproject.toml | cksum | cut -d' ' -f1)
JA_SHARED_DATA ?= $(abspath ../shared/data)
export JA_SHARED_DATA
export OMP_NUM_THREADS ?= 1
TORCH  ?= torch==2.13.0
# test processes (pytest-xdist); a file's tests stay in one process, so module fixtures (a
# crawl, the object store) are made once
TEST_WORKERS ?= 2

.PHONY: demo test venv bench clean emoji vocab variants

venv: $(STAMP)

$(STAMP): setup.cfg setup.py pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# torch first and pinned: the machines keep a CPU wheel of 2.13.0 on disk, while an
	@# unpinned requirement would pull the newest CUDA build from the registry
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# The C core is rebuilt when its source changes (editable installs do not do that).
tokenizer/.built: tokenizer/_swe.c $(STAMP)
	$(PY) setup.py -q build_ext --inplace >/dev/null
	@touch $@

demo: $(STAMP) tokenizer/.built
	$(PY) -m swelm demo

test: $(STAMP) tokenizer/.built
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP) tokenizer/.built
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m bench.tokenizer
	$(PY) -m bench.vocab
	$(PY) -m bench.extract
	$(PY) -m bench.dedup
	$(PY) -m bench.corpus_tools
	$(PY) -m bench.generate

# The bundled emoji table, rebuilt from the emoji package's data.
emoji: $(STAMP)
	$(PY) -m swelm build-emoji --out emoji.json

# The bundled vocabulary, from the committed variant table; `make variants` rebuilds that table
# from the Unihan files (Debian's unicode-data).
vocab: emoji
	$(PY) -m pip install -q -e '.[vocab]'
	$(PY) -m swelm build-vocab --input $(JA_SHARED_DATA)/corpus/train.jsonl.gz \
	    --emoji emoji.json --out vocab/ja-swe36k.txt --size 36000 --variants vocab/variants.tsv

variants: $(STAMP)
	$(PY) -c "from swelm.tokenizer.variants import build_variant_table as b; \
	    b().write_tsv('vocab/variants.tsv')"

clean:
	rm -rf build dist *.egg-info tokenizer/*.so tokenizer/.built
