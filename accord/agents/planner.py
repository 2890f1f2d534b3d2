"""ProAgent's planner over any model of accord's model layer: the paper's free-text analysis followed by a
parsed plan, or a constrained choice that reads each skill's probability directly.

Zhang et al., "ProAgent: Building Proactive Cooperative Agents with Large Language Models", AAAI 2024,
arXiv 2308.11339 (section "Planner"; the released code's parse_ml_action).

- `FreeTextPlanner` (paper): the model writes "Analysis: ... [Intention for Player j: "skill"] Plan for
  Player i: "skill"" (greedy, at most 256 new tokens, cut at the next "Scene"); `parse_plan` reads the
  skill with the paper's keyword rules. A response with no skill in it parses to None (the agent then
  waits one step, as the paper's parser does, and counts it).
- `ChoicePlanner` (accord): the same instructions and scene, then the skills listed as lettered options;
  the planner reads log p(letter) with `lm.choice_logprobs` (as accord's judges do) and takes the most
  probable allowed skill, so a small model can never answer with an unparsable plan. The teammate's
  intention, when asked, is a second lettered question on the same prefix in the same call.

Both return a `Plan`; both count one model call per `plan`.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

import numpy as np

from accord.agents.prompts import MAX_WAIT, SKILLS
from accord.lm.base import SamplingConfig, normalize_choices


@dataclass
class Plan:
    skill: str | None
    """The skill planned for the agent ("pickup(onion)", "wait(3)", ...), None when nothing parsed."""
    intention: str | None = None
    """The skill the planner expects of the teammate (None when not asked or not parsed)."""
    text: str = ""
    """The model's raw answer (free text) or the options shown (choice)."""
    probs: dict = field(default_factory=dict)
    """Choice planner: skill -> probability among the allowed skills."""


def parse_skill(text: str) -> str | None:
    """The skill named in `text` by the paper's keyword rules (place > pick > put > fill > deliver > wait),
    or None when it names none. wait(n) keeps its n when it is a number (else 1)."""
    low = text.lower()
    if "place" in low:
        return "place_obj_on_counter()"
    if "pick" in low:
        if "onion" in low:
            return "pickup(onion)"
        if "dish" in low:
            return "pickup(dish)"
        return None
    if "put" in low:
        return "put_onion_in_pot()" if "onion" in low else None
    if "fill" in low:
        return "fill_dish_with_soup()"
    if "deliver" in low:
        return "deliver_soup()"
    if "wait" in low:
        match = re.search(r"wait\s*\(?\s*(\d+)", low)
        return f"wait({int(match.group(1)) if match else 1})"
    return None


def parse_plan(response: str, player: int) -> str | None:
    """The skill written for `player` in a free-text answer: the text after "Player <player>:" (the paper's
    pattern; the whole answer when the line is missing), first skill only, by `parse_skill`."""
    match = re.search(rf"layer\s*{player}\s*:\s*(.+)", response)
    segment = match.group(1) if match else response
    segment = segment.split(",")[0] if match else segment  # "deliver_soup(), pickup(onion)": the first skill
    return parse_skill(segment)


def wait_steps(skill: str) -> int | None:
    """n of a "wait(n)" skill, None for other skills."""
    match = re.fullmatch(r"wait\((\d+)\)", skill or "")
    return int(match.group(1)) if match else None


def split_chat(lm, system: str, user: str) -> tuple[str, str]:
    """(prefix, rest) of lm.chat_prompt(user, system), cut where the user text starts: the prefix is the same
    for every scene of a game (the instructions), so a backend can keep its KV cache between calls."""
    full = lm.chat_prompt(user, system=system)
    at = full.rfind(user)
    if at <= 0:
        return "", full
    return full[:at], full[at:]


def scene_prefix(lm, prompts: list[str], user: str) -> str:
    """The head every prompt shares up to the end of the user text (instructions, layout, scene; the
    questions and options follow it), for llama.cpp (which evaluates a prefix once per call and, with
    `keep_prefix`, keeps its KV): the scene is then evaluated once for both questions, and the next decision evaluates
    only what follows the head it shares with this one (the instructions, the layout line, "Scene ").
    "" for other backends or when the head would not tokenize as it does inside the whole prompt."""
    if not hasattr(lm, "keep_prefix") or not hasattr(lm, "tokenize"):
        return ""
    full = prompts[0]
    at = full.rfind(user + "\n\n")
    if at < 0:
        return ""
    head = full[:at + len(user) + 2]
    if not all(p.startswith(head) for p in prompts):
        return ""
    return head if lm.tokenize(head) + lm.tokenize(full[len(head):]) == lm.tokenize(full) else ""


