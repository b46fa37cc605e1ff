"""MDMHarnessLM on exact oracles: loglikelihood ranks continuations by their true probability (it is
-NELBO, a bound), generate_until stops on `until`, and lm_eval.simple_evaluate runs a local task."""

from __future__ import annotations

import itertools
import json
import math
import textwrap

import pytest
import torch

from mdm.eval.harness import MDMHarnessLM
from mdm.languages import Enumerated
from mdm.sampling import TopK

lm_eval = pytest.importorskip("lm_eval")
from lm_eval.api.instance import Instance  # noqa: E402


class Letters:
    """Text <-> ids for the oracles: 'a' -> 0, 'b' -> 1, 'c' -> 2 (no special tokens)."""

    alphabet = "abc"

    def encode(self, text):
        return [self.alphabet.index(c) for c in text]

    def decode(self, ids):
        return "".join(self.alphabet[i] for i in ids if i < len(self.alphabet))


def _pairs_language():
    """All 16 strings of length 4 over {a, b}; p(x) ∝ 8 when the last two letters mirror the first
    two, 1 otherwise: given "ab" the likely continuation is "ba" (8/11), the others 1/11 each."""
    seqs = [list(s) for s in itertools.product([0, 1], repeat=4)]
    w = torch.tensor([8.0 if s[2:] == s[:2][::-1] else 1.0 for s in seqs])
    return Enumerated(seqs, w / w.sum())


def _req(kind, *args):
    return Instance(request_type=kind, doc={}, arguments=args, idx=0)


def test_loglikelihood_ranks_and_approximates_the_true_log_probability():
    lm = MDMHarnessLM(_pairs_language().denoiser(), Letters(), samples=400, seed=0, max_len=4)
    out = lm.loglikelihood([_req("loglikelihood", "ab", "ba"), _req("loglikelihood", "ab", "aa"),
                            _req("loglikelihood", "bb", "bb")])
    (likely, g1), (unlikely, g2), (mirror, _) = out
    assert likely > unlikely and mirror > unlikely
    # n = 400 ELBO draws over a 2-token continuation; an exact oracle's ELBO is unbiased for log p.
    assert abs(likely - math.log(8 / 11)) < 0.1 and abs(unlikely - math.log(1 / 11)) < 0.25
    assert g1 and not g2  # greedy decoding gives "ba" after "ab"
    assert lm.stats["loglikelihood"] == 3 and "LOWER BOUND" in lm.bound_note


def test_loglikelihood_rolling_is_the_whole_texts_bound():
    lang = _pairs_language()
    lm = MDMHarnessLM(lang.denoiser(), Letters(), samples=400, seed=0, max_len=4)
    [ll] = lm.loglikelihood_rolling([_req("loglikelihood_rolling", "abba")])
    true = float(lang.log_prob(torch.tensor([[0, 1, 1, 0]]))[0])
    assert abs(ll - true) < 0.15


def _cycle_language():
    """One sequence, "abcabcab": every position is certain."""
    return Enumerated([[0, 1, 2, 0, 1, 2, 0, 1]], [1.0])


def test_generate_until_stops_on_until_and_saves_nfe():
    lm = MDMHarnessLM(_cycle_language().denoiser(), Letters(), unmasker=TopK(k=1), max_len=8)
    [text] = lm.generate_until([_req("generate_until", "ab", {"until": ["a"], "max_gen_toks": 6})])
    assert text == "c"
    assert lm.stats["nfe"] == 2  # c, then a: the stop string is revealed and the row is done
    [text] = lm.generate_until([_req("generate_until", "ab", {"until": ["cc"], "max_gen_toks": 6})])
    assert text == "cabcab" and lm.stats["nfe"] == 2 + 6


