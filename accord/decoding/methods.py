"""The four test-time preference adaptation methods behind one call.

- base:   the plain prompt (system prompt + question), decoded as usual.
- pref:   the preference prompt (the plain prompt with the preference sentence appended to the question).
- la:     Linear Alignment on both streams (accord.decoding.linear_alignment).
- amulet: Amulet on both streams (accord.decoding.amulet), closed form by default.

    lm = load_model("qwen2.5-coder-0.5b")
    answers = generate_answers(lm, ["How do I learn Python?"], MethodConfig(method="amulet", preference="concise"))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial

from accord.decoding.amulet import AmuletConfig, amulet_logits, amulet_logits_iterative
from accord.decoding.linear_alignment import LinearAlignmentConfig, linear_alignment_logits
from accord.errors import AccordError
from accord.lm.base import Generation, LanguageModel, LogitsCombiner, SamplingConfig, TokenCallback

METHODS = ("base", "pref", "la", "amulet")
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."
DEFAULT_PREFERENCE_TEMPLATE = "Your answer should be {preference} as much as possible."


@dataclass
class MethodConfig:
    method: str = "amulet"
    """One of base, pref, la, amulet."""
    preference: str = ""
    """The user's preference, e.g. "concise" (required for every method but base)."""
    preference_template: str = DEFAULT_PREFERENCE_TEMPLATE
    """Sentence appended to the question in the preference prompt; {preference} is filled in."""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    """System prompt of both streams."""
    amulet: AmuletConfig = field(default_factory=AmuletConfig)
    """Amulet's hyper-parameters."""
    linear_alignment: LinearAlignmentConfig = field(default_factory=LinearAlignmentConfig)
    """Linear Alignment's hyper-parameters."""

    def __post_init__(self):
        if self.method not in METHODS:
            raise AccordError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}")
        if self.method != "base" and not self.preference.strip():
            raise AccordError(f"method {self.method!r} needs a non-empty preference (--preference)")
        if "{preference}" not in self.preference_template:
            raise AccordError("the preference template must contain {preference}")

    def parameters(self) -> dict:
        """The hyper-parameters that matter for this method (recorded next to results)."""
        record = {"method": self.method, "preference": self.preference, "system_prompt": self.system_prompt}
        if self.method != "base":
            record["preference_template"] = self.preference_template
        if self.method == "amulet":
            record.update(asdict(self.amulet))
        if self.method == "la":
            record.update(asdict(self.linear_alignment))
        return record


def preference_sentence(config: MethodConfig) -> str:
    return config.preference_template.format(preference=config.preference.strip())


def build_prompts(lm: LanguageModel, question: str, config: MethodConfig) -> tuple[str, str]:
    """(plain prompt, preference prompt) for one question, through the model's chat template."""
    plain = lm.chat_prompt(question, system=config.system_prompt or None)
    if config.method == "base":
        return plain, plain
    pref = lm.chat_prompt(f"{question}\n{preference_sentence(config)}", system=config.system_prompt or None)
    return plain, pref


def combiner(config: MethodConfig) -> LogitsCombiner | None:
    """The per-token logits combination of a two-stream method (None for base/pref)."""
    if config.method == "la":
        return partial(linear_alignment_logits, ratio=config.linear_alignment.ratio)
    if config.method == "amulet":
        a = config.amulet
        update = amulet_logits if a.form == "closed" else amulet_logits_iterative
        return partial(update, alpha=a.alpha, eta=a.eta, lam=a.lam, iterations=a.iterations)
    return None


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
    return lm.generate_two_streams([p for p, _ in prompts], [q for _, q in prompts], combiner(config),
                                   sampling, on_token)
