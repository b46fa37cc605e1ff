"""Every shell command and Python snippet in README.md runs as written (issue 30).

Each fenced ``bash``/``sh``/``shell`` block gives one test per command line and each ``python``
block one test, in README order, all run in one scratch folder (``examples/`` linked in, as from
the repository root) with this interpreter's ``bin/`` first on PATH and the Hugging Face hubs
offline.  A command must exit 0.  Blocks without a language are output, never code (checked).

Scaled down for CI (set ``MDM_README_AS_WRITTEN=1`` to run every command exactly as written:
hours on 2 cores).  :data:`SCALE` lists what is appended to which command; training commands get
``--set max_steps=$MDM_README_STEPS`` (default 10) and a 1-layer model; ``mdm exp`` commands get
``--dry-run`` (name, preset, parts and seeds checked; each quick preset runs in its own test).

A run folder ``runs/X`` is made by the first README command that names it; a later command that
uses it runs that one first (so ``pytest -k`` on one command works).  A command is ``slow`` when
:data:`SLOW` lists it, a marker says so, or a folder it needs comes from a slow command.

What CI cannot run is listed in :data:`NOT_RUN` with the reason (reported as skips; an entry that
no longer matches a README command fails :func:`test_not_run_entries_match_readme_commands`).
README authors can mark the block under an HTML comment (invisible on GitHub) instead::

    <!-- readme-test: slow -->                       every command of the next block is slow
    <!-- readme-test: not-run: needs a server ... -->  not run; the text after "not-run:" is the reason
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
AS_WRITTEN = os.environ.get("MDM_README_AS_WRITTEN", "") not in ("", "0")
STEPS = int(os.environ.get("MDM_README_STEPS", "10"))
TIMEOUT = 1200  # seconds per command

# (regex searched in the command without its comment, why CI cannot run it)
NOT_RUN: list[tuple[str, str]] = [
    (r"^make demo\b", "creates .venv and installs torch and mdm's dependencies from the network; the "
     "demo itself (`mdm demo --quick`) is tests/test_demo.py and CI's own `make test` builds the venv"),
    (r"^make test\b", "the command CI itself runs (.ci/run): running it here would recurse"),
    (r"^source \.venv/bin/activate\b", "changes the user's shell; this test puts the venv's bin/ on PATH"),
    (r"^(\S*/)?pip (install|download)\b", "installs or downloads from a package index (network)"),
]

# (regex, module): optional packages a command needs (`make venv` installs them).  Outside CI a missing
# one skips the command with the reason; in CI (CI=true, as .ci/run sets) it must be there.
REQUIRES: list[tuple[str, str]] = [(r"antiberty", "antiberty"), (r"^mdm harness ", "lm_eval"),
                                   (r"--hf\b|tiny-hf|transformers", "transformers")]

# A command CI does not run but whose run folder a later command uses: what makes that folder instead.
STAND_IN: list[tuple[str, str]] = [(r"^make demo\b", "mdm demo --quick --out runs/demo")]

# (regex, appended arguments): the scaled-down version CI runs.  Later --set/--preset win.
_TINY_MODEL = ["--set", "model.d_model=32", "--set", "model.n_layers=1", "--set", "model.n_heads=2"]
_TRAIN = ["--set", f"max_steps={STEPS}", "--set", "eval_every=0", "--set", "eval_batches=1", *_TINY_MODEL]
SCALE: list[tuple[str, list[str]]] = [
    (r"^mdm train \S*sudoku", ["--set", "data.options.n_train=64", "--set", "data.options.n_test=16",
                              "--set", "data.options.progress=false"]),
    (r"^mdm train ", [*_TRAIN, "--quiet"]),
    (r"^torchrun .* -m mdm\.train ", [*_TRAIN, "--quiet"]),
    (r"^mdm eval ", ["--max-sequences", "8", "--elbo-samples", "2", "--num", "4", "--no-genppl"]),
    # Checked, not run: each experiment's quick preset runs end to end in its own test (see
    # test_readme_experiments_run_in_their_own_tests); running it here again cost ~100 s per CI run.
    (r"^mdm exp ", ["--dry-run"]),
    (r"^mdm harness ", ["--limit", "2", "--elbo-samples", "4"]),
]

# Commands that take more than a few seconds even scaled (CI runs slow tests too).
SLOW: list[str] = [r"^torchrun ", r"\bantiberty\b", r"--hf\b", r"^mdm harness ",
                   r"^mdm train \S*sudoku", r"^mdm train kjv-char-block", r"^python -c .*transformers"]

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"<!--\s*readme-test:\s*(slow|not-run:?\s*(.*?))\s*-->")
_SHELL = {"bash", "sh", "shell", "console"}
_RUN_DIR = re.compile(r"(?<![\w/.-])runs/[\w.-]+")


@dataclass(frozen=True)
class Snippet:
    kind: str  # "shell" (one command) or "python" (one block)
    text: str  # the command without its comment, or the Python source
    line: int  # 1-based line in README.md
    marker: str  # "", "slow" or "not-run: REASON"

    @property
    def id(self) -> str:
        head = self.text if self.kind == "shell" else self.text.strip().splitlines()[0]
        return f"L{self.line}:" + re.sub(r"[^\w.,=:/+-]+", "_", head)[:60]


def strip_comment(line: str) -> str:
    """``line`` without a trailing shell comment (a ``#`` after whitespace, outside quotes)."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def parse(text: str) -> tuple[list[Snippet], list[tuple[int, str]]]:
    """``(snippets, unlabelled)``: the README's commands and Python blocks, and the unlabelled fenced
    blocks (first line number, first line)."""
    lines = text.splitlines()
    snippets, unlabelled, i = [], [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1).lower(), i + 1
        end = next(j for j in range(start, len(lines)) if lines[j].strip() == "```")
        prev = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        mk = _MARKER.search(prev)
        marker = "" if mk is None else ("slow" if mk.group(1) == "slow" else f"not-run: {mk.group(2)}")
        body = lines[start:end]
        if lang in _SHELL:
            joined, first = "", None
            for k, raw in enumerate(body):
                first = start + k + 1 if first is None else first
                joined += raw.strip()
                if joined.endswith("\\"):
                    joined = joined[:-1].rstrip() + " "
                    continue
                cmd = strip_comment(joined.strip().removeprefix("$ "))
                if cmd:
                    snippets.append(Snippet("shell", cmd, first, marker))
                joined, first = "", None
        elif lang == "python":
            snippets.append(Snippet("python", "\n".join(body) + "\n", start + 1, marker))
        elif not lang:
            unlabelled.append((start + 1, body[0] if body else ""))
        i = end + 1
    return snippets, unlabelled


SNIPPETS, UNLABELLED = parse(README.read_text(encoding="utf-8"))


def not_run_reason(s: Snippet) -> str | None:
    if s.marker.startswith("not-run"):
        return s.marker.split(":", 1)[1].strip() or "marked not-run in README.md"
    if s.kind == "shell":
        for pattern, reason in NOT_RUN:
            if re.search(pattern, s.text):
                return reason
    return None


def _folders(s: Snippet) -> list[str]:
    found = _RUN_DIR.findall(s.text)
    if s.kind == "shell" and (stand_in := _stand_in(s)):
        found += _RUN_DIR.findall(stand_in)
    return list(dict.fromkeys(found))


def _stand_in(s: Snippet) -> str | None:
    return next((cmd for pattern, cmd in STAND_IN if re.search(pattern, s.text)), None)


def producer(folder: str) -> Snippet | None:
    """The first README snippet that names (or whose stand-in names) run folder ``folder``: the
    one that makes it."""
    return next((s for s in SNIPPETS if folder in _folders(s)), None)


def needs(s: Snippet) -> list[Snippet]:
    """The snippets that make the run folders ``s`` uses (not ``s`` itself)."""
    out = []
    for folder in _folders(s):
        p = producer(folder)
        if p is not None and p != s:
            out.append(p)
    return out


def is_slow(s: Snippet, _seen: frozenset = frozenset()) -> bool:
    if s.marker == "slow" or (s.kind == "shell" and any(re.search(p, s.text) for p in SLOW)):
        return True
    if s.kind == "python" and any(re.search(p, s.text) for p in (r"\bantiberty\b", r"from_hf\(")):
        return True
    return any(is_slow(p, _seen | {s}) for p in needs(s) if p not in _seen)


def scaled(s: Snippet) -> str:
    """The shell command CI runs for ``s``: as written (a not-run one: its stand-in), plus
    :data:`SCALE`'s arguments; ``.venv/bin/`` is this interpreter's bin/."""
    text = (_stand_in(s) if not_run_reason(s) is not None else None) or s.text
    text = re.sub(r"^\.venv/bin/", f"{Path(sys.executable).parent}/", text)
    if AS_WRITTEN:
        return text
    extra = [arg for pattern, args in SCALE if re.search(pattern, text) for arg in args]
    return text + ("" if not extra else " " + shlex.join(extra))


class Workspace:
    """The scratch folder every snippet runs in, and which snippets have run there (and how)."""

    def __init__(self, root: Path):
        self.root = root
        (root / "examples").symlink_to(ROOT / "examples")
        self.done: dict[Snippet, subprocess.CompletedProcess] = {}
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        pythonpath = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
        self.env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                        MPLBACKEND="Agg", PATH=path, PYTHONPATH=pythonpath)

    def run(self, s: Snippet) -> subprocess.CompletedProcess:
        if s in self.done:
            return self.done[s]
        for p in needs(s):
            r = self.run(p)
            if r.returncode != 0:
                pytest.fail(f"needs the run folder made by README line {p.line} ({p.text!r}), which failed")
        if s.kind == "shell":
            if not_run_reason(s) is not None and _stand_in(s) is None:
                pytest.skip(f"needs README line {s.line} ({s.text!r}), which CI does not run")
            argv = ["bash", "-c", scaled(s)]
        else:
            script = self.root / f"readme_line_{s.line}.py"
            script.write_text(s.text, encoding="utf-8")
            argv = [sys.executable, str(script)]
        r = subprocess.run(argv, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=TIMEOUT)
        self.done[s] = r
        return r


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("readme"))


