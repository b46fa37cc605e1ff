"""Fuzzed command lines, prompts and stop strings: every bad one ends with one `mdm: error:` line and
exit 2 -- never a traceback -- and nothing is written.  Run in this process (cli.main) for speed.

Every generated command line carries at least one certain mistake (a missing checkpoint, an unknown
experiment, a non-integer --steps, ...), placed last so that nothing before it can swallow it; the rest
is drawn from every option with values valid or not.  NUL characters are left out: no OS passes them
in argv.
"""

import string
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from fuzz_support import assert_one_line_error, fast_and_slow, fuzz_settings, run_cli, snapshot

TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)
NUMBER = st.one_of(
    st.integers(-10**20, 10**20).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["0", "-1", "1e309", "-0", "nan", "inf", "1_000", "0x10", "1e3", "", " ", "٣"]),
)
VALUE = st.one_of(NUMBER, TEXT, st.sampled_from(["ancestral", "eb", "topk", "threshold", "scheduled",
                                                 "confidence", "beta:0.9,0.3", "poly:-1", "cuda", "cpu:0"]))
FLAGS = {
    "train": ["--set", "--out", "--resume", "--quiet"],
    "sample": ["--unmasker", "--steps", "--schedule", "--proxy", "--k", "--gamma", "--tau", "--block-size",
               "--temperature", "--top-p", "--num", "--length", "--seed", "--device", "--prompt", "--stop",
               "--show", "--delay", "--trace", "--json"],
    "eval": ["--max-sequences", "--elbo-samples", "--batch-size", "--no-genppl", "--no-samples", "--json",
             "--unmasker", "--steps", "--num", "--length", "--device"],
    "demo": ["--out", "--quick", "--steps", "--seed", "--no-genppl"],
    "exp": ["--preset", "--out", "--seed"],
    "tune-schedule": ["--checkpoint", "--language", "--task", "--metric", "--steps", "--samples",
                      "--refine-samples", "--top", "--grid-a", "--grid-b", "--proxy", "--temperature",
                      "--length", "--batch-size", "--block-size", "--seed", "--device", "--out",
                      "--no-progress"],
}
NOT_INT = st.one_of(TEXT.filter(lambda s: not s.strip().lstrip("+-").isdigit()), st.just("1.5"))


def _certain_mistake(command):
    """Arguments that make ``command`` wrong whatever came before them."""
    missing = TEXT.map(lambda s: f"no-such-ckpt-{s}")
    return {
        "train": st.one_of(TEXT.map(lambda s: [f"no-such-config-{s}.yaml"]),
                           st.tuples(st.just("--set"), TEXT.filter(lambda s: "=" not in s)).map(list)),
        "sample": missing.map(lambda p: [p]),
        "eval": missing.map(lambda p: [p]),
        "demo": st.tuples(st.sampled_from(["--steps", "--seed"]), NOT_INT).map(
            lambda t: [t[0], t[1] if t[0] == "--seed" else (t[1] if t[1] else "0")]),
        "exp": TEXT.map(lambda s: [f"no-such-experiment-{s}"]),
        "tune-schedule": st.tuples(st.just("--steps"), NOT_INT).map(list),
    }[command]


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(FLAGS)))
    prefix = []
    for _ in range(draw(st.integers(0, 5))):
        flag = st.one_of(st.sampled_from(FLAGS[command]), st.sampled_from(["--no-such-flag", "-x"]))
        prefix.append(draw(flag))
        if draw(st.booleans()):
            prefix.append(draw(VALUE))
    tail = draw(_certain_mistake(command))
    if command == "demo" and tail[0] == "--steps" and tail[1].lstrip("+-").isdigit():
        tail = ["--steps", str(-abs(int(tail[1])))]  # --steps 0 or negative: still a mistake
    return [command, *prefix, *tail]


def _check(argv):
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        rc, out, err = run_cli(argv, cwd=root)
        assert_one_line_error(rc, err, argv)
        assert snapshot(root) == {}, argv  # no output folder or file created


def _make_argv(n):
    @fuzz_settings(n)
    @given(argv=command_lines())
    def test(argv):
        _check(argv)

    return test


test_fuzzed_command_lines, test_fuzzed_command_lines_slow = fast_and_slow(_make_argv)


# --- prompts and stop strings against a real checkpoint ------------------------------------------------

