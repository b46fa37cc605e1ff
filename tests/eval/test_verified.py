"""decode_and_verify on an exact oracle: the answer greedy decoding gives is known in closed form."""

import torch

from mdm.eval.verified import decode_and_verify
from mdm.languages import Enumerated
from mdm.sampling import TopK


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
    correct, nfe = decode_and_verify(oracle, task, TopK(1), batch_size=2)  # 3 batches: 2 + 2 + 1
    assert correct.tolist() == [True, False, True, True, False]
    assert nfe.tolist() == [2] * 5  # one position per forward pass
    both, nfe_k2 = decode_and_verify(oracle, task, TopK(2), batch_size=4, seed=None)
    assert both.tolist() == correct.tolist() and nfe_k2.tolist() == [1] * 5