def _param(s: Snippet):
    marks = [pytest.mark.slow] if is_slow(s) else []
    if s.kind == "shell" and s.text.startswith("torchrun "):
        marks.append(pytest.mark.distributed)
    return pytest.param(s, id=s.id, marks=marks)


@pytest.mark.parametrize("snippet", [_param(s) for s in SNIPPETS])
def test_readme_snippet_runs(snippet: Snippet, workspace: Workspace):
    reason = not_run_reason(snippet)
    if reason is not None:
        pytest.skip(f"README line {snippet.line} not run in CI: {reason}")
    missing = [m for p, m in REQUIRES if re.search(p, snippet.text) and importlib.util.find_spec(m) is None]
    if missing and not os.environ.get("CI"):
        pytest.skip(f"README line {snippet.line} needs {', '.join(missing)} (make venv installs it)")
    r = workspace.run(snippet)
    shown = scaled(snippet) if snippet.kind == "shell" else f"python block at README line {snippet.line}"
    assert r.returncode == 0, (f"README line {snippet.line}: `{shown}` exited {r.returncode}\n"
                               f"--- stdout (end)\n{r.stdout[-3000:]}\n--- stderr (end)\n{r.stderr[-3000:]}")
    assert "Traceback (most recent call last)" not in r.stderr, r.stderr[-3000:]


