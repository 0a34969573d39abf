"""The import graph of Haggle's own modules, read from the source with `ast`: no circles, and the layers
env <- data <- (training, eval) <- CLI. Function-level imports count: a lazy import still ties two modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# source folder -> the package it installs as (pyproject's package-dir)
PACKAGES = {
    "env": "haggle.env",
    "data": "haggle.data",
    "eval": "haggle.eval",
    "training": "haggle.training",
    "haggle": "haggle",
}
COMMAND_LINE = ("haggle.commands", "haggle.cli", "haggle.pipeline", "haggle.__main__")
# layer -> what none of its modules may import
FORBIDDEN = {
    "haggle.env": ("haggle.data", "haggle.eval", "haggle.training", "haggle.testing", *COMMAND_LINE),
    "haggle.data": ("haggle.eval", "haggle.training", "haggle.testing", *COMMAND_LINE),
    "haggle.eval": ("haggle.testing", *COMMAND_LINE),
    "haggle.training": ("haggle.testing", *COMMAND_LINE),
}


def _module_name(path: Path) -> str:
    folder, *rest = path.relative_to(REPO).with_suffix("").parts
    parts = [*PACKAGES[folder].split("."), *rest]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for folder in PACKAGES
        for path in sorted((REPO / folder).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The Haggle module an imported name lives in: the longest known module prefix of it."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imported_names(module: str, tree: ast.AST) -> set[str]:
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):  # module level and inside functions alike
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


def imports_of(module: str, source: str) -> set[str]:
    """The Haggle modules `module` imports, given its source."""
    names = _imported_names(module, ast.parse(source))
    targets = {_resolve(name) for name in names if name.startswith("haggle")}
    return {target for target in targets if target and target != module}


def import_graph() -> dict[str, set[str]]:
    return {module: imports_of(module, path.read_text(encoding="utf-8")) for module, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_every_package_and_lazy_imports():
    graph = import_graph()
    assert {"haggle.env.negotiation", "haggle.data.job_runner", "haggle.eval.theory", "haggle.cli"} <= set(
        graph
    )
    assert "haggle.env.agents.base" in graph["haggle.env.agents.scripted"]
    # `haggle.cli` imports its commands lazily, by name: only static imports are edges, and those it has
    assert all(target.startswith("haggle") for targets in graph.values() for target in targets)


def test_cycles_are_found_through_function_level_imports():
    """The shape of the circle that `env/agents/base.py` once had with `scripted.py`."""
    lazy = "def create_agent():\n    import haggle.env.agents.scripted\n"
    graph = import_graph() | {"haggle.env.agents.base": imports_of("haggle.env.agents.base", lazy)}
    assert ["haggle.env.agents.base", "haggle.env.agents.scripted"] in cycles(graph)


def test_no_module_imports_itself_back():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_only_import_downwards(layer):
    forbidden = FORBIDDEN[layer]
    offending = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        if module == layer or module.startswith(f"{layer}.")
        for target in targets
        if any(target == banned or target.startswith(f"{banned}.") for banned in forbidden)
    )
    assert offending == []
