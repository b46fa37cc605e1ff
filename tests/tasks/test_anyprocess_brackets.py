"""Delete the unmatched brackets: the checker against brute-force enumeration, the traces' replay."""

import itertools

import pytest
import torch

from mdm.errors import MDMError
from mdm.tasks.anyprocess import brackets as br
from mdm.tasks.anyprocess import replay
from mdm.tasks.base import build_task

T = br.tokenizer()
IDS = dict(mask_id=T.mask_id, pad_id=T.pad_id)


def _strings(n):
    return ["".join(s) for s in itertools.product("()", repeat=n)]


def _balanced_brute(s: str) -> bool:
    """Balanced by the grammar S -> empty | ( S ) S, tried every way (no counter)."""
    if not s:
        return True
    return s[0] == "(" and any(s[k] == ")" and _balanced_brute(s[1:k]) and _balanced_brute(s[k + 1:])
                               for k in range(1, len(s)))


@pytest.mark.parametrize("n", range(0, 8))
def test_checker_matches_brute_force_enumeration(n):
    for text in _strings(n):
        subs = {"".join(text[i] for i in keep) for r in range(n + 1)
                for keep in itertools.combinations(range(n), r)}
        good = {s for s in subs if _balanced_brute(s)}
        best = max(map(len, good))
        want = {s for s in good if len(s) == best}
        assert {s for s in subs if br.valid(s, text)} == want, text
        assert br.balance(text) in want
        assert len(br.unmatched(text)) == n - best
        for s in _strings(best):  # strings that are not subsequences are rejected too
            assert br.valid(s, text) == (s in want)


def test_traces_replay_to_the_balanced_string_with_remask_and_delete():
    for text in br.random_inputs(60, 1, 20, seed=1) + ["(", ")", "()", ")(", "((()"]:
        traj = br.trajectory(text)
        final = replay(traj, **IDS)
        assert T.decode(final[1:-1]) == br.balance(text)
        assert br.verify([final], [text]).all()
        last = traj[-1]
        assert not any(last.remask + last.insert + last.delete)  # ends at a fixed point
        if br.unmatched(text):
            assert any(traj[0].remask) and any(traj[1].delete) and len(traj) == 3
        else:
            assert len(traj) == 1


def test_the_decision_is_not_local():
    """Position 1 is kept or deleted by the last symbol, far outside any bounded window."""
    inner = "()" * 10
    keep, drop = br.trajectory("(" + inner + ")"), br.trajectory("(" + inner + "(")
    assert keep[0].x[:20] == drop[0].x[:20]
    assert not keep[0].remask[1] and drop[0].remask[1]


def test_verify_rejects_invalid_outputs():
    text = "(()))("
    good = [T.bos_id, *T.encode("(())"), T.eos_id]
    assert br.verify([good], [text]).all()
    for bad in ([T.bos_id, *T.encode("()"), T.eos_id],  # balanced but not maximal
                [T.bos_id, *T.encode("(()("), T.eos_id],  # not balanced
                [T.bos_id, *T.encode("()()"), T.eos_id],  # balanced, long enough, not a subsequence
                [T.bos_id, *T.encode("(())")],  # no EOS
                [T.bos_id, T.mask_id, *T.encode("())"), T.eos_id]):
        assert not br.verify([bad], [text]).any()


def test_the_registered_task_and_bad_inputs():
    data = build_task("ap-brackets", seq_len=18, seed=0, n_train=50, n_val=10, max_len=16)
    assert len(data.train) >= 50
    with pytest.raises(MDMError):
        br.start_state("(a)")
    with pytest.raises(MDMError):
        build_task("ap-brackets", seq_len=10, seed=0, n_train=50, max_len=16)  # states up to 18 tokens


def test_the_plain_mdm_layout_holds_the_answer_and_its_verifier_accepts_only_valid_answers():
    from mdm.tasks.anyprocess.brackets_mdm import BracketsMDMDataset

    texts = ["(()", "))((", "()()"]
    ds = BracketsMDMDataset(texts, width=5)
    assert ds.input_ids.shape == (3, 12) and ds.answer_len == 6
    assert T.decode(ds.input_ids[0, :6].tolist()).endswith("(()") and ds.input_ids[0, 5] == T.bos_id
    assert ds.input_ids[0, :2].tolist() == [T.pad_id] * 2
    assert ds.verify(ds.input_ids).tolist() == [True, True, True]  # the stored answers
    assert ds.eligible[:, 6:].all() and not ds.eligible[:, :6].any()
    bad = ds.input_ids.clone()
    bad[0, 6:] = torch.tensor([T.eos_id] + [T.pad_id] * 5)  # "" is not maximal for "(()"
    bad[1, 6] = T.pad_id  # "))((": no EOS left
    bad[2, 11] = T.eos_id  # "()()": a second EOS where a pad belongs
    assert ds.verify(bad).tolist() == [False, False, False]
    masked = ds.input_ids.clone()
    masked[2, 7] = T.mask_id  # an undecoded position
    assert ds.verify(masked).tolist() == [True, True, False]
    data = build_task("brackets-mdm", seq_len=34, seed=0, n_train=30, n_val=5, max_len=16)
    assert len(data.train) == 30 and data.seq_len == 34
    with pytest.raises(MDMError):
        build_task("brackets-mdm", seq_len=30, seed=0, max_len=16)
    with pytest.raises(MDMError):
        BracketsMDMDataset(["((((((("], width=5)
