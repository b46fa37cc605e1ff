"""Helpers: tiny Hugging Face models and tokenizers built locally (no hub): a word-level tokenizer over a
fixed vocabulary, random BERT / RoBERTa / ModernBERT masked LMs, and custom-code LLaDA-like and
Dream-like models whose answer at each position is known."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

WORDS = [f"w{i}" for i in range(20)]
BERT_SPECIALS = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
ROBERTA_SPECIALS = {"pad": "<pad>", "unk": "<unk>", "cls": "<s>", "sep": "</s>", "mask": "<mask>",
                    "bos": "<s>", "eos": "</s>"}


def make_tokenizer(specials: dict[str, str], *, mask: bool = True):
    """A word-level fast tokenizer: the special tokens first, then WORDS."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit

    names = list(dict.fromkeys(v for k, v in specials.items() if mask or k != "mask"))
    vocab = {t: i for i, t in enumerate(names + WORDS)}
    backend = Tokenizer(WordLevel(vocab, unk_token=specials["unk"]))
    backend.pre_tokenizer = WhitespaceSplit()
    kw = {f"{k}_token": v for k, v in specials.items() if mask or k != "mask"}
    return transformers.PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=32, **kw)


def _tiny(arch: str, tok):
    common = dict(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, pad_token_id=tok.pad_token_id)
    if arch == "bert":
        cfg = transformers.BertConfig(max_position_embeddings=64, **common)
        return transformers.BertForMaskedLM(cfg)
    if arch == "roberta":
        cfg = transformers.RobertaConfig(max_position_embeddings=64, bos_token_id=tok.bos_token_id,
                                         eos_token_id=tok.eos_token_id, **common)
        return transformers.RobertaForMaskedLM(cfg)
    if arch == "modernbert":
        cfg = transformers.ModernBertConfig(max_position_embeddings=64, cls_token_id=tok.cls_token_id,
                                            sep_token_id=tok.sep_token_id, bos_token_id=tok.cls_token_id,
                                            eos_token_id=tok.sep_token_id, local_attention=16, **common)
        return transformers.ModernBertForMaskedLM(cfg)
    raise ValueError(arch)


def save_masked_lm(arch: str, root: Path, *, mask: bool = True) -> Path:
    torch.manual_seed(0)
    tok = make_tokenizer(ROBERTA_SPECIALS if arch == "roberta" else BERT_SPECIALS, mask=mask)
    model = _tiny(arch, tok).eval()
    out = root / arch
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


# Custom-code diffusion LMs: raw output j is a near one-hot on ANSWER(j + shift), so after the
# adapter's un-shifting the denoiser's logits at position i must peak at ANSWER(i).
CUSTOM_CODE = '''
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput


class TinyDiffusionConfig(PretrainedConfig):
    model_type = "{model_type}"

    def __init__(self, vocab_size=25, shift=0, mask_token_id=4, **kw):
        self.vocab_size, self.shift, self.mask_token_id = vocab_size, shift, mask_token_id
        super().__init__(**kw)


def answer(pos, vocab_size):
    """The token the model is sure of at position pos: a word id (never a special token)."""
    return 5 + (3 * pos + 1) % (vocab_size - 5)


class TinyDiffusionModel(PreTrainedModel):
    config_class = TinyDiffusionConfig

    def __init__(self, config):
        super().__init__(config)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.post_init()

    def _init_weights(self, module):
        pass

    def forward(self, input_ids, attention_mask=None, **kw):
        b, n = input_ids.shape
        pos = torch.arange(n) + self.config.shift  # output j speaks about position j + shift
        hot = torch.nn.functional.one_hot(answer(pos, self.config.vocab_size), self.config.vocab_size)
        logits = 10.0 * hot.float().expand(b, n, -1) + self.bias
        return MaskedLMOutput(logits=logits)
'''


def save_custom(root: Path, model_type: str, shift: int) -> Path:
    out = root / model_type
    out.mkdir()
    (out / "modeling_tiny.py").write_text(textwrap.dedent(CUSTOM_CODE.format(model_type=model_type)))
    config = {"model_type": model_type, "architectures": ["TinyDiffusionModel"], "vocab_size": len(WORDS) + 5,
              "shift": shift, "mask_token_id": 4,
              "auto_map": {"AutoConfig": "modeling_tiny.TinyDiffusionConfig",
                           "AutoModel": "modeling_tiny.TinyDiffusionModel"}}
    (out / "config.json").write_text(json.dumps(config))
    from safetensors.torch import save_file

    save_file({"bias": torch.zeros(len(WORDS) + 5)}, str(out / "model.safetensors"))
    make_tokenizer(BERT_SPECIALS).save_pretrained(out)
    return out


def answer(pos: int, vocab_size: int = len(WORDS) + 5) -> int:
    return 5 + (3 * pos + 1) % (vocab_size - 5)

