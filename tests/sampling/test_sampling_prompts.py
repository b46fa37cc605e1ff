"""Batched prompts of different lengths (left padding + attention mask) and classifier-free guidance:
each row comes out as it does alone (exact oracle, temperature 0), cfg_scale=0 is the plain sampler,
guidance combines uncond + (1 + s)(cond - uncond) with the prompt masked, NFE counts both passes."""

import pytest
import torch

import mdm
from mdm.errors import MDMError, SamplingError, TokenError
from mdm.languages import HMM
from mdm.sampling import EntropyBounded, ReMDM, Scheduled, Threshold, TopK, left_pad
from mdm.sampling.guidance import ModelCall, cfg_logits


class Unpadded:
    """An exact oracle that honours ``attention_mask``: each row's conditionals are computed on its
    real tokens only (HMM conditionals are defined for any length), padding gets -inf."""

    supports_output_mask = True
    time_conditioned = False

    def __init__(self, den):
        self.den, self.vocab_size, self.mask_id = den, den.vocab_size, den.mask_id
        self.calls = []

    def __call__(self, x, attention_mask=None, output_mask=None):
        self.calls.append((x.clone(), None if attention_mask is None else attention_mask.clone()))
        if attention_mask is None:
            out = self.den(x)
        else:
            out = torch.full((*x.shape, self.vocab_size), float("-inf"), dtype=torch.float64)
            for i in range(x.shape[0]):
                real = attention_mask[i]
                out[i, real] = self.den(x[i:i + 1, real])[0]
        return out if output_mask is None else out[output_mask]


@pytest.fixture(scope="module")
def hmm():
    return HMM.random(n_states=3, vocab_size=4, seed=7)


@pytest.fixture(scope="module")
def ragged(hmm):
    seqs = hmm.sample(4, 3, generator=torch.Generator().manual_seed(1))
    return [seqs[0, :0], seqs[1, :1], seqs[2, :3], seqs[3, :2]]


def _alone(den, prompt, **kw):
    return mdm.sample(den, prompt=prompt if prompt.numel() else None, **kw)


@pytest.mark.parametrize(("unmasker", "block_size"), [
    (TopK(1), None), (Scheduled(6), 3), (EntropyBounded(0.5), None), (Threshold(0.6), 3),
])
@pytest.mark.parametrize("cfg_scale", [0.0, 1.5])
def test_ragged_prompts_give_each_row_its_solo_output(hmm, ragged, unmasker, block_size, cfg_scale):
    den = Unpadded(hmm.denoiser())
    kw = dict(length=6, unmasker=unmasker, block_size=block_size, cfg_scale=cfg_scale)
    together = mdm.sample(den, prompt=ragged, **kw)
    width = max(p.numel() for p in ragged)
    assert together.tokens.shape == (4, width + 6)
    assert torch.equal(together.prompt_mask, left_pad(ragged, 0)[1])
    assert len({tuple(r) for r in together.tokens[:, width:].tolist()}) > 1
    for i, p in enumerate(ragged):
        alone = _alone(den, p, **kw)
        assert torch.equal(together.tokens[i, width - p.numel():], alone.tokens[0])
        assert together.nfe[i] == alone.nfe[0]


def test_prompt_mask_equals_the_list_form_and_follows_rows_that_stop(hmm, ragged):
    den = Unpadded(hmm.denoiser())
    prompt, mask = left_pad(ragged, 1)
    a = mdm.sample(den, prompt=ragged, pad_id=1, length=6, stop=2)
    b = mdm.sample(den, prompt=prompt, prompt_mask=mask, pad_id=1, length=6, stop=2)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.nfe, b.nfe)
    assert len(set(a.nfe.tolist())) > 1  # rows left the batch at different steps
    for i, p in enumerate(ragged):
        alone = _alone(den, p, length=6, stop=2, pad_id=1)
        assert torch.equal(a.tokens[i, 3 - p.numel():], alone.tokens[0])


def test_an_unpadded_prompt_mask_takes_the_fast_path(hmm, ragged):
    den = Unpadded(hmm.denoiser())
    prompt = torch.stack([r[:0] for r in ragged]).reshape(4, 0)
    full = torch.tensor([[1, 2, 0], [0, 1, 3]])
    mdm.sample(den, prompt=full, prompt_mask=torch.ones(2, 3, dtype=torch.bool), length=3)
    assert all(attn is None for _, attn in den.calls)
    assert mdm.sample(den, prompt=prompt, length=2).prompt_mask is None


def _transformer(time_conditioned):
    from mdm.models.transformer import TransformerConfig, TransformerDenoiser

    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=12, mask_id=11, d_model=32, n_layers=2, n_heads=2, max_len=32,
                            time_conditioned=time_conditioned)
    return TransformerDenoiser(cfg).eval()


@pytest.mark.parametrize("time_conditioned", [False, True])
def test_ragged_prompts_on_a_transformer_match_solo_runs(time_conditioned):
    """RoPE is relative and padded keys are masked, so a left-padded row sees what it sees alone
    (up to float rounding; argmax decoding then gives the same tokens)."""
    model = _transformer(time_conditioned)
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(0, 11, (n,), generator=g) for n in (5, 1, 3)]
    kw = dict(length=8, unmasker=TopK(2), block_size=4)
    together = mdm.sample(model, prompt=prompts, **kw)
    for i, p in enumerate(prompts):
        alone = mdm.sample(model, prompt=p, **kw)
        assert torch.equal(together.tokens[i, 5 - p.numel():], alone.tokens[0])


