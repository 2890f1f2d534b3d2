"""Pairwise judges for Magnetic Preference Optimization (Zhang et al. 2024, arXiv 2410.16714).

A judge maps (prompt, response_a, response_b) to P(a ≻ b) in [0, 1]. Either a Python callable, or an LM
judge that asks a model "which response is better, A or B?" and reads the constrained choice "A"/"B",
averaged over both presentation orders (so position bias cancels).

    judge = lm_judge(load_model("smollm2-135m"))
    p = call_judge(judge, ["Hi"], ["Hello!"], ["hey"])   # numpy array of P(a ≻ b)

`style_cycle_judge` is the cyclic oracle of the demonstration (docs/mpo.md).
"""

from __future__ import annotations

import importlib
from typing import Callable

import numpy as np

from accord.errors import AccordError

Judge = Callable[[str, str, str], float]

JUDGE_TEMPLATE = (
    "Which response answers the request better?\n\nRequest: {prompt}\n\nResponse A: {a}\n\nResponse B: {b}\n\n"
    "Answer with A or B."
)


def call_judge(judge: Judge, prompts: list[str], first: list[str], second: list[str]) -> np.ndarray:
    """P(first ≻ second) for each triple; a value outside [0, 1] or NaN raises AccordError."""
    batch = getattr(judge, "batch", None)
    if batch is not None:
        values = np.asarray(batch(prompts, first, second), dtype=float)
    else:
        values = np.array([float(judge(p, a, b)) for p, a, b in zip(prompts, first, second)])
    if values.shape != (len(prompts),):
        raise AccordError(f"judge returned {values.shape} values for {len(prompts)} pairs")
    bad = ~np.isfinite(values) | (values < 0) | (values > 1)
    if bad.any():
        raise AccordError(f"judge must return a probability in [0, 1], got {values[bad][0]!r}")
    return values


class LMJudge:
    """An LM judge scored by constrained choice "A"/"B", averaged over both orders."""

    def __init__(self, lm, template: str = JUDGE_TEMPLATE, system: str | None = None):
        self.lm, self.template, self.system = lm, template, system

    def _p_first(self, prompts, first, second) -> np.ndarray:
        texts = [self.lm.chat_prompt(self.template.format(prompt=p, a=a, b=b), system=self.system)
                 for p, a, b in zip(prompts, first, second)]
        logp = np.asarray(self.lm.choice_logprobs(texts, ["A", "B"]), dtype=float)
        logp = logp - logp.max(axis=1, keepdims=True)
        probs = np.exp(logp)
        return probs[:, 0] / probs.sum(axis=1)

    def batch(self, prompts, first, second) -> np.ndarray:
        return 0.5 * (self._p_first(prompts, first, second) + 1.0 - self._p_first(prompts, second, first))

    def __call__(self, prompt: str, a: str, b: str) -> float:
        return float(self.batch([prompt], [a], [b])[0])


def lm_judge(lm, template: str = JUDGE_TEMPLATE) -> LMJudge:
    return LMJudge(lm, template)


STYLES = ("A", "B", "C")
"""Response styles of the cyclic oracle: a response's style is its most frequent letter among a, b, c."""


def response_style(text: str) -> str | None:
    """The style of a response: the most frequent of the letters a, b, c (None if none occurs; ties → first)."""
    counts = [text.lower().count(ch) for ch in "abc"]
    return STYLES[int(np.argmax(counts))] if max(counts) > 0 else None


STYLE_BEATS = {("A", "B"): 1.0, ("B", "C"): 1.0, ("C", "A"): 1.0}


def style_cycle_judge(prompt: str, a: str, b: str) -> float:
    """Deterministic cyclic oracle: style A beats B, B beats C, C beats A (P = 1); equal styles ½.

    A response with none of the letters loses to any styled one. The unique equilibrium is uniform over
    the three styles; with unequal margins (`weighted_style_judge`) it is not.
    """
    sa, sb = response_style(a), response_style(b)
    if sa == sb:
        return 0.5
    if sa is None or sb is None:
        return 0.0 if sa is None else 1.0
    if (sa, sb) in STYLE_BEATS:
        return 1.0
    return 0.0


def load_judge(spec: str) -> Judge:
    """`style-cycle`, `module:function` (a Python callable), or `lm:MODEL` (an LM judge)."""
    if spec == "style-cycle":
        return style_cycle_judge
    if spec.startswith("lm:"):
        from accord.lm import load_model

        return lm_judge(load_model(spec[3:]))
    if ":" in spec:
        module_name, _, name = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise AccordError(f"cannot import judge module {module_name!r}: {error}") from None
        judge = getattr(module, name, None)
        if not callable(judge):
            raise AccordError(f"{module_name!r} has no callable {name!r}")
        return judge
    raise AccordError(f"unknown judge {spec!r}: use style-cycle, module:function or lm:MODEL")