KJV_LIKE = st.text(alphabet=string.ascii_letters + " ,.;:", max_size=20)
PROMPT = st.one_of(
    st.just(""), KJV_LIKE, TEXT, st.text(max_size=40).filter(lambda s: "\x00" not in s),
    st.integers(10, 100_000).map(lambda n: "In the beginning " * (n // 17 + 1)),  # huge
)
STOPS = st.lists(st.one_of(st.just(""), st.just("<eos>"), KJV_LIKE, TEXT), max_size=3)


def _expected_ok(tokenizer, max_len, prompt, stops):
    known = set(tokenizer.alphabet)
    if any(c not in known for c in prompt) or len(prompt) >= max_len:
        return False
    return all(s == "<eos>" or (s and all(c in known for c in s)) for s in stops)


def _make_prompts(n):
    @fuzz_settings(n)
    @given(prompt=PROMPT, stops=STOPS)
    def test(run_dir, prompt, stops):
        import mdm

        model, tokenizer = mdm.load(run_dir / "checkpoint")
        argv = ["sample", run_dir / "checkpoint", "--steps", "2", "--seed", "0", f"--prompt={prompt}",
                *(f"--stop={s}" for s in stops)]
        before = snapshot(run_dir)
        with tempfile.TemporaryDirectory() as d:
            rc, out, err = run_cli(argv, cwd=Path(d))
            assert snapshot(Path(d)) == {}
        assert snapshot(run_dir) == before
        if _expected_ok(tokenizer, model.config.max_len, prompt, stops):
            assert rc == 0 and out.startswith("--- sample 0"), (argv, err)
        else:
            assert_one_line_error(rc, err, argv)

    return test


test_fuzzed_prompts_and_stops, test_fuzzed_prompts_and_stops_slow = fast_and_slow(_make_prompts)


# --- option mistakes against a real checkpoint (the checks after loading it) ---------------------------

DEEP_MISTAKES = st.sampled_from([
    ["--steps", "0"], ["--k", "0"], ["--tau", "0"], ["--tau", "1.5"], ["--top-p", "0"], ["--top-p", "nan"],
    ["--temperature", "-1"], ["--temperature", "nan"], ["--gamma", "-0.1"], ["--gamma", "inf"],
    ["--block-size", "3"], ["--length", "17"], ["--length", "0"], ["--num", "0"], ["--device", "cuda:7"],
    ["--device", "tpu"], ["--device", ""], ["--unmasker", "nope"], ["--schedule", "beta:0,1"],
    ["--schedule", "poly:-1"], ["--proxy", "nope"], ["--seed", "1.5"], ["--trace", "no/such/dir/t.png"],
    ["--delay", "11"], ["--prompt", "\u2603 snowman"], ["--stop", ""], ["--stop", "\u00e9t\u00e9"],
    ["--prompt", "a" * 16], ["--max-sequences", "0"], ["--json", "no/such/dir/x.json"],
])
SAMPLE_OK = st.sampled_from([
    ["--unmasker", "ancestral"], ["--unmasker", "eb"], ["--unmasker", "topk"], ["--unmasker", "threshold"],
    ["--unmasker", "scheduled"], ["--steps", "3"], ["--temperature", "0"], ["--top-p", "0.9"], ["--num", "2"],
    ["--length", "8"], ["--block-size", "4"], ["--seed", "3"], ["--proxy", "margin"], ["--k", "2"],
    ["--gamma", "0.5"], ["--tau", "0.5"], ["--schedule", "cosine"], ["--json"], ["--show"],
])
EVAL_FLAGS = {"--max-sequences", "--json"}
SAMPLE_ONLY = {"--prompt", "--stop", "--trace", "--delay", "--show", "--json", "--gamma", "--tau", "--k",
               "--proxy", "--schedule", "--top-p", "--temperature", "--block-size", "--seed"}


@st.composite
def deep_command_lines(draw):
    command = draw(st.sampled_from(["sample", "eval"]))
    opts = [o for o in draw(st.lists(SAMPLE_OK, max_size=4))
            if command == "sample" or o[0] not in SAMPLE_ONLY]
    fits = (lambda m: m[0] not in EVAL_FLAGS) if command == "sample" else (
        lambda m: m[0] not in SAMPLE_ONLY or m[0] == "--json")
    mistake = draw(DEEP_MISTAKES.filter(fits))
    return command, [x for o in opts for x in o] + mistake


def _make_deep(n):
    @fuzz_settings(n)
    @given(case=deep_command_lines())
    def test(run_dir, case):
        command, options = case
        argv = [command, run_dir / "checkpoint", "--no-genppl", *options] if command == "eval" else \
            [command, run_dir / "checkpoint", *options]
        before = snapshot(run_dir)
        with tempfile.TemporaryDirectory() as d:
            rc, out, err = run_cli(argv, cwd=Path(d))
            assert_one_line_error(rc, err, argv)
            assert snapshot(Path(d)) == {}
        assert snapshot(run_dir) == before

    return test


test_fuzzed_options_on_a_checkpoint, test_fuzzed_options_on_a_checkpoint_slow = fast_and_slow(_make_deep)
