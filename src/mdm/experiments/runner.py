"""The one experiment runner behind ``mdm exp``: presets, parts, seeds, caching, provenance, outputs.

An :class:`Experiment` declares *what* to compute; :func:`run` does the rest, once: it validates the
preset, parts and seeds before any folder is made; runs each :class:`Part` (``(setup, seed, ctx) ->
JSON-able data``) once per seed (seeds outer, parts in declared order); saves every finished
``(part, seed)`` atomically to ``OUT/parts/PART/seed-N.json`` under a key of everything it depends
on (:func:`part_key`), so ``resume=True`` continues a killed run (a part that raises, e.g.
:class:`TrainingInterrupted`, is never saved); and writes ``result.json``, ``report.md`` and PNGs
(:mod:`mdm.experiments.report`).
A part's result is JSON round-tripped before anything reads it, so a cached and a fresh part give
the same ``result.json`` byte for byte (up to provenance).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdm.errors import ConfigError
from mdm.experiments.cache import PartCache
from mdm.experiments.common import one_thread, parse_seeds, select_parts  # noqa: F401 (parse_seeds re-exported)
from mdm.experiments.overrides import apply_overrides
from mdm.experiments.report import write_outputs
from mdm.provenance import provenance

__all__ = ["Experiment", "Part", "PartContext", "TrainingInterrupted", "fields", "parse_seeds", "part_key",
           "plan", "run"]


class TrainingInterrupted(KeyboardInterrupt):
    """A part's training stopped before its last step: the part must not be cached."""


@dataclass(frozen=True)
class Part:
    """One unit of work, cached per seed.  ``run(setup, seed, ctx)`` returns plain data (dicts,
    lists, numbers, strings).  What its cached result is keyed by (:func:`part_key`):

    * ``reads(setup)``: the slice of the setup the part depends on (None: all of it, and the preset's
      name).  When given, ``run`` receives that slice *in place of* the setup, so it cannot read
      what its key leaves out, and a change elsewhere (another part's grid, an unrelated ``--set``)
      keeps its cached result;
    * ``key(setup)``: extra JSON the result depends on beyond the setup (e.g. the identity of a
      trained model, :func:`mdm.train.compat.model_identity`, so editing a packaged YAML invalidates
      the cached part);
    * ``needs``: the parts whose results it reads through :meth:`PartContext.need` (their keys are
      part of its key; it may read no other).
    """

    name: str
    run: Callable[[Any, int, PartContext], Any]
    key: Callable[[Any], Any] | None = None
    reads: Callable[[Any], Any] | None = None
    needs: tuple[str, ...] = ()


def fields(*names: str, exclude: Sequence[str] = ()) -> Callable[[Any], Any]:
    """A ``Part.reads`` for a flat setup (a dataclass): the part receives a frozen dataclass holding
    only the named fields (or, with ``exclude``, every field but those), reading any other raises
    ``AttributeError``, and it is keyed by them."""
    def read(setup):
        kept = names or [f.name for f in dataclasses.fields(setup) if f.name not in exclude]
        cls = dataclasses.make_dataclass(f"{type(setup).__name__}Fields", [(n, Any) for n in kept],
                                         frozen=True)
        return cls(**{n: getattr(setup, n) for n in kept})

    return read


@dataclass
class PartContext:
    """What a part may use besides its setup and seed: the run folder (models, caches), whether
    to show progress, a logger, :meth:`need` for the result of another part of the same seed, and
    ``plot_dir``, where a part may draw a PNG only it can draw (the runner's ``plots`` hook draws the
    rest): ``out_dir`` for one seed, ``out_dir/seed-N`` for several, as the report expects."""

    out_dir: Path
    seed: int
    progress: bool
    log: Callable[[str], None]
    _need: Callable[[str], Any] = field(repr=False, default=None)
    plot_dir: Path | None = None

    def need(self, part: str) -> Any:
        """The result of part ``part`` for this seed (computed, or read from its cache)."""
        return self._need(part)


