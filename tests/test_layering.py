"""The one-way data flow of DESIGN.md, enforced on the source (every import, lazy ones included).

    config  <-  indexing  <-  advisor  <-  app / webapp / evals / bench / integrations

`evals`, the app and the integrations (adapters for other frameworks) go through `advisor`'s public API
only (names it exports), never its submodules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUR_PACKAGES = {"config", "indexing", "advisor", "evals", "bench", "webapp", "app", "integrations"}

# layer -> packages it must never import
FORBIDDEN = {
    "config": {"indexing", "advisor", "evals", "bench", "webapp", "app", "integrations"},
    "indexing": {"advisor", "evals", "bench", "webapp", "app", "integrations"},
    "advisor": {"evals", "bench", "webapp", "app", "integrations"},
    "evals": {"indexing", "bench", "webapp", "app"},
    "webapp": {"indexing", "evals", "bench"},
    "app": {"indexing", "evals", "bench"},
    "integrations": {"indexing", "evals", "bench", "webapp", "app"},
}
# layers that may use advisor only through `advisor/__init__.py`
PUBLIC_API_ONLY = {"evals", "webapp", "app", "integrations"}


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


def _advisor_public_names(root: Path) -> set[str]:
    init = root / "advisor" / "__init__.py"
    if not init.exists():
        return set()
    tree = ast.parse(init.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return {ast.literal_eval(elt) for elt in node.value.elts}
    return set()


def violations(layer: str, root: Path = ROOT) -> list[str]:
    bad = []
    public = _advisor_public_names(root) if layer in PUBLIC_API_ONLY else set()
    advisor_dir = root / "advisor"
    submodules = {p.stem for p in advisor_dir.glob("*.py")} | {
        p.name for p in advisor_dir.glob("*/") if (p / "__init__.py").exists()
    }
    for path in _layer_files(layer, root):
        where = path.relative_to(root)
        for lineno, module in imported_modules(path, root):
            top = module.split(".")[0]
            if top in FORBIDDEN[layer]:
                bad.append(f"{where}:{lineno} imports {module} ({layer} must not import {top})")
            if layer in PUBLIC_API_ONLY and top == "advisor" and module.count(".") >= 1:
                name = module.split(".")[1]
                if name in submodules and name not in public:
                    bad.append(f"{where}:{lineno} imports {module} (use advisor's public API)")
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
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "run.py").write_text(
        "from advisor import build_advisor\nfrom advisor.cite import parse\n", encoding="utf-8"
    )
    assert violations("indexing", tmp_path) == [
        "indexing/store.py:2 imports advisor.advisor (indexing must not import advisor)",
        "indexing/store.py:2 imports advisor.advisor.Advisor (indexing must not import advisor)",
    ]
    assert violations("evals", tmp_path) == [
        "evals/run.py:2 imports advisor.cite (use advisor's public API)",
        "evals/run.py:2 imports advisor.cite.parse (use advisor's public API)",
    ]
