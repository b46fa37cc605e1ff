"""mdm.provenance: what every published number carries, written atomically."""

import json

import torch

from mdm.provenance import provenance, provenance_markdown, write_json_atomic, write_text_atomic


def test_provenance_names_the_command_seeds_versions_and_machine():
    prov = provenance("mdm exp x --seeds 0-1", 0, {"a": 1}, precision="fp32", seeds=[0, 1], wall_s=2.0)
    assert prov["command"] == "mdm exp x --seeds 0-1" and prov["config"] == {"a": 1}
    assert prov["versions"]["torch"] == torch.__version__ and prov["precision"] == "fp32"
    assert prov["machine"]["torch_threads"] == torch.get_num_threads() and prov["machine"]["cpu"]
    text = provenance_markdown(prov)
    assert "- seeds: 0, 1\n" in text and "- wall time: 2 s\n" in text and "CPU capability" in text
    assert "- seed: 3\n" in provenance_markdown(provenance("c", 3, {}))


def test_atomic_writes_replace_the_file_and_leave_no_temporary(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("old")
    write_json_atomic(path, {"x": (1, 2)})
    assert json.loads(path.read_text()) == {"x": [1, 2]}
    write_text_atomic(path, "new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["result.json"]
