"""The shape of jaxres/: no import circle between its packages, no jaxres import hidden in a function,
a short top level. A function-level import of our own module hides an arrow from the import graph
(usually one that runs back up, or closes a circle); optional extras (torch, onnx, tfds, hub) are the
only imports that belong inside functions, so they are not checked here.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1] / "jaxres"

# (file relative to jaxres/, imported module) -> why it must stay inside a function. Keep it empty
# or nearly so: a need for an entry is usually a sign that a piece sits in the wrong room.
ALLOWED_INNER = {
    ("cli/entry.py", "jaxres.cli.commands"): "--help and usage errors answer without loading JAX, flax and "
    "orbax (seconds of CPU); the commands are imported once the arguments parse",
    ("export/onnx.py", "jaxres.export"): "export.torch_resnet imports torch, an optional extra (`.[onnx]`), "
    "at its top; it loads when an ONNX export runs",
}
MAX_TOP_LEVEL = 12  # entries of jaxres/ besides __init__.py and __main__.py


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        package = parts[:-1]
        name = ".".join(parts if parts[-1] != "__init__" else parts[:-1])
        yield path, name, package


def _imported(node, package) -> list[str]:
    """The jaxres modules an import statement names (a `from x import y` names x and x.y)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = list(package[:len(package) - node.level + 1]) if node.level else []
        module = ".".join(base + ([node.module] if node.module else []))
        names = [module] + [f"{module}.{alias.name}" for alias in node.names]
    return [name for name in names if name == "jaxres" or name.startswith("jaxres.")]


def _existing(name: str) -> str | None:
    """The deepest module or package of `name` that exists (`jaxres.data.images.load_image` -> ...images)."""
    parts = name.split(".")
    while parts:
        path = ROOT.parent.joinpath(*parts)
        if path.is_dir() or path.with_suffix(".py").is_file():
            return ".".join(parts)
        parts.pop()
    return None


def room(module: str) -> str:
    """jaxres/<pkg> or jaxres/<pkg>/<subpkg> (a folder), or a top-level module on its own."""
    parts = module.split(".")
    if len(parts) >= 3 and ROOT.parent.joinpath(*parts[:3]).is_dir():
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def room_graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path, name, package in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in filter(None, map(_existing, _imported(node, package))):
                    a, b = room(name), room(target)
                    if a != b and b != "jaxres":
                        edges.setdefault(a, set()).add(b)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one room (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            visit(v)
    return found


def inner_imports() -> set[tuple[str, str]]:
    """(file, module) of every import of a jaxres module inside a function."""
    found = set()
    for path, _, package in _modules():
        for function in ast.walk(ast.parse(path.read_text())):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(function):
                    if isinstance(node, (ast.Import, ast.ImportFrom)) and _imported(node, package):
                        found.add((str(path.relative_to(ROOT)), _imported(node, package)[0]))
    return found


def test_the_packages_import_each_other_without_a_circle():
    assert circles(room_graph()) == []


def test_a_circle_is_found():  # the check itself can fail
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_jaxres_import_inside_a_function():
    allowed = set(ALLOWED_INNER)
    assert sorted(inner_imports() - allowed) == []
    assert sorted(allowed - inner_imports()) == [], "allowed but gone: delete it from ALLOWED_INNER"


def test_the_top_level_is_short():
    entries = {p.name for p in ROOT.iterdir() if p.name not in ("__init__.py", "__main__.py", "__pycache__")}
    assert len(entries) <= MAX_TOP_LEVEL, sorted(entries)
