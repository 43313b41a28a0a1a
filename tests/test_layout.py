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


def _model_imports():
    """``{module: {modules of swelm.model it imports, at any depth of the file}}``."""
    graph = {}
    for f in _files("model"):
        mod = f.stem
        graph[mod] = {name.split(".")[2] for _, name in _imports(f, "model")
                      if name and name.startswith("swelm.model.") and name.count(".") >= 2}
    return graph


def test_model_has_no_import_cycle_and_each_architecture_imports_common_only():
    graph = _model_imports()
    assert graph["switch"] <= {"common"} and graph["gpt2"] <= {"common"}, graph
    assert graph["common"] == set(), graph
    seen, done = [], set()

    def visit(m):
        if m in done:
            return
        assert m not in seen, f"import cycle in model/: {' -> '.join(seen + [m])}"
        seen.append(m)
        for n in sorted(graph.get(m, ())):
            visit(n)
        seen.pop()
        done.add(m)

    for m in sorted(graph):
        visit(m)


# the modules that may name an architecture: the registry and the architectures themselves
# (hf_gpt2 reads and writes transformers' gpt2 folders)
NAMES_ARCHITECTURES = {"registry.py", "switch.py", "gpt2.py", "hf_gpt2.py"}


def test_only_the_registry_tests_architecture_names():
    bad = []
    for package in ("model", "swelm", "pipelines", "tokenizer"):
        for f in _files(package):
            if package == "model" and f.name in NAMES_ARCHITECTURES:
                continue
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Compare):
                    continue
                for side in [node.left, *node.comparators]:
                    names = [side] + (list(side.elts) if isinstance(side, ast.Tuple) else [])
                    if any(isinstance(n, ast.Constant) and n.value in ("switch", "gpt2")
                           for n in names):
                        bad.append(f"{f.relative_to(ROOT)}:{node.lineno}: compares an "
                                   "architecture name (ask model.registry.architecture())")
    assert bad == []
