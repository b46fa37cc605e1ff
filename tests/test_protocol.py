"""The time convention of the Denoiser protocol: a time-conditioned model sees, for a given amount of
masking, the time at which its training schedule produces that much masking -- in training
(``diffusion_loss``), in ``mdm.elbo`` and in ``mdm.sample`` alike."""

import pytest
import torch

import mdm
from mdm.losses import diffusion_loss
from mdm.protocol import denoiser_schedule, model_time
from mdm.sampling import Ancestral, TopK
from mdm.schedules import BetaEnergy, Cosine, Linear

LENGTH, VOCAB = 8, 5


class Recorder:
    """A time-conditioned denoiser that trains nothing: it records ``(fraction masked, t)`` per row
    and returns fixed random logits."""

    time_conditioned = True
    vocab_size, mask_id = VOCAB + 1, VOCAB

    def __init__(self, schedule=None):
        if schedule is not None:
            self.schedule = schedule
        self.seen = []

    def __call__(self, x, attention_mask=None, t=None):
        frac = (x == self.mask_id).double().mean(1)
        self.seen += list(zip(frac.tolist(), t.tolist()))
        logits = torch.randn(*x.shape, self.vocab_size, generator=torch.Generator().manual_seed(0))
        return logits


class FixedTimes:
    """Times whose masking level 1 - alpha(t) is exactly k / LENGTH for k = 1..LENGTH."""

    def __init__(self, schedule):
        self.t = torch.as_tensor(schedule.inverse(1.0 - torch.arange(1, LENGTH + 1).double() / LENGTH))

    def __call__(self, batch, *, generator=None, device=None):
        return self.t.float(), torch.ones(batch)


def exact_fraction_mask(mask_prob, *, generator=None):
    """Masks exactly round(L * p) positions per row (p is constant along a row here)."""
    n = (mask_prob[:, 0] * LENGTH).round().long()
    return torch.arange(LENGTH).unsqueeze(0) < n.unsqueeze(1)


def times_by_fraction(seen):
    """{k masked: the set of times seen (rounded to 1e-6)} -- one time per level if consistent."""
    out = {}
    for frac, t in seen:
        out.setdefault(round(frac * LENGTH), set()).add(round(t, 6))
    return out


@pytest.mark.parametrize("schedule", [Cosine(), BetaEnergy(0.9, 0.3)], ids=repr)
def test_training_elbo_and_sampling_agree_on_the_time_of_a_masking_level(schedule):
    model = Recorder(schedule)
    x0 = torch.randint(0, VOCAB, (LENGTH, LENGTH), generator=torch.Generator().manual_seed(1))
    diffusion_loss(model, x0, time_sampler=FixedTimes(schedule), mask_sampler=exact_fraction_mask)
    training = times_by_fraction(model.seen)
    assert sorted(training) == list(range(1, LENGTH + 1))

    for run in (lambda: mdm.elbo(model, x0[:2], samples=64, seed=0),
                lambda: mdm.sample(model, length=LENGTH, batch_size=2, unmasker=TopK(1), seed=0),
                lambda: mdm.sample(model, length=LENGTH, unmasker=Ancestral(4, Linear()), seed=0,
                                   temperature=1.0)):
        model.seen.clear()
        run()
        seen = times_by_fraction(model.seen)
        assert seen, "the denoiser was never called"
        for k, times in seen.items():
            assert times == training[k], (k, times, training[k])  # one time per level, training's
    # and that time is the schedule's: alpha(t) = 1 - k / L (not the linear t = k / L)
    for k, (t,) in training.items():
        assert schedule.alpha(t) == pytest.approx(1 - k / LENGTH, abs=1e-4)  # t rounded to 1e-6
        if k < LENGTH:
            assert abs(t - k / LENGTH) > 1e-3


def test_a_model_without_a_schedule_trained_linearly():
    model = Recorder()
    assert denoiser_schedule(model) == Linear()
    frac = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)
    torch.testing.assert_close(model_time(model, frac), frac.float())
    mdm.sample(model, length=4, unmasker=TopK(1), seed=0)
    assert [t for _, t in model.seen] == pytest.approx([1.0, 0.75, 0.5, 0.25])


def test_a_bad_schedule_attribute_is_a_clear_error():
    model = Recorder(schedule="cosine")
    with pytest.raises(mdm.ModelConfigError, match="mdm.schedules.Schedule"):
        mdm.sample(model, length=4, seed=0)
    with pytest.raises(mdm.ModelConfigError, match="mdm.schedules.Schedule"):
        mdm.elbo(model, torch.zeros(1, 4, dtype=torch.long), samples=2, seed=0)
