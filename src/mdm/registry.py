"""One registry helper for everything a user may add by name: tasks, model families, schedules,
time and mask samplers, proxies, experiments.

A :class:`Registry` maps names to entries.  Built-in entries may live in modules that register
themselves on import (``lazy={"sudoku": "mdm.tasks.sudoku"}``), so looking a name up imports only
what it needs.  Unknown names raise the registry's :class:`~mdm.errors.MDMError` subclass with the
known names in the message::

    TASKS = Registry("task", DataError)

    @TASKS.register("parity")
    def build(seq_len, seed, **options): ...

    TASKS.get("parity")
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Generic, TypeVar

from mdm.errors import ConfigError, MDMError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> entries, with lazily imported built-ins and one error type for unknown names."""

    def __init__(self, what: str, error: type[MDMError] = ConfigError, *,
                 entries: dict[str, T] | None = None, lazy: dict[str, str] | None = None):
        self.what = what
        self.error = error
        self._entries: dict[str, T] = dict(entries or {})
        self._lazy: dict[str, str] = dict(lazy or {})  # name -> module that registers it on import

    def register(self, name: str, entry: T | None = None):
        """``reg.register("name", entry)``, or as a decorator ``@reg.register("name")``."""
        if not isinstance(name, str) or not name:
            raise self.error(f"a {self.what} name must be a non-empty string, got {name!r}")
        if entry is not None:
            self._entries[name] = entry
            return entry

        def deco(obj: T) -> T:
            self._entries[name] = obj
            return obj

        return deco

    def names(self) -> list[str]:
        return sorted(set(self._entries) | set(self._lazy))

    def get(self, name: str) -> T:
        if name not in self._entries and name in self._lazy:
            importlib.import_module(self._lazy[name])
        if name not in self._entries:
            raise self.error(f"unknown {self.what} {name!r}; known: {', '.join(self.names()) or 'none'}")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        """Every entry, importing lazy built-ins first."""
        return [(name, self.get(name)) for name in self.names()]

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {self.names()})"

