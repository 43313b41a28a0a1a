"""The house rules of docs/DESIGN.md that a change could quietly break: which package may
import what, and one import name (``swelm.…``) for the packages everywhere, tests and
benchmarks included."""
import ast
import importlib.util
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("corpus_tools", "tokenizer", "pipelines", "model", "swelm")
# (package, what it must never import)
FORBIDDEN = {
    "corpus_tools": ("apache_beam", "torch", "swelm.pipelines", "swelm.model"),
    "tokenizer": ("apache_beam", "torch", "swelm.pipelines", "swelm.model"),
    "pipelines": ("torch", "swelm.model"),
    "model": ("apache_beam", "swelm.pipelines"),
}
TOP_LEVEL = ("tokenizer", "model", "pipelines", "corpus_tools")


def _imports(path: pathlib.Path, package: str):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:          # relative: resolve against swelm.<package>
                base = ["swelm", package] if package != "swelm" else ["swelm"]
                parts = base[:len(base) - node.level + 1]
                yield node.lineno, ".".join(parts + ([node.module] if node.module else []))
            else:
                yield node.lineno, node.module


def _files(package):
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_import_rules(package):
    bad = []
    for f in _files(package):
        for line, name in _imports(f, package):
            top = name.split(".")[0]
            if top in TOP_LEVEL:
                bad.append(f"{f.relative_to(ROOT)}:{line}: import {name} (use swelm.{name} "
                           "or a relative import)")
            for banned in FORBIDDEN.get(package, ()):
                if name == banned or name.startswith(banned + "."):
                    bad.append(f"{f.relative_to(ROOT)}:{line}: {package} imports {name}")
    assert bad == []


@pytest.mark.parametrize("folder", ["tests", "bench"])
def test_tests_and_benchmarks_import_swelm_only(folder):
    bad = []
    for f in sorted((ROOT / folder).rglob("*.py")):
        for line, name in _imports(f, "swelm"):
            if name and name.split(".")[0] in TOP_LEVEL:
                bad.append(f"{f.relative_to(ROOT)}:{line}: import {name} (use swelm.{name})")
    assert bad == []


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_the_checkout_is_not_on_the_import_path(name):
    """The folders are importable only as swelm.<name>: a second name for the same module
    would make two copies of it (two registries, two StorageError classes)."""
    assert importlib.util.find_spec(name) is None, (name, sys.path)
    assert importlib.util.find_spec("swelm." + name) is not None
