"""No import cycle among the app's modules, counting imports inside functions too: a
cycle broken only by importing late still ties two modules into one, and orders the
app's start-up by accident."""

from pathlib import Path

from flagpal_dash import PACKAGE_DIR as PACKAGE

from .support import imported_modules, module_name


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The app's modules that ``path`` imports, anywhere in it."""
    name = module_name(path)
    # A module's own packages are imported before it whatever it says (``flagpal_dash``,
    # the app factory, imports every area and the command line imports it back): an edge
    # to one adds nothing.
    ancestors = {".".join(name.split(".")[:depth]) for depth in range(1, name.count(".") + 1)}
    return {
        module
        for module in imported_modules(path)
        if module in modules and module not in {name, *ancestors}
    }


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
