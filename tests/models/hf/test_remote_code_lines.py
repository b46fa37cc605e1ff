"""LLaDA-style and Dream-style remote code written for transformers 4.x (tests/models/hf/remote_code,
our own code in the style of those repositories) on both transformers lines that the `hf` extra
allows.  On 5.x (what CI installs) such code fails inside transformers: from_hf says so in one
ModelConfigError line naming the working pin.  On 4.x both load, their logits are the model's own
(Dream's un-shifted), they sample, and a padded batch sent to the LLaDA-style model (which ignores
attention_mask) warns.  CI covers 4.x through the slow test at the bottom, which reruns this file in
a second environment (``MDM_TRANSFORMERS4`` = a ``pip install --target`` folder with
transformers 4.57.1, huggingface_hub 0.36.0 and tokenizers 0.22.1 put first on the path)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch
from tiny_hf import BERT_SPECIALS, make_tokenizer, transformers

import mdm
from mdm.errors import ModelConfigError
from mdm.models.hf import from_hf
from mdm.models.hf.load import FIVE_X_PIN
from mdm.sampling import TopK

HERE = Path(__file__).parent
FOUR_X = int(transformers.__version__.split(".")[0]) < 5
STYLES = {
    "llada": ("modeling_llada_style", "LLaDAConfig", "LLaDAModelLM",
              dict(d_model=32, n_heads=2, n_layers=2, mlp_hidden_size=64, max_sequence_length=64)),
    "dream": ("modeling_dream_style", "DreamConfig", "DreamModel",
              dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                   max_position_embeddings=64)),
}


def _default_rope(config, device=None, *args, **kwargs):
    dim = config.hidden_size // config.num_attention_heads
    return config.rope_theta ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim), 1.0


def save_style(root: Path, style: str) -> Path:
    """A folder as the hub holds it: config.json with auto_map, the modeling file, weights, tokenizer."""
    import importlib.util

    from safetensors.torch import save_file
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    module, config_cls, model_cls, dims = STYLES[style]
    out = root / style
    out.mkdir()
    shutil.copy(HERE / "remote_code" / f"{module}.py", out / f"{module}.py")
    tok = make_tokenizer(BERT_SPECIALS)
    spec = importlib.util.spec_from_file_location(f"_fixture_{module}", out / f"{module}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    config = getattr(mod, config_cls)(vocab_size=len(tok), mask_token_id=tok.mask_token_id, **dims)
    torch.manual_seed(0)
    with mock.patch.dict(ROPE_INIT_FUNCTIONS, {"default": _default_rope}):  # to build weights on any line
        model = getattr(mod, model_cls)(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    state = {k: v.contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"))
    raw = config.to_dict()
    raw.update(architectures=[model_cls], auto_map={"AutoConfig": f"{module}.{config_cls}",
                                                    "AutoModel": f"{module}.{model_cls}"})
    (out / "config.json").write_text(json.dumps(raw))
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def style_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("remote-styles")
    return {s: save_style(root, s) for s in STYLES}


@pytest.mark.skipif(FOUR_X, reason="transformers 5.x behaviour")
@pytest.mark.parametrize("style", list(STYLES))
def test_on_5x_remote_code_for_4x_is_one_line_naming_the_pin(style_dirs, style):
    with pytest.raises(ModelConfigError) as e:
        from_hf(style_dirs[style], trust_remote_code=True, verbose=False)
    msg = str(e.value)
    assert "\n" not in msg and FIVE_X_PIN in msg and transformers.__version__ in msg


@pytest.mark.skipif(not FOUR_X, reason="transformers 4.x behaviour")
@pytest.mark.parametrize("style", list(STYLES))
def test_on_4x_both_styles_load_with_the_models_own_logits_and_sample(style_dirs, style):
    den = from_hf(style_dirs[style], trust_remote_code=True, dtype=torch.float32, verbose=False)
    assert den.kind == style
    tok = den.tokenizer
    x = torch.tensor([[tok.cls_token_id, *tok.convert_tokens_to_ids(["w1", "w2"]), den.mask_id, den.mask_id]])
    with torch.no_grad():
        own = den.model(input_ids=x).logits.float()
        got = den(x)
    if style == "dream":  # output i - 1 predicts token i
        own = torch.cat([own[:, :1], own[:, :-1]], dim=1)
    keep = torch.isfinite(got)
    assert torch.equal(got[keep], own[keep]) and not keep[..., den.mask_id].any()
    out = mdm.sample(den, prompt=x[0, :3], length=4, unmasker=TopK(1))
    assert not (out.tokens == den.mask_id).any()


@pytest.mark.skipif(not FOUR_X, reason="transformers 4.x behaviour")
def test_on_4x_a_padded_batch_warns_only_for_a_model_that_ignores_attention_mask(style_dirs):
    prompts = [torch.tensor([2, 7]), torch.tensor([2, 7, 8, 9])]
    llada = from_hf(style_dirs["llada"], trust_remote_code=True, verbose=False)
    with pytest.warns(UserWarning, match="ignores attention_mask"):
        mdm.sample(llada, prompt=prompts, length=3)
    dream = from_hf(style_dirs["dream"], trust_remote_code=True, verbose=False)
    together = mdm.sample(dream, prompt=prompts, length=3)  # honours the mask, relative positions
    for i, p in enumerate(prompts):
        assert torch.equal(together.tokens[i, -3:], mdm.sample(dream, prompt=p, length=3).tokens[0, -3:])


@pytest.mark.slow
@pytest.mark.skipif(FOUR_X, reason="this is the 5.x run; it starts the 4.x one")
def test_this_file_passes_on_transformers_4x_in_a_second_environment():
    overlay = os.environ.get("MDM_TRANSFORMERS4")
    if not overlay or not Path(overlay, "transformers").is_dir():
        pytest.skip("set MDM_TRANSFORMERS4 to a `pip install --target DIR --no-deps transformers==4.57.1 "
                    "huggingface_hub==0.36.0 tokenizers==0.22.1` folder")
    root = HERE.parents[2]
    path = os.pathsep.join([overlay, str(root / "src"), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    files = [Path(__file__), HERE / "test_padding.py", HERE / "test_from_hf.py", HERE / "test_export_hub.py"]
    res = subprocess.run([sys.executable, "-m", "pytest", *map(str, files), "-q", "-p", "no:cacheprovider"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0 and "4.57" in subprocess.run(
        [sys.executable, "-c", "import transformers; print(transformers.__version__)"], env=env,
        capture_output=True, text=True).stdout, res.stdout[-3000:]


def test_the_dtype_keyword_follows_the_transformers_line():
    """transformers 4.56 renamed from_pretrained's torch_dtype to dtype; 4.45-4.55 know only the old one."""
    from types import SimpleNamespace

    from mdm.models.hf.load import dtype_kwarg

    bf16 = torch.bfloat16
    for version, key in (("4.45.2", "torch_dtype"), ("4.55.4", "torch_dtype"), ("4.56.0", "dtype"),
                         ("4.57.1", "dtype"), ("5.25.0", "dtype")):
        assert dtype_kwarg(SimpleNamespace(__version__=version), bf16) == {key: bf16}
    assert dtype_kwarg(SimpleNamespace(__version__="4.46.0"), None) == {}
