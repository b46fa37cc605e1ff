import random

import pytest
import torch

from mdm.errors import DataError, TokenError
from mdm.tasks import arithmetic as ar
from mdm.tasks.base import build_task, check_item, collate
from mdm.tokenizers import tokenizer_from_dict

TOK = ar.tokenizer()
CFG = ar.ArithmeticConfig(max_digits=3, n_train=300, n_test=50, seed=1)


def _text(ids):
    return TOK.decode(ids, skip_special=False)


def test_tokenizer_is_fixed_and_round_trips():
    assert TOK.vocab_size == 18 and TOK.mask_id == 17 and TOK.encode("0123456789") == list(range(10))
    assert len({TOK.pad_id, TOK.eos_id, TOK.mask_id}) == 3
    assert tokenizer_from_dict(TOK.to_dict()) == TOK
    assert TOK.decode(TOK.encode("123*45=")) == "123*45="


def test_layout_of_one_problem():
    p = ar.Problem(123, "*", 45)
    assert p.result == 5535 and p.prompt == "123*45=" and p.answer() == "5535" and p.answer(True) == "5355"
    ids = ar.encode_problem(p, CFG)
    assert CFG.prompt_len == 8 and CFG.answer_region == 7 and ids.shape == (15,)
    assert _text(ids) == "<pad>123*45=5535<eos><pad><pad>"
    rev = ar.ArithmeticConfig(max_digits=3, reverse=True, n_train=0, n_test=0)
    assert _text(ar.encode_problem(ar.Problem(120, "+", 0), rev)) == "<pad><pad>120+0=021<eos><pad><pad><pad>"
    # answer_len: longest result + eos; addition alone needs fewer tokens than multiplication
    assert ar.ArithmeticConfig(max_digits=4, ops=("+",), n_train=0, n_test=0).answer_region == 6
    assert ar.ArithmeticConfig(max_digits=4, n_train=0, n_test=0).answer_region == 9


def test_items_shapes_eligibility_and_content():
    train, test = ar.ArithmeticDataset.splits(CFG)
    assert len(train) == 300 and len(test) == 50
    for ds in (train, test):
        for i in (0, 7, len(ds) - 1):
            item = ds[i]
            check_item(item, TOK.vocab_size)
            assert item["input_ids"].shape == (15,) and item["input_ids"].dtype == torch.long
            assert not item["eligible"][:8].any() and item["eligible"][8:].all()
            p = ds.problems[i]
            assert _text(item["input_ids"]).replace("<pad>", "") == p.prompt + p.answer() + "<eos>"
            assert int(item["input_ids"][7]) == TOK.encode("=")[0]
    batch = collate([train[i] for i in range(len(train))])
    assert torch.equal(batch["input_ids"][:, :8], train.prompts())
    assert train.verify(batch["input_ids"]).all()
    lengths = {len(p.answer()) for p in train.problems}
    assert len(lengths) >= 4  # answers really vary in length


def test_splits_are_deterministic_disjoint_and_test_independent_of_train_size():
    train, test = ar.make_splits(CFG)
    again = ar.make_splits(CFG)
    assert (train, test) == again
    assert len(set(train)) == len(train) and len(set(test)) == len(test) and not set(train) & set(test)
    other_seed = ar.make_splits(ar.ArithmeticConfig(max_digits=3, n_train=300, n_test=50, seed=2))
    assert other_seed[1] != test
    bigger = ar.make_splits(ar.ArithmeticConfig(max_digits=3, n_train=900, n_test=50, seed=1))
    assert bigger[1] == test and not set(bigger[0]) & set(test)
    assert not {ar.Problem(p.b, p.op, p.a) for p in train} & set(test)
    ops = {p.op for p in train}
    digit_counts = {len(str(p.a)) for p in train}
    assert ops == {"+", "*"} and digit_counts == {1, 2, 3}


