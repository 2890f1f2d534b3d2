"""Drafting resolutions: any model, any method of accord.decoding (base, pref, la, amulet).

The plain prompt (the question) gives the background, the title and every party's stance and asks for
one paragraph beginning "The European Parliament". The goal's requirement (seat shares, threshold, veto
party, principle) is the *preference*: the pref prompt appends it to the question, la/amulet contrast the
two streams per token, and base never sees it (the baseline without the goal).

Both streams are prefilled with "The European Parliament" after the assistant turn starts, so every
draft begins with it. An optional one-shot example is the adopted resolution of another record of the
same topic; the task's own record is never used (it would leak the answer).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from accord.consensus.data import Task
from accord.consensus.goals import requirement
from accord.decoding.methods import MethodConfig, build_prompts, combiner
from accord.errors import AccordError
from accord.lm.base import LanguageModel, SamplingConfig

OPENING = "The European Parliament"
SYSTEM_PROMPT = "You are an experienced drafter of European Parliament resolutions."
EXAMPLE_CHARS = 900
PREFERENCE_TEMPLATE = "Voting goal (shape the measures to meet it; do not restate it): {preference}"


@dataclass
class Draft:
    text: str
    finish_reason: str
    num_tokens: int
    seconds: float
    """Wall time of the drafting batch divided by its size."""
    example_id: str | None = None


def method_config(method: str, goal_requirement: str = "", **overrides) -> MethodConfig:
    """A MethodConfig whose preference is the goal's requirement."""
    overrides.setdefault("system_prompt", SYSTEM_PROMPT)
    overrides.setdefault("preference_template", PREFERENCE_TEMPLATE)
    return MethodConfig(method=method, preference=goal_requirement, **overrides)


def goal_requirement(task: Task, goal: str) -> str:
    return requirement(goal, [p.name for p in task.parties], task.seat_weights, task.veto_party)


def pick_example(task: Task, pool: list[Task], rng: random.Random) -> Task | None:
    """Another record of the same topic with an adopted resolution; never the task's own record (same id,
    or the same resolution text found under another id or party count)."""
    own = task.resolution.strip()
    candidates = [other for other in pool
                  if other.topic == task.topic and other.id != task.id and other.resolution.strip()
                  and other.resolution.strip() != own and other.title != task.title]
    unique = {other.id: other for other in candidates}  # the same record may sit in tasks/2, /4 and /6
    if not unique:
        return None
    return unique[sorted(unique)[rng.randrange(len(unique))]]


def drafting_question(task: Task, example: Task | None = None) -> str:
    if example is not None and (example.id == task.id or example.resolution.strip() == task.resolution.strip()):
        raise AccordError(f"the one-shot example for {task.topic}/{task.id} is the task's own record")
    stances = "\n".join(f"- {p.name}: {p.stance}" for p in task.parties)
    parts = [f"Background: {task.background}", f"Title: {task.title}", f"Stances of the party groups:\n{stances}"]
    if example is not None:
        text = example.resolution.strip()
        if len(text) > EXAMPLE_CHARS:
            text = text[:EXAMPLE_CHARS].rsplit(" ", 1)[0] + " ..."
        parts.append(f"For illustration, a resolution adopted on another {task.topic} issue:\n{text}")
    parts.append(f"Write the resolution the European Parliament could adopt on this issue, balancing the "
                 f"stances above: one paragraph of concrete, feasible measures, beginning \"{OPENING}\".")
    return "\n\n".join(parts)


def finish_draft(continuation: str) -> str:
    """The draft from the text generated after the prefilled opening, as one paragraph (headings and
    line breaks flattened) beginning with the opening words (a backend that could not prefill may repeat
    them; they are kept once)."""
    text = continuation if continuation.lstrip().startswith(OPENING) else OPENING + continuation
    return " ".join(text.split())


def draft_resolutions(lm: LanguageModel, tasks: list[Task], goals: list[str], method: str,
                      sampling: SamplingConfig, examples: list[Task | None] | None = None,
                      method_overrides: dict | None = None) -> list[Draft]:
    """Draft one resolution per (task, goal) pair, as one batch."""
    if len(tasks) != len(goals):
        raise AccordError("tasks and goals must pair up one to one")
    if not tasks:
        return []
    examples = examples or [None] * len(tasks)
    plains, prefs, configs = [], [], []
    for task, goal, example in zip(tasks, goals, examples):
        config = method_config(method, goal_requirement(task, goal), **dict(method_overrides or {}))
        plain, pref = build_prompts(lm, drafting_question(task, example), config)
        plains.append(plain + OPENING)
        prefs.append(pref + OPENING)
        configs.append(config)
    start = time.perf_counter()
    if method == "base":
        generations = lm.generate(plains, sampling)
    elif method == "pref":
        generations = lm.generate(prefs, sampling)
    else:
        generations = lm.generate_two_streams(plains, prefs, combiner(configs[0]), sampling)
    seconds = (time.perf_counter() - start) / len(tasks)
    return [Draft(finish_draft(g.text), g.finish_reason, g.num_tokens, seconds,
                  example.id if example is not None else None)
            for g, example in zip(generations, examples)]


def method_parameters(method: str, method_overrides: dict | None = None) -> dict:
    """The method's hyper-parameters for the run record (the preference itself varies per task)."""
    config = method_config(method, "<goal requirement>", **dict(method_overrides or {}))
    return {k: v for k, v in config.parameters().items() if k != "preference"}

