"""Fuzzed training configs -- YAML files and --set overrides with wrong types, unknown keys, out-of-range
numbers and unicode -- through `mdm train` in this process: one `mdm: error:` line, exit 2, nothing
written.  Each case starts from a tiny valid config (1 step, so a mistake that slipped through would
show up as a written run folder at little cost) and makes at least one certain mistake."""

import math
import tempfile
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from fuzz_support import assert_one_line_error, fast_and_slow, fuzz_settings, run_cli, snapshot

BASE = {
    "model": {"d_model": 16, "n_layers": 1, "n_heads": 2},
    "data": {"task": "text", "corpus": "kjv", "tokenizer": "char", "seq_len": 16, "max_chars": 4000},
    "optim": {"warmup_steps": 1}, "batch_size": 2, "max_steps": 1, "precision": "fp32", "eval_every": 0,
    "eval_batches": 1, "eval_samples": 1, "threads": 1,
}
NAN, INF = math.nan, math.inf
# Values each key must refuse (the documented ranges of TrainConfig / ModelConfig / OptimConfig).
OUT_OF_RANGE = {
    **{k: [0, -1, -10**12] for k in ("batch_size", "grad_accum", "max_steps", "eval_batches", "eval_samples",
                                    "log_every", "data.seq_len", "max_nonfinite_steps", "model.d_model",
                                    "model.n_layers", "model.n_heads", "stop_after", "threads",
                                    "data.max_chars", "model.d_ff")},
    **{k: [-1, -10**12] for k in ("eval_every", "save_every", "optim.warmup_steps")},
    "ema": [-0.1, 1.0, 2.5, NAN, INF],
    "optim.lr": [0.0, -1e-3, NAN, INF, -INF],
    "optim.grad_clip": [-1.0, NAN, -INF],
    "optim.min_lr_ratio": [-0.1, 1.5, NAN],
    "optim.beta1": [-0.1, 1.0, 7.0, NAN], "optim.beta2": [-0.5, 1.0, INF],
    "optim.eps": [-1e-8, NAN, INF], "optim.weight_decay": [-0.1, NAN, INF],
    "model.dropout": [-0.1, 1.0, 3.0, NAN],
    "loss.t_eps": [-0.1, 1.0, 2.0, NAN],
    "data.val_fraction": [0.0, -0.5, 1.0, 1.5, NAN],
    "model.n_heads@": [3, 5, 7],  # must divide d_model = 16
    "precision": ["fp64", "", "BF16 ", "\u00e9"], "device": ["gpu", "cuda:0:1", ""],
    "distributed": ["mpi", ""], "loss.normalize": ["none", ""],
    "loss.schedule": ["beta:0,1", "poly:-1", "nope", "", "loglinear:2"],
    "loss.time_sampler": ["nope", ""], "loss.mask_sampler": ["nope"], "model.family": ["nope", ""],
    "data.task": ["nope", ""], "data.tokenizer": ["nope", ""], "data.corpus": ["no-such-corpus"],
}
INT_KEYS = {k for k, v in OUT_OF_RANGE.items() if isinstance(v[0], int) and "@" not in k} - {
    "ema", "optim.lr"}
FLOAT_KEYS = {"ema", "optim.lr", "optim.grad_clip", "optim.min_lr_ratio", "optim.beta1", "optim.beta2",
              "optim.eps", "optim.weight_decay", "model.dropout", "loss.t_eps", "data.val_fraction"}
STR_KEYS = {"precision", "device", "distributed", "loss.normalize", "loss.schedule", "loss.time_sampler",
            "loss.mask_sampler", "model.family", "data.task", "data.tokenizer", "data.corpus", "out_dir"}
BOOL_KEYS = {"model.time_conditioned", "model.tie_embeddings", "model.learned_positions",
             "loss.masked_logits_only"}
UNICODE = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1,
                  max_size=10)
SCALAR_JUNK = st.one_of(st.lists(st.integers(), min_size=1, max_size=2),
                        st.dictionaries(UNICODE, st.integers(), min_size=1, max_size=2))