def test_readme_has_commands_and_every_unlabelled_block_is_output():
    assert sum(s.kind == "shell" for s in SNIPPETS) >= 10 and any(s.kind == "python" for s in SNIPPETS)
    code = re.compile(r"^\s*(\$ |mdm |python |pip |make |torchrun |import |from \w+ import )")
    hidden = [(line, first) for line, first in UNLABELLED if code.match(first)]
    assert not hidden, f"fenced blocks with code but no language (label them bash/python): {hidden}"


def test_not_run_entries_match_readme_commands():
    shell = [s.text for s in SNIPPETS if s.kind == "shell"]
    stale = [p for p, _ in NOT_RUN if not any(re.search(p, t) for t in shell)]
    assert not stale, f"NOT_RUN entries that match no README command any more (remove them): {stale}"


def test_parse_joins_continuations_strips_comments_and_reads_markers():
    text = "\n".join([
        "<!-- readme-test: not-run: needs a server -->", "```bash", "mdm serve runs/x \\", "  --port 1  # c",
        "", "```", "<!-- readme-test: slow -->", "", "```python", "print('#')", "```", "```", "mdm x", "```"])
    snippets, unlabelled = parse(text)
    assert [(s.kind, s.text, s.line, s.marker) for s in snippets] == [
        ("shell", "mdm serve runs/x --port 1", 3, "not-run: needs a server"),
        ("python", "print('#')\n", 10, "slow")]
    assert unlabelled == [(13, "mdm x")]
    assert strip_comment("python -c \"a # b\" # c") == "python -c \"a # b\""


def test_readme_experiments_run_in_their_own_tests():
    """The README's ``mdm exp`` lines are only dry-run here: each experiment they name must run its
    quick preset end to end in a test (``experiments.run("NAME", "quick", ...)``; hf-samplers' is in
    tests/models/hf/test_antiberty.py)."""
    named = {m.group(1) for s in SNIPPETS if s.kind == "shell" and (m := re.match(r"mdm exp (\S+)", s.text))}
    assert named, "README names no experiment"
    files = [p for p in (ROOT / "tests").rglob("*.py") if p.name != "test_readme.py"]
    tests = "\n".join(p.read_text(encoding="utf-8") for p in files)
    runs_quick = r"""run\(\s*["']{}["'],\s*["']quick["']"""
    untested = sorted(n for n in named if not re.search(runs_quick.format(re.escape(n)), tests))
    assert not untested, f"README runs these experiments but no test runs their quick preset: {untested}"
