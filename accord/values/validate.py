"""Known-answer validation of the know-why judge (judges are instruments; see accord/validation.py).

For an item i with its own explanation E_i (written for that text and value), the judge should score E_i
higher, in item i's context, than an explanation written for something else:

    other-item   E_j, written for another text j of the same value (same correct answer when there is one),
                 so only the text differs; the main check
    other-value  E_k, written for a text k of another value (text and value differ)

Both are scored in item i's context (its text, value, relation and definition), under the protocol's
judge prompts; an item's score is the mean over its three parts (expected reading; the argmax reading is
kept too). Outcome 1 when E_i scores higher, 0 when lower, 0.5 on a tie; the rate of right orderings gets
a bootstrap interval (`ordering_check`) and is cached per judge setting (`save_validation`), where
`accord values report` finds it.

The explanations come from a finished run (`--run DIR`: its items, explanations and protocol) or are
written for the occasion by a writer model (`--writer`). They are only "correct" in that they were written
for the item; a weak writer makes the contrast harder to see, never easier.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from accord.errors import AccordError
from accord.validation import ordering_check, ordering_outcome, save_validation, validation_line
from accord.values import know_why, know_why_paper
from accord.values.data import Item, value_rng
from accord.values.protocols import Protocol

KIND = "values"
MAIN_CHECK = "other-item"
CHECKS = ("other-item", "other-value")


def pick_contrasts(items: list[Item], seed: int = 0) -> dict[str, list[int]]:
    """For each item, the index of the item whose explanation it is contrasted with, per check.

    other-item: another item of the same value, preferring one with the same correct answer; other-value:
    an item of another value, preferring the same answer. -1 when there is none (that contrast is skipped)."""
    out = {check: [] for check in CHECKS}
    for i, item in enumerate(items):
        rng = value_rng(seed, item.value, 2, item.row)
        for check in CHECKS:
            same_value = check == "other-item"
            pool = [j for j, other in enumerate(items) if j != i and (other.value == item.value) == same_value]
            matching = [j for j in pool if items[j].answer == item.answer]
            pool = matching or pool
            out[check].append(int(pool[rng.integers(len(pool))]) if pool else -1)
    return out


def rate(judge, protocol: Protocol, items: list[Item], explanations: list) -> np.ndarray:
    """Judge digit probabilities [n, 3, scale] of explanations[i] read in items[i]'s context."""
    if protocol.one_explanation:
        return know_why_paper.rate(judge, items, explanations, protocol)
    return know_why.rate(judge, items, explanations)


def item_scores(judge, protocol: Protocol, items: list[Item], explanations: list,
                batch_size: int = 8, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(expected, argmax) score per item, each the mean over the three parts."""
    expected, argmax = [], []
    starts = range(0, len(items), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, unit="batch", desc="judge")
    for start in starts:
        probs = rate(judge, protocol, items[start:start + batch_size], explanations[start:start + batch_size])
        expected.extend(know_why.expected_score(probs, protocol.judge_digits).mean(axis=1))
        argmax.extend(know_why.argmax_score(probs, protocol.judge_digits).mean(axis=1))
    return np.array(expected, dtype=float), np.array(argmax, dtype=float)


def validate_judge(judge, judge_name: str, protocol: Protocol, items: list[Item], explanations: list, key: str,
                   seed: int = 0, batch_size: int = 8, progress: bool = False, extra: dict | None = None,
                   own_scores: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Run both contrasts, save the record under `key`, return {checks, outcomes, own_mean, other_mean, path}.

    own_scores: the (expected, argmax) scores of each item's own explanation when they are already known
    (a run judged by this same judge setting); otherwise they are scored here."""
    if len(items) < 2:
        raise AccordError("judge validation needs at least 2 items with explanations")
    partners = pick_contrasts(items, seed)
    # one scoring pass: every item with its own explanation, then with each contrast's explanation
    contrast_items, contrast_explanations, slots = [], [], {}  # slot: the row in the scores below
    for check in CHECKS:
        for i, j in enumerate(partners[check]):
            if j >= 0:
                slots[(check, i)] = len(items) + len(contrast_items)
                contrast_items.append(items[i])
                contrast_explanations.append(explanations[j])
    if own_scores is None:
        expected, argmax = item_scores(judge, protocol, list(items) + contrast_items,
                                       list(explanations) + contrast_explanations, batch_size, progress)
    else:
        expected, argmax = item_scores(judge, protocol, contrast_items, contrast_explanations, batch_size, progress)
        expected = np.concatenate([np.asarray(own_scores[0], dtype=float), expected])
        argmax = np.concatenate([np.asarray(own_scores[1], dtype=float), argmax])
    checks, outcomes = [], {}
    for check in CHECKS:
        for reading, scores in (("expected", expected), ("argmax", argmax)):
            pairs = [(scores[i], scores[slots[(check, i)]]) for i in range(len(items)) if (check, i) in slots]
            if not pairs:
                continue
            result = [ordering_outcome(own, other) for own, other in pairs]
            outcomes[f"{check}/{reading}"] = result
            checks.append(ordering_check(check, reading, result, seed=seed))
    if not checks:
        raise AccordError("no contrasts could be built (the contrasts need items of one value and of another)")
    path = save_validation(KIND, key, {"judge": judge_name, "protocol": protocol.name}, checks,
                           extra={"items": len(items), "own_mean": float(expected[:len(items)].mean()),
                                  "other_mean": float(expected[len(items):].mean()), **(extra or {})})
    return {"checks": checks, "outcomes": outcomes, "path": str(path),
            "own_mean": float(expected[:len(items)].mean()), "other_mean": float(expected[len(items):].mean())}


def items_from_run(run_dir: str | Path, limit: int | None = None) -> tuple[dict, list[Item], list, tuple]:
    """(settings, items, explanations, own scores) of a finished `accord values run` (paper: the whole
    answers; own scores: the run judge's (expected, argmax) score of each item, mean over the parts)."""
    from accord.values.report import load_run

    metadata, records = load_run(run_dir)
    settings = metadata.get("settings", {})
    one_answer = settings.get("protocol", "accord") == "paper"
    if limit is not None:
        records = records[:limit]
    items = [Item(value=r["value"], row=r["row"], text=r["text"], label=r["label"], answer=r["answer"])
             for r in records]
    explanations = [r["answer_text"] if one_answer else r["explanation"] for r in records]
    own = (np.array([r["why"] for r in records], dtype=float),
           np.array([np.mean(list(r["why_argmax"].values())) for r in records], dtype=float))
    return settings, items, explanations, own


def format_checks(checks) -> str:
    lines = [f"{'check':<13}{'reading':<10}{'right':>7}  95% CI          n"]
    for c in checks:
        lines.append(f"{c.check:<13}{c.reading:<10}{c.rate:>7.3f}  [{c.low:.3f}, {c.high:.3f}]  {c.n}")
    return "\n".join(lines)


def report_line(key: str, judge_name: str, command: str) -> str:
    return validation_line(KIND, key, judge_name, check=MAIN_CHECK, reading="expected", command=command)
