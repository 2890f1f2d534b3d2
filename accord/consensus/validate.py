"""Known-answer validation of a consensus judge, from the benchmark's own records (no model writes the texts).

Three checks on two-party tasks, each read twice (the argmax digit and the expected digit):

- side: for parties A and B, a resolution that adopts A's stance and rejects B's, against its mirror that
  adopts B's and rejects A's. Both texts hold both stances verbatim in one fixed frame and differ only in
  which one is adopted, so length, wording and mere mention are equal; a party should rate the text that
  takes its side higher. This is the main check: a judge that only reacts to how positive a stance sounds,
  or to its words appearing in the text, scores 0.5 on it.
- relevance: the task's adopted resolution against the adopted resolution of another record of the same
  topic; every party should rate the matching text higher.
- real-votes: on the adopted resolution, the party that supported it more in the real vote (`choice`)
  should get the higher score (an ordering of the two parties; ties in `choice` are left out). The
  Pearson correlation of score and choice is recorded as well. Caveat: a judge that scores stances by how
  supportive they sound does well here without reading the resolution, which is why the side check exists.

Each check is the share of right orderings (ties count one half) with a bootstrap 95% interval
(accord.validation.ordering_check). The record is cached per judge setting (model, backend, file, judge
texts) under $ACCORD_CACHE/validation/consensus/, and `run_validation_line` prints it in every run and
report.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np

from accord.consensus.data import Task, data_files, load_tasks, resolve_data_dir
from accord.consensus.judge import judge_resolution
from accord.consensus.protocols import OPENING, Protocol
from accord.runs import ResultStore, sha256_files, write_run_metadata
from accord.validation import judge_key, ordering_check, ordering_outcome, save_validation, validation_line

KIND = "consensus"
MAIN_CHECK = "side"
READINGS = {"argmax": "score", "expected": "expected"}
"""Reading name -> the field of a Vote it reads."""


def side_text(task: Task, adopted: int) -> str:
    """A resolution that adopts the stance of party `adopted` and rejects the other party's, built from the
    stances themselves in one fixed frame (the mirror differs only in which stance is adopted)."""
    winner, loser = task.parties[adopted], task.parties[1 - adopted]
    flat = lambda text: " ".join(text.split())  # noqa: E731
    return (f"{OPENING}, having weighed the positions of the party groups on \"{task.title}\", adopts the "
            f"position of the {winner.name} group and makes its demands its own: {flat(winner.stance)} "
            f"The Parliament rejects the position of the {loser.name} group and will not act on its "
            f"demands: {flat(loser.stance)}")


def validation_tasks(root, limit: int | None, seed: int = 0) -> tuple[list[Task], list[Task]]:
    """(tasks to check, all two-party tasks): a seeded random subset across topics, only tasks with an
    adopted resolution."""
    every = [t for t in load_tasks(root, 2) if t.resolution.strip()]
    if limit is None or limit >= len(every):
        return every, every
    rng = random.Random(f"{seed}|validate")
    return [every[i] for i in sorted(rng.sample(range(len(every)), limit))], every


def relevance_partner(task: Task, pool: list[Task], rng: random.Random) -> Task | None:
    """Another record of the same topic with a different adopted resolution."""
    own = task.resolution.strip()
    others = {o.id: o for o in pool if o.topic == task.topic and o.id != task.id
              and o.resolution.strip() and o.resolution.strip() != own}
    return others[sorted(others)[rng.randrange(len(others))]] if others else None


def judge_validation_key(judge_settings: dict, judge_texts: dict) -> str:
    """The cache key of a judge setting: the model (name, backend, file) and the judge's prompt texts."""
    model = {k: judge_settings.get(k) for k in ("name", "backend", "source")}
    return judge_key({"kind": KIND, "judge": model, "texts": judge_texts})


def score_items(judge, tasks: list[Task], pool: list[Task], protocol: Protocol, seed: int = 0,
                progress: bool = True, store: ResultStore | None = None) -> list[dict]:
    """The judge's votes on every text of every check: one dict per task. With a `store`, finished tasks
    are read from it and new ones appended as they finish (a killed validation resumes)."""
    from tqdm import tqdm

    done = {record["key"]: record for record in store.records} if store is not None else {}
    items = []
    for task in tqdm(tasks, desc="validate-judge", unit="task", disable=not progress, file=sys.stderr,
                     dynamic_ncols=True):
        if task.key in done:
            items.append(done[task.key])
            continue
        rng = random.Random(f"{seed}|{task.key}|partner")
        partner = relevance_partner(task, pool, rng)
        votes = {"side_a": judge_resolution(judge, task, side_text(task, 0), protocol)[0],
                 "side_b": judge_resolution(judge, task, side_text(task, 1), protocol)[0],
                 "adopted": judge_resolution(judge, task, task.resolution, protocol)[0]}
        if partner is not None:
            votes["other"] = judge_resolution(judge, task, partner.resolution, protocol)[0]
        items.append({"key": task.key, "partner": partner.id if partner else None,
                      "choices": [p.choice for p in task.parties],
                      "votes": {name: [v.as_dict() for v in vs] for name, vs in votes.items()}})
        if store is not None:
            store.append(items[-1])
    return items