def test_train_excludes_commuted_test_problems_and_can_be_exhaustive():
    def config(n_train):
        return ar.ArithmeticConfig(max_digits=1, ops=("+",), n_train=n_train, n_test=10, seed=0)

    test = ar.make_splits(config(0))[1]
    held_out = set(test) | {ar.Problem(p.b, p.op, p.a) for p in test}
    assert len(held_out) > 10  # some test problems have a commuted twin
    rest = 100 - len(held_out)
    train, test2 = ar.make_splits(config(rest))
    assert test2 == test and len(set(train)) == rest
    assert set(train) | held_out == {ar.Problem(a, "+", b) for a in range(10) for b in range(10)}
    with pytest.raises(DataError, match="could not draw"):
        ar.make_splits(config(rest + 1))
    with pytest.raises(DataError, match="only 100 distinct"):
        ar.make_splits(config(91))


@pytest.mark.parametrize("reverse", [False, True])
def test_verifier_accepts_true_answers_and_rejects_corruptions(reverse):
    cfg = ar.ArithmeticConfig(max_digits=3, reverse=reverse, n_train=0, n_test=0)
    p = ar.Problem(987, "*", 65)  # 64155
    good = ar.encode_problem(p, cfg)
    assert ar.verify(good, prompt_len=8, reverse=reverse).item()
    ans = 8  # first answer position
    eos = ans + 5
    digit = TOK.encode("0123456789")
    cases = {}
    x = good.clone()
    x[ans + 2] = digit[(int(x[ans + 2]) + 1) % 10]  # one wrong digit
    cases["wrong digit"] = x
    x = good.clone()
    x[eos] = TOK.pad_id  # missing eos
    cases["no eos"] = x
    x = good.clone()
    x[ans + 1] = TOK.mask_id
    cases["mask inside"] = x
    x = good.clone()
    x[ans + 1] = TOK.pad_id
    cases["pad inside"] = x
    x = good.clone()
    x[eos - 1] = TOK.eos_id  # answer cut one digit short
    cases["short"] = x
    x = good.clone()
    x[ans + 1 : eos + 2] = good[ans : eos + 1].clone()
    x[ans] = digit[0]  # leading zero
    cases["leading zero"] = x
    x = good.clone()
    x[ans:eos] = good[ans:eos].flip(0)  # the other digit order
    cases["wrong order"] = x
    x = good.clone()
    x[3] = TOK.encode("+")[0]  # malformed prompt: 98+*65=
    cases["bad prompt"] = x
    bad = torch.stack(list(cases.values()))
    got = ar.verify(bad, prompt_len=8, reverse=reverse)
    assert not got.any(), {k: bool(v) for k, v in zip(cases, got)}
    x = good.clone()
    x[eos + 1] = digit[3]  # after eos: ignored
    assert ar.verify(x, prompt_len=8, reverse=reverse).item()


def test_verifier_agrees_with_exact_answers_on_random_outputs():
    rng = random.Random(0)
    ds = ar.ArithmeticDataset.split("test", CFG)
    rows, expect = [], []
    for k in range(200):
        p = ds.problems[k % len(ds)]
        guess = p.result + rng.choice([0, 0, 1, -1, 10, 100])
        guess = max(guess, 0)
        region = TOK.encode(str(guess)) + [TOK.eos_id] + [TOK.pad_id] * (6 - len(str(guess)))
        rows.append(torch.cat([ds.prompts()[k % len(ds)], torch.tensor(region)]))
        expect.append(guess == p.result)
    assert 30 < sum(expect) < 170
    assert ds.verify(torch.stack(rows)).tolist() == expect


def test_bad_inputs_raise():
    with pytest.raises(DataError):
        ar.ArithmeticConfig(max_digits=0)
    with pytest.raises(DataError, match="ops"):
        ar.ArithmeticConfig(ops=("-",))
    with pytest.raises(DataError, match="answer_len"):
        ar.ArithmeticConfig(max_digits=3, answer_len=6)
    with pytest.raises(DataError, match="zero_pad must be true or false"):
        ar.ArithmeticConfig(zero_pad="yes")
    with pytest.raises(DataError):
        ar.ArithmeticDataset.split("val", CFG)
    with pytest.raises(TokenError):
        ar.verify(torch.zeros(2, 15, dtype=torch.int32), prompt_len=8)
    with pytest.raises(TokenError):
        ar.verify(torch.zeros(2, 15, dtype=torch.long), prompt_len=15)


