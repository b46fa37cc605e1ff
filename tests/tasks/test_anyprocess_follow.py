"""follow / follow_local: an exact solver model follows every trajectory; a model with one wrong rule
stops at that rule's first use; the local incremental outputs equal a full pass."""

import random

import pytest
import torch

from mdm.errors import MDMError
from mdm.models.anyprocess import AnyProcessConfig, AnyProcessModel, AnyProcessOutput
from mdm.tasks.anyprocess import parity_paper as pp
from mdm.tasks.anyprocess.follow import _decisions, _frozen, _refresh, follow, follow_local

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


def test_an_exact_rule_follows_every_trajectory_a_broken_one_stops_where_it_first_acts():
    bits = pp.random_bits(12, 40, seed=1) + [[1, 0] * 20]
    trajs = [pp.trajectory(b, T) for b in bits]
    assert follow(RuleModel(), trajs, **IDS, batch_size=5) == [len(t) for t in trajs]
    assert [follow_local(RuleModel(), t, **IDS) for t in trajs] == [len(t) for t in trajs]
    broken = RuleModel(broken=(1, 0))
    first = [next((k for k, t in enumerate(tr) if t.x[1:3] == (1, 0)), len(tr)) for tr in trajs]
    assert first[-1] == 0 and any(0 < f < len(t) for f, t in zip(first, trajs))
    assert follow(broken, trajs, **IDS, batch_size=5) == first
    assert [follow_local(broken, t, **IDS) for t in trajs] == first


def test_wall_limit_leaves_the_rest_unfinished_and_global_models_are_refused_by_follow_local():
    trajs = [pp.trajectory(b, T) for b in pp.random_bits(3, 30, seed=2)]
    assert follow(RuleModel(), trajs, **IDS, max_wall_s=0.0) == [None] * 3
    assert follow_local(RuleModel(), trajs[0], **IDS, max_wall_s=0.0) is None
    glob = AnyProcessModel(AnyProcessConfig(vocab_size=T.vocab_size, mask_id=T.mask_id, pad_id=T.pad_id))
    with pytest.raises(MDMError):
        follow_local(glob, trajs[0], **IDS)


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
            return [v[0] for v in _decisions(model(x), x, _frozen(x, [T.bos_id]))]

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
