"""``threads: auto`` (mdm.train.threads): the rule on a faked machine (CPU affinity and 1-minute load
average monkeypatched), the config's accepted and refused values, and what a run records."""

import json
import os

import pytest
import torch
from safetensors.torch import load_file

from fuzz_support import assert_one_line_error, run_cli
from mdm.errors import ConfigError
from mdm.train import checkpoint, load_config, packaged_configs, train
from mdm.train.threads import auto_threads, local_processes, set_threads

TINY = ["model.d_model=16", "model.n_layers=1", "model.n_heads=2", "data.seq_len=16", "data.max_chars=4000",
        "batch_size=4", "log_every=1", "eval_every=0", "eval_batches=1", "eval_samples=1", "precision=fp32",
        "optim.warmup_steps=1", "max_steps=3", "device=cpu"]


@pytest.fixture
def machine(monkeypatch):
    """``machine(cores, load)``: this process may use ``cores`` CPUs and the 1-minute load average
    is ``load`` (None: the system has none); torch's thread count is restored afterwards."""
    before = torch.get_num_threads()

    def fake(cores: int, load: float | None) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
        if load is None:
            monkeypatch.delattr(os, "getloadavg", raising=False)
        else:
            monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))

    yield fake
    torch.set_num_threads(before)


# (usable cores, 1-minute load, processes on this machine) -> threads per process
RULE = [
    ((2, 0.0, 1), 2),   # idle 2-core machine: both cores (1.66-1.74x measured)
    ((2, 0.3, 1), 2),   # background noise below half a core
    ((2, 0.5, 1), 1),   # half a load rounds up to a busy core
    ((2, 1.0, 1), 1),   # one core busy: 2 threads would spin-wait on it (0.19x measured)
    ((2, 4.7, 1), 1),   # overloaded: still at least one
    ((4, 1.2, 1), 3),   # 1.2 rounds to 1 busy core
    ((4, 1.5, 1), 2),   # 1.5 rounds (half up) to 2
    ((1, 0.0, 1), 1),
    ((2, 0.0, 2), 1),   # 2 DDP processes on 2 idle cores: one thread each (1.79-1.91x measured)
    ((8, 0.0, 2), 4),
    ((8, 3.0, 2), 2),   # 5 idle cores shared by 2 processes: 2 each, never more than the idle cores
    ((2, 1.0, 2), 1),
]


@pytest.mark.parametrize("args, expected", RULE)
def test_the_rule(args, expected):
    assert auto_threads(*args) == expected


@pytest.mark.parametrize("args, expected", RULE)
def test_auto_reads_affinity_and_load_average(machine, args, expected):
    cores, load, processes = args
    machine(cores, load)
    n, why = set_threads("auto", processes=processes)
    assert n == expected == torch.get_num_threads()
    assert f"{cores} usable cores, 1-minute load average {load:.2f}" in why


