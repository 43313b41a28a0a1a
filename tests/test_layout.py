"""The house rules of DESIGN.md that a change could quietly break: which package may import
what, and internal imports under the one import name."""
import ast
import pathlib

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
