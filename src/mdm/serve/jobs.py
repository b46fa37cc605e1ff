"""From a checked request to sampling calls, and from tokens back to OpenAI text.

Each prompt of a request becomes one :class:`~mdm.sampling.stepper.Stepper` of ``n`` rows -- the
very ``mdm.sample`` call ``mdm sample`` would make (same unmasker spec grammar, same seed), so its
output equals ``mdm.sample`` for that prompt alone.  :class:`TextView` turns a row's tokens into
the text a client sees: while denoising, the clean prefix of the generated region (text a client
can append: held back by one token less than the longest stop sequence, so a stop sequence is
never shown before it is cut); once done, the generated text up to the first stop sequence.
"""

from __future__ import annotations

import torch

from mdm.errors import MDMError
from mdm.protocol import max_len_of
from mdm.sampling import from_spec
from mdm.sampling.stepper import Stepper
from mdm.serve.schemas import APIError, Completion

__all__ = ["ServedModel", "TextView", "make_steppers"]


class ServedModel:
    """The one model a server holds: the denoiser, its tokenizer, its id and its length limit."""

    def __init__(self, model, tokenizer, model_id: str):
        self.model, self.tokenizer, self.id = model, tokenizer, model_id
        self.max_len: int | None = max_len_of(model)
        self.prefix_ids = list(getattr(tokenizer, "prefix_ids", []))
        self.mask_id = model.mask_id

    def encode(self, text: str, what: str) -> list[int]:
        ids = self.tokenizer.encode(text)
        unk = getattr(self.tokenizer, "unk_id", None)
        if unk is not None and unk in ids:
            raise APIError(f"{what} has characters this model's tokenizer does not know", param=what)
        return ids

    def piece(self, token: int) -> str:
        """One token as text, special tokens by name (``<pad>``)."""
        return self.tokenizer.decode([token], skip_special=False)


def _stop_ids(served: ServedModel, stops: list[str]) -> list[list[int]] | None:
    out = []
    for s in stops:  # "<eos>": the end-of-text token, as in `mdm sample --stop`
        ids = [served.tokenizer.eos_id] if s == "<eos>" else served.encode(s, "stop")
        if not ids:
            raise APIError(f"stop {s!r} encodes to no tokens", param="stop")
        out.append(ids)
    return out or None


def make_steppers(served: ServedModel, req: Completion) -> list[tuple[Stepper, TextView]]:
    """One stepper (``req.n`` rows) and its text view per prompt; a bad request raises APIError."""
    stop = _stop_ids(served, req.stop)
    seed = req.seed if req.seed is not None else int(torch.randint(0, 2**62, (1,)))
    out = []
    for i, prompt in enumerate(req.prompts):
        ids = served.prefix_ids + (served.encode(prompt, "prompt") if isinstance(prompt, str) else prompt)
        room = None if served.max_len is None else served.max_len - len(ids)
        if room is not None and room < 1:
            raise APIError(f"prompt {i} takes {len(ids)} tokens: the model's whole length {served.max_len}; "
                           "shorten it", param="prompt", code="context_length_exceeded")
        length = req.max_tokens if req.max_tokens is not None else min(room or 16, 16)
        if room is not None and length > room:
            raise APIError(f"prompt {i} ({len(ids)} tokens) + max_tokens {length} exceeds the model's length "
                           f"{served.max_len}: ask for at most {room}", param="max_tokens",
                           code="context_length_exceeded")
        try:
            extra = {} if req.steps is None else {"steps": req.steps}
            unmasker = from_spec(req.unmasker, length=length, **extra)
        except MDMError as e:
            raise APIError(str(e), param="mdm.unmasker") from None
        try:
            stepper = Stepper(served.model, batch_size=req.n, length=length,
                              prompt=torch.tensor(ids, dtype=torch.long) if ids else None,
                              unmasker=unmasker, block_size=req.block_size, temperature=req.temperature,
                              top_p=req.top_p, stop=stop, seed=seed, pad_id=served.tokenizer.pad_id,
                              cache=req.cache)
        except MDMError as e:
            raise APIError(str(e), param=_param_of(e)) from None
        out.append((stepper, TextView(served, stepper.prompt_len, stop)))
    return out


def _param_of(e: MDMError) -> str | None:
    text = str(e)
    for key, param in (("block_size", "mdm.block_size"), ("cache", "mdm.cache"), ("prompt", "prompt"),
                       ("stop", "stop"), ("unmasker", "mdm.unmasker")):
        if key in text:
            return param
    return None


class TextView:
    """Text of one stepper's rows: append-only deltas while denoising, the final text at the end."""

    def __init__(self, served: ServedModel, prompt_len: int, stop: list[list[int]] | None):
        self.served, self.prompt_len, self.stop = served, prompt_len, stop or []
        self.hold = max((len(s) for s in self.stop), default=1) - 1
        self.shown: dict[int, str] = {}

    def _decode(self, ids: list[int]) -> str:
        return self.served.tokenizer.decode(ids)

    def final(self, row: torch.Tensor) -> tuple[str, str, int]:
        """``(text, finish_reason, completion_tokens)`` of a finished row: cut before the earliest
        stop sequence (OpenAI's rule: the stop text is not returned)."""
        ids = row[self.prompt_len:].tolist()
        cut = _first_stop(ids, self.stop)
        if cut is None:
            return self._decode(ids), "length", len(ids)
        return self._decode(ids[:cut]), "stop", cut

    def delta(self, r: int, row: torch.Tensor, done: bool) -> str:
        """Text to append for row ``r`` now (empty when nothing new is certain)."""
        if done:
            text = self.final(row)[0]
        else:
            ids = row[self.prompt_len:].tolist()
            masked = [i for i, t in enumerate(ids) if t == self.served.mask_id]
            clean = len(ids) if not masked else masked[0]
            text = self._decode(ids[:max(0, clean - self.hold)]).rstrip("\ufffd")  # half a UTF-8 character
        shown = self.shown.get(r, "")
        if not text.startswith(shown) or len(text) == len(shown):
            return ""
        self.shown[r] = text
        return text[len(shown):]


def _first_stop(ids: list[int], stops: list[list[int]]) -> int | None:
    """Start of the earliest-ending stop sequence in ``ids`` (the loop's stop rule), or None."""
    best = None
    for s in stops:
        m = len(s)
        for start in range(len(ids) - m + 1):
            if ids[start:start + m] == s:
                if best is None or start + m < best[0]:
                    best = (start + m, start)
                break
    return None if best is None else best[1]
