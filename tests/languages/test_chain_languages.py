"""NGram and HMM against brute-force enumeration of all V^L sequences (exact oracles)."""

import itertools
import math

import pytest
import torch

from mdm.languages import HMM, NGram

LANGUAGES = {
    "bigram": lambda: NGram.random(3, order=2, branching=2, seed=1),
    "trigram": lambda: NGram.random(3, order=3, branching=2, seed=2),
    "bigram-v4": lambda: NGram.random(4, order=2, branching=2, seed=3),
    "unigram": lambda: NGram.random(4, order=1, branching=3, seed=4),
    "hmm": lambda: HMM.random(4, 3, seed=0),
    "hmm-v4": lambda: HMM.random(3, 4, seed=1, successors=2),
    "hmm-end": lambda: HMM.random(2, 2, seed=5, end=2),  # + eos, pad: the padding regime
}


def all_sequences(vocab_size: int, length: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(vocab_size), repeat=length)))


def brute_conditionals(lang, xm: torch.Tensor) -> torch.Tensor:
    """p(x_i = v | clean positions) by summing p over every consistent sequence; [B, L, V]."""
    v, length = lang.vocab_size, xm.shape[1]
    seqs = all_sequences(v, length)
    p = lang.log_prob(seqs).exp()
    out = torch.zeros(xm.shape[0], length, v, dtype=torch.float64)
    for b in range(xm.shape[0]):
        clean = xm[b] != v
        w = p * ((seqs == xm[b]) | ~clean).all(dim=1)
        for i in range(length):
            out[b, i].index_add_(0, seqs[:, i], w)
    return out / out.sum(dim=-1, keepdim=True)


@pytest.fixture(params=list(LANGUAGES), scope="module")
def lang(request):
    return LANGUAGES[request.param]()


@pytest.mark.parametrize("length", [1, 3, 5])
def test_log_prob_normalised_and_sparse(lang, length):
    seqs = all_sequences(lang.vocab_size, length)
    log_p = lang.log_prob(seqs)
    assert log_p.dtype == torch.float64 and log_p.shape == (len(seqs),)
    assert abs(torch.logsumexp(log_p, 0).item()) < 1e-12
    valid = lang.is_valid(seqs)
    assert valid.dtype == torch.bool
    assert torch.equal(valid, log_p > float("-inf"))
    if length == 5:
        assert (~valid).any(), "sparse languages must have impossible sequences"


@pytest.mark.parametrize("length", [2, 5])
def test_denoiser_equals_brute_force(lang, length):
    v = lang.vocab_size
    g = torch.Generator().manual_seed(length)
    x = lang.sample(12, length, g)
    masked = torch.rand(12, length, generator=g) < 0.5
    masked[0] = True  # fully masked row
    masked[1] = False  # fully clean row
    xm = torch.where(masked, v, x)
    den = lang.denoiser()
    assert den.vocab_size == v + 1 and den.mask_id == v
    logits = den(xm)
    assert logits.shape == (12, length, v + 1)
    assert torch.isneginf(logits[..., v]).all()
    probs = logits[..., :v].exp()
    ref = brute_conditionals(lang, xm)
    assert (probs[masked] - ref[masked]).abs().max().item() < 1e-6
    # Clean positions: one-hot (0 at the observed token, -inf elsewhere).
    clean_logits = logits[~masked][:, :v]
    onehot = torch.nn.functional.one_hot(x[~masked], v).bool()
    assert (clean_logits[onehot] == 0).all() and torch.isneginf(clean_logits[~onehot]).all()


def test_impossible_context_gives_uniform():
    lang = NGram.random(3, order=2, branching=1, seed=0)  # each token has one successor
    first = 0
    nxt = int(lang.next_probs[first].argmax())
    bad = (nxt + 1) % 3
    x = torch.tensor([[first, bad, 3]])  # [first, bad] is impossible
    probs = lang.denoiser()(x)[0, 2, :3].exp()
    assert torch.allclose(probs, torch.full((3,), 1 / 3, dtype=torch.float64))


