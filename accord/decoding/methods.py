"""The five test-time preference adaptation methods of the Amulet paper (arXiv 2502.19148) behind one call.

- base:   the plain prompt (system prompt + question), decoded as usual.
- pref:   the preference prompt (the plain prompt with the preference sentence appended, to the system
          prompt or to the question: `placement`, set by the protocol, accord.decoding.protocols).
- bs:     beam search (16 beams by default) on the preference prompt (accord.lm.beam).
- la:     Linear Alignment on both streams (accord.decoding.linear_alignment).
- amulet: Amulet on both streams (accord.decoding.amulet), closed form by default.

Optional, off by default (the published methods have no such step): `plausibility` = beta > 0 restricts la
and amulet to the tokens the preference-prompted stream itself finds plausible, p_pref(x) >= beta * max p_pref,
the adaptive plausibility constraint of Contrastive Decoding (Li et al., ACL 2023, arXiv:2210.15097; they use
beta = 0.1). Extrapolating away from the plain stream otherwise lets a token that both streams find unlikely
win whenever the preference raises it enough (docs/consensus.md, drafting, shows where that matters).

    lm = load_model("qwen2.5-coder-0.5b")
    answers = generate_answers(lm, ["How do I learn Python?"], MethodConfig(method="amulet", preference="concise"))
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import partial

import torch

from accord.decoding.amulet import AmuletConfig, amulet_logits, amulet_logits_iterative
from accord.decoding.linear_alignment import LinearAlignmentConfig, linear_alignment_logits
from accord.decoding.protocols import ACCORD_PREFERENCE_TEMPLATE, ACCORD_SYSTEM_PROMPT, PLACEMENTS
from accord.errors import AccordError
from accord.lm.base import Generation, LanguageModel, LogitsCombiner, SamplingConfig, TokenCallback

METHODS = ("base", "pref", "bs", "la", "amulet")
DEFAULT_SYSTEM_PROMPT = ACCORD_SYSTEM_PROMPT
DEFAULT_PREFERENCE_TEMPLATE = ACCORD_PREFERENCE_TEMPLATE


@dataclass
class MethodConfig:
    method: str = "amulet"
    """One of base, pref, bs, la, amulet."""
    preference: str = ""
    """The user's preference, e.g. "concise" (required for every method but base)."""
    preference_template: str = DEFAULT_PREFERENCE_TEMPLATE
    """Sentence appended to the question in the preference prompt; {preference} is filled in."""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    """System prompt of both streams."""
    placement: str = "question"
    """Where the preference sentence goes: "question" (after the question) or "system" (after the system
    prompt). The library default keeps accord's texts; `PROTOCOLS["paper"].method_config(...)` gives the
    paper's (the default of the command line)."""
    protocol: str = "custom"
    """Name of the protocol these texts come from (recorded with the results)."""
    num_beams: int = 16
    """Beams of the bs method."""
    amulet: AmuletConfig = field(default_factory=AmuletConfig)
    """Amulet's hyper-parameters."""
    linear_alignment: LinearAlignmentConfig = field(default_factory=LinearAlignmentConfig)
    """Linear Alignment's hyper-parameters."""
    plausibility: float = 0.0
    """la / amulet only: beta of the adaptive plausibility constraint (0 = off, the published methods; Contrastive
    Decoding uses 0.1): only tokens with p_pref >= beta * max p_pref can be chosen."""

    def __post_init__(self):
        if self.method not in METHODS:
            raise AccordError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}")
        if self.method != "base" and not self.preference.strip():
            raise AccordError(f"method {self.method!r} needs a non-empty preference (--preference)")
        if "{preference}" not in self.preference_template:
            raise AccordError("the preference template must contain {preference}")
        if self.placement not in PLACEMENTS:
            raise AccordError(f"unknown placement {self.placement!r}; choose from {', '.join(PLACEMENTS)}")
        if self.num_beams < 1:
            raise AccordError(f"num_beams must be >= 1, got {self.num_beams}")
        if not 0.0 <= self.plausibility <= 1.0:
            raise AccordError(f"plausibility must be in [0, 1], got {self.plausibility}")

    def parameters(self) -> dict:
        """The hyper-parameters that matter for this method (recorded next to results)."""
        record = {"method": self.method, "preference": self.preference, "system_prompt": self.system_prompt,
                  "protocol": self.protocol}
        if self.method != "base":
            record["preference_template"] = self.preference_template
            record["placement"] = self.placement
        if self.method == "bs":
            record["num_beams"] = self.num_beams
        if self.method == "amulet":
            record.update(asdict(self.amulet))
        if self.method == "la":
            record.update(asdict(self.linear_alignment))
        if self.method in ("la", "amulet") and self.plausibility > 0:  # recorded only when on: older runs still resume
            record["plausibility"] = self.plausibility
        return record


