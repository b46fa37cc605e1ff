"""The loop: batch invariance, seeds, prompts, values (temperature, top-p, never the mask), early
stopping, input validation, traces, and denoisers that compute logits only where asked."""

import math

import pytest
import torch

import mdm
from mdm.errors import MDMError, SamplingError, TokenError
from mdm.languages import HMM
from mdm.sampling import (
    Ancestral,
    EntropyBounded,
    Scheduled,
    Threshold,
    TopK,
    plot_trace,
    render_denoising,
)
from mdm.sampling.trace import PROMPT


@pytest.fixture(scope="module")
def hmm():
    return HMM.random(n_states=4, vocab_size=5, seed=0)


@pytest.fixture(scope="module")
def prompts(hmm):
    return hmm.sample(6, 3, generator=torch.Generator().manual_seed(1))


UNMASKERS = [TopK(1), TopK(2, proxy="margin"), Scheduled(4), EntropyBounded(0.5), Threshold(0.6)]


@pytest.mark.parametrize("unmasker", UNMASKERS)
@pytest.mark.parametrize("block_size", [None, 4])
def test_batch_invariance_at_temperature_zero(hmm, prompts, unmasker, block_size):
    den = hmm.denoiser()
    together = mdm.sample(den, length=8, prompt=prompts, unmasker=unmasker, block_size=block_size)
    assert len({tuple(r) for r in together.tokens.tolist()}) > 1  # rows really differ
    for i in range(prompts.shape[0]):
        alone = mdm.sample(den, length=8, prompt=prompts[i], unmasker=unmasker, block_size=block_size)
        assert torch.equal(alone.tokens[0], together.tokens[i])
        assert alone.nfe[0] == together.nfe[i]


@pytest.mark.parametrize("unmasker", [*UNMASKERS, Ancestral(3), TopK(1, proxy="random")])
def test_seeds_prompts_and_no_mask_in_the_output(hmm, prompts, unmasker):
    den = hmm.denoiser()
    kw = dict(length=8, prompt=prompts, unmasker=unmasker, temperature=1.0)
    a = mdm.sample(den, seed=5, **kw)
    b = mdm.sample(den, generator=torch.Generator().manual_seed(5), **kw)
    c = mdm.sample(den, seed=6, **kw)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.nfe, b.nfe)
    assert not torch.equal(a.tokens, c.tokens)
    assert a.tokens.shape == (6, 11) and a.nfe.shape == (6,)
    assert torch.equal(a.tokens[:, :3], prompts)
    assert not (a.tokens == den.mask_id).any()
    assert hmm.is_valid(a.tokens).float().mean() > 0.5  # real samples of the language, mostly


def test_one_dimensional_prompt_is_shared_and_not_modified(hmm):
    prompt = torch.tensor([1, 2, 3])
    out = mdm.sample(hmm.denoiser(), batch_size=4, length=5, prompt=prompt, temperature=1.0, seed=0)
    assert torch.equal(prompt, torch.tensor([1, 2, 3]))
    assert torch.equal(out.tokens[:, :3], prompt.expand(4, -1))


class Fixed:
    """Same logits at every position whatever the context; the mask column is ``mask_logit``."""

    def __init__(self, probs, mask_logit=-math.inf):
        probs = torch.as_tensor(probs, dtype=torch.float64)
        self.logits = torch.cat([probs.log(), torch.tensor([mask_logit], dtype=torch.float64)])
        self.vocab_size, self.mask_id = len(self.logits), len(probs)

    def __call__(self, x, attention_mask=None):
        return self.logits.expand(*x.shape, -1)


P4 = [0.5, 0.3, 0.15, 0.05]


@pytest.mark.parametrize(("temperature", "top_p", "expected"), [
    (1.0, 1.0, P4),
    (1.0, 0.7, [0.625, 0.375, 0.0, 0.0]),  # nucleus {0, 1}: 0.5 < 0.7 <= 0.8
    (2.0, 1.0, [0.3789, 0.2935, 0.2075, 0.1198]),  # softmax(log p / 2)
    (2.0, 0.7, [0.4302, 0.3332, 0.2356, 0.0]),  # temperature first: the nucleus then holds 3 tokens
    (0.0, 1.0, [1.0, 0.0, 0.0, 0.0]),
])
def test_values_follow_temperature_and_top_p(temperature, top_p, expected):
    # 20,000 draws: the standard error of each frequency is <= 0.0036; tolerance 0.015.
    out = mdm.sample(Fixed(P4), batch_size=4000, length=5, unmasker=Ancestral(1), temperature=temperature,
                     top_p=top_p, seed=0)
    freq = torch.bincount(out.tokens.flatten(), minlength=5).double() / out.tokens.numel()
    assert freq[4] == 0
    assert torch.allclose(freq[:4], torch.tensor(expected, dtype=torch.float64), atol=0.015)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_the_mask_token_is_never_emitted(temperature):
    out = mdm.sample(Fixed([0.6, 0.4], mask_logit=10.0), batch_size=50, length=6, temperature=temperature,
                     seed=0)
    assert not (out.tokens == 2).any()


