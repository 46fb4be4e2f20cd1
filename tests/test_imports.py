"""The import graph of tfstyle/ (read with ast, nothing imported): layers run one way, no circles.

``commands/``, ``web/`` and ``cli`` are on top and use the library; nothing below imports them.
Engines do not import the driver that drives them. Lazy imports (inside functions) count too: a
circle through a function-level import is still a circle in the design.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tfstyle"
TOP = ("tfstyle.commands", "tfstyle.web", "tfstyle.cli")


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, pathlib.Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, pathlib.Path]) -> str | None:
    """The tfstyle module ``name`` refers to (its longest known prefix), None outside tfstyle."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: pathlib.Path, modules: dict[str, pathlib.Path]) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from tfstyle import driver` imports the submodule; `from x import name` the module x
            subs = [f"{base}.{alias.name}" for alias in node.names]
            names = [n for n in subs if n in modules] or [base]
        else:
            continue
        for name in names:
            target = _resolve(name, modules)
            if target is not None and target != module:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _in(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read():
    graph = _graph()
    assert "tfstyle.driver" in graph["tfstyle.commands.stylize"]
    assert "tfstyle.engines.base" in graph["tfstyle.engines.teacher"]
    assert "tfstyle.engines" in graph["tfstyle.driver"]


def test_nothing_below_imports_commands_or_web():
    bad = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        if not _in(module, TOP)
        for target in sorted(targets)
        if _in(target, TOP)
    ]
    assert not bad, "library modules import the command line or the web app:\n" + "\n".join(bad)


def test_engines_do_not_import_their_driver():
    above = ("tfstyle.driver", "tfstyle.runtime", "tfstyle.video", "tfstyle")
    bad = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        if _in(module, ("tfstyle.engines",))
        for target in sorted(targets)
        if target in above
    ]
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles among tfstyle modules:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_replaces_its_own_class():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    assert not (isinstance(target, ast.Attribute) and target.attr == "__class__"), (
                        f"{path}:{node.lineno} assigns __class__"
                    )