def preference_sentence(config: MethodConfig) -> str:
    return config.preference_template.format(preference=config.preference.strip())


def build_prompts(lm: LanguageModel, question: str, config: MethodConfig) -> tuple[str, str]:
    """(plain prompt, preference prompt) for one question, through the model's chat template. The
    preference sentence goes after the question or after the system prompt (`config.placement`)."""
    if not question.strip():
        raise AccordError("the question is empty")
    plain = lm.chat_prompt(question, system=config.system_prompt or None)
    if config.method == "base":
        return plain, plain
    sentence = preference_sentence(config)
    if config.placement == "system":
        system = f"{config.system_prompt} {sentence}" if config.system_prompt else sentence
        return plain, lm.chat_prompt(question, system=system)
    return plain, lm.chat_prompt(f"{question}\n{sentence}", system=config.system_prompt or None)


def plausible_only(scores: torch.Tensor, pref_logits: torch.Tensor, beta: float) -> torch.Tensor:
    """`scores` with -inf wherever p_pref < beta * max p_pref (per row); beta in (0, 1]. On raw logits:
    p_pref(x) / max p_pref = exp(z_x - max z), so no softmax is needed."""
    pref = pref_logits.float()
    implausible = pref < pref.max(dim=-1, keepdim=True).values + math.log(beta)
    return scores.masked_fill(implausible, float("-inf"))


def _constrained(update: LogitsCombiner, beta: float, plain_logits, pref_logits):
    return plausible_only(update(plain_logits, pref_logits), pref_logits, beta)


def combiner(config: MethodConfig) -> LogitsCombiner | None:
    """The per-token logits combination of a two-stream method (None for base/pref)."""
    if config.method == "la":
        update = partial(linear_alignment_logits, ratio=config.linear_alignment.ratio)
    elif config.method == "amulet":
        a = config.amulet
        form = amulet_logits if a.form == "closed" else amulet_logits_iterative
        update = partial(form, alpha=a.alpha, eta=a.eta, lam=a.lam, iterations=a.iterations)
    else:
        return None
    return partial(_constrained, update, config.plausibility) if config.plausibility > 0 else update


def generate_answers(lm: LanguageModel, questions: list[str], config: MethodConfig, sampling: SamplingConfig,
                     on_token: TokenCallback | None = None) -> list[Generation]:
    """Answer a batch of questions with one method."""
    if not questions:
        raise AccordError("no questions given")
    if sampling.max_new_tokens <= 0:
        raise AccordError(f"max_new_tokens must be > 0, got {sampling.max_new_tokens}")
    prompts = [build_prompts(lm, question, config) for question in questions]
    if config.method == "base":
        return lm.generate([plain for plain, _ in prompts], sampling, on_token)
    if config.method == "pref":
        return lm.generate([pref for _, pref in prompts], sampling, on_token)
    if config.method == "bs":
        if not hasattr(lm, "generate_beam"):
            raise AccordError(f"method bs needs a local backend (transformers or llama.cpp), not {lm.backend}")
        return lm.generate_beam([pref for _, pref in prompts], config.num_beams, sampling, on_token)
    return lm.generate_two_streams([p for p, _ in prompts], [q for _, q in prompts], combiner(config),
                                   sampling, on_token)
