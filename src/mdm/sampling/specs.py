"""Unmaskers by name: one spec grammar for the CLI, the demo, the experiments and the tuner.

Like :func:`mdm.schedules.from_spec` for schedules, a string names an unmasker and its settings::

    SPEC   :=  NAME [ ":" ARGS ]
    ARGS   :=  ( VALUE | KEY=VALUE ) ( "," KEY=VALUE )*

    ancestral:steps=64                      scheduled:steps=64,schedule=beta:0.9,0.3,proxy=margin
    topk:2   (= topk:k=2)                   eb:gamma=0.1,proxy=margin
    threshold:0.9  (= threshold:tau=0.9)    remdm:steps=128,eta=0.05,strategy=rescale,loop_t=0.6,0.4

Only the first argument may be positional (it sets the unmasker's first parameter).  A value may
itself hold commas -- a schedule spec (``schedule=beta:0.9,0.3``) or a pair (``loop_t=0.6,0.4``):
a comma-separated piece without ``=`` continues the value before it, so these need no quoting
and may stand anywhere in the list.  Keys are the unmasker's constructor arguments; omitted ones
take the defaults of :data:`UNMASKERS` (``eb`` without ``gamma`` is ``gamma=0.1``, ...).  A
``steps`` left out is filled from ``length`` when the caller gives one (``ancestral`` and
``scheduled``: ``length`` steps; ``remdm``: ``2 * length``), as ``mdm sample`` does.

:func:`to_spec` writes the canonical spec back (``key=value`` throughout, defaults omitted):
``from_spec(to_spec(u)) == u``.  A new unmasker becomes available by name with
``UNMASKERS.register("name", UnmaskerForm(MyUnmasker, (Param("k", INT), ...), "summary"))``.
:class:`~mdm.order.LearnedOrder` has no spec form: its weights are a tensor, not a string.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mdm import schedules
from mdm.errors import MDMError, SamplingError
from mdm.registry import Registry
from mdm.sampling.proxies import PROXIES, Proxy, get_proxy
from mdm.sampling.remask import STRATEGIES, ReMDM
from mdm.sampling.unmaskers import Ancestral, EntropyBounded, Scheduled, Threshold, TopK, Unmasker

__all__ = ["FLOAT", "FLOAT_PAIR", "INT", "PROXY", "SCHEDULE", "UNMASKERS", "Param", "UnmaskerForm",
           "build", "from_spec", "parse_spec", "to_spec"]


@dataclass(frozen=True)
class Kind:
    """How one parameter's value reads from and writes to a spec string."""

    parse: Callable[[str], Any]
    format: Callable[[Any], str]
    example: str


def _parse_int(s: str) -> int:
    return int(s.strip())


def _parse_float(s: str) -> float:
    v = float(s)
    if not math.isfinite(v):
        raise ValueError(f"{s!r} is not a finite number")
    return v


def _parse_pair(s: str) -> tuple[float, float]:
    parts = s.split(",")
    if len(parts) != 2:
        raise ValueError(f"{s!r} is not two numbers A,B")
    return (_parse_float(parts[0]), _parse_float(parts[1]))


def _format_proxy(p) -> str:
    for name, cls in PROXIES.items():
        if type(p) is cls:
            return name
    raise SamplingError(f"proxy {p!r} has no name: register it with mdm.sampling.PROXIES.register(name, cls)")


INT = Kind(_parse_int, str, "4")
FLOAT = Kind(_parse_float, lambda v: repr(float(v)), "0.1")
FLOAT_PAIR = Kind(_parse_pair, lambda v: f"{float(v[0])!r},{float(v[1])!r}", "0.6,0.4")
SCHEDULE = Kind(schedules.from_spec, schedules.to_spec, "beta:0.9,0.3")
PROXY = Kind(str.strip, _format_proxy, "confidence")
STR = Kind(str.strip, str, "name")


class _Required:
    def __repr__(self) -> str:
        return "<required>"


_REQUIRED: Any = _Required()  # a key with no default