def test_simple_evaluate_on_a_local_task(tmp_path):
    """A 5-item multiple-choice task from a local YAML + JSONL, offline; acc = 1 on the oracle."""
    items = [("ab", ["aa", "ba", "bb"], 1), ("ba", ["ab", "bb"], 0), ("aa", ["ab", "aa"], 1),
             ("bb", ["bb", "ba"], 0), ("ab", ["ab", "ba"], 1)]
    data = tmp_path / "toy.jsonl"
    data.write_text("\n".join(json.dumps({"context": c, "choices": ch, "label": y}) for c, ch, y in items))
    (tmp_path / "toy.yaml").write_text(textwrap.dedent(f"""
        task: mdm_toy_mirror
        dataset_path: json
        dataset_kwargs:
          data_files:
            test: {data}
        test_split: test
        output_type: multiple_choice
        doc_to_text: "{{{{context}}}}"
        doc_to_choice: "{{{{choices}}}}"
        doc_to_target: "{{{{label}}}}"
        target_delimiter: ""
        metric_list:
          - metric: acc
    """))
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    lm = MDMHarnessLM(_pairs_language().denoiser(), Letters(), samples=64, seed=0, max_len=4,
                      greedy_check=False)
    tm = TaskManager(include_path=str(tmp_path), include_defaults=False)
    res = simple_evaluate(model=lm, tasks=["mdm_toy_mirror"], task_manager=tm, bootstrap_iters=0)
    assert res["results"]["mdm_toy_mirror"]["acc,none"] == 1.0
    assert lm.stats["loglikelihood"] == sum(len(ch) for _, ch, _ in items)


def test_draws_follow_the_target_standard_error_and_count_nfe():
    """The harness adds ELBO draws until each request's Monte-Carlo standard error is at most the
    target; the estimate is then within 4 standard errors of log p (exact oracle: unbiased)."""
    lm = MDMHarnessLM(_pairs_language().denoiser(), Letters(), target_stderr=0.05, min_samples=16,
                      max_samples=4096, seed=0, max_len=4, greedy_check=False)
    reqs = [_req("loglikelihood", "ab", "ba"), _req("loglikelihood", "ab", "aa")]
    (likely, _), (unlikely, _) = lm.loglikelihood(reqs)
    mc = lm.mc_summary()["?"]
    assert mc["max_request_stderr"] <= 0.05 and mc["requests"] == 2
    assert mc["mean_draws"] > 16  # the 16 first draws were not enough for 0.05 nats
    assert abs(likely - math.log(8 / 11)) < 4 * 0.05 and abs(unlikely - math.log(1 / 11)) < 4 * 0.05
    assert lm.stats["nfe"] == 2 * mc["mean_draws"]  # one pass per draw (no greedy check)
    assert 0 < mc["nelbo_stderr"] <= 0.05 / math.sqrt(2) + 1e-12
    fixed = MDMHarnessLM(_pairs_language().denoiser(), Letters(), samples=7, max_len=4, greedy_check=False)
    fixed.loglikelihood(reqs)
    assert fixed.mc_summary()["?"]["mean_draws"] == 7 and fixed.stats["nfe"] == 14


class Calls:
    """Counts the forward calls of a denoiser."""

    def __init__(self, den):
        self.den, self.vocab_size, self.mask_id, self.calls = den, den.vocab_size, den.mask_id, 0

    def __call__(self, x, attention_mask=None):
        self.calls += 1
        return self.den(x)


def test_batched_requests_share_forward_passes_and_agree():
    reqs = [_req("loglikelihood", c, t) for c, t in [("ab", "ba"), ("ab", "aa"), ("ba", "ab"), ("a", "bba")]]
    out = {}
    for b in (1, 3):
        den = Calls(_pairs_language().denoiser())
        lm = MDMHarnessLM(den, Letters(), samples=300, seed=0, max_len=4, greedy_check=False, batch_size=b)
        out[b] = ([ll for ll, _ in lm.loglikelihood(reqs)], den.calls)
    assert out[3][1] < out[1][1]  # three equal-length requests in one batch: fewer passes
    for one, three in zip(out[1][0], out[3][0]):
        assert abs(one - three) < 0.3  # two independent 300-draw estimates of the same bound
