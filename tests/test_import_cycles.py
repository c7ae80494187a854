"""No import cycles among the project's modules (docs/design.md), lazy imports inside functions included.

A cycle means two modules are one responsibility split badly, or a contract and its registry share a file;
it also makes the import order decide whether a name exists yet. Imports under `if TYPE_CHECKING:` never
run and are left out: they only name types for annotations.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("textkit", "hostkit", "config", "indexing", "advisor", "evals", "bench", "webapp", "tests")
SCRIPTS = ("app.py",)


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of our packages and the top-level scripts."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")) if (root / package).is_dir() else []:
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for script in SCRIPTS:
        if (root / script).is_file():
            found[Path(script).stem] = root / script
    return found


def _is_type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _runtime_imports(tree: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking_block(node):
            stack.extend(node.orelse)  # the else branch does run
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports: `from pkg import sub` counts as pkg.sub when sub is a module."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        if node.level:  # relative: resolve against the importing module's package
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = ".".join([*base, node.module] if node.module else base)
        else:
            module = node.module or ""
        for alias in node.names:
            submodule = f"{module}.{alias.name}"
            targets.add(submodule if submodule in modules else module)
    return {t for t in targets if t in modules and t != name}


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = project_modules(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def test_the_project_has_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_check_finds_a_lazy_cycle_and_ignores_type_checking_imports(tmp_path: Path) -> None:
    """The check must be able to fail: a cycle closed by an import inside a function is found, through
    `from pkg import module` and a relative import; one closed only under TYPE_CHECKING is not a cycle."""
    (tmp_path / "advisor").mkdir()
    (tmp_path / "advisor" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "advisor" / "support.py").write_text(
        "def make_checker():\n    from advisor import support_ensemble\n", encoding="utf-8"
    )
    (tmp_path / "advisor" / "support_ensemble.py").write_text(
        "from .support import make_checker\n", encoding="utf-8"
    )
    (tmp_path / "advisor" / "types_only.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from advisor.support import make_checker\n",
        encoding="utf-8",
    )
    (tmp_path / "advisor" / "uses_types.py").write_text("import advisor.types_only\n", encoding="utf-8")
    graph = import_graph(tmp_path)
    assert graph["advisor.support"] == {"advisor.support_ensemble"}
    assert graph["advisor.types_only"] == set()
    assert cycles(graph) == [["advisor.support", "advisor.support_ensemble"]]
