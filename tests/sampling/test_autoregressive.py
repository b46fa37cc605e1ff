"""Greedy decoding of a causal baseline, against a model whose next token is known exactly."""

import torch

from mdm.sampling.autoregressive import greedy_continuation


class _Successor(torch.nn.Module):
    """Logits that favour ``(last token + 1) mod V`` at every position, and the mask token even more
    (so a decoder that forgets to exclude it emits masks)."""

    mask_id = 5
    vocab = 6

    def forward(self, x):
        logits = torch.nn.functional.one_hot((x + 1) % (self.vocab - 1), self.vocab).float()
        logits[..., self.mask_id] = 2.0
        return logits


def test_greedy_continuation_follows_the_argmax_and_never_emits_the_mask():
    prompts = torch.tensor([[0, 1], [3, 4]])
    out = greedy_continuation(_Successor(), prompts, 3)
    assert out.tolist() == [[0, 1, 2, 3, 4], [3, 4, 0, 1, 2]]
    assert prompts.tolist() == [[0, 1], [3, 4]]  # the prompts are left as they were


def test_greedy_continuation_matches_a_step_by_step_causal_model():
    """A real causal transformer: each appended token is the argmax (mask excluded) of a fresh
    forward pass over everything before it."""
    from mdm.models.transformer import TransformerConfig, TransformerDenoiser

    torch.manual_seed(0)
    model = TransformerDenoiser(TransformerConfig(vocab_size=7, mask_id=6, d_model=16, n_layers=1, n_heads=2,
                                                  max_len=12, learned_positions=True, causal=True)).eval()
    prompts = torch.randint(0, 6, (4, 3))
    out = greedy_continuation(model, prompts, 5)
    with torch.no_grad():
        for i in range(3, 8):
            logits = model(out[:, :i])[:, -1]
            logits[:, 6] = -float("inf")
            assert torch.equal(out[:, i], logits.argmax(-1))
