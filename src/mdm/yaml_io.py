"""The one YAML reader for untrusted text (configs, ``--set`` values): safe, bounded, one-line errors.

``yaml.safe_load`` builds no Python objects beyond plain data, but it still (a) expands aliases, so a
``billion laughs`` file of under 1 KB describes billions of nodes that any later walk over the result
(our float normaliser, ``dataclasses.asdict``) visits one by one, (b) accepts any hashable key
(``1: x``, ``null: x``) and crashes on unhashable ones (``? [a]: b``), (c) nests as deep as the
text does, and (d) reads only ``str``, leaving non-UTF-8 bytes to fail elsewhere.  :func:`safe_load`
composes the node graph first and refuses, with a :class:`~mdm.errors.ConfigError`:

* more than :data:`MAX_NODES` nodes once aliases are expanded (a config has about a hundred);
* mappings or sequences nested deeper than :data:`MAX_DEPTH`;
* a mapping key that is not a plain string;
* bytes that are not UTF-8.

Aliases within the budget still work (an anchor for shared settings is ordinary YAML).
"""

from __future__ import annotations

from typing import Any

import yaml

from mdm.errors import ConfigError

__all__ = ["MAX_DEPTH", "MAX_NODES", "safe_load"]

MAX_NODES = 10_000  # nodes after alias expansion
MAX_DEPTH = 32  # nested mappings / sequences

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


def _check_graph(root: yaml.Node, source: str) -> None:
    """Walk the node graph as its expansion would (aliases are shared nodes, visited each time)."""
    count = 0
    stack: list[tuple[yaml.Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ConfigError(f"{source}: YAML expands to more than {MAX_NODES:,} values (aliases "
                              "repeating aliases?); write the values out or use fewer aliases")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}: YAML nested deeper than {MAX_DEPTH} levels; flatten it")
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if not (isinstance(key, yaml.ScalarNode) and key.tag in (_STR, _MERGE)):
                    shown = key.value if isinstance(key, yaml.ScalarNode) else f"a {key.id}"
                    raise ConfigError(f"{source}: mapping key {shown!r} (line {key.start_mark.line + 1}) "
                                      "is not a string; quote it or use a name")
                stack.append((value, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)


def safe_load(text: str | bytes, *, source: str = "YAML") -> Any:
    """Plain data from YAML ``text`` (bytes must be UTF-8), within the limits above.

    ``source`` names the text in the one-line :class:`ConfigError` (a file name, ``--set KEY``).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError(f"{source} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            return None
        _check_graph(node, source)
        loader = yaml.SafeLoader(text)
        try:
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: invalid YAML: {' '.join(str(e).split())}") from None
    except RecursionError:  # a nesting the composer itself cannot follow
        raise ConfigError(f"{source}: YAML nested too deeply; flatten it") from None