class Shift:
    """Context-aware toy: after prompt token ``a`` (position 0), position j holds ``(a + j) % 10``
    with probability ``conf(j)`` (by default falling with j: TopK reveals left to right).  Records
    the batch size of every call."""

    vocab_size, mask_id = 11, 10

    def __init__(self, conf=lambda j: 0.9 - 0.01 * j):
        self.conf, self.batches = conf, []

    def __call__(self, x, attention_mask=None):
        self.batches.append(x.shape[0])
        b, n = x.shape
        j = torch.arange(n)
        target = (x[:, :1] + j) % 10
        top = torch.tensor([self.conf(int(i)) for i in j], dtype=torch.float64).expand(b, n)
        probs = ((1 - top) / 9).unsqueeze(-1).repeat(1, 1, 10)
        probs.scatter_(-1, target.unsqueeze(-1), top.unsqueeze(-1))
        return torch.cat([probs.log(), torch.full((b, n, 1), -math.inf)], dim=-1)


def test_stop_sequences_end_rows_early_and_shrink_the_batch():
    den = Shift()
    prompt = torch.tensor([[0], [1], [5], [8]])  # token 9 appears at position 9, 8, 4, 1
    out = mdm.sample(den, length=8, prompt=prompt, stop=9, unmasker=TopK(1), pad_id=7)
    assert out.nfe.tolist() == [8, 8, 4, 1]
    assert den.batches == [4, 3, 3, 3, 2, 2, 2, 2]  # finished rows leave the forward pass
    assert out.tokens[2].tolist() == [5, 6, 7, 8, 9, 7, 7, 7, 7]
    assert out.tokens[3].tolist() == [8, 9] + [7] * 7
    assert out.tokens[0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8]  # no stop: untouched


def test_stop_pads_with_the_stop_token_and_handles_multi_token_sequences():
    prompt = torch.tensor([[4], [6]])
    out = mdm.sample(Shift(), length=8, prompt=prompt, stop=[[8, 9]])
    assert out.nfe.tolist() == [5, 3]
    assert out.tokens.tolist() == [[4, 5, 6, 7, 8, 9, 9, 9, 9], [6, 7, 8, 9, 9, 9, 9, 9, 9]]


def test_a_row_stops_only_once_everything_before_the_stop_is_clean():
    # Confidence grows with the position, so TopK(1) reveals right to left: the stop token (position
    # 4) shows up at the fifth step while positions 1..3 are still masked.
    den = Shift(conf=lambda j: 0.5 + 0.05 * j)
    out = mdm.sample(den, length=8, prompt=torch.tensor([5]), stop=9, pad_id=0, trace=True)
    assert int(out.nfe) == 8
    assert out.tokens[0].tolist() == [5, 6, 7, 8, 9, 0, 0, 0, 0]
    tr = out.trace
    assert tr.values[0].tolist() == [5, 6, 7, 8, 9, 0, 1, 2, 3]  # what was revealed before the pad
    assert tr.padded[0].tolist() == [False] * 5 + [True] * 4
    assert int(tr.stop_step[0]) == 7


BAD_INPUTS = [
    (dict(length=0), SamplingError, "length"),
    (dict(length=-3), SamplingError, "length"),
    (dict(length=None), SamplingError, "length"),
    (dict(length=8, batch_size=0), SamplingError, "batch_size"),
    (dict(length=8, prompt=torch.tensor([1, 5])), TokenError, "mask"),
    (dict(length=8, prompt=torch.tensor([1, 9])), TokenError, "outside"),
    (dict(length=8, prompt=torch.tensor([-1])), TokenError, "outside"),
    (dict(length=8, prompt=torch.tensor([1.0])), TokenError, "integer"),
    (dict(length=8, batch_size=3, prompt=torch.zeros(2, 2, dtype=torch.long)), TokenError, "rows"),
    (dict(length=8, block_size=3), SamplingError, "divides"),
    (dict(length=8, block_size=0), SamplingError, "block_size"),
    (dict(length=8, block_size=4, unmasker=Scheduled(3)), SamplingError, "evenly"),
    (dict(length=8, block_size=2, unmasker=Ancestral(2)), SamplingError, "evenly"),
    (dict(length=8, temperature=-1.0), SamplingError, "temperature"),
    (dict(length=8, temperature=math.nan), SamplingError, "temperature"),
    (dict(length=8, top_p=0.0), SamplingError, "top_p"),
    (dict(length=8, top_p=1.5), SamplingError, "top_p"),
    (dict(length=8, seed=1, generator=torch.Generator()), SamplingError, "not both"),
    (dict(length=8, seed="x"), SamplingError, "seed"),
    (dict(length=8, unmasker="topk"), SamplingError, "Unmasker"),
    (dict(length=8, stop=5), SamplingError, "stop"),
    (dict(length=8, stop=[[1], []]), SamplingError, "stop"),
    (dict(length=8, stop=[1.5]), SamplingError, "stop"),
    (dict(length=8, stop=1, pad_id=5), SamplingError, "pad_id"),
    (dict(length=8, trace="yes"), SamplingError, "trace"),
]


