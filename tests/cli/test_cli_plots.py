"""Every PNG a command writes explains itself (issue 30): a title naming what and which
sampler/setting, labelled axes, and a legend or colour bar for its colours and marks."""

from __future__ import annotations

import matplotlib.figure
import pytest
from tests.cli.test_cli_sample_anyprocess import ap_run  # noqa: F401  (a tiny AP-MDM run)


@pytest.fixture
def saved_figures(monkeypatch):
    """The matplotlib figures saved while the test runs, in order."""
    figures = []
    original = matplotlib.figure.Figure.savefig

    def savefig(self, *args, **kwargs):
        figures.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return figures


def _titles(fig) -> str:
    sup = fig._suptitle.get_text() if fig._suptitle is not None else ""
    return " ".join([sup, *(ax.get_title() for ax in fig.axes)])


def _check_explains_itself(fig, *names: str) -> None:
    titles = _titles(fig)
    for name in names:
        assert name in titles, f"{name!r} not in the titles {titles!r}"
    for ax in fig.axes:
        if not ax.axison:
            continue
        if hasattr(ax, "_colorbar"):
            assert ax.get_ylabel() or ax.get_xlabel(), "colour bar without a label"
        else:
            assert ax.get_xlabel() and ax.get_ylabel(), f"unlabelled axes in {titles!r}"
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends or any(hasattr(ax, "_colorbar") for ax in fig.axes), f"no legend in {titles!r}"
    for legend in legends:
        assert all(t.get_text() for t in legend.get_texts())


def test_sample_trace_png_names_the_sampler(run_dir, run, tmp_path, capsys, saved_figures):
    rc, _, err = run(["sample", run_dir, "--unmasker", "eb", "--gamma", "0.5", "--num", "2", "--trace",
                      tmp_path / "t.png"], capsys)
    assert rc == 0, err
    [fig] = saved_figures
    _check_explains_itself(fig, "EntropyBounded(", "temperature 1", "steps")


def test_tune_schedule_heatmap_names_the_grid_metric_and_best(run, tmp_path, capsys, saved_figures):
    argv = ["tune-schedule", "--language", "ngram:vocab=4,order=2,branching=2,seed=0", "--steps", "4",
            "--length", "8", "--samples", "8", "--refine-samples", "8", "--top", "1", "--grid-a", "0.5,1",
            "--grid-b", "0.5,1", "--out", tmp_path / "t", "--no-progress"]
    rc, _, err = run(argv, capsys)
    assert rc == 0, err
    [fig] = saved_figures
    _check_explains_itself(fig, "Beta(a, b) schedules", "4 steps", "ngram:vocab=4")
    [legend] = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legend.get_texts()[0].get_text().startswith("best: Beta(")


def test_demo_training_curve_names_the_run(tmp_path, saved_figures):
    from mdm.demo import plot_training_curve

    metrics = [{"split": "train", "step": s, "loss": 3.0 - 0.1 * s} for s in range(1, 6)]
    metrics.append({"split": "val", "step": 5, "val_nelbo_nats_per_token": 2.6})
    plot_training_curve(metrics, tmp_path / "c.png", 1.0, title="Training curve: kjv-char-tiny, fp32, seed 0")
    [fig] = saved_figures
    _check_explains_itself(fig, "kjv-char-tiny")
    assert "bits/char" in fig.axes[0].get_ylabel()


def test_anyprocess_trace_png_explains_itself(ap_run, run, tmp_path, capsys, saved_figures):  # noqa: F811
    rc, _, err = run(["sample", ap_run, "--prompt", "ab_c", "--steps", "3", "--temperature", "0", "--trace",
                      tmp_path / "t.png"], capsys)
    assert rc == 0, err
    [fig] = saved_figures
    title = _titles(fig)  # boxes, not axes: the title is the caption of every colour and mark
    assert str(ap_run) in title and "temperature 0" in title and "at most 3 transitions" in title
    assert all(k in title for k in ("red: delete", "yellow: remask", "green: unmask", "+: insert"))
