"""``mdm exp NAME --set KEY=VALUE``: a preset's setup with fields replaced, typed by the dataclass.

``KEY`` is a field of the preset's setup (a frozen dataclass), dotted into nested setups
(``train.max_steps=200``) and, by index, into a tuple of setups (``calibration.1.instances=64``);
``VALUE`` is YAML (``0.5``, ``[4, 8]``, ``null``, ``linear``), checked against the field's annotation
by :func:`mdm.train.config.coerce_value`, the check of ``mdm train``'s overrides.  The setup's own
validation runs again (:func:`dataclasses.replace`).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from typing import Any

from mdm.errors import ConfigError

__all__ = ["apply_overrides"]


def apply_overrides(setup: Any, assignments: Sequence[str]) -> Any:
    """``setup`` with each ``KEY=VALUE`` of ``assignments`` applied in order; ConfigError on an
    unknown key, a value of the wrong type or a setup that is not a dataclass."""
    for text in assignments:
        key, sep, raw = str(text).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {text!r} must look like KEY=VALUE, e.g. --set samples=64")
        setup = _replace(setup, key.split("."), _config().parse_value(raw, f"--set {key}"), key)
    return setup


def _replace(obj: Any, path: list[str], value: Any, key: str) -> Any:
    where = key[: len(key) - len(".".join(path))].rstrip(".") or "the preset's setup"
    if isinstance(obj, tuple) and obj and dataclasses.is_dataclass(obj[0]):  # a tuple of setups
        if not path[0].isdigit() or int(path[0]) >= len(obj) or len(path) == 1:
            raise ConfigError(f"--set {key}: {where} holds {len(obj)} setups; set a field of one by its "
                              f"index, e.g. {where}.0.{dataclasses.fields(obj[0])[0].name}=...")
        i = int(path[0])
        return (*obj[:i], _replace(obj[i], path[1:], value, key), *obj[i + 1:])
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise ConfigError(f"--set {key}: {where} is {obj!r}, not a setup with fields")
    names = [f.name for f in dataclasses.fields(obj)]
    if path[0] not in names:
        raise ConfigError(f"--set {key}: {where} has no field {path[0]!r}; its fields: {', '.join(names)}")
    current, hint = getattr(obj, path[0]), typing.get_type_hints(type(obj))[path[0]]
    section = any(dataclasses.is_dataclass(t) for t in (hint, *typing.get_args(hint)))
    if len(path) > 1:
        new = _replace(current, path[1:], value, key)
    elif section and value is None and type(None) in typing.get_args(hint):
        new = None
    elif section:
        index = "INDEX." if isinstance(current, tuple) else ""
        raise ConfigError(f"--set {key}: {key} is a setup, not a value; set its fields "
                          f"({key}.{index}FIELD=VALUE)")
    else:
        new = _config().coerce_value(value, hint, f"--set {key}")
    return dataclasses.replace(obj, **{path[0]: new})


def _config():
    """:mod:`mdm.train.config`, imported when an override is applied: the runner is imported by
    every ``mdm`` command (``mdm exp``'s parser), and ``mdm sample``/``eval``/``export`` must not
    load the trainer."""
    from mdm.train import config

    return config