def test_registered_task_and_longer_sequences():
    bundle = build_task("arithmetic", seq_len=20, seed=3, max_digits=3, n_train=40, n_test=10)
    assert bundle.seq_len == 20 and len(bundle.train) == 40 and len(bundle.val) == 10
    item = bundle.train[0]
    assert item["input_ids"].shape == (20,) and item["eligible"][8:].all()
    assert bundle.train.verify(collate([bundle.val[i] for i in range(10)])["input_ids"]).all()
    assert build_task("arithmetic", seq_len=None, n_train=5, n_test=5).seq_len == 15
    with pytest.raises(DataError, match="too short"):
        build_task("arithmetic", seq_len=14, n_train=5, n_test=5)


def test_validation_split_is_disjoint_reproducible_and_leaves_train_and_test_alone():
    """1-digit addition has 100 problems: 40 train + 10 test (with their commuted twins) leave few
    enough that a validation split drawn without the exclusion would surely hit one of them."""
    config = ar.ArithmeticConfig(max_digits=1, ops=("+",), n_train=40, n_test=10, n_valid=20, seed=0)
    train, test = ar.make_splits(config)
    assert (train, test) == ar.make_splits(ar.ArithmeticConfig(max_digits=1, ops=("+",), n_train=40,
                                                                 n_test=10, seed=0))
    valid = ar.make_valid(config, train, test)
    assert valid == ar.make_valid(config, train, test) and len(set(valid)) == 20
    seen = {q for p in (*train, *test) for q in (p, ar.Problem(p.b, p.op, p.a))}
    assert not set(valid) & seen
    assert ar.ArithmeticDataset.split("valid", config).problems == valid
    bundle = build_task("arithmetic", seq_len=None, seed=0, max_digits=1, ops=["+"], n_train=40, n_test=10,
                        n_valid=20)
    assert bundle.valid.problems == valid and bundle.train.problems == train and bundle.val.problems == test
    assert build_task("arithmetic", seq_len=None, n_train=5, n_test=5).valid is None
    with pytest.raises(DataError, match="validation"):
        ar.make_valid(ar.ArithmeticConfig(max_digits=1, ops=("+",), n_train=40, n_test=10, n_valid=51),
                      train, test)


def test_zero_padded_operands_sit_at_fixed_positions_and_verify():
    cfg = ar.ArithmeticConfig(max_digits=5, ops=("+",), reverse=True, zero_pad=True, n_train=0, n_test=0,
                              answer_len=10)
    ids = ar.encode_problem(ar.Problem(123, "+", 45), cfg)
    assert _text(ids) == "00123+00045=861<eos>" + "<pad>" * 6  # prompt: exactly 2 * 5 + 2 tokens
    assert _text(ar.encode_problem(ar.Problem(0, "+", 99999), cfg))[:12] == "00000+99999="
    assert ar.verify(ids, prompt_len=cfg.prompt_len, reverse=True)
    wrong = ids.clone()
    wrong[cfg.prompt_len] = TOK.encode("9")[0]
    assert not ar.verify(wrong, prompt_len=cfg.prompt_len, reverse=True)
    # the same problems as without zero padding (splits do not depend on the prompt's layout)
    base = ar.ArithmeticConfig(max_digits=5, ops=("+",), n_train=50, n_test=20, seed=3)
    padded = ar.ArithmeticConfig(max_digits=5, ops=("+",), n_train=50, n_test=20, seed=3, zero_pad=True)
    assert ar.make_splits(base) == ar.make_splits(padded)
    test = ar.ArithmeticDataset.split("test", padded)
    assert test.verify(torch.stack([test[i]["input_ids"] for i in range(len(test))])).all()
    bundle = build_task("arithmetic", seq_len=None, seed=3, max_digits=2, ops=["+"], n_train=10, n_test=5,
                        zero_pad=True)
    assert all(_text(bundle.val[i]["input_ids"])[:6].count("<pad>") == 0 for i in range(5))
