"""``mdm.eval.verified``: accuracy, NFE and blanks-only NFE of an unmasker on a verified task, checked on
oracles that know every answer (so every count is known exactly)."""

import torch

from mdm.eval.verified import decode_verified, passes_revealing
from mdm.languages import Enumerated
from mdm.sampling import EntropyBounded, TopK
from mdm.tasks.arithmetic import ArithmeticConfig, ArithmeticDataset
from mdm.tasks.sudoku import SudokuConfig, SudokuDataset


class _Task:
    """Prompts of 2 tokens, answers of 2; ``verify`` accepts the answer (2, 3) only."""

    answer_len = 2

    def __init__(self, prompts):
        self._prompts = torch.tensor(prompts)

    def prompts(self):
        return self._prompts

    def verify(self, tokens):
        assert tokens.shape[1] == 4
        return (tokens[:, 2:] == torch.tensor([2, 3])).all(dim=1)


def test_each_item_is_decoded_verified_and_costed_in_its_own_batch_order():
    # two sequences: after prompt (0, 1) the only continuation is (2, 3), after (1, 1) it is (3, 2)
    oracle = Enumerated([[0, 1, 2, 3], [1, 1, 3, 2]], [0.3, 0.7]).denoiser()
    task = _Task([[0, 1], [1, 1], [0, 1], [0, 1], [1, 1]])
    out = decode_verified(oracle, task, TopK(1), batch_size=2)  # 3 batches: 2 + 2 + 1
    correct, nfe = out.correct, out.nfe
    assert correct.tolist() == [True, False, True, True, False]
    assert nfe.tolist() == [2] * 5  # one position per forward pass
    both = decode_verified(oracle, task, TopK(2), batch_size=4, seed=None)
    assert both.correct.tolist() == correct.tolist() and both.nfe.tolist() == [1] * 5


class AnswerOracle:
    """Near one-hot logits on the true token everywhere: entropies ~1e-11, so EB with any gamma
    reveals everything at once, and top-1 (confidence ties to the lower position) goes left to right."""

    def __init__(self, dataset):
        self.vocab_size, self.mask_id = dataset.tokenizer.vocab_size, dataset.tokenizer.mask_id
        self.prompt_len = dataset.prompt_len
        self.truth = {tuple(dataset[i]["input_ids"][: self.prompt_len].tolist()): dataset[i]["input_ids"]
                      for i in range(len(dataset))}

    def __call__(self, x, attention_mask=None, **kw):
        rows = torch.stack([self.truth[tuple(r[: self.prompt_len].tolist())] for r in x])
        return torch.full((*x.shape, self.vocab_size), -30.0).scatter_(-1, rows.unsqueeze(-1), 0.0)


def test_sudoku_nfe_and_blanks_only_nfe_are_exact():
    test = SudokuDataset.split("test", SudokuConfig(n_train=0, n_test=6, min_clues=34, max_clues=40, seed=3))
    oracle, blanks = AnswerOracle(test), test.prompts() == 0  # "." has id 0
    for k, nfe in ((1, 89), (4, 23), (8, 12)):
        out = decode_verified(oracle, test, TopK(k), n=6, batch_size=4, counted=blanks)
        assert out.correct.all() and (out.nfe == nfe).all()
        if k == 1:  # one position per pass, left to right: a pass per blank cell
            assert out.counted_nfe.tolist() == blanks.sum(1).double().tolist()
    out = decode_verified(oracle, test, EntropyBounded(0.001), n=6, batch_size=6, counted=blanks)
    assert out.correct.all() and (out.nfe == 1).all() and (out.counted_nfe == 1).all()  # all at once
    assert decode_verified(oracle, test, TopK(1), n=6, batch_size=6).counted_nfe is None


def test_passes_revealing_counts_distinct_steps_of_counted_positions():
    steps = torch.tensor([[-1, 0, 0, 2, 5], [3, 3, 3, -2, 1]])
    counted = torch.tensor([[True, True, True, True, False], [True, False, True, True, False]])
    assert passes_revealing(steps, counted).tolist() == [2.0, 1.0]  # {0, 2} and {3}


def test_stop_rule_counts_nfe_per_sequence_and_failures_lower_accuracy():
    """Top-1 pays (answer digits + eos) passes per problem with the stop rule, every position
    without it; an oracle that writes 9 first is right exactly where the sum starts with 9."""
    test = ArithmeticDataset.split("test", ArithmeticConfig(max_digits=3, ops=("+",), n_train=0, n_test=12,
                                                            answer_len=6))
    tok, oracle = test.tokenizer, AnswerOracle(test)
    want = torch.tensor([len(str(p.result)) + 1 for p in test.problems], dtype=torch.float64)
    out = decode_verified(oracle, test, TopK(1), n=12, batch_size=5, stop=tok.eos_id, pad_id=tok.pad_id)
    assert out.correct.all() and torch.equal(out.nfe, want)
    assert (decode_verified(oracle, test, TopK(1), n=12, batch_size=5).nfe == test.answer_len).all()
    blocked = decode_verified(oracle, test, TopK(1), n=12, batch_size=12, block_size=3, stop=tok.eos_id,
                              pad_id=tok.pad_id)
    assert blocked.correct.all() and torch.equal(blocked.nfe, want)

    class Nine(AnswerOracle):
        def __call__(self, x, attention_mask=None, **kw):
            logits = super().__call__(x)
            logits[:, self.prompt_len] = -30.0
            logits[:, self.prompt_len, 9] = 0.0
            return logits

    wrong = decode_verified(Nine(test), test, TopK(1), n=12, batch_size=12, stop=tok.eos_id,
                            pad_id=tok.pad_id)
    assert wrong.correct.tolist() == [str(p.result)[0] == "9" for p in test.problems]