def test_sample_frequencies_match_log_prob(lang):
    n, length = 20_000, 3
    x = lang.sample(n, length, torch.Generator().manual_seed(123))
    assert x.dtype == torch.long and x.shape == (n, length)
    seqs = all_sequences(lang.vocab_size, length)
    code = (x * lang.vocab_size ** torch.arange(length - 1, -1, -1)).sum(dim=1)
    freq = torch.bincount(code, minlength=len(seqs)).double() / n
    tv = 0.5 * (freq - lang.log_prob(seqs).exp()).abs().sum().item()
    assert tv < 0.03
    assert lang.is_valid(x).all()


def test_sample_is_seeded(lang):
    a = lang.sample(7, 6, torch.Generator().manual_seed(5))
    b = lang.sample(7, 6, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


@pytest.mark.parametrize("length", [1, 2, 4])
def test_entropy_against_brute_force(lang, length):
    log_p = lang.log_prob(all_sequences(lang.vocab_size, length))
    exact = -torch.special.xlogy(log_p.exp(), log_p.exp()).sum().item()
    est = lang.entropy(length, samples=4096, seed=0)
    if isinstance(lang, NGram):
        assert est.exact and est.stderr == 0.0
        assert est.value == pytest.approx(exact, abs=1e-10)
        assert lang.conditional_entropies(length).sum().item() == pytest.approx(exact, abs=1e-10)
    else:
        assert not est.exact and est.stderr > 0
        assert abs(est.value - exact) < 3 * est.stderr


def test_unigram_entropy_is_length_times_token_entropy():
    lang = NGram.random(5, order=1, branching=3, seed=7)
    p = lang.next_probs
    h = -torch.special.xlogy(p, p).sum().item()
    assert lang.entropy(10).value == pytest.approx(10 * h, rel=1e-12)
    assert lang.entropy_rate(10) == pytest.approx(h, rel=1e-12)


def test_hand_bigram_and_equivalent_hmm():
    # p(1|0) = 1, p(0|1) = p(1|1) = 1/2, uniform start.
    bigram = NGram(torch.tensor([[0.0, 1.0], [0.5, 0.5]]), initial=torch.tensor([0.5, 0.5]))
    x = torch.tensor([[0, 1, 0], [1, 1, 1], [0, 0, 1]])
    expected = torch.tensor([math.log(0.25), math.log(0.125), float("-inf")], dtype=torch.float64)
    assert torch.allclose(bigram.log_prob(x), expected)
    # p(x_1 | x_0 = 1, x_2 = 1): x_1 = 0 -> 1/2 * 1, x_1 = 1 -> 1/2 * 1/2  => (2/3, 1/3).
    probs = bigram.denoiser()(torch.tensor([[1, 2, 1]]))[0, 1, :2].exp()
    assert torch.allclose(probs, torch.tensor([2 / 3, 1 / 3], dtype=torch.float64))
    # The same chain as an HMM whose states emit their own index.
    hmm = HMM(torch.tensor([0.5, 0.5]), bigram.next_probs, torch.eye(2))
    xm = torch.tensor([[2, 1, 2, 2], [0, 2, 2, 1], [2, 2, 2, 2]])
    assert torch.allclose(hmm.denoiser()(xm).exp(), bigram.denoiser()(xm).exp(), atol=1e-12)
    seqs = all_sequences(2, 4)
    assert torch.allclose(hmm.log_prob(seqs).exp(), bigram.log_prob(seqs).exp(), atol=1e-12)


@pytest.mark.parametrize("make", [lambda: NGram.random(6, order=3, branching=3, seed=9),
                                  lambda: HMM.random(8, 6, seed=9, successors=3)])
def test_long_sequences_single_site_conditionals(make):
    """At L = 120 the conditional of one masked site must equal p(x with v there) / sum_v."""
    lang = make()
    length, v = 120, lang.vocab_size
    x = lang.sample(4, length, torch.Generator().manual_seed(1))
    assert torch.isfinite(lang.log_prob(x)).all()
    sites = torch.tensor([0, 57, 101, length - 1])
    xm = x.clone()
    xm[torch.arange(4), sites] = v
    cond = lang.denoiser()(xm)[torch.arange(4), sites, :v]
    filled = x.repeat_interleave(v, dim=0)
    filled[torch.arange(4 * v), sites.repeat_interleave(v)] = torch.arange(v).repeat(4)
    joint = lang.log_prob(filled).view(4, v)
    ref = joint - torch.logsumexp(joint, dim=1, keepdim=True)
    assert torch.allclose(cond.exp(), ref.exp(), atol=1e-9)
    assert torch.equal(torch.isneginf(cond), torch.isneginf(ref))


def test_tiny_but_possible_paths_stay_possible():
    """A path e^-820 less likely than the rest must not be rounded to impossible."""
    # State 0 emits only token 0; state 1 emits 0 w.p. 1e-3 and 2 otherwise; states never move.
    f64 = {"dtype": torch.float64}
    emission = torch.tensor([[1.0, 0.0, 0.0], [1e-3, 0.0, 1 - 1e-3]], **f64)
    hmm = HMM(torch.tensor([0.5, 0.5], **f64), torch.eye(2, **f64), emission)
    n = 120  # (1e-3)^120 = e^-829 underflows float64 unless the engine stays in log space
    x = torch.tensor([[0] * n + [2]])
    tail = math.log(0.5) + n * math.log(1e-3)
    assert hmm.log_prob(x).item() == pytest.approx(tail + math.log(1 - 1e-3), rel=1e-12)
    logits = hmm.denoiser()(torch.tensor([[0] * n + [3]]))[0, -1]
    log_z = math.log(0.5)  # + e^tail, below float64 resolution
    assert logits[2].item() == pytest.approx(tail + math.log(1 - 1e-3) - log_z, rel=1e-12)
    assert logits[0].item() == pytest.approx(0.0, abs=1e-12)
    assert torch.isneginf(logits[1])
    # Backward direction: a final 2 forces state 1, so the first token follows state 1's emission.
    probs = hmm.denoiser()(torch.tensor([[3] + [0] * (n - 1) + [2]]))[0, 0, :3].exp()
    assert torch.allclose(probs, emission[1], atol=1e-12)


@pytest.mark.parametrize("mean_length", [1, 3])
def test_end_of_text_is_an_answer_then_eos_then_padding(mean_length):
    """p(w eos pad...) = p_base(w) (1-q)^(|w|-1) q and p(w) = p_base(w) (1-q)^(L-1) for |w| = L,
    q = 1 / mean_length; every other sequence (pad before eos, a token after eos...) is impossible."""
    base = HMM.random(2, 3, seed=7)
    lang = base.with_end(mean_length)
    length, q = 4, 1.0 / mean_length
    eos, pad = base.vocab_size, base.vocab_size + 1
    assert lang.vocab_size == base.vocab_size + 2
    assert HMM.random(2, 3, seed=7, end=mean_length).vocab_size == 5
    seqs = all_sequences(lang.vocab_size, length)
    log_p = lang.log_prob(seqs)
    expected = torch.zeros_like(log_p)
    for i, row in enumerate(seqs.tolist()):
        n = row.index(eos) if eos in row else length
        answer, rest = row[:n], row[n + 1:]
        if n == 0 or any(t >= eos for t in answer) or any(t != pad for t in rest):
            continue
        p_base = base.log_prob(torch.tensor([answer]))[0].exp().item()
        expected[i] = p_base * (1 - q) ** (n - 1) * (q if n < length else 1.0)
    assert torch.allclose(log_p.exp(), expected, atol=1e-12) and abs(expected.sum().item() - 1) < 1e-12
    with pytest.raises(Exception, match="mean answer length"):
        base.with_end(0)
