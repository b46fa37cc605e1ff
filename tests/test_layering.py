"""Import layering of src/mdm (docs/architecture.md): an AST walk, no imports executed.

What counts as an edge ``A -> B`` (module ``A`` imports module ``B``):

* every ``import`` / ``from ... import`` statement in ``A``, at module level AND inside functions
  or classes (a function-level import is a real dependency, just a later one), relative imports
  resolved;
* ``from P import name`` is an edge to the submodule ``P.name`` when that is a module, else to
  ``P`` itself (its ``__init__``);
* a package ``__init__``'s re-exports count: ``from mdm.variance import MirrorMask`` runs
  ``mdm/variance/__init__.py``, which imports each re-exported module, so a cycle through a
  package's ``__init__`` is a cycle at import time too.

What does not count:

* imports under ``if TYPE_CHECKING:`` (never executed; ``train/config_checks`` imports
  ``train/config`` that way for an annotation, which is no cycle at import time);
* imports inside a module-level ``__getattr__`` (PEP 562 lazy attributes of ``mdm`` and
  ``mdm.cli``: resolved on first attribute access, after every module has loaded);
* the implicit import of a parent package (``import mdm.sampling.loop`` runs
  ``mdm/sampling/__init__.py`` first): every ``__init__`` imports its own children, so counting it
  would make every package a cycle with itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "mdm"

# The core: pure math and models.  None of these may reach the trainer, the experiments, the CLI,
# the server or the demo, directly or through other modules.
CORE = ("mdm.schedules", "mdm.process", "mdm.losses", "mdm.masking", "mdm.sampling", "mdm.models",
        "mdm.languages")
ABOVE_CORE = ("mdm.train", "mdm.experiments", "mdm.cli", "mdm.serve", "mdm.demo")



def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module):
    """Import nodes that run (see the module docstring for what is skipped)."""
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
        elif isinstance(node, ast.FunctionDef) and node.name == "__getattr__" and node in tree.body:
            continue
        else:
            todo.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges = graph.setdefault(name, set())
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for t in targets:
                while t and t not in files:  # `import mdm.x.y` where y is an attribute
                    t = t.rpartition(".")[0]
                if t.startswith("mdm") and t != name:
                    edges.add(t)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm (iterative); components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(comp)
    return out


def _within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def reachable(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """Every module ``start`` imports, directly or not: module -> the module that imports it."""
    seen = {start: ""}
    todo = [start]
    while todo:
        v = todo.pop()
        for w in sorted(graph.get(v, ())):
            if w not in seen:
                seen[w] = v
                todo.append(w)
    return seen


def _path(parents: dict[str, str], end: str) -> str:
    chain = [end]
    while parents[chain[-1]]:
        chain.append(parents[chain[-1]])
    return " -> ".join(reversed(chain))


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_the_walk_sees_the_edges_it_should(graph):
    # an anchor for the walk itself: known edges of each kind (module-level, function-level,
    # relative, package re-export) are found, and the lazy __getattr__ of mdm is not an edge
    assert "mdm.schedules" in graph["mdm.sampling.unmaskers"]  # module level
    assert "mdm.sampling.unmaskers" in graph["mdm.sampling"]  # package re-export
    assert "mdm.sampling" not in graph["mdm"]  # mdm.__getattr__ is lazy
    assert len(graph) > 100


# (packages, what none of their modules may reach, directly or through other modules)
NEVER_REACH = [
    (CORE, ABOVE_CORE),
    (("mdm.eval", "mdm.tuning"), ABOVE_CORE),
    (("mdm.experiments", "mdm.train"), ("mdm.cli", "mdm.serve", "mdm.demo")),
]


@pytest.mark.parametrize(("lower", "upper"), NEVER_REACH, ids=["core", "eval", "experiments-train"])
def test_lower_layers_never_reach_upper_ones(graph, lower, upper):
    bad = []
    for name in sorted(graph):
        if not _within(name, lower):
            continue
        parents = reachable(graph, name)
        hit = sorted(m for m in parents if _within(m, upper))
        if hit:
            bad.append(_path(parents, hit[0]))
    assert not bad, "modules that import above their layer:\n" + "\n".join(bad)


def test_no_import_cycles_between_modules(graph):
    cycles = [sorted(c) for c in strongly_connected(graph)]
    assert not cycles, "import cycles (strongly connected modules):\n" + "\n".join(map(str, cycles))


def top_level(name: str) -> str:
    """``mdm.sampling.loop`` -> ``mdm.sampling``; ``mdm.demo`` stays."""
    return ".".join(name.split(".")[:2])


def test_no_import_cycles_between_packages(graph):
    # Coarser than modules: mdm.demo -> mdm.experiments.X and mdm.experiments.remdm -> mdm.demo
    # would be no module cycle, but the two packages would then have no order.  The root package `mdm`
    # (lazy attributes only) is left out.
    packages: dict[str, set[str]] = {}
    for a, targets in graph.items():
        edges = packages.setdefault(top_level(a), set())
        edges |= {top_level(b) for b in targets if top_level(b) not in (top_level(a), "mdm")}
    cycles = [sorted(c) for c in strongly_connected(packages)]
    assert not cycles, "import cycles between packages of mdm:\n" + "\n".join(map(str, cycles))


def test_the_cycle_finder_finds_a_cycle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert strongly_connected(g) == [{"a", "b", "c"}]
