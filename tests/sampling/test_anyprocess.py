"""apply_transition on hand-worked cases (each rule and their precedence) and generate's halting."""

import pytest
import torch

from mdm.errors import MDMError
from mdm.models.anyprocess import AnyProcessOutput
from mdm.sampling.anyprocess import apply_transition, generate

M, P = 9, 8  # mask and pad ids in these hand-worked cases; tokens are 0..7


def T(*rows):
    return torch.tensor(rows, dtype=torch.long)


def B(*rows):
    return torch.tensor(rows, dtype=torch.bool)


def step(x, tokens, remask, insert, delete, lengths=None):
    return apply_transition(x, tokens, remask, insert, delete, mask_id=M, pad_id=P, lengths=lengths)


def test_unmask_keep_and_remask():
    # 1 M 3 M: the masks receive their predictions, the clean tokens are kept, position 2 is remasked
    x, tok = T([1, M, 3, M]), T([5, 6, 7, 0])
    out, n = step(x, tok, B([0, 0, 1, 0]), B([0, 0, 0, 0]), B([0, 0, 0, 0]))
    assert out.tolist() == [[1, 6, M, 0]] and n.tolist() == [4]


def test_remask_beats_unmask_and_a_remasked_mask_stays_masked():
    out, _ = step(T([M, M]), T([4, 5]), B([1, 0]), B([0, 0]), B([0, 0]))
    assert out.tolist() == [[M, 5]]


def test_delete_only_removes_masks():
    # delete bits everywhere: only the MASKs go; a clean token with delete set is kept (and unchanged)
    out, n = step(T([1, M, 2, M]), T([7, 7, 7, 7]), B([0, 0, 0, 0]), B([0, 0, 0, 0]), B([1, 1, 1, 1]))
    assert out.tolist() == [[1, 2]] and n.tolist() == [2]


def test_delete_beats_remask_on_a_mask_but_not_on_a_clean_token():
    # pos 0 (MASK, delete+remask) is deleted; pos 1 (clean, delete+remask) is remasked
    out, _ = step(T([M, 3]), T([1, 1]), B([1, 1]), B([0, 0]), B([1, 1]))
    assert out.tolist() == [[M]]


def test_insert_goes_after_the_positions_own_result():
    # pos 0 clean + insert -> "1 M"; pos 1 MASK unmasked to 6, then insert -> "6 M";
    # pos 2 remasked + insert -> "M M"
    out, n = step(T([1, M, 2]), T([0, 6, 0]), B([0, 0, 1]), B([1, 1, 1]), B([0, 0, 0]))
    assert out.tolist() == [[1, M, 6, M, M, M]] and n.tolist() == [6]


def test_a_deleted_position_inserts_nothing():
    out, _ = step(T([M, 2]), T([0, 0]), B([0, 0]), B([1, 0]), B([1, 0]))
    assert out.tolist() == [[2]]


def test_padding_is_ignored_and_refilled():
    x = T([1, M, P, P], [M, M, M, 2])
    tok = T([0, 4, 5, 5], [3, 3, 3, 3])
    ins = B([1, 0, 1, 1], [0, 0, 0, 0])
    dele = B([0, 0, 1, 1], [1, 0, 0, 0])
    out, n = step(x, tok, B([0, 0, 0, 0], [0, 1, 0, 0]), ins, dele, lengths=torch.tensor([2, 4]))
    assert n.tolist() == [3, 3]
    assert out.tolist() == [[1, M, 4], [M, 3, 2]]