def test_processes_on_this_machine_come_from_torchrun(monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert (local_processes(), local_processes(4)) == (1, 4)  # no torchrun: 1; another launcher: the world
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert local_processes(8) == 2  # 2 per machine of 4 machines


def test_auto_without_a_load_average_takes_one_thread(machine):
    machine(4, None)
    assert set_threads("auto")[0] == 1


def test_a_resume_keeps_the_count_its_checkpoint_recorded(machine):
    machine(2, 5.0)  # loaded now: afresh this would be 1
    assert set_threads("auto", kept=2) == (2, "auto, kept from the checkpoint's run")
    assert set_threads("auto", kept="2")[0] == 1  # not a count: resolved afresh


def test_integers_and_null_keep_their_meaning(machine):
    machine(2, 5.0)
    assert set_threads(2, kept=1)[0] == 2 == torch.get_num_threads()  # an integer is that integer
    torch.set_num_threads(3)
    assert set_threads(None) == (3, "torch's default")  # null leaves torch's count alone


@pytest.mark.parametrize("text, expected", [("auto", "auto"), ("1", 1), ("2", 2), ("2.0", 2), ("null", None)])
def test_config_values(tmp_path, text, expected):
    assert load_config(None, [f"threads={text}"]).threads == expected
    f = tmp_path / "c.yaml"
    f.write_text(f"threads: {text}\n")
    assert load_config(f).threads == expected
    assert load_config(load_config(f).to_dict()).threads == expected  # config.yaml reads back


@pytest.mark.parametrize("value", ["fast", 0, -1, -3, "AUTO", " auto", "1.5", 1.5])
def test_bad_values_name_the_allowed_ones(value):
    with pytest.raises(ConfigError, match=r"threads must be an integer >= 1, 'auto' .* or null"):
        load_config({"threads": value})


@pytest.mark.parametrize("value", [True, [1], {"n": 1}])
def test_values_of_no_allowed_type_are_config_errors(value):
    with pytest.raises(ConfigError, match="threads must be int or str or null"):
        load_config({"threads": value})


def test_cli_refuses_a_bad_value_in_one_line(tmp_path):
    argv = ["train", "kjv-char-tiny", "--out", tmp_path / "o", "--set", "threads=fast", "--quiet"]
    rc, _, err = run_cli(argv)
    assert_one_line_error(rc, err, argv)
    assert "'auto'" in err and not (tmp_path / "o").exists()


def test_packaged_cpu_configs_are_auto(tmp_path):
    values = {name: load_config(name).threads for name in packaged_configs()}
    # sudoku-small: threads 2 as the eb-sampler full preset trained it; the two GPU configs: torch's
    # default (None)
    assert values.pop("sudoku-small") == 2
    assert values.pop("kjv-byte-small") is None and values.pop("kjv-gpt2-small") is None
    assert set(values.values()) == {"auto"} and {"kjv-char-tiny", "sudoku-hard"} <= set(values), values


def _weights(run):
    return load_file(str(run / "checkpoint" / "model.safetensors"))


def test_a_run_records_the_count_auto_resolved_to(tmp_path, machine, capsys):
    machine(2, 0.0)
    res = train(load_config(None, [*TINY, "threads=auto"]), out_dir=tmp_path / "run")
    assert "; 2 threads (auto: 2 usable cores, 1-minute load average 0.00)" in capsys.readouterr().out
    assert res.threads == 2
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["threads"] for r in rows if r["split"] == "train"] == [2, 2, 2]
    assert checkpoint.read_config(tmp_path / "run" / "checkpoint")["metadata"]["threads"] == 2
    assert load_config(tmp_path / "run" / "config.yaml").threads == "auto"  # the config as given

    machine(2, 1.0)
    res = train(load_config(None, [*TINY, "threads=auto"]), out_dir=tmp_path / "busy", progress=False)
    assert res.threads == 1 and {r["threads"] for r in res.metrics if r["split"] == "train"} == {1}


def test_a_resumed_auto_run_keeps_its_count_and_continues_exactly(tmp_path, machine):
    machine(2, 0.0)
    whole = train(load_config(None, [*TINY, "threads=auto"]), out_dir=tmp_path / "whole", progress=False)
    cut = train(load_config(None, [*TINY, "threads=auto", "stop_after=1"]), out_dir=tmp_path / "cut",
                progress=False)
    assert (whole.threads, cut.threads, cut.steps) == (2, 2, 1)
    machine(2, 3.0)  # loaded at the resume: auto would now say 1
    resumed = train(load_config(None, [*TINY, "threads=auto"]), out_dir=tmp_path / "cut", progress=False,
                    resume=True)
    assert resumed.threads == 2 and resumed.steps == 3
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # an integer on the resume is applied (threads are not part of what a resume must match)
    again = train(load_config(None, [*TINY, "threads=1", "max_steps=4"]), out_dir=tmp_path / "cut",
                  progress=False, resume=True)
    assert again.threads == 1 and again.steps == 4