@dataclass(frozen=True)
class Param:
    """One constructor argument settable from a spec.  ``default``: the spec's default when the key
    is left out (unset: the class's own default, or required); ``per_length``: the default computed
    from the generated length when the caller passes one (``steps`` of ancestral is ``length``)."""

    name: str
    kind: Kind
    default: Any = _REQUIRED
    per_length: Callable[[int], Any] | None = None


@dataclass(frozen=True)
class UnmaskerForm:
    """How a name builds its unmasker: the class, its spec parameters (the first may be given
    positionally) and a one-line summary for ``--help``."""

    cls: Callable[..., Unmasker]
    params: tuple[Param, ...]
    summary: str

    def param(self, key: str, spec: str) -> Param:
        for p in self.params:
            if p.name == key:
                return p
        raise SamplingError(f"unmasker spec {spec!r}: unknown key {key!r}; it takes {self.keys()}")

    def keys(self) -> str:
        return ", ".join(p.name for p in self.params) or "no arguments"

    def default(self, p: Param) -> Any:
        """The value a left-out key takes (``_REQUIRED`` when there is none)."""
        if p.default is not _REQUIRED:
            return p.default
        for f in dataclasses.fields(self.cls) if dataclasses.is_dataclass(self.cls) else ():
            if f.name == p.name and f.default is not dataclasses.MISSING:
                return f.default
        return _REQUIRED


_STEPS = Param("steps", INT, per_length=lambda n: n)
_PROXY = Param("proxy", PROXY)

