"""follow / follow_local: an exact solver model follows every trajectory; a model with one wrong rule
stops at that rule's first use; the local incremental outputs equal a full pass."""

import random

import pytest
import torch

from mdm.errors import MDMError
from mdm.models.anyprocess import AnyProcessConfig, AnyProcessModel, AnyProcessOutput
from mdm.tasks.anyprocess import parity_paper as pp
from mdm.tasks.anyprocess.follow import _frozen, _refresh, follow, follow_local, greedy_decisions

T = pp.tokenizer()
IDS = dict(mask_id=T.mask_id, pad_id=T.pad_id, prompt_ids=[T.bos_id])


class RuleModel(torch.nn.Module):
    """Outputs the paper's parity rule (optionally with the window ``broken`` acted on wrongly):
    each position reads at most two positions back, so it is also a windowed model (halo 2)."""

    def __init__(self, broken=None):
        super().__init__()
        self.mask_id, self.pad_id, self.broken = T.mask_id, T.pad_id, broken
        self.config = AnyProcessConfig(vocab_size=T.vocab_size, mask_id=T.mask_id, window=1, n_layers=2,
                                       d_model=8, n_heads=1)

    def forward(self, x, attention_mask=None):
        Bn, L = x.shape
        bits = {k: torch.full((Bn, L), -10.0) for k in ("remask", "insert", "delete")}
        for b in range(Bn):
            s = x[b].tolist()
            if L >= 3 and s[0] == T.bos_id and (attention_mask is None or attention_mask[b, 2]):
                t = pp._step(s[:3], T)
                if (s[1], s[2]) == self.broken:
                    t = type(t).build(s[:3])  # does nothing there
                for k in bits:
                    bits[k][b, :3] = torch.tensor(getattr(t, k), dtype=torch.float) * 20 - 10
        logits = torch.zeros(Bn, L, T.vocab_size)
        logits[..., T.mask_id] = float("-inf")
        return AnyProcessOutput(logits, bits["remask"], bits["insert"], bits["delete"])


def _first_use(bits, window):
    """The step at which the solver first meets ``window`` (the two symbols after BOS), else None."""
    step, state, k = pp.solver(T), pp.start_state(bits)[0], 0
    while (nxt := step(state)) is not None:
        if tuple(state[1:3]) == window:
            return k
        state, k = nxt, k + 1
    return None


def _steps(bits):
    return len(pp.trajectory(bits))


def test_an_exact_rule_follows_every_run_a_broken_one_stops_where_it_first_acts():
    bits = pp.random_bits(12, 40, seed=1) + [[1, 0] * 20, [1]]
    starts = [pp.start_state(b)[0] for b in bits]
    want = [(_steps(b), True) for b in bits]
    assert want[-1] == (0, True)  # a single bit is already the answer
    assert follow(RuleModel(), starts, pp.solver(T), **IDS, batch_size=5) == want
    assert [follow_local(RuleModel(), s, pp.solver(T), **IDS) for s in starts] == want
    broken = RuleModel(broken=(1, 0))
    first = [_first_use(b, (1, 0)) for b in bits]
    want = [(f, False) if f is not None else (_steps(b), True) for f, b in zip(first, bits)]
    assert first[-2] == 0 and any(f and f > 0 for f in first)
    assert follow(broken, starts, pp.solver(T), **IDS, batch_size=5) == want
    assert [follow_local(broken, s, pp.solver(T), **IDS) for s in starts] == want


def test_cpu_limit_leaves_the_rest_unfinished_and_global_models_are_refused_by_follow_local():
    starts = [pp.start_state(b)[0] for b in pp.random_bits(3, 30, seed=2)]
    assert follow(RuleModel(), starts, pp.solver(T), **IDS, max_cpu_s=-1.0) == [None] * 3
    assert follow_local(RuleModel(), starts[0], pp.solver(T), **IDS, max_cpu_s=-1.0) is None
    glob = AnyProcessModel(AnyProcessConfig(vocab_size=T.vocab_size, mask_id=T.mask_id, pad_id=T.pad_id))
    with pytest.raises(MDMError):
        follow_local(glob, starts[0], pp.solver(T), **IDS)


@pytest.mark.parametrize("window,layers", [(1, 2), (2, 1), (1, 3)])
def test_refreshed_outputs_equal_a_full_pass_of_a_windowed_transformer(window, layers):
    torch.manual_seed(0)
    model = AnyProcessModel(AnyProcessConfig(vocab_size=T.vocab_size, mask_id=T.mask_id, pad_id=T.pad_id,
                                             d_model=16, n_heads=2, n_layers=layers, window=window,
                                             chunk=16)).eval()
    halo = window * layers

    def run(state):
        x = torch.tensor([state])
        with torch.no_grad():
            return [v[0] for v in greedy_decisions(model(x), x, _frozen(x, [T.bos_id]))]

    rng = random.Random(0)
    symbols = [0, 1, T.mask_id]
    for trial in range(60):
        state = [T.bos_id] + [rng.choice(symbols) for _ in range(rng.randint(5, 70))]
        at = rng.randint(1, len(state) - 1) if trial % 2 else rng.randint(1, 3)  # front edits, then anywhere
        cut = rng.randint(0, 3)
        want = state[:at] + [rng.choice(symbols) for _ in range(rng.randint(0, 3))] + state[at + cut:]
        if len(want) < 2:
            continue
        got = _refresh(run, run(state), state, want, halo)
        for g, w in zip(got, run(want)):
            assert torch.equal(g, w), (state, want)


def test_local_contexts_by_hand_and_the_coverage_the_results_page_states():
    from mdm.tasks.anyprocess.follow import local_contexts

    B, M = T.bos_id, T.mask_id
    got = local_contexts([pp.paper_windows(T)[0]], 1, M)  # BOS 0 1 -> remask the 0
    assert got == {(None, B, 0): {(None, False, False, False)}, (B, 0, 1): {(None, True, False, False)},
                   (0, 1, None): {(None, False, False, False)}}
    got = local_contexts([pp.paper_windows(T)[1]], 1, M)  # BOS M 1 -> delete the mask (it receives nothing)
    assert got[(B, M, 1)] == {(None, False, False, True)}
    # +-2 contexts: the 7 windows hold 21, all inputs of 1-5 bits 181 of the 189 that longer inputs reach;
    # the 8 missing ones are "M 0 b b b" (a bit two after a mask), where the rule does nothing
    wide = local_contexts(pp.transitions([1, 2, 3, 4, 5], T), 2, M)
    long = local_contexts([t for b in pp.random_bits(150, 30, seed=3) for t in pp.trajectory(b, T)]
                          + pp.transitions([6], T), 2, M)
    assert len(local_contexts(pp.paper_windows(T), 2, M)) == 21 and len(wide) == 181
    missing = {c: a for c, a in long.items() if c not in wide}
    assert len(long) == 189 and len(missing) == 8
    assert all(c[:2] == (M, 0) and a == {(None, False, False, False)} for c, a in missing.items())
    assert all(len(a) == 1 for a in {**wide, **long}.values())  # no context needs two actions
