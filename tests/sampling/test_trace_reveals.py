"""Trace.first_half_reveals: the end-of-text reveal count of the energy schedules' padding regime,
on hand-worked traces."""

import torch

from mdm.sampling.trace import PROMPT, UNREVEALED, Trace

PAD, EOS, MASK = 5, 6, 9


def _trace(reveal_step, values, padded_after=None):
    """``padded_after[r]``: the stop rule overwrote row r's columns from there on with PAD."""
    rs, v = torch.tensor(reveal_step), torch.tensor(values)
    cols = torch.arange(rs.shape[1])
    ends = torch.tensor(padded_after or [rs.shape[1]] * rs.shape[0])
    padded = cols >= ends.unsqueeze(1)
    return Trace(reveal_step=rs, values=v, tokens=torch.where(padded, PAD, v), padded=padded,
                 stop_step=torch.full((2,), -1), num_steps=8, prompt_len=1, mask_id=MASK)


def test_first_half_reveals_counts_first_half_of_each_block():
    # 2 blocks of 4 steps each: loop steps 0-3 are block 0, 4-7 block 1; the first half of a block is
    # its steps 0 and 1, i.e. loop steps {0, 1, 4, 5}.
    trace = _trace(
        [[PROMPT, 0, 1, 2, 3, 4, 5, 6, 7, UNREVEALED],
         [PROMPT, 3, 0, 1, 1, 7, 4, UNREVEALED, UNREVEALED, UNREVEALED]],
        [[PAD, 1, EOS, PAD, PAD, PAD, 2, PAD, EOS, MASK],
         [PAD, EOS, PAD, 3, PAD, PAD, EOS, MASK, MASK, MASK]],
        padded_after=[6, 7],
    )
    pad, early = trace.first_half_reveals((EOS, PAD), steps_per_block=4)
    # row 0: early positions 1 (step 0, '1'), 2 (step 1, eos), 5 (step 4, pad), 6 (step 5, '2': the
    #        value revealed counts, not the pad the stop rule wrote over it later); the prompt's pad and
    #        the unrevealed column do not count
    # row 1: early positions 2 (step 0, pad), 3 (step 1, '3'), 4 (step 1, pad), 6 (step 4, eos);
    #        columns 7-9 were padded by the stop rule, never revealed
    assert early.tolist() == [4, 4]
    assert pad.tolist() == [2, 3]


def test_first_half_reveals_odd_steps_rounds_the_half_down():
    trace = _trace([[PROMPT, 0, 1, 2], [PROMPT, 2, 1, 0]], [[PAD, PAD, PAD, PAD], [PAD, EOS, 1, 1]])
    pad, early = trace.first_half_reveals((EOS, PAD), steps_per_block=3)  # first half: step 0 only
    assert early.tolist() == [1, 1] and pad.tolist() == [1, 0]
