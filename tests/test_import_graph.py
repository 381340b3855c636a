"""No import cycle among the app's modules, counting imports inside functions too: a
cycle broken only by importing late still ties two modules into one, and orders the
app's start-up by accident."""

import ast
from pathlib import Path

import flagpal_dash

PACKAGE = Path(flagpal_dash.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The app's modules that ``path`` imports, anywhere in it. ``from X import name``
    counts as importing ``X.name`` when that is a module, else ``X``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                child = f"{source}.{alias.name}"
                found.add(child if child in modules else source)
    # A module's own packages are imported before it whatever it says (``flagpal_dash``,
    # the app factory, imports every area and the command line imports it back): an edge
    # to one adds nothing.
    ancestors = {".".join(name.split(".")[:depth]) for depth in range(1, name.count(".") + 1)}
    return {module for module in found if module in modules and module not in {name, *ancestors}}


def import_graph() -> dict[str, set[str]]:
    paths = [path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts]
    modules = {module_name(path) for path in paths}
    return {module_name(path): imports_of(path, modules) for path in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle in ``graph`` as the modules along it, or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return None
        path.append(module)
        for imported in sorted(graph[module]):
            if cycle := visit(imported):
                return cycle
        path.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        if cycle := visit(module):
            return cycle
    return None


def test_the_graph_sees_imports_made_inside_functions():
    graph = import_graph()
    # create_app imports the blueprints when it runs.
    assert "flagpal_dash.tokens" in graph["flagpal_dash"]
    assert "flagpal_dash.core.usage" in graph["flagpal_dash.api.usage_counter"]


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)
