"""AntiBERTy (Ruffolo et al. 2021, arXiv 2112.07782; MIT) as a local Hugging Face masked LM.

The PyPI wheel ``antiberty==0.1.3`` (``pip install 'mdm-lab[protein]'``) ships a BERT masked LM of
antibody sequences (8 layers, width 512, 25 tokens: 5 specials + the 20 amino acids) as a
``pytorch_model.bin`` inside the package.  :func:`antiberty_folder` reads those weights with
``torch.load(weights_only=True)`` (tensors only, no arbitrary unpickling), keeps the masked-LM
head (drops the species / chain / graft classifiers and the pooler), and writes a
``BertForMaskedLM`` folder with ``model.safetensors`` and a one-character-per-token tokenizer, so
``mdm.models.hf.from_hf(folder)`` and ``mdm sample --hf folder`` work offline.  Nothing of the
antiberty package's own code is imported or run.

    python -m mdm.models.hf.antiberty OUT_DIR [--wheel antiberty-0.1.3-py3-none-any.whl]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import zipfile
from pathlib import Path

import torch

from mdm.errors import DependencyError, ModelConfigError

__all__ = ["AMINO_ACIDS", "HEAVY_CHAINS", "antiberty_folder", "find_antiberty", "load_antiberty"]

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
# Heavy-chain variable domains of four therapeutic antibodies (public INN sequences): real chains
# whose residues a check masks and asks the model to recover (mdm exp hf-samplers, the tests).
HEAVY_CHAINS = {
    "trastuzumab": "EVQLVESGGGLVQPGGSLRLSCAASGFNIKDTYIHWVRQAPGKGLEWVARIYPTNGYTRYADSVKGRFTISADTSKNTA"
                   "YLQMNSLRAEDTAVYYCSRWGGDGFYAMDYWGQGTLVTVSS",
    "adalimumab": "EVQLVESGGGLVQPGRSLRLSCAASGFTFDDYAMHWVRQAPGKGLEWVSAITWNSGHIDYADSVEGRFTISRDNAKNSLY"
                  "LQMNSLRAEDTAVYYCAKVSYLSTASSLDYWGQGTLVTVSS",
    "pembrolizumab": "QVQLVQSGVEVKKPGASVKVSCKASGYTFTNYYMYWVRQAPGQGLEWMGGINPSNGGTNFNEKFKNRVTLTTDSSTTT"
                     "AYMELKSLQFDDTAVYYCARRDYRFDMGFDYWGQGTTVTVSS",
    "nivolumab": "QVQLVESGGGVVQPGRSLRLDCKASGITFSNSGMHWVRQAPGKGLEWVAVIWYDGSKRYYADSVKGRFTISRDNSKNTLF"
                 "LQMNSLRAEDTAVYYCATNDDYWGQGTLVTVSS",
}

_MODEL = "antiberty/trained_models/AntiBERTy_md_smooth/"
_VOCAB = "antiberty/trained_models/vocab.txt"
_DROP = ("cls.species.", "cls.chain.", "cls.graft.", "bert.pooler.", "bert.embeddings.position_ids")


def find_antiberty(wheel: str | Path | None = None) -> Path | None:
    """The wheel (``wheel``, else ``$MDM_ANTIBERTY_WHEEL``) or the installed package's folder; None
    when neither exists."""
    for candidate in (wheel, os.environ.get("MDM_ANTIBERTY_WHEEL")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    spec = importlib.util.find_spec("antiberty")  # locates the package without importing it
    if spec is not None and spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations))).parent
        if (root / _MODEL / "pytorch_model.bin").is_file():
            return root
    return None


def _read(source: Path, name: str) -> bytes:
    if source.is_file():
        with zipfile.ZipFile(source) as z:
            return z.read(name)
    return (source / name).read_bytes()


def _tokenizer(vocab: list[str]):
    from tokenizers import Regex, decoders, pre_tokenizers, processors
    from tokenizers import Tokenizer as Backend
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    backend = Backend(WordLevel({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")  # tokenizer(text) adds them, as BERT's does
    backend.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                           special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=512)


def load_antiberty(cache_dir: str | Path | None = None):
    """AntiBERTy as an mdm denoiser (:func:`mdm.models.hf.from_hf`, kind ``masked-lm``), converted
    once into ``cache_dir`` (default ``$MDM_CACHE/antiberty-0.1.3-hf``, ``$MDM_CACHE`` defaulting to
    ``~/.cache/mdm``)."""
    from mdm.models.hf import from_hf

    if cache_dir is None:
        cache_dir = Path(os.environ.get("MDM_CACHE", "~/.cache/mdm")).expanduser() / "antiberty-0.1.3-hf"
    return from_hf(antiberty_folder(cache_dir), kind="masked-lm", verbose=False)


def antiberty_folder(out_dir: str | Path, *, wheel: str | Path | None = None) -> Path:
    """Write (once) the AntiBERTy masked LM as an HF folder at ``out_dir`` and return it."""
    out = Path(out_dir)
    if (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file():
        return out
    source = find_antiberty(wheel)
    if source is None:
        raise DependencyError(
            "AntiBERTy not found: pip install 'mdm-lab[protein]' (antiberty==0.1.3), or pass the wheel "
            "(pip download antiberty==0.1.3 --no-deps) with --wheel / $MDM_ANTIBERTY_WHEEL"
        )
    import transformers

    try:
        raw = json.loads(_read(source, _MODEL + "config.json"))
        vocab = _read(source, _VOCAB).decode().split()
        state = torch.load(io.BytesIO(_read(source, _MODEL + "pytorch_model.bin")), map_location="cpu",
                           weights_only=True)
    except (KeyError, OSError, zipfile.BadZipFile, json.JSONDecodeError) as e:
        raise ModelConfigError(f"{source} is not the antiberty 0.1.3 package: {e}") from None
    keep = {k for k in transformers.BertConfig().to_dict() if k in raw} - {"architectures", "_name_or_path"}
    config = transformers.BertConfig(**{k: raw[k] for k in keep}, architectures=["BertForMaskedLM"])
    model = transformers.BertForMaskedLM(config)
    state = {k: v for k, v in state.items() if not k.startswith(_DROP)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.endswith("decoder.bias")]:
        raise ModelConfigError(f"AntiBERTy weights do not fit BertForMaskedLM: missing {missing}, "
                               f"unexpected {unexpected}")
    if vocab[5:] != list(AMINO_ACIDS) or len(vocab) != config.vocab_size:
        raise ModelConfigError(f"unexpected AntiBERTy vocabulary {vocab}")
    tmp = out.parent / f".{out.name}.tmp"
    model.eval().save_pretrained(tmp)
    _tokenizer(vocab).save_pretrained(tmp)
    if out.exists():
        out.rmdir()  # an empty leftover folder; a non-empty one raises here
    tmp.rename(out)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mdm.models.hf.antiberty",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir")
    p.add_argument("--wheel", help="antiberty-0.1.3-py3-none-any.whl (default: the installed package)")
    args = p.parse_args(argv)
    print(antiberty_folder(args.out_dir, wheel=args.wheel))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
