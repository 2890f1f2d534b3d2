"""A consensus run: draft a resolution for every (task, goal), let every party vote on it, and append one
record per finished item to out/results.jsonl (accord.runs.ResultStore).

A rerun with the same settings resumes: finished items are skipped, and a kill loses at most the batch in
flight (nothing finished is repeated). run.json records the protocol with all its texts, drafter, judge,
the vote reading, method and its parameters, sampling, seed, versions and the hash of the data files
(accord.runs.write_run_metadata), so a resume under another protocol or judge is refused.

`rejudge_run` lets another judge (or the current judge prompt) vote again on the drafts of a finished run.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from accord.consensus.data import PARTY_COUNTS, Task, data_files, load_tasks, resolve_data_dir
from accord.consensus.drafting import Draft, draft_resolutions, method_parameters, pick_example
from accord.consensus.goals import GOALS, evaluate
from accord.consensus.judge import judge_prompt_settings, judge_resolution
from accord.consensus.protocols import DEFAULT_PROTOCOL, get_protocol
from accord.consensus.selection import check_rule, draft_and_select
from accord.decoding.methods import METHODS
from accord.errors import AccordError
from accord.lm.base import LanguageModel, SamplingConfig
from accord.runs import ResultStore, check_shard, sha256_files, write_run_metadata

RESULTS = "results.jsonl"
DEFAULT_JUDGE = "qwen2.5-coder-1.5b"
"""The packaged model that validates best at a speed the main job affords (docs/consensus.md)."""
VOTE_READINGS = ("expected", "argmax")
DEFAULT_VOTE = "expected"
"""The expected digit: the argmax saturates at one digit (docs/consensus.md, judge validation)."""


@dataclass
class RunConfig:
    data: str | None = None
    parties: list[int] = field(default_factory=lambda: [2])
    goals: list[str] = field(default_factory=lambda: list(GOALS))
    protocol: str = DEFAULT_PROTOCOL
    """paper (the paper's prompts and defaults) or accord (this project's earlier texts)."""
    method: str = "pref"
    model: str = "qwen2.5-coder-0.5b"
    judge: str = DEFAULT_JUDGE
    """Judge model; the drafter only when named here."""
    vote: str = DEFAULT_VOTE
    """How a party's vote is read from the judge's digit distribution: expected (mean digit) or argmax."""
    backend: str = "auto"
    dtype: str = "auto"
    limit: int | None = None
    """At most this many tasks per party count (the first ones in file order, or a random subset: `sample`)."""
    sample: bool = False
    """With `limit`: a seeded random subset of the tasks (across topics) instead of the first ones."""
    seed: int = 0
    max_new_tokens: int | None = None
    """Draft length cap (None: the protocol's, 512 for paper)."""
    temperature: float = 0.0
    batch_size: int = 16
    one_shot: bool | None = None
    """Show one adopted resolution of the same topic (None: the protocol's default, on for paper)."""
    candidates: int = 1
    """Drafts per (task, goal). Above 1: that many sampled drafts (needs temperature > 0), every party's judge
    scores each, and `select_rule` keeps one (accord.consensus.selection; all candidates are recorded)."""
    select_rule: str = "auto"
    """With candidates > 1: auto (a rule matched to the goal) or a rule of accord.consensus.selection.RULES."""
    skip_invalid: bool = False
    from_topics: bool = False
    plausibility: float = 0.0
    """la / amulet: beta of Contrastive Decoding's adaptive plausibility constraint (0 = off, the published
    update; docs/consensus.md, drafting with la and amulet). Recorded in the method parameters when on."""
    shard: tuple[int, int] = (1, 1)
    """(K, N): run only every N-th task, starting at the K-th (1-based), so N processes can share one run
    folder; results do not depend on it, so it is not a recorded setting."""

    def __post_init__(self):
        protocol = get_protocol(self.protocol)
        if self.max_new_tokens is None:
            self.max_new_tokens = protocol.max_new_tokens
        if self.one_shot is None:
            self.one_shot = protocol.one_shot
        if self.vote not in VOTE_READINGS:
            raise AccordError(f"unknown vote reading {self.vote!r}; choose from {', '.join(VOTE_READINGS)}")
        if self.method not in METHODS:
            raise AccordError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}")
        bad = [k for k in self.parties if k not in PARTY_COUNTS]
        if bad or not self.parties:
            raise AccordError(f"party counts must be among {PARTY_COUNTS}, got {self.parties}")
        unknown = [g for g in self.goals if g not in GOALS]
        if unknown or not self.goals:
            raise AccordError(f"unknown goal {', '.join(unknown)}; choose from {', '.join(GOALS)}")
        if self.candidates < 1 or (self.candidates > 1 and not self.temperature > 0):
            raise AccordError(f"candidates must be >= 1, and > 1 needs a temperature > 0 (got {self.candidates}, "
                              f"temperature {self.temperature})")
        check_rule(self.select_rule)
        method_parameters(self.method, method_overrides(self))  # a bad plausibility fails here, before any model
        check_shard(self.shard)


