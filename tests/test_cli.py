"""The `mdm` command: every bad input is one stderr line + exit 2 + nothing written; commands work."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mdm import cli, schedules
from mdm.errors import ScheduleError

TINY_CONFIG = textwrap.dedent(
    """
    model: {d_model: 16, n_layers: 1, n_heads: 2}
    data: {task: text, corpus: kjv, tokenizer: char, seq_len: 16, max_chars: 4000, val_fraction: 0.1}
    optim: {lr: 1.0e-3, warmup_steps: 1}
    batch_size: 4
    max_steps: 3
    precision: fp32
    eval_every: 0
    eval_batches: 1
    eval_samples: 1
    log_every: 1
    """
)


def run(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny checkpoint trained through `mdm train` (3 steps)."""
    root = tmp_path_factory.mktemp("cli")
    cfg = root / "tiny.yaml"
    cfg.write_text(TINY_CONFIG)
    out = root / "run"
    rc = cli.main(["train", str(cfg), "--set", "seed=1", "--out", str(out), "--quiet"])
    assert rc == 0
    return out


def test_train_writes_a_checkpoint_and_refuses_to_overwrite_it(run_dir, capsys):
    assert (run_dir / "checkpoint" / "config.json").is_file() and (run_dir / "metrics.jsonl").is_file()
    saved = json.loads((run_dir / "checkpoint" / "config.json").read_text())
    assert saved["train"]["seed"] == 1  # --set applied
    before = tree(run_dir)
    rc, out, err = run(["train", run_dir.parent / "tiny.yaml", "--out", run_dir], capsys)
    assert rc == 2 and err.count("\n") == 1 and "--resume" in err
    assert tree(run_dir) == before


def test_train_resume_continues_the_run(run_dir, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    rc, out, err = run(["train", run_dir.parent / "tiny.yaml", "--set", "seed=1", "--set", "max_steps=5",
                        "--out", copy, "--resume", "--quiet"], capsys)
    assert rc == 0, err
    assert out.startswith("done: 5 steps")
    saved = json.loads((copy / "checkpoint" / "config.json").read_text())
    assert saved["metadata"]["step"] == 5


def test_sample_prints_text_through_the_tokenizer(run_dir, capsys):
    argv = ["sample", run_dir / "checkpoint", "--num", "2", "--prompt", "In the", "--seed", "3"]
    rc, out, err = run(argv, capsys)
    assert rc == 0, err
    blocks = out.split("--- sample ")[1:]
    assert len(blocks) == 2 and all("(NFE " in b for b in blocks)
    texts = [b.split("---\n", 1)[1].rstrip("\n") for b in blocks]
    assert all(t.startswith("In the") and len(t) > len("In the") for t in texts)
    # same seed, same text; JSON mode carries the same samples
    rc, out_json, _ = run([*argv, "--json"], capsys)
    rows = [json.loads(line) for line in out_json.splitlines()]
    assert [r["text"] for r in rows] == texts and all(r["nfe"] >= 1 for r in rows)


@pytest.mark.parametrize(
    "options",
    [
        ["--unmasker", "scheduled", "--steps", "4", "--schedule", "beta:0.9,0.3", "--proxy", "margin"],
        ["--unmasker", "topk", "--k", "3", "--temperature", "0"],
        ["--unmasker", "eb", "--gamma", "0.5", "--block-size", "8", "--length", "16"],
        ["--unmasker", "threshold", "--tau", "0.5", "--top-p", "0.9"],
        ["--unmasker", "ancestral", "--steps", "8", "--schedule", "poly:2", "--stop", "e"],
    ],
)
def test_every_unmasker_and_option_runs(run_dir, capsys, options):
    rc, out, err = run(["sample", run_dir, "--length", "16", *options], capsys)
    assert rc == 0, err
    assert out.startswith("--- sample 0 (NFE ")


def test_show_animates_and_trace_writes_a_png(run_dir, tmp_path, capsys):
    png = tmp_path / "trace.png"
    rc, out, err = run(["sample", run_dir, "--show", "--length", "8", "--steps", "8", "--trace", png], capsys)
    assert rc == 0, err
    frames = [line for line in out.splitlines() if line.startswith("[step ")]
    assert frames[0] == f"[step 0/{len(frames) - 1}] " + "_" * 8
    assert "_" not in frames[-1].split("] ", 1)[1]  # fully denoised at the end
    assert png.stat().st_size > 0


def test_eval_reports_bits_per_char_and_sample_metrics(run_dir, tmp_path, capsys):
    js = tmp_path / "eval.json"
    rc, out, err = run(["eval", run_dir, "--max-sequences", "4", "--elbo-samples", "2", "--num", "2",
                        "--no-genppl", "--json", js], capsys)
    assert rc == 0, err
    assert "bits/char" in out and "held-out text" in out and "entropy" in out
    result = json.loads(js.read_text())
    lik = result["likelihood"]
    assert lik["num_sequences"] == 4 and lik["bits_per_char"] > 0
    labels = [r["label"] for r in result["samples"]]
    assert labels == ["Ancestral(steps=16, schedule=Linear())", "held-out text"]
    assert 0 <= result["samples"][0]["quality"]["mean_js_bits"] <= 1


def _fake_module(tmp_path, monkeypatch, name, source):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))


