"""Voting: each party's judge rates a resolution 0-9 by constrained choice over the ten digits.

The judge reads the background, the resolution and the protocol's rating rubric (under the paper's
protocol three bands, 0-3 / 4-6 / 7-9, each with its criteria; see accord.consensus.protocols). That is the
shared prefix, computed once per
resolution and reused by every party through `lm.choice_logprobs(..., prefix=...)`. Then comes one
party's stance and a short answer cue. Keeping the rubric in the prefix leaves only the stance to be
evaluated per party (on real EuroCon tasks the stance is ~190 tokens). The score is read
from the log-probabilities of the tokens "0".."9": the argmax digit is the party's vote, the expected
digit is recorded too, with the full distribution. Nothing is parsed from free text.

A backend whose endpoint returns no log-probabilities (see accord.lm.openai_compat) may answer with a
single sampled digit instead; such rows are flagged (source "answer"), and rows with no usable digit are
marked unusable (score None).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from accord.consensus.data import Task
from accord.consensus.protocols import PAPER, Protocol
from accord.errors import AccordError
from accord.lm.base import LanguageModel, normalize_choices

DIGITS = [str(d) for d in range(10)]
JUDGE_SYSTEM = PAPER.judge_system
RUBRIC = PAPER.rubric
ANSWER_CUE = PAPER.answer_cue


def judge_prompt_settings(protocol: Protocol = PAPER) -> dict:
    """The judge's prompt texts, recorded with a run so that a resume never mixes two prompts."""
    return protocol.judge_texts()


@dataclass
class Vote:
    party: str
    score: int | None
    """The argmax digit (None when unusable)."""
    expected: float | None
    distribution: list[float]
    source: str = "logprobs"
    """logprobs | top_logprobs | answer (a single digit, no probabilities) | unusable."""

    def as_dict(self) -> dict:
        return {"party": self.party, "score": self.score, "expected": self.expected,
                "distribution": [round(p, 6) for p in self.distribution], "source": self.source}


def judge_texts(task: Task, resolution: str, protocol: Protocol = PAPER) -> tuple[str, list[str]]:
    """(shared user text, one party-specific user text per party); the full user message is their join."""
    common = f"Background: {task.background}\n\nProposed resolution: {resolution}\n\n{protocol.rubric}\n\n"
    parties = [f"Stance of the {p.name} group: {p.stance}\n\n{protocol.answer_cue}" for p in task.parties]
    return common, parties


def split_prompts(lm: LanguageModel, common: str, specifics: list[str],
                  system: str | None = JUDGE_SYSTEM) -> tuple[str, list[str]]:
    """(prefix, suffixes) with prefix + suffix_i == lm.chat_prompt(common + specific_i, system).

    The prefix is the chat prompt up to the end of the shared text, found in the formatted prompt, so it
    works with any chat template that keeps the user text verbatim."""
    prefix, suffixes = None, []
    for specific in specifics:
        full = lm.chat_prompt(common + specific, system=system)
        at = full.find(common)
        if at < 0:
            return "", [lm.chat_prompt(common + s, system=system) for s in specifics]
        head, tail = full[:at + len(common)], full[at + len(common):]
        if prefix is not None and head != prefix:
            return "", [lm.chat_prompt(common + s, system=system) for s in specifics]
        prefix = head
        suffixes.append(tail)
    return prefix or "", suffixes


def votes_from_logprobs(names: list[str], logprobs: np.ndarray, sources: list[str] | None = None) -> list[Vote]:
    votes = []
    for row, name in enumerate(names):
        source = sources[row] if sources else "logprobs"
        values = np.asarray(logprobs[row], dtype=np.float64)
        if source == "unusable" or not np.isfinite(values).any():
            votes.append(Vote(name, None, None, [], "unusable"))
            continue
        probs = normalize_choices(values)
        votes.append(Vote(name, int(np.argmax(probs)), float(np.dot(probs, np.arange(10))), probs.tolist(), source))
    return votes


def judge_resolution(lm: LanguageModel, task: Task, resolution: str,
                     protocol: Protocol = PAPER) -> tuple[list[Vote], float]:
    """Every party's vote on one resolution (one constrained-choice call) and the seconds it took."""
    if not resolution.strip():
        raise AccordError(f"empty resolution for {task.topic}/{task.id}")
    common, specifics = judge_texts(task, resolution, protocol)
    prefix, suffixes = split_prompts(lm, common, specifics, system=protocol.judge_system)
    start = time.perf_counter()
    try:
        logprobs = lm.choice_logprobs(suffixes, DIGITS, prefix=prefix)
    except TypeError:  # a backend without shared-prefix scoring
        logprobs = lm.choice_logprobs([prefix + s for s in suffixes], DIGITS)
    seconds = time.perf_counter() - start
    sources = getattr(lm, "last_choice_sources", None)
    if sources is not None and len(sources) != len(suffixes):
        sources = None
    return votes_from_logprobs([p.name for p in task.parties], np.asarray(logprobs), sources), seconds
