"""Test-time preference adaptation: Base, Pref, Linear Alignment, Amulet.

The per-token updates are pure functions on logits tensors ([..., vocab]) that users can apply to their
own models:

    amulet_logits(plain_logits, pref_logits, alpha=2, eta=10, lam=2, iterations=60)    # closed form
    amulet_logits_iterative(plain_logits, pref_logits, ...)                            # published loop
    amulet_coefficient(alpha, eta, lam, iterations)                                     # k_T
    linear_alignment_logits(plain_logits, pref_logits, ratio=2)
"""

from accord.decoding.amulet import AmuletConfig, amulet_coefficient, amulet_logits, amulet_logits_iterative
from accord.decoding.linear_alignment import LinearAlignmentConfig, linear_alignment_logits
from accord.decoding.methods import METHODS, MethodConfig, generate_answers

__all__ = ["AmuletConfig", "amulet_coefficient", "amulet_logits", "amulet_logits_iterative",
           "LinearAlignmentConfig", "linear_alignment_logits", "METHODS", "MethodConfig", "generate_answers"]
