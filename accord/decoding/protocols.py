"""Prompt protocols of test-time preference adaptation, as data: the Amulet paper's and accord's own.

A protocol is a set of texts and settings; `MethodConfig` carries them and `build_prompts` is the one place
that reads them. Nothing else in accord branches on a protocol's name.

- paper (Amulet, Zhang et al., ICLR 2025, arXiv 2502.19148; the default of `accord generate` and
  `accord eval preferences`): a system prompt asking for helpful, clear and concise answers, with the
  preference sentence appended to the *system prompt*; the question alone is the user turn. Baselines
  base, pref, bs (beam search, 16 beams), la, amulet; evaluation by a pairwise judge (win/tie/lose).
- accord (accord's earlier behaviour): "You are a helpful assistant." as the system prompt and the
  preference sentence appended to the *question*; a pointwise P(Yes) judge.

The paper's eight preferences are named presets (`PAPER_PREFERENCES`); any other string works as a
preference too. Each preset has an opposite (`OPPOSITE_PREFERENCES`), used to build known-answer contrasts
for validating the preference judges (accord.eval.judge_check). The texts below are written in accord's own
words; docs/preferences.md lists every difference from the paper and from its released code.

    config = PROTOCOLS["paper"].method_config("amulet", "concise")
    plain, pref = build_prompts(lm, "How do I learn Python?", config)     # accord.decoding.methods
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from accord.errors import AccordError

PAPER_PREFERENCES = ("creative", "sycophantic", "verbose", "complex", "formal", "pleasant", "concise", "uplifting")
"""The eight preferences of the Amulet paper (named presets; any other string is accepted as well)."""

OPPOSITE_PREFERENCES = {
    "creative": "conventional and predictable",
    "sycophantic": "blunt and critical of the user",
    "verbose": "concise",
    "complex": "simple",
    "formal": "casual and informal",
    "pleasant": "curt and unfriendly",
    "concise": "verbose",
    "uplifting": "gloomy and discouraging",
}
"""For each preset, a preference pulling the other way (the known-answer contrasts of judge validation)."""

PAPER_SYSTEM_PROMPT = (
    "You are an AI assistant whose replies are as helpful, clear and concise as possible. Give practical, "
    "accurate information with enough detail to act on, without overwhelming the user. Stay patient, polite "
    "and calm, avoid needless complexity, and put practical, user-friendly advice first.")
PAPER_PREFERENCE_TEMPLATE = "Your answer should be as {preference} as possible."
ACCORD_SYSTEM_PROMPT = "You are a helpful assistant."
ACCORD_PREFERENCE_TEMPLATE = "Your answer should be {preference} as much as possible."
PLACEMENTS = ("system", "question")


@dataclass(frozen=True)
class PromptProtocol:
    """The texts and settings of one protocol (recorded in run.json by `record()`)."""

    name: str
    """"paper" or "accord"."""
    system_prompt: str
    """System prompt of both streams (the plain prompt has it alone)."""
    preference_template: str
    """The preference sentence; {preference} is filled in."""
    placement: str
    """Where the preference sentence goes in the preference prompt: "system" (appended to the system prompt
    after a space) or "question" (appended to the question after a newline)."""
    methods: tuple[str, ...]
    """The methods an evaluation compares by default (Amulet last: it is compared with each of the others)."""
    judge_reading: str
    """Default reading of the preference judge: "pairwise" (win/tie/lose) or "pointwise" (P(Yes))."""
    num_beams: int = 16
    """Beams of the bs baseline."""
    max_new_tokens: int = 128
    """Answer length limit."""

    def method_config(self, method: str, preference: str = "", **overrides):
        """A MethodConfig of this protocol (overrides: any MethodConfig field, e.g. system_prompt)."""
        from accord.decoding.methods import MethodConfig

        texts = {"system_prompt": self.system_prompt, "preference_template": self.preference_template,
                 "placement": self.placement, "num_beams": self.num_beams, "protocol": self.name}
        return MethodConfig(method=method, preference=preference, **{**texts, **overrides})

    def record(self) -> dict:
        return asdict(self)


PROTOCOLS = {
    "paper": PromptProtocol(
        name="paper", system_prompt=PAPER_SYSTEM_PROMPT, preference_template=PAPER_PREFERENCE_TEMPLATE,
        placement="system", methods=("base", "pref", "bs", "la", "amulet"), judge_reading="pairwise"),
    "accord": PromptProtocol(
        name="accord", system_prompt=ACCORD_SYSTEM_PROMPT, preference_template=ACCORD_PREFERENCE_TEMPLATE,
        placement="question", methods=("base", "pref", "la", "amulet"), judge_reading="pointwise"),
}


def get_protocol(name: str) -> PromptProtocol:
    if name not in PROTOCOLS:
        raise AccordError(f"unknown protocol {name!r}; choose from {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def opposite_preference(preference: str) -> str:
    """The opposite of a preset; an unknown preference has none (an AccordError naming the presets)."""
    key = preference.strip().lower()
    if key not in OPPOSITE_PREFERENCES:
        raise AccordError(f"no known opposite for preference {preference!r}; judge validation uses the presets "
                          f"{', '.join(PAPER_PREFERENCES)}")
    return OPPOSITE_PREFERENCES[key]