def test_exp_runs_a_registered_experiment(tmp_path, monkeypatch, capsys):
    from mdm import experiments

    _fake_module(tmp_path, monkeypatch, "mdm_fake_exp", """
        def run(preset, out_dir, seed=0):
            (out_dir / "report.md").write_text(f"{preset} {seed}")
            return {}
    """)
    monkeypatch.setitem(experiments.EXPERIMENTS, "fake", "mdm_fake_exp")
    out = tmp_path / "o"
    rc, stdout, err = run(["exp", "fake", "--preset", "full", "--out", out, "--seed", "7"], capsys)
    assert rc == 0, err
    assert (out / "report.md").read_text() == "full 7"


def test_extension_hooks_add_subcommands_and_missing_modules_are_skipped(tmp_path, monkeypatch, capsys):
    _fake_module(tmp_path, monkeypatch, "mdm_fake_ext", """
        from mdm.errors import ConfigError

        def add(sub):
            p = sub.add_parser("hello", help="say hello")
            p.add_argument("--fail", choices=["mdm", "bug"])
            p.set_defaults(func=handler)

        def handler(args):
            if args.fail == "mdm":
                raise ConfigError("bad hello\\nsecond line")
            if args.fail == "bug":
                raise RuntimeError("a bug")
            print("hello")
    """)
    monkeypatch.setattr(cli, "EXTENSIONS", [("mdm_surely_missing_module", "add"), ("mdm_fake_ext", "add")])
    assert run(["hello"], capsys)[:2] == (0, "hello\n")
    rc, out, err = run(["hello", "--fail", "mdm"], capsys)
    assert rc == 2 and err == "mdm: error: bad hello second line\n"  # one line, always
    with pytest.raises(RuntimeError, match="a bug"):  # bugs keep their traceback
        cli.main(["hello", "--fail", "bug"])


def _subcommands():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return list(sub.choices)


@pytest.mark.parametrize("command", [None, *_subcommands()])
def test_help_works_for_every_subcommand(command, capsys):
    argv = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: mdm {command or ''}".rstrip())