@dataclass(frozen=True)
class Experiment:
    """An experiment's declaration.

    * ``presets``: preset name -> typed setup (a frozen dataclass), the single source of config;
    * ``parts(setup)``: the parts a preset runs, in order;
    * ``assemble(setup, results, seed)``: one seed's part results (``{part: data}``, only those
      selected or needed) -> the result dict (JSON-able; the runner adds provenance);
    * ``report(result, setup)``: the markdown body (first line: the ``# title``);
    * ``plots(result, out_dir)``: write PNGs (via :mod:`mdm.experiments.plotting`), return names;
    * ``verdict(result)``: the lines ``mdm exp`` prints (default: the headline numbers);
    * ``evidence(result, setup)``: the evidence box's fields for :func:`mdm.eval.stats.evidence_line`
      (``n_test``, ``method``, ``setting``, optional ``level``), ``trained`` (False: exact oracles
      only) and ``seeds_per_run`` (training seeds inside one run, default 1); the runner counts the
      seeds.  It reads the setup only, so :func:`mdm.experiments.evidence_box` needs no run;
    * ``threads``: torch threads while it runs (None: leave as is);
    * ``headline(result)``: ``{name: number or (a, b)}``, the numbers that decide the claim in one
      seed's result; over several seeds each is summarised (:func:`mdm.eval.stats.summarize`), a
      pair ``(a, b)`` of two arms as the paired difference ``a - b`` with a sign-flip p, in
      ``across_seeds`` and the report.
    """

    name: str
    presets: Mapping[str, Any]
    parts: Callable[[Any], Sequence[Part]]
    assemble: Callable[[Any, dict, int], dict]
    report: Callable[[dict, Any], str]
    plots: Callable[[dict, Path], list[str]] | None = None
    verdict: Callable[[dict], list[str]] | None = None
    evidence: Callable[[dict, Any], dict] | None = None
    threads: int | None = 1
    headline: Callable[[dict], dict[str, float | None]] | None = None


@dataclass(frozen=True)
class Plan:
    """A validated run: the setup, the selected parts and the seeds."""

    experiment: Experiment
    preset: str
    setup: Any
    parts: tuple[Part, ...]  # every part of the preset
    selected: tuple[str, ...]
    seeds: tuple[int, ...]
    explicit_parts: bool
    overrides: tuple[str, ...] = ()  # --set KEY=VALUE, applied to the preset's setup


def _check_needs(name: str, parts: Sequence[Part]) -> None:
    """Every part a part ``needs`` is declared, and no part needs itself through others (its key
    would be undefined)."""
    needs = {p.name: p.needs for p in parts}
    for part, wanted in needs.items():
        unknown = [n for n in wanted if n not in needs]
        if unknown:
            raise ConfigError(f"part {part!r} of {name} needs undeclared part(s) {', '.join(unknown)}")

    def visit(part: str, path: tuple[str, ...]) -> None:
        if part in path:
            raise ConfigError(f"parts of {name} need each other in a cycle: {' -> '.join((*path, part))}")
        for n in needs[part]:
            visit(n, (*path, part))

    for part in needs:
        visit(part, ())


def plan(experiment: Experiment, preset: str, seeds: Sequence[int] = (0,), parts=None,
         overrides: Sequence[str] = ()) -> Plan:
    """Validate preset, overrides (``KEY=VALUE``, :func:`~mdm.experiments.overrides.apply_overrides`),
    parts and seeds (raises :class:`~mdm.errors.ConfigError`)."""
    if preset not in experiment.presets:
        raise ConfigError(f"unknown preset {preset!r}; choose one of: {', '.join(experiment.presets)}")
    overrides = tuple(str(o) for o in overrides)
    setup = apply_overrides(experiment.presets[preset], overrides)
    declared = tuple(experiment.parts(setup))
    names = [p.name for p in declared]
    if len(set(names)) != len(names):
        raise ConfigError(f"experiment {experiment.name!r} declares a part twice: {names}")
    _check_needs(experiment.name, declared)
    selected = select_parts(tuple(names), parts)
    seeds = tuple(int(s) for s in seeds)
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"bad seeds {seeds}: need distinct non-negative seeds")
    return Plan(experiment, preset, setup, declared, selected, seeds, parts is not None, overrides)


def jsonable(obj) -> Any:
    """``obj`` as JSON would give it back (tuples -> lists, int keys -> str, numpy -> float)."""
    return json.loads(json.dumps(obj, default=float))


def setup_json(setup) -> Any:
    """A setup (or a slice of one: a dataclass, a tuple of them and of values) as JSON data."""
    if dataclasses.is_dataclass(setup):
        return jsonable(dataclasses.asdict(setup))
    if isinstance(setup, (tuple, list)):
        return [setup_json(s) for s in setup]
    return jsonable(setup)