def test_mixed_length_batch_equals_each_row_alone():
    g = torch.Generator().manual_seed(0)
    L, lengths = 7, [7, 3, 5, 0]
    x = torch.randint(0, 8, (4, L), generator=g)
    x[torch.rand(4, L, generator=g) < 0.4] = M
    tok = torch.randint(0, 8, (4, L), generator=g)
    bits = [torch.rand(4, L, generator=g) < 0.3 for _ in range(3)]
    for b, n in enumerate(lengths):
        x[b, n:] = P
    out, n_out = step(x, tok, *bits, lengths=torch.tensor(lengths))
    for b, n in enumerate(lengths):
        alone, n_alone = step(x[b:b + 1, :n], tok[b:b + 1, :n], *(t[b:b + 1, :n] for t in bits))
        assert n_out[b] == n_alone[0]
        assert out[b, : int(n_out[b])].tolist() == alone[0].tolist()
        assert (out[b, int(n_out[b]):] == P).all()


def test_probability_bits_threshold_at_half():
    out, _ = step(T([3, 4]), T([0, 0]), torch.tensor([[0.6, 0.4]]), torch.zeros(1, 2), torch.zeros(1, 2))
    assert out.tolist() == [[M, 4]]


@pytest.mark.parametrize("bad", [
    dict(remask=B([0, 0, 0])), dict(insert=torch.zeros(2, 2)), dict(tokens=T([1.0, 2.0]).float()),
    dict(lengths=torch.tensor([5])), dict(x=torch.zeros(2, dtype=torch.long)),
])
def test_bad_input_raises(bad):
    args = dict(x=T([1, M]), tokens=T([0, 0]), remask=B([0, 0]), insert=B([0, 0]), delete=B([0, 0]))
    lengths = bad.pop("lengths", None)
    args.update(bad)
    with pytest.raises(MDMError):
        apply_transition(**args, mask_id=M, pad_id=P, lengths=lengths)


# --------------------------------------------------------------------------- generate


class RuleModel:
    """A hand-written any-process 'model', per position: a MASK with a MASK on its left is deleted,
    other MASKs get 5; a 1 inserts a MASK after it unless its right neighbour is 5 or MASK."""

    mask_id, pad_id, vocab_size = M, P, 10

    def __init__(self):
        self.calls = 0

    def __call__(self, x, attention_mask=None):
        self.calls += 1
        B, L = x.shape
        logits = torch.zeros(B, L, 10)
        logits[..., 5] = 1.0
        left = torch.cat([torch.full((B, 1), -1), x[:, :-1]], 1)
        right = torch.cat([x[:, 1:], torch.full((B, 1), -1)], 1)
        delete = (x == M) & (left == M)
        insert = (x == 1) & (right != 5) & (right != M)
        z = lambda b: b.float() * 20 - 10  # noqa: E731 (bit logits)
        return AnyProcessOutput(logits, z(torch.zeros_like(delete)), z(insert), z(delete))


def test_generate_reaches_a_fixed_point_and_never_edits_the_prompt():
    prompt = T([1, M, M, 2], [1, 2, P, P])
    editable = B([0, 1, 1, 0], [0, 0, 0, 0])
    out = generate(RuleModel(), prompt, max_steps=20, lengths=torch.tensor([4, 2]), editable=editable)
    # row 0: "1 M M 2" -> "1 5 2" (second M deleted, first unmasked); the prompt's 1 may not insert
    assert out.sequences() == [[1, 5, 2], [1, 2]]
    assert out.halted == ["fixed point", "fixed point"]
    assert out.steps.tolist() == [1, 0] and out.nfe.tolist() == [2, 1]


def test_generate_inserts_after_editable_positions_and_batches_like_alone():
    # an editable 1 inserts a MASK, which becomes 5 next step; then the 1 sees a 5 and stops
    prompt = T([7, 1, P], [7, 1, 1])
    editable = B([0, 1, 0], [0, 1, 1])
    lengths = torch.tensor([2, 3])
    out = generate(RuleModel(), prompt, max_steps=20, lengths=lengths, editable=editable, trace=True)
    assert out.sequences() == [[7, 1, 5], [7, 1, 5, 1, 5]]
    for b in range(2):
        n = int(lengths[b])
        alone = generate(RuleModel(), prompt[b:b + 1, :n], max_steps=20, editable=editable[b:b + 1, :n])
        assert alone.sequences()[0] == out.sequences()[b]
        assert alone.steps.tolist() == [int(out.steps[b])]
    assert len(out.trace) == int(out.nfe.max())


