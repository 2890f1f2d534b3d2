"""The resumable ValueDCG runner: for each item, the know-what answer probabilities, the three-part
explanation and the judge's ratings, appended as one JSON line to <out>/results.jsonl (ResultStore).
A crash loses at most the batch in flight; a rerun with the same settings does only what is missing.

    plan = prepare(data=None, values="all", limit=20, seed=0)        # reads + validates the data
    run_values(lm, judge, plan, out_dir="runs/v")                    # or use the CLI: accord values run
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from accord.errors import AccordError
from accord.runs import ResultStore, sha256_files, write_run_metadata
from accord.validation import judge_key
from accord.values import know_what, know_why, know_why_paper
from accord.values.data import Item, data_dir, load_values, select_items
from accord.values.definitions import LETTERS, resolve_values
from accord.values.protocols import PAPER_ANSWERS, Protocol, get_protocol

RESULTS = "results.jsonl"


@dataclass
class Plan:
    directory: Path
    values: list[str]
    pools: dict[str, list[Item]]
    """Every row of each value's file (the shot pool)."""
    items: list[Item]
    """The items to evaluate (limit per value applied), taken round robin over the values."""
    files: list[Path]
    limit: int | None
    seed: int
    shots: int = 3
    why_tokens: int = 48
    protocol: Protocol = field(default_factory=lambda: get_protocol("paper"))
    """The prompts and settings (accord.values.protocols): paper or accord."""

    def settings(self, model: str, judge: str, **extra) -> dict:
        return {
            "model": model, "judge": judge, "values": self.values, "limit": self.limit, "seed": self.seed,
            "protocol": self.protocol.name, "shots": self.shots, "why_tokens": self.why_tokens,
            "word_limit": know_why.WORD_LIMIT, "data": str(self.directory), "data_sha256": sha256_files(self.files),
            "items": len(self.items), "judge_key": judge_validation_key(judge, self.protocol),
            "protocol_record": self.protocol.record(), **extra,
        }


def judge_validation_key(judge: str, protocol: Protocol) -> str:
    """The key of the know-why judge's validation record: judge name, protocol, judge texts and scale."""
    return judge_key({"judge": judge, "protocol": protocol.name, "texts": protocol.judge_texts(),
                      "digits": protocol.judge_digits, "reading": "expected"})


def prepare(data: str | Path | None = None, values: str = "all", limit: int | None = None, seed: int = 0,
            shots: int | None = None, why_tokens: int | None = None, protocol: str = "paper") -> Plan:
    """Resolve the data directory and value names, read and validate the files, choose the items.
    shots / why_tokens default to the protocol's."""
    chosen_protocol = get_protocol(protocol)
    shots = chosen_protocol.shots if shots is None else shots
    why_tokens = chosen_protocol.why_tokens if why_tokens is None else why_tokens
    if limit is not None and limit <= 0:
        raise AccordError(f"--limit must be positive, got {limit}")
    if shots < 0:
        raise AccordError(f"--shots must be 0 or more, got {shots}")
    directory = data_dir(data)
    names = resolve_values(values)
    pools, files = load_values(directory, names)
    if chosen_protocol.paper_answers:
        pools = {name: [replace(item, answer=PAPER_ANSWERS[item.label]) for item in pool]
                 for name, pool in pools.items()}
    chosen = [select_items(pools[name], limit, seed) for name in names]
    # round robin over the values, so that a partial (interrupted) run covers every value evenly
    items = [group[i] for i in range(max(map(len, chosen))) for group in chosen if i < len(group)]
    return Plan(directory, names, pools, items, files, limit, seed, shots, why_tokens, chosen_protocol)


def explain_and_rate(lm, judge, plan: Plan, batch: list[Item]) -> tuple[list[dict], list[str] | None, np.ndarray]:
    """The explanations of a batch and the judge's digit probabilities [len(batch), 3, len(scale)]:
    one answer per item judged part by part (paper), or three generated parts each judged (accord).
    Returns (parts per item, the whole answers or None, probabilities)."""
    if plan.protocol.one_explanation:
        answers = know_why_paper.explain(lm, batch, plan.protocol, max_new_tokens=plan.why_tokens)
        ratings = know_why_paper.rate(judge, batch, answers, plan.protocol)
        return [know_why_paper.split_parts(answer) for answer in answers], answers, ratings
    explanations = know_why.explain(lm, batch, max_new_tokens=plan.why_tokens)
    return explanations, None, know_why.rate(judge, batch, explanations)


def evaluate_batch(lm, judge, plan: Plan, batch: list[Item]) -> list[dict]:
    """Know what + know why for a batch of items, as result records."""
    started = time.perf_counter()
    protocol = plan.protocol
    shots = {item.key: know_what.sample_shots(item, plan.pools[item.value], plan.shots, plan.seed,
                                              prefer_short=protocol.prefer_short_shots) for item in batch}
    probs = know_what.score(lm, batch, shots, protocol)
    explanations, answers, ratings = explain_and_rate(lm, judge, plan, batch)
    expected = know_why.expected_score(ratings, protocol.judge_digits)
    argmax = know_why.argmax_score(ratings, protocol.judge_digits)
    seconds = (time.perf_counter() - started) / len(batch)
    records = []
    for i, item in enumerate(batch):
        pred = LETTERS[int(np.argmax(probs[i]))]
        record = {
            "key": item.key, "value": item.value, "row": item.row, "label": item.label, "answer": item.answer,
            "text": item.text, "shots": [shot.row for shot in shots[item.key]],
            "probs": [round(float(p), 6) for p in probs[i]], "pred": pred, "correct": pred == item.answer,
            "confidence": round(float(probs[i].max()), 6),
            "explanation": explanations[i],
            "judge_probs": {part: [round(float(p), 6) for p in ratings[i, j]]
                            for j, part in enumerate(know_why.PARTS)},
            "why_expected": {part: round(float(expected[i, j]), 6) for j, part in enumerate(know_why.PARTS)},
            "why_argmax": {part: int(argmax[i, j]) for j, part in enumerate(know_why.PARTS)},
            "why": round(float(expected[i].mean()), 6),
            "seconds": round(seconds, 3),
        }
        if answers is not None:
            record["answer_text"] = answers[i]
        records.append(record)
    return records


def run_values(lm, judge, plan: Plan, out_dir: str | Path, batch_size: int = 4, progress: bool = True,
               settings: dict | None = None) -> ResultStore:
    """Evaluate every item of the plan not yet in out_dir/results.jsonl; returns the store."""
    out_dir = Path(out_dir)
    if settings is None:
        settings = plan.settings(model=getattr(lm, "name", "model"), judge=getattr(judge, "name", "judge"))
    write_run_metadata(out_dir, settings)
    store = ResultStore(out_dir / RESULTS)
    todo = [item for item in plan.items if item.key not in store.done]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(plan.items), initial=len(plan.items) - len(todo), unit="item", desc="values")
    try:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            for record in evaluate_batch(lm, judge, plan, batch):
                store.append(record)
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    return store
