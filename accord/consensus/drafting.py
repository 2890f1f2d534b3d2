"""Drafting resolutions: any model, any method of accord.decoding (base, pref, la, amulet), under a protocol
(accord.consensus.protocols: the paper's by default).

The drafting prompt gives the background, the title, every party's stance and, by default, one adopted
resolution of another record of the same topic as an example (never the task's own record: that would
leak the answer), then the goal and the closing request for one paragraph beginning "The European
Parliament". Two prompts are built per (task, goal): the one with the goal and the same one without the
goal text. Under the paper's protocol every method drafts from the prompt with the goal (base and pref
alike); la and amulet contrast it at every token with the prompt without the goal. Under accord's earlier
protocol base drafts without the goal. The two prompts share every token before the goal, which the
llama.cpp backend evaluates once for both streams.

Both streams are prefilled with "The European Parliament" after the assistant turn starts, so every
draft begins with it.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from accord.consensus.data import Task
from accord.consensus.protocols import OPENING, PAPER, Protocol, goal_text
from accord.decoding.methods import MethodConfig, combiner
from accord.errors import AccordError
from accord.lm.base import LanguageModel, SamplingConfig


@dataclass
class Draft:
    text: str
    finish_reason: str
    num_tokens: int
    seconds: float
    """Wall time of the drafting batch divided by its size."""
    example_id: str | None = None


def goal_requirement(task: Task, goal: str, protocol: Protocol = PAPER) -> str:
    return goal_text(protocol, goal, [p.name for p in task.parties], task.seat_weights, task.veto_party)


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


def drafting_parts(task: Task, example: Task | None, protocol: Protocol) -> list[str]:
    """The blocks of the drafting prompt before the goal: background, title, stances, the example."""
    if example is not None and (example.id == task.id or example.resolution.strip() == task.resolution.strip()):
        raise AccordError(f"the one-shot example for {task.topic}/{task.id} is the task's own record")
    stances = "\n".join(f"- {p.name}: {p.stance}" for p in task.parties)
    parts = [f"Background: {task.background}", f"Title: {task.title}", f"Stances of the party groups:\n{stances}"]
    if example is not None:
        text = example.resolution.strip()
        if protocol.example_chars and len(text) > protocol.example_chars:
            text = text[:protocol.example_chars].rsplit(" ", 1)[0] + " ..."
        parts.append(f"{protocol.example_header.format(topic=task.topic)}\n{text}")
    return parts


def drafting_question(task: Task, example: Task | None = None, protocol: Protocol = PAPER) -> str:
    """The user text of the drafting prompt without the goal."""
    return "\n\n".join(drafting_parts(task, example, protocol) + [protocol.instruction.format(opening=OPENING)])


def drafting_texts(task: Task, goal: str, protocol: Protocol, example: Task | None = None) -> tuple[str, str]:
    """(user text without the goal, user text with the goal); they agree up to where the goal starts."""
    parts = drafting_parts(task, example, protocol)
    instruction = protocol.instruction.format(opening=OPENING)
    goal_block = protocol.goal_template.format(goal=goal_requirement(task, goal, protocol))
    without = "\n\n".join(parts + [instruction])
    if protocol.goal_before_instruction:
        return without, "\n\n".join(parts + [goal_block, instruction])
    return without, f"{without}\n{goal_block}"


def drafting_prompts(lm: LanguageModel, task: Task, goal: str, protocol: Protocol,
                     example: Task | None = None) -> tuple[str, str]:
    """(prompt without the goal, prompt with the goal), chat-formatted and prefilled with the opening."""
    without, with_goal = drafting_texts(task, goal, protocol, example)
    system = protocol.drafter_system or None
    return lm.chat_prompt(without, system=system) + OPENING, lm.chat_prompt(with_goal, system=system) + OPENING


def finish_draft(continuation: str) -> str:
    """The draft from the text generated after the prefilled opening, as one paragraph (headings and
    line breaks flattened) beginning with the opening words (a backend that could not prefill may repeat
    them; they are kept once)."""
    text = continuation if continuation.lstrip().startswith(OPENING) else OPENING + continuation
    return " ".join(text.split())


def method_config(method: str, method_overrides: dict | None = None) -> MethodConfig:
    """The method's hyper-parameters (la / amulet); the preference texts come from the protocol."""
    return MethodConfig(method=method, preference="<goal>", **dict(method_overrides or {}))


def draft_resolutions(lm: LanguageModel, tasks: list[Task], goals: list[str], method: str,
                      sampling: SamplingConfig, examples: list[Task | None] | None = None,
                      method_overrides: dict | None = None, protocol: Protocol = PAPER) -> list[Draft]:
    """Draft one resolution per (task, goal) pair, as one batch."""
    if len(tasks) != len(goals):
        raise AccordError("tasks and goals must pair up one to one")
    if not tasks:
        return []
    examples = examples or [None] * len(tasks)
    config = method_config(method, method_overrides)
    prompts = [drafting_prompts(lm, task, goal, protocol, example)
               for task, goal, example in zip(tasks, goals, examples)]
    without = [plain for plain, _ in prompts]
    with_goal = [pref for _, pref in prompts]
    start = time.perf_counter()
    if method == "base":
        generations = lm.generate(with_goal if protocol.base_sees_goal else without, sampling)
    elif method == "pref":
        generations = lm.generate(with_goal, sampling)
    else:
        generations = lm.generate_two_streams(without, with_goal, combiner(config), sampling)
    seconds = (time.perf_counter() - start) / len(tasks)
    return [Draft(finish_draft(g.text), g.finish_reason, g.num_tokens, seconds,
                  example.id if example is not None else None)
            for g, example in zip(generations, examples)]


def method_parameters(method: str, method_overrides: dict | None = None) -> dict:
    """The method's hyper-parameters for the run record (the prompt texts are the protocol's)."""
    config = method_config(method, method_overrides)
    return {k: v for k, v in config.parameters().items()
            if k not in ("preference", "system_prompt", "preference_template")}