def _wrong_type(key):
    """A value of a type ``key`` can never take."""
    options = [SCALAR_JUNK]
    if key in INT_KEYS:
        options += [st.floats(allow_nan=False).filter(lambda f: not f.is_integer()), st.booleans(),
                    UNICODE.filter(lambda s: not _numeric(s) and s != "auto")]  # threads: auto is valid
    if key in FLOAT_KEYS:
        options += [st.booleans(), UNICODE.filter(lambda s: not _numeric(s))]
    if key in STR_KEYS or key in BOOL_KEYS:
        options += [st.booleans()] if key in STR_KEYS else [st.integers(), UNICODE]
    return st.one_of(options)


def _numeric(s):
    try:
        float(s)
        return True
    except ValueError:
        return s.strip().lower() in ("true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "")


@st.composite
def mistakes(draw):
    """(dotted key, value, kind) -- one certain mistake."""
    kind = draw(st.sampled_from(["range", "type", "unknown"]))
    if kind == "range":
        key = draw(st.sampled_from(sorted(OUT_OF_RANGE)))
        return key.rstrip("@"), draw(st.sampled_from(OUT_OF_RANGE[key])), kind
    if kind == "type":
        key = draw(st.sampled_from(sorted(INT_KEYS | FLOAT_KEYS | STR_KEYS | BOOL_KEYS)))
        return key, draw(_wrong_type(key)), kind
    section = draw(st.sampled_from(["", "model.", "data.", "optim.", "loss."]))
    name = draw(UNICODE.filter(lambda s: "." not in s and "=" not in s and s.strip() == s
                               and s not in _known()))
    return section + name, draw(st.one_of(st.integers(), UNICODE, st.none())), kind


def _known():
    from mdm.train import valid_keys

    return {k.split(".")[-1] for k in valid_keys()} | {"options"}


def _set(d, dotted, value):
    parts = dotted.split(".")
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


def _check(argv, root):
    rc, out, err = run_cli(argv, cwd=root)
    assert_one_line_error(rc, err, argv)


def _make_yaml(n):
    @fuzz_settings(n)
    @given(found=st.lists(mistakes(), min_size=1, max_size=3), raw=st.one_of(st.none(), UNICODE))
    def test(found, raw):
        cfg = yaml.safe_load(yaml.safe_dump(BASE))
        for key, value, _ in found:
            _set(cfg, key, value)
        text = yaml.safe_dump(cfg, allow_unicode=True)
        if raw is not None:  # arbitrary text in front: still a mistake (bad YAML or a bad value)
            text = raw + "\n" + text
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            (root / "cfg.yaml").write_text(text, encoding="utf-8")
            before = snapshot(root)
            _check(["train", "cfg.yaml", "--out", "run", "--quiet"], root)
            assert snapshot(root) == before, (found, text)

    return test


def _override_text(key, value):
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip()
    return f"{key}={text.removesuffix('...').strip()}"


def _make_overrides(n):
    @fuzz_settings(n)
    @given(found=st.lists(mistakes(), min_size=1, max_size=3),
           junk=st.lists(st.one_of(UNICODE.filter(lambda s: "=" not in s),  # no '='
                                   st.sampled_from(["seed.x=1", "model=3", "=", "optim.=1", ".=2"])),
                         max_size=1))
    def test(found, junk):
        sets = [_override_text(k, v) for k, v, _ in found] + junk
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            (root / "cfg.yaml").write_text(yaml.safe_dump(BASE))
            before = snapshot(root)
            argv = ["train", "cfg.yaml", "--out", "run", "--quiet"] + [x for s in sets for x in ("--set", s)]
            _check(argv, root)
            assert snapshot(root) == before, argv

    return test


test_fuzzed_yaml_configs, test_fuzzed_yaml_configs_slow = fast_and_slow(_make_yaml)
test_fuzzed_set_overrides, test_fuzzed_set_overrides_slow = fast_and_slow(_make_overrides)


def test_the_base_config_is_valid(tmp_path):
    from mdm.train import load_config

    load_config(BASE)