def method_overrides(config: RunConfig) -> dict | None:
    """Hyper-parameters of the drafting method that differ from its defaults."""
    return {"plausibility": config.plausibility} if config.plausibility else None


def item_key(task: Task, goal: str) -> str:
    return f"{goal}|{task.key}"


def select_tasks(config: RunConfig, root: Path) -> dict[int, tuple[list[Task], list[Task]]]:
    """{k: (tasks to run, all tasks of that party count — the one-shot example pool)}."""
    chosen = {}
    for k in config.parties:
        every = load_tasks(root, k, skip_invalid=config.skip_invalid, from_topics=config.from_topics,
                           seed=config.seed)
        tasks = every[:config.limit] if config.limit else every
        if config.limit and config.sample:
            rng = random.Random(f"{config.seed}|sample|{k}")
            tasks = [every[i] for i in sorted(rng.sample(range(len(every)), min(config.limit, len(every))))]
        chosen[k] = (tasks, every)
    return chosen


def model_settings(lm: LanguageModel) -> dict:
    """How a run records a model: name, backend and the file it came from."""
    return {"name": lm.name, "backend": lm.backend, "source": getattr(lm, "source", "")}


def run_settings(config: RunConfig, root: Path, drafter: LanguageModel, judge: LanguageModel) -> dict:
    files = data_files(root, config.parties, config.from_topics)
    settings = asdict(config)
    settings.update(
        data=str(root), data_sha256=sha256_files(files), data_files=len(files),
        drafter=model_settings(drafter), judge=model_settings(judge),
        method_parameters=method_parameters(config.method, method_overrides(config)),
        protocol_texts=get_protocol(config.protocol).texts(),
        judge_prompt=judge_prompt_settings(get_protocol(config.protocol)),
        sampling=asdict(SamplingConfig(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                       seed=config.seed)),
    )
    settings.pop("batch_size")  # results do not depend on it: each draft samples from its own seeded generator
    settings.pop("shard")  # which process ran a task does not change its result
    settings.pop("plausibility")  # in method_parameters, and only when on (older runs still resume)
    if config.candidates == 1:  # single drafts: run.json as before selection existed (old runs still resume)
        settings.pop("candidates")
        settings.pop("select_rule")
    return settings


def make_record(task: Task, goal: str, draft, votes, judge_seconds: float, method: str) -> dict:
    usable = all(v.score is not None for v in votes)
    record = {
        "key": item_key(task, goal), "goal": goal, "parties": task.k, "topic": task.topic, "id": task.id,
        "title": task.title, "method": method, "draft": draft.text, "finish_reason": draft.finish_reason,
        "draft_tokens": draft.num_tokens, "example_id": draft.example_id,
        "seat_weights": task.seat_weights, "veto_party": task.veto_party,
        "votes": [dict(v.as_dict(), seat_weight=w, stance_choice=p.choice, veto=p.name == task.veto_party)
                  for v, w, p in zip(votes, task.seat_weights, task.parties)],
        "usable": usable,
        "seconds": {"draft": round(draft.seconds, 4), "judge": round(judge_seconds, 4)},
    }
    if usable:
        scores = [v.score for v in votes]
        expected = [v.expected for v in votes]
        outcome = evaluate(goal, scores, task.seat_weights, task.veto_index)
        outcome_expected = evaluate(goal, expected, task.seat_weights, task.veto_index)
        record.update(weighted_vote=outcome["weighted_vote"], value=outcome["value"], passed=outcome["passed"],
                      expected_weighted_vote=outcome_expected["weighted_vote"],
                      expected_value=outcome_expected["value"], expected_passed=outcome_expected["passed"])
    else:
        record.update(weighted_vote=None, value=None, passed=None)
    return record


