"""Generated bad input for the reliability mechanisms (docs/reliability.md, issue 25).

Each property feeds one class of input to the one mechanism that handles it:

* out-of-range integers -> :mod:`mdm.limits` (CLI argument types, the training config, ``mdm.sample``);
* YAML alias graphs, nesting, non-string keys, bytes -> :func:`mdm.yaml_io.safe_load`;
* output path shapes -> :func:`mdm.paths.check_writable_output`;
* non-finite logits, tiny temperatures and ``top_p`` -> the sampling step's check
  (:meth:`mdm.sampling.distribution.Distribution.prepare`).

The outcome is always either a result or an :class:`mdm.MDMError` with a one-line message: never
another exception, a hang or a wrong answer.  ``FAST`` cases per property by default, ``SLOW`` under
``slow`` (8 properties x 260 = 2,080 cases).
"""

import argparse
import math
import os
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzz_support import fuzz_settings

from mdm.errors import ConfigError, MDMError

FAST, SLOW = 15, 260


def fast_and_slow(make):
    return make(FAST), pytest.mark.slow(make(SLOW))


def one_line(e: BaseException) -> bool:
    return "\n" not in str(e).strip() and len(str(e)) < 2000


# --- integers --------------------------------------------------------------------------------------

HUGE = st.one_of(st.integers(min_value=2**63, max_value=2**200),
                 st.integers(min_value=-(2**200), max_value=-(2**63) - 1))
ANY_INT = st.one_of(HUGE, st.integers(min_value=-(2**70), max_value=2**70))


def _make_int_args(n):
    @fuzz_settings(n)
    @given(value=ANY_INT, which=st.sampled_from(["seed", "steps", "k", "cache_refresh"]))
    def test(value, which):
        from mdm.cli.args import int_at_least, seed_arg, steps_arg
        from mdm.limits import INT64_MAX, MAX_STEPS, SEED_MAX, SEED_MIN

        parse, lo, hi = {"seed": (seed_arg, SEED_MIN, SEED_MAX), "steps": (steps_arg, 1, MAX_STEPS),
                         "k": (int_at_least(1), 1, INT64_MAX),
                         "cache_refresh": (int_at_least(1), 1, INT64_MAX)}[which]
        if lo <= value <= hi:
            assert parse(str(value)) == value
        else:
            with pytest.raises(argparse.ArgumentTypeError):
                parse(str(value))

    return test


test_cli_integers_are_bounded, test_cli_integers_are_bounded_slow = fast_and_slow(_make_int_args)


def _make_config_ints(n):
    @fuzz_settings(n)
    @given(value=ANY_INT, key=st.sampled_from(["seed", "threads", "batch_size", "max_steps", "data.seq_len",
                                               "eval_every", "model.d_model"]))
    def test(value, key):
        from mdm.train import load_config

        try:
            cfg = load_config(None, [f"{key}={value}"])
        except ConfigError as e:
            assert one_line(e)
            return
        assert -(2**63) <= value < 2**63  # accepted: within int64
        if key == "threads":
            assert cfg.threads <= 4 * (os.cpu_count() or 1)

    return test


test_config_integers_are_bounded, test_config_integers_are_bounded_slow = fast_and_slow(_make_config_ints)


def _make_sample_seed(n):
    @fuzz_settings(n)
    @given(seed=ANY_INT)
    def test(seed):
        import mdm
        from mdm.languages import NGram

        den = NGram.random(3, seed=0).denoiser()
        try:
            out = mdm.sample(den, length=2, seed=seed)
        except MDMError as e:
            assert not -(2**63) <= seed < 2**64 and one_line(e)
            return
        assert out.tokens.shape == (1, 2)

    return test


test_sample_seed_is_bounded, test_sample_seed_is_bounded_slow = fast_and_slow(_make_sample_seed)


# --- YAML ------------------------------------------------------------------------------------------

@st.composite
def alias_graphs(draw):
    """A chain of anchors, each a list of ``fan`` aliases of the previous: ``fan ** depth`` leaves."""
    depth, fan = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    lines = ["a0: &a0 [x, y]"]
    for i in range(1, depth + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]")
    return "\n".join(lines) + "\n", depth, fan