def test_help_documents_every_unmasker_and_the_console_script_works():
    proc = subprocess.run([sys.executable, "-c", "from mdm.cli import main; raise SystemExit(main())",
                           "sample", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for name in cli.UNMASKERS:
        assert name in proc.stdout
    flags = ("--steps", "--schedule", "--proxy", "--k", "--gamma", "--tau", "--block-size", "--temperature",
             "--top-p", "--stop", "--seed", "--num", "--length", "--prompt", "--show")
    for flag in flags:
        assert flag in proc.stdout


@pytest.fixture
def corrupt_ckpt(run_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(run_dir / "checkpoint", bad)
    weights = bad / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    return bad


BAD_ARGS = {
    "no command": [],
    "unknown command": ["frobnicate"],
    "bad config path": ["train", "no/such/config.yaml"],
    "bad --set key": ["train", "kjv-char-tiny", "--set", "optim.nope=1"],
    "--set without =": ["train", "kjv-char-tiny", "--set", "optim.lr"],
    "bad --set value": ["train", "kjv-char-tiny", "--set", "batch_size=many"],
    "bad loss schedule": ["train", "kjv-char-tiny", "--set", "loss.schedule=zigzag"],
    "missing corpus": ["train", "kjv-char-tiny", "--set", "data.corpus=no/such.txt", "--out", "o"],
    "--resume without checkpoint": ["train", "kjv-char-tiny", "--out", "fresh", "--resume"],
    "bad schedule spec": ["sample", "{ckpt}", "--schedule", "poly:x"],
    "unknown schedule": ["sample", "{ckpt}", "--schedule", "sawtooth"],
    "gamma < 0": ["sample", "{ckpt}", "--unmasker", "eb", "--gamma", "-0.1"],
    "tau > 1": ["sample", "{ckpt}", "--unmasker", "threshold", "--tau", "1.5"],
    "steps 0": ["sample", "{ckpt}", "--steps", "0"],
    "option of another unmasker": ["sample", "{ckpt}", "--unmasker", "ancestral", "--k", "2"],
    "unknown unmasker": ["sample", "{ckpt}", "--unmasker", "magic"],
    "missing checkpoint": ["sample", "no/such/checkpoint"],
    "bad device": ["sample", "{ckpt}", "--device", "toaster"],
    "corrupted checkpoint": ["sample", "{bad}"],
    "length over the model's": ["sample", "{ckpt}", "--length", "17"],
    "block size not dividing": ["sample", "{ckpt}", "--length", "16", "--block-size", "3"],
    "unknown prompt characters": ["sample", "{ckpt}", "--prompt", "\u00e9\u00e8"],
    "trace into a missing folder": ["sample", "{ckpt}", "--trace", "no/such/dir/t.png"],
    "eval missing checkpoint": ["eval", "no/such/checkpoint"],
    "eval json into a missing folder": ["eval", "{ckpt}", "--json", "no/such/dir/e.json"],
    "unknown experiment": ["exp", "no-such-experiment"],
    "bad preset": ["exp", "eb-sampler", "--preset", "medium"],
    "demo steps 0": ["demo", "--steps", "0"],
    "demo out is a file": ["demo", "--out", "a_file"],
    "demo out inside a file": ["demo", "--out", "a_file/sub"],
    "train out inside a file": ["train", "kjv-char-tiny", "--out", "a_file/run"],
}


@pytest.mark.parametrize("case", list(BAD_ARGS))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, run_dir, corrupt_ckpt, tmp_path, monkeypatch,
                                                         capsys):
    work = tmp_path / "cwd"
    work.mkdir()
    (work / "a_file").write_text("x")
    monkeypatch.chdir(work)
    argv = [a.format(ckpt=run_dir / "checkpoint", bad=corrupt_ckpt) for a in BAD_ARGS[case]]
    before = tree(work), tree(run_dir)
    rc, out, err = run(argv, capsys)
    assert rc == 2
    assert err.startswith("mdm: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert out == ""
    assert (tree(work), tree(run_dir)) == before


def test_parse_schedule_spec():
    assert cli.parse_schedule_spec("linear") == schedules.Linear()
    assert cli.parse_schedule_spec("cosine") == schedules.Cosine()
    assert cli.parse_schedule_spec("poly:2") == schedules.Polynomial(2.0)
    assert cli.parse_schedule_spec("loglinear") == schedules.LogLinear()
    assert cli.parse_schedule_spec("loglinear:0.01") == schedules.LogLinear(0.01)
    assert cli.parse_schedule_spec("beta:0.9,0.3") == schedules.BetaEnergy(0.9, 0.3)
    for bad in ("beta:1", "poly", "poly:1,2", "linear:3", "beta:a,b", "poly:-1", ""):
        with pytest.raises(ScheduleError):
            cli.parse_schedule_spec(bad)
