"""Issue 25 through the `mdm` command: every case a careless or hostile user found ends in one line on
stderr, exit 2 and nothing written -- or, for signals, in the shell's exit code (docs/reliability.md)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tests.fuzz_support import assert_one_line_error, run_cli, snapshot

from mdm.errors import CheckpointError


def refused(argv, root: Path, cwd: Path | None = None) -> str:
    """Run ``mdm ARGV``; assert one error line, exit 2 and nothing created or changed under ``root``."""
    before = snapshot(root)
    rc, _, err = run_cli(argv, cwd=cwd)
    assert_one_line_error(rc, err, argv)
    assert snapshot(root) == before, argv
    return err


@pytest.fixture
def run(run_dir, tmp_path):
    """A private copy of the tiny trained run (tests may write next to it)."""
    shutil.copytree(run_dir, tmp_path / "run")
    return tmp_path / "run"


def _config(tmp_path, text: str | None = None) -> Path:
    from tests.cli.conftest import TINY_CONFIG

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY_CONFIG if text is None else text)
    return cfg


# --- data loss: outputs inside checkpoints and live runs ---------------------------------------------

def test_outputs_inside_a_checkpoint_are_refused_before_any_work(run, tmp_path):
    ck = run / "checkpoint"
    cfg = _config(tmp_path)
    cases = [
        ["export", ck, ck / "hf"],
        ["train", cfg, "--out", ck, "--quiet"],
        ["train", cfg, "--out", ck / "sub", "--quiet"],
        ["sample", run, "--trace", ck / "t.png", "--length", "4"],
        ["eval", run, "--json", ck / "e.json", "--max-sequences", "2", "--no-samples"],
        ["tune-schedule", "--checkpoint", ck, "--steps", "2", "--out", ck / "tune"],
        ["demo", "--out", ck, "--quick"],
        ["demo", "--out", tmp_path, "--quick"],  # contains the run's checkpoint
    ]
    for argv in cases:
        err = refused(argv, tmp_path)
        assert str(ck.resolve()) in err or str(ck) in err, err


def test_outputs_inside_a_live_run_folder_are_refused(run, tmp_path):
    from mdm.train.lock import RunLock

    live = tmp_path / "live"
    with RunLock(live):  # what a running `mdm train --out live` holds
        for argv in (["export", run / "checkpoint", live / "hf"],
                     ["train", _config(tmp_path), "--out", live / "inner", "--quiet"],
                     ["sample", run, "--trace", live / "t.png", "--length", "4"]):
            err = refused(argv, tmp_path)
            assert "live run folder" in err and str(live) in err


def test_demo_does_not_replace_a_train_run_it_did_not_make(run, tmp_path):
    demo = tmp_path / "d"
    shutil.copytree(run, demo / "train")
    err = refused(["demo", "--out", demo, "--quick"], tmp_path)
    assert "--overwrite" in err and str(demo / "train") in err
    from mdm.cli.demo import DEMO_MARK, _own_train_run

    assert _own_train_run(demo, overwrite=True) == demo / "train"  # --overwrite: allowed
    (demo / DEMO_MARK).write_text("")  # a demo's own earlier run: allowed
    assert _own_train_run(demo, overwrite=False) == demo / "train"


# --- bad output paths: checked before the work ------------------------------------------------------

def test_bad_output_paths_fail_before_the_work(run, tmp_path):
    long = "n" * 300
    cases = [
        ["sample", run, "--trace", "/proc/self/t.png", "--length", "4"],
        ["sample", run, "--trace", "", "--length", "4"],
        ["sample", run, "--trace", tmp_path / "x.txt", "--length", "4"],
        ["sample", run, "--trace", tmp_path / long, "--length", "4"],
        ["sample", run, "--trace", tmp_path / "missing" / "t.png", "--length", "4"],
        ["eval", run, "--json", "/proc/e.json", "--max-sequences", "2", "--no-samples"],
        ["export", run / "checkpoint", ""],
        ["export", run / "checkpoint", tmp_path / long],
        ["train", _config(tmp_path), "--out", "", "--quiet"],
        ["tune-schedule", "--language", "ngram:vocab=4", "--steps", "2", "--out", "/proc/t"],
        ["demo", "--out", tmp_path / long / "d", "--quick"],
    ]
    for argv in cases:
        refused(argv, tmp_path, cwd=tmp_path)
    from mdm.paths import check_writable_output

    assert check_writable_output("/dev/stdout", kind="file", flag="--json") is not None  # still allowed


def test_read_only_targets_are_refused(run, tmp_path, monkeypatch):
    # (the tests run as root, for whom chmod does not make a folder read-only: the check's question
    # to the OS is answered "no" instead)
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr("mdm.paths.os.access", lambda p, mode: False if Path(p) == ro else real(p, mode))
    for argv in (["export", run / "checkpoint", ro / "hf"], ["sample", run, "--trace", ro / "t.png"],
                 ["train", _config(tmp_path), "--out", ro, "--quiet"]):
        assert "read-only" in refused(argv, tmp_path)


# --- sizes and integers -----------------------------------------------------------------------------

def test_absurd_sizes_and_integers_are_one_line(run, tmp_path):
    big = str(2**64)
    cfg = _config(tmp_path)
    cases = [
        ["sample", run, "--seed", big],
        ["sample", run, "--unmasker", "topk", "--k", str(2**70)],
        ["sample", run, "--cache", "prefix", "--cache-refresh", str(2**70)],
        ["sample", run, "--steps", str(10**15)],
        ["sample", run, "--num", str(10**12), "--length", "4"],
        ["sample", run, "--device", "meta"],
        ["sample", run, "--device", "mps"],
        ["eval", run, "--seed", big, "--no-samples"],
        ["demo", "--seed", big, "--out", tmp_path / "d"],
        ["train", cfg, "--out", tmp_path / "o", "--set", "threads=100000", "--quiet"],
        ["train", cfg, "--out", tmp_path / "o", "--set", "batch_size=1e11", "--quiet"],
        ["train", cfg, "--out", tmp_path / "o", "--set", f"seed={big}", "--quiet"],
        ["tune-schedule", "--language", "ngram:vocab=4", "--steps", "4", "--length", str(10**8),
         "--out", tmp_path / "t"],
        ["tune-schedule", "--language", "ngram:vocab=4", "--steps", str(10**15), "--out", tmp_path / "t"],
        ["tune-schedule", "--language", "ngram:vocab=4", "--steps", "4", "--seed", big,
         "--out", tmp_path / "t"],
    ]
    for argv in cases:
        refused(argv, tmp_path, cwd=tmp_path)


def test_the_api_bounds_seed_and_steps():
    import mdm
    from mdm.errors import SamplingError
    from mdm.languages import NGram
    from mdm.sampling import Scheduled

    den = NGram.random(3, seed=0).denoiser()
    with pytest.raises(SamplingError, match="seed must be in"):
        mdm.sample(den, length=2, seed=2**64)
    with pytest.raises(SamplingError, match="must be in"):
        Scheduled(steps=10**15)


# --- YAML -------------------------------------------------------------------------------------------

def test_hostile_yaml_configs_are_one_line(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    for text in (bomb, "1: x\n", "? [a]\n: b\n", "{a: " * 100 + "1" + "}" * 100):
        cfg = _config(tmp_path, text)
        t = time.monotonic()
        refused(["train", cfg, "--out", tmp_path / "o", "--quiet"], tmp_path)
        assert time.monotonic() - t < 30  # the bomb is refused, not expanded
    cfg = tmp_path / "latin1.yaml"
    cfg.write_bytes("model: {d_model: 16}\n# caf\xe9\n".encode("latin-1"))
    assert "UTF-8" in refused(["train", cfg, "--out", tmp_path / "o", "--quiet"], tmp_path)


# --- resume: what changed ---------------------------------------------------------------------------

def _train(tmp_path, out, *sets, resume=False):
    argv = ["train", _config(tmp_path), "--out", out, "--quiet", *[x for s in sets for x in ("--set", s)]]
    return run_cli([*argv, "--resume"] if resume else argv)


def test_resume_refuses_what_it_cannot_apply_and_records_only_what_it_applies(tmp_path):
    out = tmp_path / "r"
    corpus = tmp_path / "c.txt"
    corpus.write_text("in the beginning god created the heaven and the earth. " * 20)
    data = f"data.corpus={corpus}"
    assert _train(tmp_path, out, data, "max_steps=2")[0] == 0
    err = refused(["train", _config(tmp_path), "--out", out, "--quiet", "--resume", "--set", data,
                   "--set", "max_steps=3", "--set", "optim.lr=3e-4"], tmp_path)
    assert "optim.lr: 0.001 -> 0.0003" in err
    corpus.write_text("And God said, Let there be light: and there was light. " * 20)  # new letters
    assert "tokenizer" in refused(["train", _config(tmp_path), "--out", out, "--quiet", "--resume", "--set",
                                   data, "--set", "max_steps=3"], tmp_path)
    corpus.write_text("the earth and the heaven god created in the beginning. " * 20)  # same letters
    assert "training data's content" in refused(
        ["train", _config(tmp_path), "--out", out, "--quiet", "--resume", "--set", data, "--set",
         "max_steps=3"], tmp_path)
    corpus.write_text("in the beginning god created the heaven and the earth. " * 20)
    assert _train(tmp_path, out, data, "max_steps=3", resume=True)[0] == 0  # a safe change: applied
    import yaml

    assert yaml.safe_load((out / "config.yaml").read_text())["max_steps"] == 3


def test_a_bad_metrics_line_does_not_block_resume(tmp_path):
    out = tmp_path / "r"
    assert _train(tmp_path, out, "max_steps=2")[0] == 0
    with open(out / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write('[1, 2]\n{"step": "x"}\n7\n\xff garbage\n')
    rc, _, err = _train(tmp_path, out, "max_steps=3", resume=True)
    assert rc == 0, err


# --- verification that cannot be switched off ---------------------------------------------------------

def test_a_checkpoint_without_its_config_hash_is_refused(run, tmp_path):
    cfg_file = run / "checkpoint" / "config.json"
    config = json.loads(cfg_file.read_text())
    del config["config_sha256"]
    config["tokenizer"]["alphabet"] = config["tokenizer"].get("alphabet", "")[::-1]
    cfg_file.write_text(json.dumps(config))
    assert "config_sha256" in refused(["sample", run, "--length", "4"], tmp_path)


def test_exported_folders_get_the_checkpoint_checks(run, tmp_path):
    from safetensors.torch import load_file, save_file

    hf = tmp_path / "hf"
    assert run_cli(["export", run / "checkpoint", hf])[0] == 0
    weights = load_file(str(hf / "model.safetensors"))
    key = next(k for k in weights if "emb" in k)
    weights[key][0, 0] = float("nan")
    save_file(weights, str(hf / "model.safetensors"), metadata={"format": "pt"})
    assert "NaN" in refused(["sample", hf, "--length", "4"], tmp_path)
    weights[key] = weights[key].double()
    save_file(weights, str(hf / "model.safetensors"), metadata={"format": "pt"})
    assert "float64" in refused(["sample", hf, "--length", "4"], tmp_path)
    config = json.loads((hf / "config.json").read_text())
    config["mdm_config"]["d_model"] = "wide"
    (hf / "config.json").write_text(json.dumps(config))
    refused(["sample", hf, "--length", "4"], tmp_path)


def test_a_load_racing_a_save_waits_for_it(run, tmp_path):
    import threading

    from mdm.checks import retry_while_written
    from mdm.train import checkpoint

    ck = run / "checkpoint"
    aside = run / ".checkpoint.old-abcd1234"
    tmp = run / ".checkpoint.tmp-abcd1234"
    os.rename(ck, aside)  # a save between its two renames
    shutil.copytree(aside, tmp)
    with pytest.raises(CheckpointError, match="being written"):
        retry_while_written(lambda: checkpoint.load(ck), ck, wait_s=0.3)

    def finish():
        time.sleep(0.3)
        os.rename(tmp, ck)
        shutil.rmtree(aside)

    threading.Thread(target=finish).start()
    rc, out, err = run_cli(["sample", run, "--length", "4"])
    assert rc == 0, err


# --- logits -----------------------------------------------------------------------------------------

def test_non_finite_logits_name_the_step_and_position():
    import mdm
    from mdm.languages import NGram
    from mdm.sampling import TopK
    from mdm.sampling.distribution import NonFiniteLogitsError

    oracle = NGram.random(4, seed=0).denoiser()

    class Broken:
        vocab_size, mask_id = oracle.vocab_size, oracle.mask_id

        def __call__(self, x, attention_mask=None):
            logits = oracle(x).clone()
            if int((x == self.mask_id).sum()) == 3:  # step 3 (one position per step)
                logits[0, :, 1] = float("nan")
            return logits

    with pytest.raises(NonFiniteLogitsError) as e:
        mdm.sample(Broken(), length=6, unmasker=TopK(k=1, proxy="random"), seed=0)
    assert "(NaN) at step 3, sequence 0, position" in str(e.value)
    position = int(str(e.value).split("position ")[1].split(":")[0])
    x = mdm.sample(oracle, length=6, unmasker=TopK(k=1, proxy="random"), seed=0, trace=True).trace
    first_masked = min(i for i in range(6) if int(x.reveal_step[0, i]) >= 3)
    assert position == first_masked  # the first position still masked at step 3


def test_tiny_temperatures_and_top_p_behave_as_their_limits():
    import mdm

    class Fixed:  # float32 logits whose argmax is token 2 (3 is the mask)
        vocab_size, mask_id = 4, 3

        def __call__(self, x, attention_mask=None):
            return torch.tensor([0.5, 1.0, 2.0, 0.0]).expand(*x.shape, 4).clone()

    for t in (1e-30, 1e-39, 1e-45, 1e-300):  # main: 1e-39 and below gave token 0 (overflow to inf)
        assert mdm.sample(Fixed(), length=4, temperature=t, seed=0).tokens.tolist() == [[2] * 4]
    for p in (1e-40, 1e-46, 5e-324):  # main: 1e-46 dropped every token (it rounds to 0 in float32)
        assert mdm.sample(Fixed(), length=4, temperature=1.0, top_p=p, seed=0).tokens.tolist() == [[2] * 4]


# --- tune-schedule ----------------------------------------------------------------------------------

def test_tune_schedule_checks_the_checkpoint_models_the_language(run, tmp_path):
    err = refused(["tune-schedule", "--language", "ngram:vocab=4,seed=0", "--checkpoint", run / "checkpoint",
                   "--steps", "2", "--out", tmp_path / "t"], tmp_path)
    assert "does not model --language" in err
    out = tmp_path / "lang"
    spec = "ngram:vocab=4,order=2,branching=2,seed=0"
    assert _train(tmp_path, out, "data.task=exact-language", f"data.options={{spec: '{spec}', n_train: 64, "
                  "n_val: 8}", "data.corpus=kjv", "max_steps=1")[0] == 0
    err = refused(["tune-schedule", "--language", "ngram:vocab=4,order=2,branching=2,seed=1", "--checkpoint",
                   out / "checkpoint", "--steps", "2", "--out", tmp_path / "t"], tmp_path)
    assert "was trained on the language" in err
    rc, _, err = run_cli(["tune-schedule", "--language", spec, "--checkpoint", out / "checkpoint",
                          "--steps", "2", "--length", "8", "--samples", "2", "--refine-samples", "2",
                          "--top", "0", "--grid-a", "0.5", "--grid-b", "0.5", "--out", tmp_path / "t",
                          "--no-progress"])
    assert rc == 0, err


def test_tune_schedule_leaves_no_empty_out_when_the_search_fails(tmp_path, monkeypatch):
    import mdm.tuning
    from mdm.errors import SamplingError

    def failing(*a, **k):
        raise SamplingError("the first evaluation failed")

    monkeypatch.setattr(mdm.tuning, "tune_schedule", failing)
    refused(["tune-schedule", "--language", "ngram:vocab=4", "--steps", "2", "--out", tmp_path / "t"],
            tmp_path)
    assert not (tmp_path / "t").exists()


# --- signals ----------------------------------------------------------------------------------------

def _train_process(tmp_path, out):
    from tests.train.test_lock import TINY

    cfg = tmp_path / "long.yaml"
    from mdm.train import load_config

    cfg.write_text(json.dumps(load_config(None, [*TINY, "max_steps=100000"]).to_dict()))
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return cfg, subprocess.Popen([sys.executable, "-m", "mdm.cli", "train", str(cfg), "--out", str(out),
                                  "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_in_the_training_loop_gives_its_exit_code(tmp_path, monkeypatch, sig, code):
    import mdm.train.loop

    real, sent = mdm.train.loop.append_metrics, []

    def log_then_signal(path, row):  # the first logged step: the loop is running
        real(path, row)
        if not sent:
            sent.append(os.kill(os.getpid(), sig))

    monkeypatch.setattr(mdm.train.loop, "append_metrics", log_then_signal)
    rc, out, err = _train(tmp_path, tmp_path / "r", "max_steps=50")
    assert rc == code and out.startswith("interrupted"), (rc, out, err)
    monkeypatch.undo()
    assert _train(tmp_path, tmp_path / "r", "max_steps=50", "stop_after=3", resume=True)[0] == 0  # no signal


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_train_exits_with_the_signal_code_and_stays_resumable(tmp_path, sig, code):
    from tests.train.test_lock import _wait_for_rows

    out = tmp_path / "r"
    cfg, proc = _train_process(tmp_path, out)
    try:
        _wait_for_rows(out / "metrics.jsonl", 2, proc)
        proc.send_signal(sig)
        assert proc.wait(timeout=120) == code, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    rc, _, err = run_cli(["train", cfg, "--out", out, "--quiet", "--resume", "--set", "stop_after=1"])
    assert rc == 0 and "stop_after" not in err  # stop_after is not a signal: exit 0


def test_sigterm_during_start_up_leaves_no_folder(tmp_path, monkeypatch):
    import mdm.train.loop

    real = mdm.train.loop.build_data

    def slow_start(cfg):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the run folder is locked, before the loop
        return real(cfg)

    monkeypatch.setattr(mdm.train.loop, "build_data", slow_start)
    with pytest.raises(SystemExit) as e:
        run_cli(["train", _config(tmp_path), "--out", tmp_path / "r", "--quiet"])
    assert e.value.code == 143 and not (tmp_path / "r").exists()


def test_exp_and_harness_seeds_are_bounded(capsys):
    """`mdm exp --seed/--seeds` and `mdm harness --seed` beyond what a run can use: one line, exit 2
    (a seed past int64 used to reach torch.manual_seed; 0-1e11 built a list of 1e11 seeds)."""
    from mdm import cli

    for argv in (["exp", "remdm", "--seed", str(2**64)], ["exp", "remdm", "--seeds", "0-100000000000"],
                 ["harness", "x", "--seed", str(2**64)]):
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "seed" in err[0], (argv, err)