def test_generate_stops_at_the_step_cap():
    class Grow(RuleModel):  # every editable 1 inserts forever: the state never settles
        def __call__(self, x, attention_mask=None):
            o = super().__call__(x, attention_mask)
            return o._replace(insert=torch.full_like(o.insert, 10.0))

    out = generate(Grow(), T([1, M]), max_steps=3, editable=B([1, 1]))
    assert out.halted == ["step cap"] and out.steps.tolist() == [3] and out.nfe.tolist() == [3]
    assert out.lengths.tolist() == [2 * 2 ** 3]
    capped = generate(Grow(), T([1, M]), max_steps=50, editable=B([1, 1]), max_len=10)
    assert capped.halted == ["length cap"] and capped.lengths.tolist() == [8]


def test_generate_halts_at_eos():
    class Eos(RuleModel):
        def __call__(self, x, attention_mask=None):
            o = super().__call__(x, attention_mask)
            o.logits[..., 3] = 2.0  # MASK -> 3 (= EOS here)
            return o

    out = generate(Eos(), T([1, M, M]), max_steps=10, editable=B([0, 1, 1]), eos_id=3)
    assert out.halted == ["eos"] and out.sequences() == [[1, 3]] and out.nfe.tolist() == [1]


@pytest.mark.parametrize("kwargs", [dict(max_steps=0), dict(max_steps=2.0),
                                    dict(max_steps=3, editable=B([0, 0])),
                                    dict(max_steps=3, editable=B([1, 1, 1])),
                                    dict(max_steps=3, temperature=-1.0)])
def test_generate_bad_input_raises(kwargs):
    with pytest.raises(MDMError):
        generate(RuleModel(), T([1, M]), **kwargs)


def test_generate_with_a_network_batches_mixed_lengths_like_each_alone():
    from mdm.models.anyprocess import AnyProcessConfig, AnyProcessModel

    torch.manual_seed(0)
    model = AnyProcessModel(AnyProcessConfig(vocab_size=10, mask_id=M, pad_id=P, d_model=16, n_layers=2,
                                             n_heads=2, max_len=64)).eval()
    with torch.no_grad():
        model.bits.weight.mul_(300.0)  # decisions that depend on the content, not only on the biases
    g = torch.Generator().manual_seed(1)
    rows = [torch.randint(0, 8, (n,), generator=g) for n in (9, 4, 6)]
    for r in rows:
        r[::3] = M
    x = torch.full((3, 9), P)
    for b, r in enumerate(rows):
        x[b, : len(r)] = r
    lengths = torch.tensor([len(r) for r in rows])
    editable = torch.ones(3, 9, dtype=torch.bool)
    out = generate(model, x, lengths=lengths, editable=editable, max_steps=4, max_len=64)
    assert len(set(map(len, out.sequences()))) > 1  # the batch really holds different lengths
    for b, r in enumerate(rows):
        alone = generate(model, r[None], editable=torch.ones(1, len(r), dtype=torch.bool), max_steps=4,
                         max_len=64)
        assert alone.sequences()[0] == out.sequences()[b] and alone.steps[0] == out.steps[b]


def test_generate_passes_the_padding_mask_to_the_model():
    class Count(RuleModel):  # a MASK becomes the number of real positions the model was shown
        def __call__(self, x, attention_mask=None):
            o = super().__call__(x, attention_mask)
            B, L = x.shape
            real = attention_mask.sum(1) if attention_mask is not None else torch.full((B,), L)
            o.logits[:] = 0.0
            o.logits[torch.arange(x.shape[0]), :, real % 8] = 5.0
            return o

    x = T([1, M, 2, 3, 4], [1, M, P, P, P])
    out = generate(Count(), x, lengths=torch.tensor([5, 2]), max_steps=3)
    assert out.sequences() == [[1, 5, 2, 3, 4], [1, 2]]