def _command(p: Plan) -> str:
    seeds = p.seeds
    contiguous = len(seeds) > 1 and list(seeds) == list(range(seeds[0], seeds[-1] + 1))
    flag = f"--seed {seeds[0]}" if len(seeds) == 1 else (
        f"--seeds {seeds[0]}-{seeds[-1]}" if contiguous else f"--seeds {','.join(map(str, seeds))}")
    cmd = f"mdm exp {p.experiment.name} --preset {p.preset} {flag}"
    cmd += "".join(f" --set {shlex.quote(o)}" for o in p.overrides)
    return cmd + (f" --parts {','.join(p.selected)}" if p.explicit_parts else "")


def _part(p: Plan, name: str) -> Part:
    for part in p.parts:
        if part.name == name:
            return part
    raise ConfigError(f"part {name!r} is not a part of {p.experiment.name} --preset {p.preset}")


def part_key(p: Plan, name: str, seed: int) -> str:
    """The cache key of part ``name`` for ``seed``: a hash of the experiment, the part, the seed, what
    it reads (``Part.reads``; else the preset and the whole setup), its extra ``key`` and the keys of
    the parts it ``needs``.  A part without ``reads`` or ``needs`` keeps the key it had before they
    existed."""
    part = _part(p, name)
    what: dict[str, Any] = {"experiment": p.experiment.name, "part": name, "seed": seed,
                            "extra": jsonable(part.key(p.setup)) if part.key is not None else None}
    if part.reads is None:
        what.update(preset=p.preset, setup=setup_json(p.setup))
    else:
        what["reads"] = setup_json(part.reads(p.setup))
    if part.needs:
        what["needs"] = {n: part_key(p, n, seed) for n in part.needs}
    return PartCache.key(what)


def _run_seed(p: Plan, seed: int, cache: PartCache, out: Path, progress: bool, log, timings: dict) -> dict:
    results: dict[str, Any] = {}

    def need(name: str, by: Part | None = None):
        if by is not None and name not in by.needs:
            raise ConfigError(f"part {by.name!r} of {p.experiment.name} reads part {name!r} without "
                              f"declaring it (Part.needs)")
        if name not in results:
            part = _part(p, name)
            key = part_key(p, name, seed)
            saved = cache.load(name, seed, key)
            if saved is not None:
                log(f"{p.experiment.name}: part {name}, seed {seed}: reused {cache.path(name, seed)}")
                results[name] = saved["result"]
            else:
                t0 = time.perf_counter()
                plot_dir = out if len(p.seeds) == 1 else out / f"seed-{seed}"
                plot_dir.mkdir(parents=True, exist_ok=True)
                ctx = PartContext(out, seed, progress, log, lambda n, part=part: need(n, part), plot_dir)
                setup = p.setup if part.reads is None else part.reads(p.setup)
                results[name] = jsonable(part.run(setup, seed, ctx))  # raises -> nothing saved
                timings[f"{name}/seed-{seed}"] = time.perf_counter() - t0
                cache.store(name, seed, key, results[name])
                log(f"{p.experiment.name}: part {name}, seed {seed}: done in "
                    f"{timings[f'{name}/seed-{seed}']:.1f} s")
        return results[name]

    for name in p.selected:
        need(name)
    return jsonable(p.experiment.assemble(p.setup, results, seed))


def run(experiment: Experiment, preset: str, out_dir, *, seeds: Sequence[int] = (0,), parts=None,
        resume: bool = False, progress: bool = False, log=None, overrides: Sequence[str] = ()) -> dict:
    """Run ``experiment`` (see the module docstring) on its preset with ``overrides`` (``KEY=VALUE``);
    returns the result written to ``result.json``."""
    p = plan(experiment, preset, seeds, parts, overrides)
    log = log or (lambda msg: print(msg, file=sys.stderr) if progress else None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = PartCache(out, reuse=resume)
    started, timings = time.perf_counter(), {}
    with one_thread(experiment.threads) if experiment.threads else contextlib.nullcontext():
        by_seed = {seed: _run_seed(p, seed, cache, out, progress, log, timings) for seed in p.seeds}
        config = {"preset": preset, **({"set": list(p.overrides)} if p.overrides else {}),
                  **setup_json(p.setup)}
        prov = provenance(_command(p), p.seeds[0], config, seeds=list(p.seeds),
                          wall_s=time.perf_counter() - started, part_seconds=timings, resumed=resume)
    return write_outputs(p, by_seed, prov, out)

