"""`mdm exp hf-samplers` without the AntiBERTy wheel: its settings, report and plot from a made-up result
(the end-to-end run is tests/models/hf/test_antiberty.py::test_hf_samplers_quick, skipped without it)."""

from mdm.experiments import evidence_box
from mdm.experiments import hf_samplers as hf


def _row(sampler, setting, nfe, nelbo, ci):
    return {"sampler": sampler, "setting": setting, "nfe": nfe, "nelbo_per_token": nelbo, "nelbo_stderr": 0.1,
            "nelbo_ci": ci, "valid_fraction": 1.0, "greedy_nfe": int(nfe), "greedy_agreement": 1.0,
            "seconds": 0.1, "example": "GFTF"}


def test_settings_start_with_the_one_per_step_reference():
    setup = hf.PRESETS["full"]
    settings = hf._settings(setup)
    assert settings[0][:2] == ("scheduled", f"steps={setup.length}")  # the greedy reference comes first
    assert [s[0] for s in settings].count("eb") == len(setup.gamma)


def test_report_shows_the_ci_and_the_plot_is_titled(tmp_path):
    result = {"preset": "quick", "model": "AntiBERTy", "length": 16, "transformers": "x",
              "rows": [_row("scheduled", "steps=16", 16.0, 1.69, [0.67, 2.72]),
                       _row("eb", "gamma=1", 5.5, 0.69, [0.40, 0.99]),
                       _row("threshold", "tau=0.5", 1.0, 0.70, [0.09, 1.31])]}
    text = hf.EXPERIMENT.report(result, hf.PRESETS["quick"])
    assert "| scheduled | steps=16 | 16 | 1.7 [0.7, 2.7] |" not in text  # three digits, not one
    assert "1.690 [0.670, 2.720]" in text and "](nfe_vs_quality.png)" in text
    assert hf.EXPERIMENT.plots(result, tmp_path) == ["nfe_vs_quality.png"]
    assert (tmp_path / "nfe_vs_quality.png").stat().st_size > 0


def test_evidence_box_of_the_full_preset():
    box = evidence_box("hf-samplers", "full")
    assert "8 test items" in box and "bootstrap CI over sequences" in box