def outcomes(items: list[dict], field: str) -> dict[str, list[float]]:
    """Right (1) / wrong (0) / tie (0.5) per contrast and check, reading the vote field `field`."""
    found = {"side": [], "relevance": [], "real-votes": []}
    for item in items:
        votes = {name: [v[field] for v in vs] for name, vs in item["votes"].items()}
        found["side"].append(ordering_outcome(votes["side_a"][0], votes["side_b"][0]))
        found["side"].append(ordering_outcome(votes["side_b"][1], votes["side_a"][1]))
        if "other" in votes:
            found["relevance"].extend(ordering_outcome(own, other)
                                      for own, other in zip(votes["adopted"], votes["other"]))
        choices = item["choices"]
        if choices[0] != choices[1]:
            high, low = (0, 1) if choices[0] > choices[1] else (1, 0)
            found["real-votes"].append(ordering_outcome(votes["adopted"][high], votes["adopted"][low]))
    return found


def real_vote_correlation(items: list[dict], field: str, seed: int = 0, resamples: int = 1000) -> dict:
    """Pearson r of the judge's score of the adopted text with each party's real choice; the interval
    resamples tasks."""
    pairs = [(np.array(item["choices"], float), np.array([v[field] for v in item["votes"]["adopted"]], float))
             for item in items]

    def pearson(rows) -> float | None:
        x = np.concatenate([pairs[i][0] for i in rows])
        y = np.concatenate([pairs[i][1] for i in rows])
        return float(np.corrcoef(x, y)[0, 1]) if x.size > 2 and x.std() > 0 and y.std() > 0 else None

    r = pearson(range(len(pairs))) if pairs else None
    low = high = None
    if r is not None:
        rng = np.random.default_rng(seed)
        draws = [d for d in (pearson(rng.integers(0, len(pairs), len(pairs))) for _ in range(resamples))
                 if d is not None]
        if draws:
            low, high = (float(v) for v in np.percentile(draws, [2.5, 97.5]))
    return {"r": r, "low": low, "high": high, "n": sum(len(c) for c, _ in pairs)}


def summarize_validation(items: list[dict], seed: int = 0) -> tuple[list, dict]:
    """(CheckResults for every check x reading, the real-vote correlations by reading)."""
    checks, correlations = [], {}
    for reading, field in READINGS.items():
        for check, values in outcomes(items, field).items():
            if values:
                checks.append(ordering_check(check, reading, values, seed=seed))
        correlations[reading] = real_vote_correlation(items, field, seed=seed)
    return checks, correlations


def format_validation(checks, correlations: dict) -> str:
    header = f"{'check':<11} {'reading':<9} {'right':>6}  {'95% CI':<14} {'n':>4}"
    lines = [header, "-" * len(header)]
    for c in checks:
        lines.append(f"{c.check:<11} {c.reading:<9} {c.rate:>6.2f}  [{c.low:.2f}, {c.high:.2f}]   {c.n:>4}")
    for reading, corr in correlations.items():
        if corr["r"] is None:
            lines.append(f"real-vote correlation ({reading}): not enough varied scores")
        else:
            lines.append(f"real-vote correlation ({reading}): r = {corr['r']:+.2f} [{corr['low']:+.2f}, "
                         f"{corr['high']:+.2f}] over {corr['n']} party votes (also high for a judge that reads "
                         "only how supportive a stance sounds; the side check rules that out)")
    return "\n".join(lines)


def validate_judge(judge, judge_settings: dict, protocol: Protocol, data=None, limit: int | None = 30,
                   seed: int = 0, progress: bool = True, out_dir=None) -> dict:
    """Run the checks, cache the record for this judge setting, and return it (with the per-task votes).
    With `out_dir`, each task's votes are appended to out_dir/items.jsonl as they come, and a rerun with the
    same settings resumes (other settings in the same folder are refused)."""
    root = resolve_data_dir(data)
    tasks, pool = validation_tasks(root, limit, seed)
    key = judge_validation_key(judge_settings, protocol.judge_texts())
    store = None
    if out_dir is not None:
        write_run_metadata(out_dir, {"judge": judge_settings, "judge_texts": protocol.judge_texts(),
                                     "data": str(root), "limit": limit, "seed": seed,
                                     "data_sha256": sha256_files(data_files(root, [2]))}, name="validation-run.json")
        store = ResultStore(Path(out_dir) / "items.jsonl")
    items = score_items(judge, tasks, pool, protocol, seed, progress, store)
    checks, correlations = summarize_validation(items, seed)
    extra = {"protocol": protocol.name, "judge_texts": protocol.judge_texts(), "data": str(root),
             "tasks": len(tasks), "seed": seed, "real_vote_correlation": correlations}
    path = save_validation(KIND, key, judge_settings, checks, extra)
    return {"key": key, "cache": str(path), "checks": checks, "correlations": correlations, "items": items,
            **extra}


def run_validation_line(settings: dict) -> str:
    """The judge-validation line of a run (from its run.json settings)."""
    judge = settings.get("judge") or {}
    name = judge.get("name", "?")
    key = judge_validation_key(judge, settings.get("judge_prompt", {}))
    command = (f"accord consensus validate-judge --judge {name} --protocol {settings.get('protocol', 'accord')}"
               + (f" --data {settings['data']}" if settings.get("data") else ""))
    return validation_line(KIND, key, name, MAIN_CHECK, settings.get("vote", "argmax"), command)
