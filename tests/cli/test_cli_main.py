"""The `mdm` command: every bad input is one stderr line + exit 2 + nothing written; help and hooks work."""

import subprocess
import sys

import pytest

from mdm import cli


def test_extension_hooks_add_subcommands_and_missing_modules_are_skipped(monkeypatch, fake_module, run,
                                                                           capsys):
    fake_module("mdm_fake_ext", """
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
    "schedule alias polynomial": ["sample", "{ckpt}", "--schedule", "polynomial:2"],
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
                                                         run, tree, capsys):
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
