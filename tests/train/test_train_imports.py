"""The trainer's modules import one way: no cycle among them (``config`` -> ``config_checks``, never
back), and the loading side (``mdm.loading``, ``mdm.models``) never imports ``mdm.train``.  An AST walk
over every ``import`` statement, those inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

import mdm

SRC = Path(mdm.__file__).parent


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC.parent / rel).with_suffix(".py").is_file() or (SRC.parent / rel / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mdm")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("mdm"):
            for a in node.names:  # `from mdm.train import checkpoint` imports the module mdm.train.checkpoint
                sub = f"{node.module}.{a.name}"
                found.add(sub if _exists(sub) else node.module)
    return found


def graph(paths) -> dict[str, set[str]]:
    return {_module(p): _imports(p) for p in paths}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(g.get(m, ())):
            if n not in g:
                continue
            if state.get(n) == "open":
                found.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in sorted(g):
        if m not in state:
            visit(m)
    return found


TRAINER = [p for p in (*sorted((SRC / "train").glob("*.py")), SRC / "order" / "train.py", SRC / "loading.py",
                       SRC / "models" / "families.py") if p.is_file()]


def test_no_import_cycle_among_the_trainers_modules():
    g = graph(TRAINER)
    assert "mdm.train.config_checks" in g["mdm.train.config"]
    assert cycles(g) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_loading_and_models_do_not_import_the_trainer():
    for path in [SRC / "loading.py", *sorted((SRC / "models").rglob("*.py"))]:
        bad = sorted(m for m in _imports(path) if m == "mdm.train" or m.startswith("mdm.train."))
        assert bad == [], f"{path.relative_to(SRC)} imports {bad}"
