"""Linear Alignment: steer by extrapolating from the plain toward the preference-prompted logits.

Paper: Gao et al., "Linear Alignment: A Closed-form Solution for Aligning Human Preferences without
Tuning and Feedback", ICML 2024, arXiv:2401.11458; the form used here is the baseline of the Amulet paper
(arXiv:2502.19148) and its released code: on raw logits,

    z = z_pref + ratio * (z_pref - z_plain)        (ratio = 2 by default)

    >>> import torch
    >>> linear_alignment_logits(torch.zeros(1, 3), torch.tensor([[1.0, 0.0, 0.0]]), ratio=2.0)
    tensor([[3., 0., 0.]])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LinearAlignmentConfig:
    ratio: float = 2.0
    """Extrapolation ratio r in z_pref + r (z_pref - z_plain)."""


def linear_alignment_logits(plain_logits: torch.Tensor, pref_logits: torch.Tensor, ratio: float = 2.0) -> torch.Tensor:
    pref = pref_logits.float()
    return pref + ratio * (pref - plain_logits.float())