class FreeTextPlanner:
    """The paper's planner: free-text analysis, then a parsed plan (and intention)."""

    mode = "freetext"

    def __init__(self, lm, system: str, seat: int, max_new_tokens: int = 256, with_intention: bool = False):
        self.lm, self.system, self.seat = lm, system, seat
        self.with_intention = with_intention
        self.sampling = SamplingConfig(max_new_tokens=max_new_tokens, temperature=0.0)

    def plan(self, user: str, allowed=None) -> Plan:
        prompt = self.lm.chat_prompt(user, system=self.system)
        text = self.lm.generate([prompt], self.sampling)[0].text
        text = text.split("Scene")[0] if "Scene" in text[1:] else text  # the paper stops at the next "Scene"
        intention = parse_plan(text, 1 - self.seat) if self.with_intention else None
        return Plan(parse_plan(text, self.seat), intention, text)


def options_text(question: str, skills: tuple[str, ...]) -> tuple[str, list[str]]:
    """A lettered multiple-choice question over `skills` and its answer letters."""
    letters = list(string.ascii_uppercase[:len(skills)])
    lines = [question] + [f"{letter}. {skill}" for letter, skill in zip(letters, skills)]
    return "\n".join(lines) + "\nAnswer with the letter only.", letters


class ChoicePlanner:
    """Constrained choice over the allowed skills (accord): one `choice_logprobs` call per plan."""

    mode = "choice"

    def __init__(self, lm, system: str, seat: int, skills: tuple[str, ...] = SKILLS, with_intention: bool = False):
        self.lm, self.system, self.seat = lm, system, seat
        self.skills = tuple(skills)
        self.with_intention = with_intention

    def questions(self, user: str, skills: tuple[str, ...]) -> tuple[list[str], list[str]]:
        """The user messages asked (the plan over `skills`, then the intention when asked) and the letters."""
        me, mate = self.seat, 1 - self.seat
        plan_q, letters = options_text(f"{user}\n\nWhich skill should <Player {me}> do right now?", skills)
        asked = [plan_q]
        if self.with_intention:
            asked.append(options_text(f"{user}\n\nWhich skill will <Player {mate}> do next?", SKILLS)[0])
        return asked, letters

    def plan(self, user: str, allowed: tuple[str, ...] | None = None) -> Plan:
        """The most probable skill; `allowed` (an accord option) offers only those skills (in their order)."""
        skills = tuple(s for s in self.skills if allowed is None or s in allowed) or self.skills
        asked, letters = self.questions(user, skills)
        prompts = [self.lm.chat_prompt(q, system=self.system) for q in asked]
        prefix = scene_prefix(self.lm, prompts, user) or split_chat(self.lm, self.system, user)[0]
        all_letters = list(string.ascii_uppercase[:max(len(skills), len(SKILLS) if self.with_intention else 0)])
        if prefix and all(p.startswith(prefix) for p in prompts):
            logprobs = self.lm.choice_logprobs([p[len(prefix):] for p in prompts], all_letters, prefix=prefix)
        else:
            logprobs = self.lm.choice_logprobs(prompts, all_letters)
        logprobs = np.asarray(logprobs, dtype=np.float64)
        probs = normalize_choices(logprobs[0, :len(skills)])
        skill = skills[int(np.argmax(probs))]
        intention = None
        if self.with_intention:
            intention = SKILLS[int(np.argmax(logprobs[1, :len(SKILLS)]))]
        return Plan(skill, intention, asked[0], {s: float(p) for s, p in zip(skills, probs)})


def explain_failure(lm, system: str, question: str, max_new_tokens: int = 256) -> str:
    """The failure explainer (paper): the model checks the failed skill's assertions in free text."""
    prompt = lm.chat_prompt(question, system=system)
    return lm.generate([prompt], SamplingConfig(max_new_tokens=max_new_tokens, temperature=0.0))[0].text


def valid_wait(skill: str) -> bool:
    """A wait the paper's verifier accepts: 0 < n <= MAX_WAIT."""
    n = wait_steps(skill)
    return n is not None and 0 < n <= MAX_WAIT