def test_cfg_scale_zero_is_the_plain_sampler(hmm):
    den = hmm.denoiser()
    prompt = hmm.sample(3, 2, generator=torch.Generator().manual_seed(0))
    for unmasker, temperature in [(TopK(1), 0.0), (ReMDM(8, eta=0.1), 1.0)]:
        kw = dict(prompt=prompt, length=4, unmasker=unmasker, temperature=temperature, seed=0)
        plain, guided = mdm.sample(den, **kw), mdm.sample(den, cfg_scale=0.0, **kw)
        assert torch.equal(plain.tokens, guided.tokens) and torch.equal(plain.nfe, guided.nfe)


class PromptSensitive:
    """Logits [c] when position 0 (the prompt) is clean, [u] when it is masked."""

    vocab_size, mask_id = 4, 3

    def __init__(self, c, u):
        self.c, self.u = torch.tensor(c + [float("-inf")]), torch.tensor(u + [float("-inf")])

    def __call__(self, x, attention_mask=None):
        rows = torch.where((x[:, :1] == self.mask_id), self.u, self.c)  # [B, V]
        return rows[:, None, :].expand(*x.shape, -1).clone()


def test_guidance_follows_the_formula_and_costs_two_passes():
    den = PromptSensitive([2.0, 1.9, 0.0], [2.0, 0.0, 0.0])
    plain = mdm.sample(den, prompt=torch.tensor([0]), length=2, unmasker=TopK(1))
    guided = mdm.sample(den, prompt=torch.tensor([0]), length=2, unmasker=TopK(1), cfg_scale=1.0)
    assert plain.tokens[0, 1:].tolist() == [0, 0]  # argmax of cond
    assert guided.tokens[0, 1:].tolist() == [1, 1]  # argmax of cond + (cond - uncond) = [2, 3.8, 0]
    assert plain.nfe.tolist() == [2] and guided.nfe.tolist() == [4]


def test_the_unconditional_pass_masks_only_real_prompt_tokens(hmm):
    den = Unpadded(hmm.denoiser())
    x = torch.tensor([[0, 0, 2, 4, 4], [1, 3, 0, 4, 1]])  # 4 = mask; row 0 has one pad column
    real = torch.tensor([[False, True, True], [True, True, True]])
    attn = torch.cat([real, torch.ones(2, 2, dtype=torch.bool)], dim=1)
    call = ModelCall(den, vocab_size=5, mask_id=4, time_conditioned=False, output_mask=True, attention=attn,
                     prompt_real=real, cfg_scale=0.5)
    where = x[:, 3:] == 4
    got, owned = call.logits(x, None, 3, 5, where)
    uncond_x = torch.tensor([[0, 4, 4, 4, 4], [4, 4, 4, 4, 1]])
    cond, uncond = den(x, attn)[:, 3:][where], den(uncond_x, attn)[:, 3:][where]
    assert owned and torch.allclose(got, cfg_logits(cond, uncond, 0.5))
    assert torch.equal(den.calls[0][0][2:], uncond_x)  # the second half of the batch: prompt masked


def test_cfg_logits_keeps_ruled_out_tokens_finite_free():
    c = torch.tensor([1.0, float("-inf"), 0.5, float("-inf")])
    u = torch.tensor([0.0, 0.0, float("-inf"), float("-inf")])
    out = cfg_logits(c, u, 2.0)
    assert out[0] == 3.0 and out[1] == float("-inf") and out[2] == 0.5 and out[3] == float("-inf")


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    (dict(cfg_scale=-1.0), SamplingError, "cfg_scale"),
    (dict(cfg_scale=float("nan")), SamplingError, "cfg_scale"),
    (dict(cfg_scale=True), SamplingError, "cfg_scale"),
    (dict(prompt=torch.tensor([[1, 2]]), prompt_mask=torch.tensor([[True, False]])), TokenError,
     "left padding"),
    (dict(prompt=torch.tensor([[1, 2]]), prompt_mask=torch.tensor([[True]])), TokenError, "shape"),
    (dict(prompt=torch.tensor([[1, 2]]), prompt_mask=torch.tensor([[0.0, 1.0]])), TokenError, "bool"),
    (dict(prompt=torch.tensor([[1, 2]]), prompt_mask=torch.tensor([[2, 1]])), TokenError, "True/False"),
    (dict(prompt=[torch.tensor([1]), torch.tensor([[1]])]), TokenError, "1-D"),
    (dict(prompt=[]), TokenError, "empty"),
    (dict(prompt=[torch.tensor([1])], prompt_mask=torch.tensor([True])), SamplingError, "one or the other"),
])
def test_bad_prompt_masks_and_scales_raise(hmm, kwargs, error, words):
    with pytest.raises(error, match=words) as e:
        mdm.sample(hmm.denoiser(), length=3, **kwargs)
    assert isinstance(e.value, MDMError)
