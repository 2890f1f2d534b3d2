"""Known answers for the per-token updates: Amulet's closed form equals the published loop, k_T at the
defaults, and Linear Alignment's formula."""

import itertools

import pytest
import torch

from accord.decoding.amulet import AmuletConfig, amulet_coefficient, amulet_logits, amulet_logits_iterative
from accord.decoding.linear_alignment import linear_alignment_logits
from accord.errors import AccordError


def slow_published_loop(plain, pref, alpha, eta, lam, iterations):
    """A line-by-line transcription of the released code's per-token loop (Q memory kept explicitly)."""
    log_ref = torch.log_softmax(plain, -1)
    log_player = torch.log_softmax(pref, -1)
    log_player_0 = log_player.clone()
    Q = torch.zeros((iterations + 1,) + plain.shape, dtype=plain.dtype)
    memory = [log_player_0]
    for t in range(1, iterations + 1):
        Q[t] = alpha * (log_player - log_ref)
        log_player = (lam * log_player_0 + Q.sum(0) / t + memory[t - 1] / (eta * t)) / (lam + 1 / (t * eta))
        if t == iterations:
            return log_player
        log_player = torch.log_softmax(log_player, -1)
        memory.append(log_player)
    return log_player


def test_coefficient_at_defaults():
    assert amulet_coefficient() == pytest.approx(5.648699, abs=1e-6)


def test_one_iteration_closed_form_by_hand():
    # T=1: k_1 = (lam + alpha*1 + 1/eta) / (lam + 1/eta)
    assert amulet_coefficient(2.0, 10.0, 2.0, 1) == pytest.approx((2 + 2 + 0.1) / (2 + 0.1))


# The grid, less the settings where k_T explodes past 1e3 (log-probs of order -1e10, where only the
# relative error is meaningful; see test_extreme_settings_agree_relatively).
GRID = [combo for combo in itertools.product([0.5, 2.0, 5.0], [0.1, 1.0, 10.0], [0.5, 2.0, 8.0], [1, 5, 60])
        if abs(amulet_coefficient(*combo)) <= 1e3]


def test_grid_is_broad():
    assert len(GRID) >= 60


@pytest.mark.parametrize("alpha,eta,lam,iterations", GRID)
def test_closed_form_equals_iterative(alpha, eta, lam, iterations):
    generator = torch.Generator().manual_seed(iterations * 7 + int(alpha * 10))
    plain = torch.randn(3, 257, generator=generator, dtype=torch.float64) * 4
    pref = torch.randn(3, 257, generator=generator, dtype=torch.float64) * 4
    closed = torch.log_softmax(amulet_logits(plain, pref, alpha, eta, lam, iterations), -1)
    iterative = torch.log_softmax(amulet_logits_iterative(plain, pref, alpha, eta, lam, iterations), -1)
    published = torch.log_softmax(slow_published_loop(plain, pref, alpha, eta, lam, iterations), -1)
    assert (closed - iterative).abs().max() <= 1e-5
    assert (closed - published).abs().max() <= 1e-5


def test_extreme_settings_agree_relatively():
    plain = torch.randn(2, 100, dtype=torch.float64)
    pref = torch.randn(2, 100, dtype=torch.float64)
    k = amulet_coefficient(5.0, 1.0, 0.5, 60)
    assert k > 1e6
    closed = torch.log_softmax(amulet_logits(plain, pref, 5.0, 1.0, 0.5, 60), -1)
    iterative = torch.log_softmax(amulet_logits_iterative(plain, pref, 5.0, 1.0, 0.5, 60), -1)
    assert ((closed - iterative).abs().max() / closed.abs().max()) <= 1e-12


def test_float32_forms_agree_closely():
    plain, pref = torch.randn(2, 32000) * 3, torch.randn(2, 32000) * 3
    closed = torch.log_softmax(amulet_logits(plain, pref), -1)
    iterative = torch.log_softmax(amulet_logits_iterative(plain, pref), -1)
    assert closed.dtype == torch.float32
    assert (closed - iterative).abs().max() <= 1e-3  # float32 rounding of the 60-step loop


def test_amulet_moves_toward_preference():
    plain = torch.tensor([[2.0, 1.0, 0.0]])
    pref = torch.tensor([[1.0, 2.0, 0.0]])
    probs = torch.softmax(amulet_logits(plain, pref), -1)
    # k_T > 1 extrapolates beyond the preference-prompted policy
    assert probs[0, 1] > torch.softmax(pref, -1)[0, 1]


def test_linear_alignment_formula():
    plain = torch.tensor([[1.0, 2.0, 3.0]])
    pref = torch.tensor([[2.0, 2.0, 1.0]])
    assert torch.equal(linear_alignment_logits(plain, pref, ratio=2.0), torch.tensor([[4.0, 2.0, -3.0]]))


@pytest.mark.parametrize("kwargs", [dict(eta=0.0), dict(eta=-1.0), dict(iterations=0), dict(lam=-1.0),
                                    dict(form="fast")])
def test_bad_parameters_are_refused(kwargs):
    with pytest.raises(AccordError):
        AmuletConfig(**kwargs)


def test_divergent_parameters_are_refused():
    with pytest.raises(AccordError, match="diverges"):
        amulet_coefficient(alpha=5.0, eta=100.0, lam=0.0, iterations=200)