# name -> how to build it.  Defaults here are the CLI's (eb gamma 0.1, threshold tau 0.9, remdm eta
# 0.02 and steps 2 x length) so that `--unmasker eb` and from_spec("eb") are the same sampler.
UNMASKERS: Registry[UnmaskerForm] = Registry("unmasker", SamplingError, entries={
    "ancestral": UnmaskerForm(Ancestral, (_STEPS, Param("schedule", SCHEDULE)),
                              "exact reverse process on STEPS grid steps (default: length)"),
    "scheduled": UnmaskerForm(Scheduled, (_STEPS, Param("schedule", SCHEDULE), _PROXY),
                              "unmask_counts(schedule) best-ranked positions per step (LLaDA)"),
    "topk": UnmaskerForm(TopK, (Param("k", INT), _PROXY), "k best-ranked positions per step (default 1)"),
    "eb": UnmaskerForm(EntropyBounded, (Param("gamma", FLOAT, 0.1), _PROXY),
                       "EB-sampler: largest prefix with sum H - max H <= gamma (default 0.1)"),
    "threshold": UnmaskerForm(Threshold, (Param("tau", FLOAT, 0.9), _PROXY),
                              "every position whose proxy score exceeds tau (default 0.9), at least one"),
    "remdm": UnmaskerForm(ReMDM, (Param("steps", INT, per_length=lambda n: 2 * n), Param("eta", FLOAT),
                                  Param("schedule", SCHEDULE), Param("strategy", STR),
                                  Param("loop_t", FLOAT_PAIR), Param("alpha_on", FLOAT)),
                          "ReMDM remasking: steps (default 2 x length), eta (default 0.02), strategy "
                          f"({'/'.join(STRATEGIES)})"),
})


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"NAME:ARGS"`` -> ``(NAME, {key: raw value})`` (the positional first argument under its
    parameter's name); checks the grammar, the name and the keys, not the values."""
    if not isinstance(spec, str) or not spec.strip():
        raise SamplingError(f"an unmasker spec is a string such as 'eb:gamma=0.1', got {spec!r}; "
                            f"known unmaskers: {', '.join(UNMASKERS.names())}")
    name, colon, rest = spec.strip().partition(":")
    form = UNMASKERS.get(name.strip())
    pieces = [s.strip() for s in rest.split(",")] if colon else []
    if colon and not rest.strip():
        raise SamplingError(f"unmasker spec {spec!r}: nothing after ':' (write {name} alone, or key=value)")
    items: list[list[str]] = []  # [key, value]; a piece without '=' continues the previous value
    for i, piece in enumerate(pieces):
        key, eq, value = piece.partition("=")
        if eq:
            items.append([key.strip(), value.strip()])
        elif i == 0:
            if not form.params:
                raise SamplingError(f"unmasker spec {spec!r}: {name} takes no arguments")
            items.append([form.params[0].name, piece])
        else:
            items[-1][1] += "," + piece
    raw: dict[str, str] = {}
    for key, value in items:
        form.param(key, spec)
        if key in raw:
            raise SamplingError(f"unmasker spec {spec!r}: {key} given twice")
        if not value:
            raise SamplingError(f"unmasker spec {spec!r}: {key}= has no value")
        raw[key] = value
    return name.strip(), raw


def build(name: str, values: Mapping[str, Any], *, length: int | None = None) -> Unmasker:
    """The unmasker ``name`` with the already-parsed ``values`` (keys of its :class:`UnmaskerForm`),
    the rest from its defaults (``length``-based ones when ``length`` is given)."""
    form = UNMASKERS.get(name)
    kwargs = {}
    for p in form.params:
        if p.name in values:
            kwargs[p.name] = values[p.name]
        elif p.per_length is not None and length is not None:
            kwargs[p.name] = p.per_length(length)
        elif p.default is not _REQUIRED:
            kwargs[p.name] = p.default
        elif form.default(p) is _REQUIRED:
            raise SamplingError(f"unmasker {name!r} needs {p.name}: e.g. {name}:{p.name}={p.kind.example}")
    unknown = set(values) - {p.name for p in form.params}
    if unknown:
        raise SamplingError(
            f"unmasker {name!r} has no setting {sorted(unknown)[0]!r}; it takes {form.keys()}")
    return form.cls(**kwargs)


def from_spec(spec: str | Unmasker, *, length: int | None = None, **settings: Any) -> Unmasker:
    """An unmasker from its spec (grammar in the module docstring); an :class:`Unmasker` passes
    through.  ``length``: the generated length, for the length-based defaults of ``steps``.
    ``settings``: more keys as Python values (``from_spec("eb", gamma=0.5)``; a key set in both
    places is an error).  Bad names, keys or values raise :class:`~mdm.errors.SamplingError`
    naming the valid ones."""
    if isinstance(spec, Unmasker):
        if settings:
            raise SamplingError(f"settings {sorted(settings)} apply to a spec string, not to {spec!r}")
        return spec
    name, raw = parse_spec(spec)
    form = UNMASKERS.get(name)
    both = sorted(set(raw) & set(settings))
    if both:
        raise SamplingError(f"unmasker spec {spec!r}: {both[0]} is set both in the spec and as a keyword")
    values = dict(settings)
    for key, text in raw.items():
        p = form.param(key, spec)
        try:
            values[key] = p.kind.parse(text)
        except (ValueError, MDMError) as e:
            raise SamplingError(f"unmasker spec {spec!r}: bad {key}={text!r} ({e}); e.g. "
                                f"{key}={p.kind.example}") from None
    return build(name, values, length=length)


def to_spec(unmasker: Unmasker) -> str:
    """The canonical spec of a registered unmasker (inverse of :func:`from_spec`): ``key=value``
    for every setting that differs from its default."""
    for name, form in UNMASKERS.items():
        if type(unmasker) is not form.cls:
            continue
        args = []
        for p in form.params:
            value = getattr(unmasker, p.name)
            default = form.default(p)
            if isinstance(default, str) and isinstance(value, Proxy):
                default = get_proxy(default)
            if default is _REQUIRED or p.per_length is not None or value != default:
                args.append(f"{p.name}={p.kind.format(value)}")
        return name + (":" + ",".join(args) if args else "")
    raise SamplingError(f"{type(unmasker).__name__} has no spec: register it in mdm.sampling.UNMASKERS "
                        f"(known: {', '.join(UNMASKERS.names())})")