def _expanded(depth: int, fan: int) -> int:
    """Nodes after expansion: the mapping, its keys, and each anchor's expanded size."""
    size, total = 3, 1 + 3  # a0: a list of two scalars
    for _ in range(depth):
        size = 1 + fan * size
        total += size
    return total + depth + 1  # the keys


def _make_alias(n):
    @fuzz_settings(n)
    @given(graph=alias_graphs())
    def test(graph):
        from mdm.yaml_io import MAX_NODES, safe_load

        text, depth, fan = graph
        if _expanded(depth, fan) > MAX_NODES:
            with pytest.raises(ConfigError, match="expands to more than"):
                safe_load(text, source="t.yaml")
        else:
            assert safe_load(text, source="t.yaml") == yaml.safe_load(text)

    return test


test_yaml_alias_graphs, test_yaml_alias_graphs_slow = fast_and_slow(_make_alias)


KEYS = st.one_of(st.text(min_size=1, max_size=5, alphabet="abcxyz_"), st.integers(-3, 3), st.booleans(),
                 st.none(), st.floats(allow_nan=False, allow_infinity=False))


@st.composite
def nested_docs(draw):
    """A YAML document nesting ``depth`` mappings / lists, with keys of any scalar type."""
    depth = draw(st.integers(0, 60))
    node = draw(st.sampled_from(["1", "x", "1.5e-3", "[]", "{}"]))
    bad_key = False
    for _ in range(depth):
        if draw(st.booleans()):
            node = f"[{node}]"
        else:
            key = draw(KEYS)
            bad_key |= not isinstance(key, str) or key in ("y", "n", "yes", "no", "on", "off", "null")
            node = "{" + f"{yaml.safe_dump(key).strip().removesuffix('...').strip()}: {node}" + "}"
    return node, depth, bad_key


def _make_nested(n):
    @fuzz_settings(n)
    @given(doc=nested_docs())
    def test(doc):
        from mdm.yaml_io import MAX_DEPTH, safe_load

        text, depth, bad_key = doc
        try:
            got = safe_load(text, source="t.yaml")
        except ConfigError as e:
            assert one_line(e)
            assert depth > MAX_DEPTH or bad_key or "not a string" in str(e)
            return
        assert depth <= MAX_DEPTH and got == yaml.safe_load(text)

    return test


test_yaml_nesting_and_keys, test_yaml_nesting_and_keys_slow = fast_and_slow(_make_nested)


def _make_bytes(n):
    @fuzz_settings(n)
    @given(data=st.binary(max_size=64))
    def test(data):
        from mdm.yaml_io import safe_load

        try:
            safe_load(data, source="t.yaml")
        except ConfigError as e:
            assert one_line(e)

    return test


test_yaml_arbitrary_bytes, test_yaml_arbitrary_bytes_slow = fast_and_slow(_make_bytes)


# --- output paths ----------------------------------------------------------------------------------

PARTS = st.sampled_from(["", ".", "..", "out", "run", "checkpoint", "ck", "f.txt", "x" * 300, "sub", "/proc",
                         "/sys/x", "new", "hf"])


@pytest.fixture(scope="module")
def path_world(tmp_path_factory):
    """A folder with a checkpoint (``run/checkpoint``), a file and a plain folder."""
    from mdm.models.transformer import TransformerConfig, TransformerDenoiser
    from mdm.tokenizers import CharTokenizer
    from mdm.train import checkpoint

    root = tmp_path_factory.mktemp("paths")
    tok = CharTokenizer("ab")
    model = TransformerDenoiser(TransformerConfig(vocab_size=tok.vocab_size, mask_id=tok.mask_id, d_model=8,
                                                  n_layers=1, n_heads=2, max_len=4))
    checkpoint.save(root / "run" / "checkpoint", model, tok)
    (root / "out").mkdir()
    (root / "f.txt").write_text("x")
    return root