def run_consensus(config: RunConfig, out_dir: str | Path, drafter: LanguageModel, judge: LanguageModel | None = None,
                  progress: bool = True, stop_after: int | None = None) -> ResultStore:
    """Run (or resume) the benchmark into out_dir. `stop_after` appends at most that many items, then
    returns (used by tests to simulate a crash). Without a `judge` the drafter judges (tests; the command
    line loads config.judge)."""
    judge = judge or drafter
    protocol = get_protocol(config.protocol)
    root = resolve_data_dir(config.data)
    chosen = select_tasks(config, root)
    write_run_metadata(out_dir, run_settings(config, root, drafter, judge))
    store = ResultStore(Path(out_dir) / RESULTS)
    index, count = config.shard
    mine = [(tasks[index - 1::count], pool) for tasks, pool in chosen.values()]  # this shard's tasks
    todo = [(task, goal, pool) for tasks, pool in mine for task in tasks for goal in config.goals
            if item_key(task, goal) not in store.done]
    total = sum(len(tasks) for tasks, _ in mine) * len(config.goals)
    from tqdm import tqdm

    label = "consensus" if count == 1 else f"consensus {index}/{count}"
    bar = tqdm(total=total, initial=total - len(todo), desc=label, unit="draft", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    sampling = SamplingConfig(max_new_tokens=config.max_new_tokens, temperature=config.temperature, seed=config.seed)
    appended = 0
    try:
        for start in range(0, len(todo), config.batch_size):
            batch = todo[start:start + config.batch_size]
            examples = None
            if config.one_shot:
                examples = [pick_example(task, pool, random.Random(f"{config.seed}|{task.key}"))
                            for task, _, pool in batch]
            if config.candidates > 1:  # consensus by selection (accord.consensus.selection)
                judged = draft_and_select(drafter, judge, batch, examples, sampling, config.method, protocol,
                                          config.candidates, config.select_rule, config.vote,
                                          method_overrides(config))
            else:
                drafts = draft_resolutions(drafter, [t for t, _, _ in batch], [g for _, g, _ in batch],
                                           config.method, sampling, examples, protocol=protocol,
                                           method_overrides=method_overrides(config))
                judged = ((draft, *judge_resolution(judge, task, draft.text, protocol), {})  # lazily, per item
                          for (task, _, _), draft in zip(batch, drafts))
            for (task, goal, _), (draft, votes, seconds, extra) in zip(batch, judged):
                store.append(dict(make_record(task, goal, draft, votes, seconds, config.method), **extra))
                appended += 1
                bar.update(1)
                if stop_after is not None and appended >= stop_after:
                    return store
    finally:
        bar.close()
    return store


def source_run_settings(source_dir: str | Path, out_dir: str | Path) -> dict:
    """The settings of the run to rejudge; checked before any model is loaded."""
    source_dir = Path(source_dir)
    if Path(out_dir).resolve() == source_dir.resolve():
        raise AccordError("rejudge writes a new run folder: give an --out other than the source run")
    meta_path = source_dir / "run.json"
    if not meta_path.is_file() or not (source_dir / RESULTS).is_file():
        raise AccordError(f"{source_dir} is not a consensus run folder (run.json and {RESULTS} expected)")
    return json.loads(meta_path.read_text())["settings"]


def rejudge_run(source_dir: str | Path, out_dir: str | Path, judge: LanguageModel, progress: bool = True,
                stop_after: int | None = None) -> ResultStore:
    """Let `judge` vote again on every draft of the run in source_dir, into a new run folder out_dir.

    The drafts are not regenerated: each record keeps its draft, method and drafting time, and gets new
    votes and outcomes. Use it to compare judges (or judge prompts) on the same drafts at a fraction of a
    run's cost. The tasks are read again from the source run's data folder, which must still hash the same.
    Resumable like a run: finished records are skipped, a kill loses nothing finished."""
    source_dir = Path(source_dir)
    source = source_run_settings(source_dir, out_dir)
    results_path = source_dir / RESULTS
    try:
        config = RunConfig(data=source["data"], parties=source["parties"], goals=source["goals"],
                           protocol=source.get("protocol", "accord"), vote=source.get("vote", "argmax"),
                           method=source["method"], limit=source["limit"], sample=source.get("sample", False),
                           seed=source["seed"],
                           skip_invalid=source["skip_invalid"], from_topics=source["from_topics"])
    except KeyError as missing:
        raise AccordError(f"{source_dir / 'run.json'} lacks the setting {missing}; "
                          "was it written by `accord consensus run`?")
    root = Path(config.data)
    if sha256_files(data_files(root, config.parties, config.from_topics)) != source["data_sha256"]:
        raise AccordError(f"the data in {root} changed since the run in {source_dir}; cannot match its tasks")
    tasks = {item_key(task, goal): task for tasks, _ in select_tasks(config, root).values()
             for task in tasks for goal in config.goals}
    protocol = get_protocol(config.protocol)
    settings = dict(source, judge=model_settings(judge), judge_prompt=judge_prompt_settings(protocol),
                    drafts_from={"run": str(source_dir.resolve()),
                                 "settings_sha256": hashlib.sha256(json.dumps(source, sort_keys=True).encode())
                                 .hexdigest()})
    write_run_metadata(out_dir, settings)
    store = ResultStore(Path(out_dir) / RESULTS)
    todo = [record for record in ResultStore(results_path).records if record["key"] not in store.done]
    from tqdm import tqdm

    done = len(store.done)
    bar = tqdm(total=done + len(todo), initial=done, desc="rejudge", unit="draft", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    try:
        for appended, record in enumerate(todo, start=1):
            task = tasks.get(record["key"])
            if task is None:
                raise AccordError(f"record {record['key']} of {results_path} matches no task of {root}")
            draft = Draft(text=record["draft"], finish_reason=record["finish_reason"],
                          num_tokens=record["draft_tokens"], seconds=record["seconds"]["draft"],
                          example_id=record.get("example_id"))
            votes, seconds = judge_resolution(judge, task, draft.text, protocol)
            store.append(make_record(task, record["goal"], draft, votes, seconds, record["method"]))
            bar.update(1)
            if stop_after is not None and appended >= stop_after:
                break
    finally:
        bar.close()
    return store
