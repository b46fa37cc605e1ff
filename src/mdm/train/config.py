"""Typed training configuration, loadable from YAML with ``key=value`` overrides.

    cfg = load_config("kjv-char-tiny", ["optim.lr=3e-4", "model.n_layers=6"])

``load_config`` takes a YAML path, the name of a config shipped in ``mdm/configs/`` (without
``.yaml``), a nested dict or ``None`` (all defaults).  Overrides use dotted keys; values are parsed
as YAML scalars and checked against the field's type.  An unknown key or a badly typed value raises
:class:`~mdm.errors.ConfigError` naming the valid keys.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mdm.errors import ConfigError
from mdm.train.config_checks import validate
from mdm.train.families import train_config_class
from mdm.train.objective import loss_section_class, upgrade_config
from mdm.yaml_io import safe_load

__all__ = [
    "ModelConfig",
    "DataConfig",
    "OptimConfig",
    "LossConfig",
    "TrainConfig",
    "coerce_value",
    "load_config",
    "parse_value",
    "valid_keys",
    "packaged_configs",
]


# The sections whose keys depend on a name in them: ``model`` on ``model.family`` (the family's own
# config class, :mod:`mdm.train.families`), ``loss`` on ``loss.kind`` (the objective's ``Config``,
# :mod:`mdm.train.objective`).  These two are the defaults' classes: the transformer and the NELBO.
ModelConfig = train_config_class("transformer")
LossConfig = loss_section_class("nelbo")


@dataclass
class DataConfig:
    """Which task builds the data (see :func:`mdm.tasks.base.build_task`).

    ``corpus``, ``tokenizer``, ``val_fraction`` and ``max_chars`` are the options of the built-in
    ``text`` task; any other task receives ``options`` (plus ``seq_len`` and the run's seed).
    """

    task: str = "text"
    seq_len: int = 128
    corpus: str = "kjv"
    tokenizer: str = "char"
    val_fraction: float = 0.05
    max_chars: int | None = None
    options: dict = field(default_factory=dict)


@dataclass
class OptimConfig:
    """AdamW with linear warmup then cosine decay to ``lr * min_lr_ratio`` at ``max_steps``."""

    lr: float = 1e-3
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.99
    eps: float = 1e-8
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping


@dataclass
class TrainConfig:
    """Everything a run needs.  The global batch is ``batch_size * world_size * grad_accum``.

    ``model``: ``family`` and that family's keys; ``loss``: ``kind`` (the training objective, see
    :mod:`mdm.train.objective`; default ``nelbo``) and that objective's keys.

    ``precision``: ``auto`` (bf16 autocast where the device has native bf16, else fp32; see
    :func:`mdm.train.precision.resolve_precision`), ``fp32`` or ``bf16``.  ``ema``: EMA decay of the weights
    (0 disables; checkpoints then carry no EMA).  ``eval_every`` / ``save_every``: in optimizer steps
    (0 = only at the end).  ``stop_after``: end this invocation after that many total steps with a
    checkpoint, as if interrupted (resume continues to ``max_steps``).  ``max_nonfinite_steps``: a step
    with a NaN/inf loss or gradient is skipped; this many in a row stop the run
    (:mod:`mdm.train.nonfinite`).  ``distributed``: ``ddp`` or
    ``fsdp``, used when launched by torchrun with more than one process.  ``device``: ``auto``, ``cpu``
    or ``cuda``.  ``compile``: compile the transformer trunk of the training step
    (:mod:`mdm.train.compiled`).  ``threads``: torch's intra-op threads: an integer, ``auto`` (the
    idle cores, chosen once when the run starts: :func:`mdm.train.threads.auto_threads`) or
    ``None`` (torch's default).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    seed: int = 0
    batch_size: int = 32
    grad_accum: int = 1
    max_steps: int = 1000
    precision: str = "auto"
    ema: float = 0.0
    eval_every: int = 250
    eval_batches: int = 4
    eval_samples: int = 2
    log_every: int = 10
    save_every: int = 0
    stop_after: int | None = None
    max_nonfinite_steps: int = 10
    distributed: str = "ddp"
    device: str = "auto"
    threads: int | str | None = None
    compile: bool = False
    out_dir: str = "runs/default"

    def __post_init__(self):
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        return load_config(d)


# --- building a config from dicts, with type checks -------------------------------------------------


def valid_keys(cls: type = TrainConfig, prefix: str = "") -> list[str]:
    """Every dotted key a config accepts, e.g. ``optim.lr``."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            keys.extend(valid_keys(tp, f"{prefix}{f.name}."))
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def coerce_value(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (int, float, bool, str, dict, tuple, X | Y | None);
    ConfigError naming ``key`` if it does not fit."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return coerce_value(value, inner[0], key)
        for member in inner:  # the first member that takes the value (int | str: 2 is an int)
            try:
                return coerce_value(value, member, key)
            except ConfigError:
                pass
        names = [getattr(a, "__name__", str(a)) for a in inner] + ["null"] * (len(args) > len(inner))
        raise ConfigError(f"{key} must be {' or '.join(names)}, got {value!r} ({type(value).__name__})")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _is_float_literal(value):  # YAML 1.1 reads [3e-4] as a string
            return float(value)
    elif tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif tp is dict or origin is dict:
        if isinstance(value, dict):
            return dict(value)
    elif origin is tuple:  # tuple[X, ...] or tuple[X, Y]: from a YAML list
        args = typing.get_args(tp)
        if isinstance(value, (list, tuple)):
            types_ = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
            if len(value) == len(types_):
                return tuple(coerce_value(v, t, f"{key}[{i}]") for i, (v, t) in enumerate(zip(value, types_)))
    else:  # pragma: no cover - a field type this module does not know
        raise ConfigError(f"{key}: unsupported field type {tp!r}")
    name = str(tp) if typing.get_args(tp) else getattr(tp, "__name__", str(tp))
    raise ConfigError(f"{key} must be {name}, got {value!r} ({type(value).__name__})")


def _build(cls: type, d: dict, prefix: str = "") -> Any:
    if not isinstance(d, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {type(d).__name__}")
    if cls is TrainConfig:
        d = upgrade_config(d)  # a loss section without kind: configs written before objectives
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {[prefix + k for k in unknown]}; "
            f"valid keys: {', '.join(valid_keys(cls, prefix) if prefix else valid_keys(TrainConfig))}"
        )
    kwargs = {}
    for name, value in d.items():
        tp = hints[name]
        if cls is TrainConfig and name == "model":
            tp = _model_section_class(value)
        elif cls is TrainConfig and name == "loss":
            tp = _loss_section_class(value)
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value if value is not None else {}, f"{prefix}{name}.")
        else:
            kwargs[name] = coerce_value(value, tp, prefix + name)
    return cls(**kwargs)


def _model_section_class(section: Any) -> type:
    """The dataclass of a ``model`` section: the one its ``family`` (default transformer) registered."""
    family = section.get("family", "transformer") if isinstance(section, dict) else "transformer"
    if not isinstance(family, str):
        raise ConfigError(f"model.family must be a string naming a model family, got {family!r}")
    return train_config_class(family)


def _loss_section_class(section: Any) -> type:
    """The dataclass of a ``loss`` section: its objective's (``kind``, given by :func:`upgrade_config`)."""
    kind = section.get("kind") if isinstance(section, dict) else "nelbo"
    if not isinstance(kind, str):
        raise ConfigError(f"loss.kind must be a string naming an objective, got {kind!r}")
    return loss_section_class(kind)


def _set_dotted(d: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = d
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {key}: {p} is not a section")
    node[parts[-1]] = value


def _check_override_key(key: str) -> None:
    keys = valid_keys(TrainConfig)
    if key in keys:
        return
    # a dict-valued field takes free sub-keys: data.options.n_train=100
    if any(key.startswith(k + ".") and k.endswith("options") for k in keys):
        return
    if key.startswith(("model.", "loss.")):  # checked when built, against its family's / objective's keys
        return
    raise ConfigError(f"unknown config key {key!r}; valid keys: {', '.join(keys)}")


def parse_override(text: str) -> tuple[str, Any]:
    """``"optim.lr=3e-4"`` -> ``("optim.lr", 0.0003)`` (the value parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value, e.g. optim.lr=3e-4")
    key, raw = text.split("=", 1)
    key = key.strip()
    _check_override_key(key)
    return key, parse_value(raw, f"override {text!r}")


def parse_value(raw: str, what: str) -> Any:
    """The value of a ``key=value`` override, parsed as YAML (``3e-4`` a number, empty: ``""``);
    ``what`` names it in the error."""
    try:
        value = safe_load(raw, source=what) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"{what}: value is not valid YAML: {e}") from e
    if isinstance(value, str) and _is_float_literal(value):
        value = float(value)  # YAML 1.1 reads "3e-4" as a string; people mean a number
    return value


def _is_float_literal(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return s.strip().lower() not in ("nan", "inf", "-inf", "+inf", "infinity")


def packaged_configs() -> list[str]:
    """Names of the configs shipped in ``mdm/configs/``."""
    root = resources.files("mdm") / "configs"
    if not root.is_dir():
        return []
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def _read_yaml(source: str | Path) -> dict:
    path = Path(source)
    if not path.is_file():
        packaged = resources.files("mdm") / "configs" / f"{source}.yaml"
        if isinstance(source, str) and packaged.is_file():
            text = packaged.read_text(encoding="utf-8")
        else:
            raise ConfigError(
                f"config {str(source)!r} is neither a YAML file nor a packaged config; "
                f"packaged configs: {packaged_configs()}"
            )
    else:
        text = path.read_bytes()  # mdm.yaml_io.safe_load decodes it (non-UTF-8: one-line error)
    try:
        d = safe_load(text, source=f"config {source}")
    except yaml.YAMLError as e:
        raise ConfigError(f"config {source}: invalid YAML: {e}") from e
    return {} if d is None else d


def _normalise_floats(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _normalise_floats(v) for k, v in d.items()}
    if isinstance(d, str) and _is_float_literal(d) and any(c in d.lower() for c in ".e"):
        return float(d)
    return d


def load_config(
    source: str | Path | dict | TrainConfig | None = None, overrides: list[str] | None = None
) -> TrainConfig:
    """A :class:`TrainConfig` from a YAML path / packaged config name / dict, then ``key=value`` overrides."""
    if isinstance(source, TrainConfig):
        base = source.to_dict()
    elif isinstance(source, dict):
        _build(TrainConfig, source)  # validates keys before overriding
        base = copy.deepcopy(source)
    elif source is None:
        base = {}
    else:
        base = _read_yaml(source)
    base = _normalise_floats(base)
    if not isinstance(base, dict):
        raise ConfigError(f"config {source} must be a mapping at top level")
    for text in overrides or []:
        key, value = parse_override(text)
        _set_dotted(base, key, value)
    return _build(TrainConfig, base)