@pytest.mark.parametrize(("kwargs", "error", "words"), BAD_INPUTS)
def test_bad_input_raises_a_clear_error(kwargs, error, words):
    with pytest.raises(error, match=words) as info:
        mdm.sample(Fixed([0.2] * 5), **kwargs)
    assert isinstance(info.value, MDMError)


@pytest.mark.parametrize(("make", "words"), [
    (lambda: EntropyBounded(-0.1), "gamma"),
    (lambda: EntropyBounded(math.inf), "gamma"),
    (lambda: Threshold(0.0), "tau"),
    (lambda: Threshold(1.5), "tau"),
    (lambda: Scheduled(0), "steps"),
    (lambda: Ancestral(0), "steps"),
    (lambda: Ancestral(2.5), "steps"),
    (lambda: TopK(0), "k"),
    (lambda: Scheduled(4, schedule="linear"), "Schedule"),
    (lambda: TopK(1, proxy="confidance"), "proxy"),
])
def test_bad_unmasker_settings_raise(make, words):
    with pytest.raises(SamplingError, match=words):
        make()


def test_a_denoiser_without_the_protocol_is_rejected():
    with pytest.raises(SamplingError, match="Denoiser protocol"):
        mdm.sample(lambda x, attention_mask=None: x, length=4)


def test_trace_records_the_denoising_and_renders_it(tmp_path):
    prompt = torch.tensor([[2], [5]])
    out = mdm.sample(Shift(), length=6, prompt=prompt, stop=9, unmasker=TopK(2), trace=True)
    tr = out.trace
    assert torch.equal(tr.tokens, out.tokens)
    assert (tr.reveal_step[:, 0] == PROMPT).all()
    assert tr.counts().sum(dim=0).tolist() == [6, 4]  # row 1 stops after revealing 4 positions
    assert torch.equal(tr.frame(tr.num_steps - 1), out.tokens)
    assert (tr.frame(-1)[:, 1:] == 10).all()
    png = tmp_path / "trace.png"
    plot_trace(tr, png, rows=[0, 1])
    assert png.read_bytes()[:4] == b"\x89PNG"
    frames = render_denoising(tr, row=1, decode=lambda i: "abcdefghij"[i], sep="")
    assert frames == ["f______", "fgh____", "fghijjj"]  # the stop pads within the step
    colored = render_denoising(tr, row=0, color=True)
    assert "\x1b[1;32m" in colored[1] and len(colored) == 4


def _transformer(time_conditioned=False):
    from mdm.models.transformer import TransformerConfig, TransformerDenoiser

    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=12, mask_id=11, d_model=32, n_layers=2, n_heads=2, max_len=32,
                            time_conditioned=time_conditioned)
    return TransformerDenoiser(cfg).eval()


class FullLogits:
    """The same model seen through the bare protocol (no output_mask support)."""

    def __init__(self, model):
        self.model, self.vocab_size, self.mask_id = model, model.vocab_size, model.mask_id
        self.time_conditioned = model.time_conditioned

    def __call__(self, x, attention_mask=None, **kw):
        return self.model(x, attention_mask=attention_mask, **kw)


@pytest.mark.parametrize(("unmasker", "block_size", "temperature"), [
    (Scheduled(8), 4, 0.0), (EntropyBounded(0.5), 4, 0.0), (Ancestral(4), None, 1.0), (TopK(3), None, 1.0),
])
@pytest.mark.parametrize("time_conditioned", [False, True])
def test_logits_only_where_needed_give_the_same_samples(unmasker, block_size, temperature, time_conditioned):
    model = _transformer(time_conditioned)
    prompt = torch.randint(0, 11, (4, 3), generator=torch.Generator().manual_seed(0))
    kw = dict(length=8, prompt=prompt, unmasker=unmasker, block_size=block_size, temperature=temperature,
              seed=0)
    fast, full = mdm.sample(model, **kw), mdm.sample(FullLogits(model), **kw)
    assert torch.equal(fast.tokens, full.tokens) and torch.equal(fast.nfe, full.nfe)


@pytest.mark.gpu
def test_runs_on_cuda_without_leaving_the_device():
    model = _transformer().cuda()
    prompt = torch.randint(0, 11, (4, 3), generator=torch.Generator().manual_seed(0))
    for unmasker, block_size, temperature in [(Scheduled(8), 4, 0.0), (Ancestral(4), None, 1.0),
                                               (EntropyBounded(0.5), 4, 1.0), (Threshold(0.5), None, 0.5)]:
        out = mdm.sample(model, length=8, prompt=prompt, unmasker=unmasker, block_size=block_size,
                         temperature=temperature, top_p=0.9, stop=3, seed=0, trace=True)
        assert out.tokens.is_cuda and out.nfe.is_cuda
        assert torch.equal(out.tokens[:, :3].cpu(), prompt)
        assert not (out.tokens == model.mask_id).any()
