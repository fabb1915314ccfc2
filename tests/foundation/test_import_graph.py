"""The modules' imports form no cycle, and they point one way: handlers (functions/) and the local run
(infra/) use the layer (shared/shop_marketing), never the other way round; inside the layer, training
never reaches into judging (a finished job's model is handed over by a callback its caller injects).

The graph is read from the source with ``ast``: every ``import`` and ``from ... import``, those inside
functions included. Imports under ``if TYPE_CHECKING:`` never run, so they are left out of the cycle
walk (they are still held to the layering rules). Imports made by name at run time
(``importlib.import_module``, the models package's lazy ``__getattr__``) are not seen.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from infra.api_gateway import ROOT

SOURCES = {
    "shop_marketing": ROOT / "shared" / "shop_marketing",
    "functions": ROOT / "functions",
    "infra": ROOT / "infra",
}


def module_files(package: str, directory: Path) -> dict[str, Path]:
    """Module name -> file, for every ``.py`` under ``directory`` (a package's ``__init__`` is the package)."""
    modules = {}
    for path in sorted(directory.rglob("*.py")):
        parts = [package, *path.relative_to(directory).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, *, type_checking: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of the tree, at any depth; those under ``if TYPE_CHECKING:`` only when asked."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            branches = [*(node.body if type_checking else []), *node.orelse]
            yield from _imports(ast.Module(body=branches, type_ignores=[]), type_checking=type_checking)
        else:
            yield from _imports(node, type_checking=type_checking)


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The module ``name`` loads of those walked: itself, else its nearest walked parent package."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, modules: dict[str, Path], *, type_checking: bool = False) -> set[str]:
    """The walked modules ``module`` imports."""
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in _imports(ast.parse(path.read_text(), str(path)), type_checking=type_checking):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # ``from package import name``: the submodule ``name`` if there is one, else the package.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        found.update(known for target in targets if (known := _known(target, modules)) and known != module)
    return found


def import_graph(sources: dict[str, Path], *, type_checking: bool = False) -> dict[str, set[str]]:
    modules: dict[str, Path] = {}
    for package, directory in sources.items():
        modules |= module_files(package, directory)
    return {module: imports_of(module, modules, type_checking=type_checking) for module in modules}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``a -> b -> ... -> a``) for each group of modules that import each other (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_a_cycle_in(group, graph) for group in groups]


def _a_cycle_in(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A path that starts and ends at the group's first module, through the group only (breadth first)."""
    start = min(group)
    paths = {target: [start, target] for target in sorted(graph[start] & group)}
    queue = list(paths)
    while start not in paths:
        node = queue.pop(0)
        for target in sorted(graph[node] & group):
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    return paths[start]


def test_no_module_of_the_layer_the_functions_or_the_local_run_is_part_of_an_import_cycle():
    found = cycles(import_graph(SOURCES))

    assert not found, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def test_the_walk_sees_imports_inside_functions_and_finds_a_cycle_through_them(tmp_path):
    # The walker is what the test above relies on: here it must find what is planted.
    package = tmp_path / "planted"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text("from . import second\n")
    (package / "second.py").write_text("def later():\n    from .third import thing\n")
    (package / "third.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import fourth\nimport planted.first as first\n"
    )
    (package / "fourth.py").write_text("from .third import x\n")

    graph = import_graph({"planted": package})

    assert graph["planted.second"] == {"planted.third"}
    assert graph["planted.third"] == {"planted.first"}  # the TYPE_CHECKING import is left out
    assert cycles(graph) == [["planted.first", "planted.second", "planted.third", "planted.first"]]
    assert import_graph({"planted": package}, type_checking=True)["planted.third"] == {
        "planted.first",
        "planted.fourth",
    }


def test_the_walk_reads_this_repositorys_imports():
    graph = import_graph(SOURCES)

    # A top-level import, a relative one and one inside a function.
    assert "shop_marketing.judging.evaluation" in graph["functions.fine_tuning_jobs.app"]
    assert "shop_marketing.models.judges" in graph["shop_marketing.models.judging"]
    assert "infra.local_queue" in graph["infra.local_api"]


def test_the_layer_never_imports_the_functions_or_the_local_run():
    graph = import_graph(SOURCES, type_checking=True)
    upward = {
        module: sorted(target for target in targets if not target.startswith("shop_marketing"))
        for module, targets in graph.items()
        if module.startswith("shop_marketing")
    }

    assert {module: targets for module, targets in upward.items() if targets} == {}


def test_training_never_imports_judging():
    graph = import_graph(SOURCES, type_checking=True)
    into_judging = {
        module: sorted(target for target in targets if target.startswith("shop_marketing.judging"))
        for module, targets in graph.items()
        if module.startswith("shop_marketing.training")
    }

    assert {module: targets for module, targets in into_judging.items() if targets} == {}


def test_the_models_import_no_service_and_the_functions_no_local_run():
    graph = import_graph(SOURCES, type_checking=True)
    models_up = {
        module: sorted(
            t for t in targets if t.startswith("shop_marketing.") and not t.startswith("shop_marketing.models")
        )
        for module, targets in graph.items()
        if module.startswith("shop_marketing.models")
    }
    functions_to_infra = {
        module: sorted(t for t in targets if t.startswith("infra"))
        for module, targets in graph.items()
        if module.startswith("functions")
    }

    assert {module: targets for module, targets in models_up.items() if targets} == {}
    assert {module: targets for module, targets in functions_to_infra.items() if targets} == {}
