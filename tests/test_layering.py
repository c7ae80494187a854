"""The one-way data flow of docs/design.md, enforced on the source (every import, lazy ones included).

    textkit, hostkit  <-  config  <-  indexing  <-  advisor  <-  app / webapp / evals / integrations  <-  bench

`textkit` (the shared text rules: Han characters, language, sentences, figures) and `hostkit` (the device,
free ports, file digests) are the floor: every layer may import them, and they import no other package of
ours, so a rule written there is written once.

`evals`, the app and the integrations (adapters for other frameworks) go through `advisor`'s public API
only (names it exports), never its submodules;
`evals` may also use `indexing`'s public API (it builds the injection index with `build_index`), and so may
`webapp` (its document routes add, list and remove documents with the functions behind `python -m indexing`).
No package imports `tests`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUR_PACKAGES = {
    "textkit",
    "hostkit",
    "config",
    "indexing",
    "advisor",
    "evals",
    "bench",
    "webapp",
    "app",
    "integrations",
    "tests",
}

# layer -> packages it must never import (tests depend on the product, never the other way round)
FORBIDDEN = {
    "textkit": OUR_PACKAGES - {"textkit"},
    "hostkit": OUR_PACKAGES - {"hostkit"},
    "config": {"indexing", "advisor", "evals", "bench", "webapp", "app", "integrations", "tests"},
    "indexing": {"advisor", "evals", "bench", "webapp", "app", "integrations", "tests"},
    "advisor": {"evals", "bench", "webapp", "app", "integrations", "tests"},
    "evals": {"bench", "webapp", "app", "tests"},
    "webapp": {"evals", "bench", "tests"},
    "app": {"indexing", "evals", "bench", "tests"},
    "bench": {"tests"},
    "integrations": {"indexing", "evals", "bench", "webapp", "app", "tests"},
}
# layer -> packages it may use only through their `__init__.py` (the names in its `__all__`)
PUBLIC_API_ONLY = {
    "evals": {"advisor", "indexing"},
    "webapp": {"advisor", "indexing"},
    "app": {"advisor"},
    "integrations": {"advisor"},
}


def _layer_files(layer: str, root: Path) -> list[Path]:
    if layer == "app":
        return [root / "app.py"] if (root / "app.py").exists() else []
    return sorted((root / layer).rglob("*.py")) if (root / layer).is_dir() else []


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """Absolute dotted names of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # `from advisor import ask` and `from advisor import submodule` look alike: record both forms
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _public_names(root: Path, package: str) -> set[str]:
    init = root / package / "__init__.py"
    if not init.exists():
        return set()
    tree = ast.parse(init.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return {ast.literal_eval(elt) for elt in node.value.elts}
    return set()


def _submodules(root: Path, package: str) -> set[str]:
    folder = root / package
    return {p.stem for p in folder.glob("*.py")} | {
        p.name for p in folder.glob("*/") if (p / "__init__.py").exists()
    }


def violations(layer: str, root: Path = ROOT) -> list[str]:
    bad = []
    public_only = PUBLIC_API_ONLY.get(layer, set())
    public = {package: _public_names(root, package) for package in public_only}
    submodules = {package: _submodules(root, package) for package in public_only}
    for path in _layer_files(layer, root):
        where = path.relative_to(root)
        for lineno, module in imported_modules(path, root):
            top = module.split(".")[0]
            if top in FORBIDDEN[layer]:
                bad.append(f"{where}:{lineno} imports {module} ({layer} must not import {top})")
            if top in public_only and module.count(".") >= 1:
                name = module.split(".")[1]
                if name in submodules[top] and name not in public[top]:
                    bad.append(f"{where}:{lineno} imports {module} (use {top}'s public API)")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_upward_imports(layer: str) -> None:
    assert violations(layer) == []


def test_the_rule_fails_on_an_upward_import(tmp_path: Path) -> None:
    """The check must be able to fail: a lazy upward import and a private-API import are both caught."""
    (tmp_path / "indexing").mkdir()
    (tmp_path / "indexing" / "store.py").write_text(
        "def load():\n    from ..advisor.advisor import Advisor\n", encoding="utf-8"
    )
    (tmp_path / "advisor").mkdir()
    (tmp_path / "advisor" / "__init__.py").write_text('__all__ = ["build_advisor"]\n', encoding="utf-8")
    (tmp_path / "advisor" / "cite.py").write_text("", encoding="utf-8")
    (tmp_path / "indexing" / "__init__.py").write_text('__all__ = ["build_index"]\n', encoding="utf-8")
    (tmp_path / "indexing" / "build.py").write_text("", encoding="utf-8")
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "run.py").write_text(
        "from advisor import build_advisor\nfrom advisor.cite import parse\n"
        "from indexing import build_index\nfrom indexing.build import build_index\n",
        encoding="utf-8",
    )
    assert violations("indexing", tmp_path) == [
        "indexing/store.py:2 imports advisor.advisor (indexing must not import advisor)",
        "indexing/store.py:2 imports advisor.advisor.Advisor (indexing must not import advisor)",
    ]
    (tmp_path / "textkit").mkdir()
    (tmp_path / "textkit" / "han.py").write_text("from config import Settings\n", encoding="utf-8")
    assert violations("textkit", tmp_path) == [
        "textkit/han.py:1 imports config (textkit must not import config)",
        "textkit/han.py:1 imports config.Settings (textkit must not import config)",
    ]
    assert violations("evals", tmp_path) == [
        "evals/run.py:2 imports advisor.cite (use advisor's public API)",
        "evals/run.py:2 imports advisor.cite.parse (use advisor's public API)",
        "evals/run.py:4 imports indexing.build (use indexing's public API)",
        "evals/run.py:4 imports indexing.build.build_index (use indexing's public API)",
    ]


def test_the_rule_fails_when_bench_imports_tests(tmp_path: Path) -> None:
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "retrieval_bench.py").write_text(
        "from tests.advisor.questions import CHINESE\n", encoding="utf-8"
    )
    assert violations("bench", tmp_path) == [
        "bench/retrieval_bench.py:1 imports tests.advisor.questions (bench must not import tests)",
        "bench/retrieval_bench.py:1 imports tests.advisor.questions.CHINESE (bench must not import tests)",
    ]