def _make_paths(n):
    @fuzz_settings(n)
    @given(parts=st.lists(PARTS, min_size=0, max_size=4), kind=st.sampled_from(["dir", "file"]),
           run_folder=st.booleans())
    def test(parts, kind, run_folder, path_world):
        from mdm.paths import check_writable_output, is_checkpoint_dir

        if not parts or parts == [""]:
            text = ""
        elif parts[0].startswith("/"):
            text = str(Path(*parts))
        else:
            text = str(path_world.joinpath(*parts))
        before = sorted(str(p) for p in path_world.rglob("*"))
        try:
            p = check_writable_output(text, kind=kind, flag="--out", run_folder=run_folder)
        except ConfigError as e:
            assert one_line(e)
        else:  # accepted: not inside a checkpoint, not a kernel folder, names within limits
            full = Path(os.path.abspath(p)).resolve()
            assert not any(is_checkpoint_dir(q) for q in (full, *full.parents))
            assert not str(full).startswith(("/proc", "/sys")) and all(len(x) <= 255 for x in full.parts)
            if kind == "dir" and not run_folder and full.is_dir():
                assert not (full / "checkpoint").is_dir() and not (full / "run").is_dir()
        assert sorted(str(p) for p in path_world.rglob("*")) == before  # nothing created

    return test


test_output_path_shapes, test_output_path_shapes_slow = fast_and_slow(_make_paths)


# --- logits ----------------------------------------------------------------------------------------

SPECIAL = st.sampled_from([math.nan, math.inf, -math.inf, 3e38, -3e38, 0.0, 1.0])


@st.composite
def logits_cases(draw):
    n, v = draw(st.integers(1, 4)), draw(st.integers(2, 6))
    base = torch.randn(n, v, generator=torch.Generator().manual_seed(draw(st.integers(0, 2**16))))
    for _ in range(draw(st.integers(0, 4))):
        base[draw(st.integers(0, n - 1)), draw(st.integers(0, v - 1))] = draw(SPECIAL)
    if draw(st.booleans()):  # a whole row of one special value
        base[draw(st.integers(0, n - 1))] = draw(SPECIAL)
    temperature = draw(st.sampled_from([0.0, 1.0, 1e-30, 1e-40, 1e-300, 5e-324]))
    top_p = draw(st.sampled_from([1.0, 0.5, 1e-30, 1e-46, 5e-324]))
    return base, temperature, top_p


def _make_logits(n):
    @fuzz_settings(n)
    @given(case=logits_cases(), dtype=st.sampled_from([torch.float32, torch.float64]))
    def test(case, dtype):
        from mdm.sampling.distribution import Distribution, NonFiniteLogitsError

        raw, temperature, top_p = case
        raw = raw.to(dtype)
        mask_id = raw.shape[1] - 1
        usable = raw[:, :mask_id]
        bad = usable.isnan().any(1) | (usable == math.inf).any(1) | (usable == -math.inf).all(1)
        positions = torch.ones(1, raw.shape[0], dtype=torch.bool)
        try:
            dist = Distribution.prepare(raw.clone(), mask_id=mask_id, temperature=temperature, top_p=top_p,
                                        where=(7, 2, positions))
        except NonFiniteLogitsError as e:
            first = int(bad.nonzero()[0])
            assert bool(bad.any()) and f"step 7, sequence 0, position {2 + first}" in str(e) and one_line(e)
            return
        assert not bool(bad.any())
        draw = dist.draw(torch.Generator().manual_seed(0))
        probs = dist.value_probs()
        assert bool(torch.isfinite(probs).all()) and torch.allclose(probs.sum(-1), probs.new_ones(()))
        assert bool((draw != mask_id).all())
        argmax = usable.argmax(1)
        if temperature == 0 or (temperature < 1e-37 and dtype == torch.float32) or temperature < 1e-307:
            top = usable.max(1, keepdim=True).values
            ties = (usable == top).sum(1)
            # the limit of a tiny temperature is the argmax (one of the tied maxima)
            chosen = usable.gather(1, draw.unsqueeze(1)).squeeze(1)
            assert bool((chosen == top.squeeze(1)).all()), (usable, draw)
            assert bool(((ties > 1) | (draw == argmax)).all())
        if top_p < 1e-20:  # the most likely token is always kept
            assert bool((usable.gather(1, draw.unsqueeze(1)).squeeze(1) == usable.max(1).values).all())

    return test


test_non_finite_logits, test_non_finite_logits_slow = fast_and_slow(_make_logits)
