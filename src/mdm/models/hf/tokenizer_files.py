"""An mdm tokenizer written as Hugging Face tokenizer files, same ids, so an exported folder's
``AutoTokenizer.from_pretrained(DIR)`` encodes text exactly as mdm does.

* ``char`` -- a word-level vocabulary of single characters, split one character per token;
* ``byte`` -- the 256 bytes through GPT-2's printable byte alphabet, one byte per token, id = byte;
* ``hf`` / ``gpt2`` -- the stored ``tokenizers`` JSON itself.

The special tokens (``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``, ``<mask>``) keep mdm's ids.
``mdm_tokenizer.json`` (mdm's own description) is written beside them; :func:`mdm.load` reads that.
"""

from __future__ import annotations

import json
from pathlib import Path

from mdm.tokenizers import MASK, UNK, Tokenizer

__all__ = ["hf_backend", "write_tokenizer_files"]


def _printable_bytes() -> dict[int, str]:
    """Byte -> a printable character (GPT-2's byte-level alphabet: printable bytes map to
    themselves, the others to code points 256 and up, in byte order)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


def hf_backend(tokenizer: Tokenizer):
    """A ``tokenizers.Tokenizer`` with the same ids as ``tokenizer``."""
    from tokenizers import Regex, decoders, pre_tokenizers
    from tokenizers import Tokenizer as Backend
    from tokenizers.models import WordLevel

    kind = tokenizer.to_dict()["kind"]
    if kind in ("hf", "gpt2"):
        return Backend.from_str(tokenizer._tok.to_str())
    one_char = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    specials = {i: name for i, name in tokenizer.special_tokens.items()}
    if kind == "char":
        vocab = {c: i for i, c in enumerate(tokenizer.alphabet)}
        backend = Backend(WordLevel({**vocab, **{n: i for i, n in specials.items()}}, unk_token=UNK))
        backend.pre_tokenizer = one_char
        backend.decoder = decoders.Fuse()
    elif kind == "byte":
        vocab = {ch: b for b, ch in _printable_bytes().items()}
        backend = Backend(WordLevel({**vocab, **{n: i for i, n in specials.items()}}, unk_token=MASK))
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False), one_char])
        backend.decoder = decoders.ByteLevel()
    else:
        return None
    backend.add_special_tokens([specials[i] for i in sorted(specials)])
    return backend


def write_tokenizer_files(tokenizer: Tokenizer, out: Path, *, max_len: int) -> None:
    (out / "mdm_tokenizer.json").write_text(json.dumps(tokenizer.to_dict()) + "\n", encoding="utf-8")
    backend = hf_backend(tokenizer)
    if backend is None:  # a user tokenizer kind: mdm_tokenizer.json only
        return
    backend.save(str(out / "tokenizer.json"))
    ids = {"pad_token": tokenizer.pad_id, "eos_token": tokenizer.eos_id, "mask_token": tokenizer.mask_id,
           "bos_token": tokenizer.bos_id, "unk_token": getattr(tokenizer, "unk_id", None)}
    # The backend's own strings (GPT-2's end token is <|endoftext|>, not mdm's display name <eos>).
    special = {k: backend.id_to_token(i) for k, i in ids.items() if i is not None}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_len,
              "clean_up_tokenization_spaces": False, **special}
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n", encoding="utf-8")
