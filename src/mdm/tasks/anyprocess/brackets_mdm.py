"""The bracket task (:mod:`~mdm.tasks.anyprocess.brackets`) for a plain, fixed-length MDM: the baseline.

A plain MDM cannot delete, so it writes the answer into a separate region instead of editing its
input.  One item, for inputs of at most ``width`` symbols::

    prompt (width + 1)                      answer region (width + 1)
    <pad> <pad> ( ) ) ( ( ) <bos>           ( ) ( ) <eos> <pad> <pad> <pad> <pad>

The input is left-padded so ``bos`` always ends the prompt; the answer region holds
:func:`~mdm.tasks.anyprocess.brackets.balance` of the input, ``eos``, then ``pad``.  Only the answer
region is masked and scored (as the ``arithmetic`` task lays out variable-length answers).  A
decoded answer is valid when it is ``y eos pad*`` with ``y`` :func:`~mdm.tasks.anyprocess.brackets.valid`.
"""

from __future__ import annotations

import torch

from mdm.errors import DataError
from mdm.tasks.anyprocess.brackets import balance, random_inputs, tokenizer, valid
from mdm.tasks.base import DataBundle, TensorItems, register_task

__all__ = ["BracketsMDMDataset", "brackets_mdm_task"]


class BracketsMDMDataset(TensorItems):
    """Inputs of at most ``width`` symbols in the layout above: ``prompts()``, ``answer_len`` and
    ``verify(tokens)`` for :func:`mdm.eval.verified.decode_verified`."""

    def __init__(self, texts: list[str], width: int):
        tok = tokenizer()
        if not texts or any(not t or len(t) > width or set(t) - set("()") for t in texts):
            raise DataError(f"need non-empty strings over '()' of at most width={width} symbols")
        self.texts, self.width, self.tok = list(texts), width, tok
        self.prompt_len = self.answer_len = width + 1
        ids = torch.full((len(texts), 2 * width + 2), tok.pad_id, dtype=torch.long)
        for i, t in enumerate(texts):
            answer = tok.encode(balance(t)) + [tok.eos_id]
            ids[i, width - len(t): width + 1] = torch.tensor([*tok.encode(t), tok.bos_id])
            ids[i, width + 1: width + 1 + len(answer)] = torch.tensor(answer)
        eligible = torch.zeros_like(ids, dtype=torch.bool)
        eligible[:, width + 1:] = True
        super().__init__(ids, eligible=eligible)

    def prompts(self) -> torch.Tensor:
        return self.input_ids[:, : self.prompt_len].clone()

    def verify(self, tokens: torch.Tensor) -> torch.Tensor:
        """Which rows' answer regions are ``y eos pad*`` with ``y`` a valid answer for their input."""
        tok, ok = self.tok, []
        for row, text in zip(tokens[:, self.prompt_len:].tolist(), self.texts):
            end = row.index(tok.eos_id) if tok.eos_id in row else None
            good = (end is not None and all(v == tok.pad_id for v in row[end + 1:])
                    and all(v in tok.encode("()") for v in row[:end]))
            ok.append(good and valid(tok.decode(row[:end]), text))
        return torch.tensor(ok, dtype=torch.bool)


@register_task("brackets-mdm")
def brackets_mdm_task(*, seq_len: int = 34, seed: int = 0, n_train: int = 2000, n_val: int = 200,
                      min_len: int = 1, max_len: int = 16) -> DataBundle:
    """The same random inputs as ``ap-brackets`` (same options, same seed), laid out for a plain MDM."""
    if seq_len != 2 * max_len + 2:
        raise DataError(f"the layout of inputs up to {max_len} symbols is {2 * max_len + 2} tokens; "
                        f"set seq_len={2 * max_len + 2}, got {seq_len}")
    train = BracketsMDMDataset(random_inputs(n_train, min_len, max_len, seed), max_len)
    val = BracketsMDMDataset(random_inputs(n_val, min_len, max_len, seed + 1), max_len)
    return DataBundle(train=train, val=val, tokenizer=train.tok, seq_len=seq_len)
