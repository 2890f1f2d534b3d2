"""EuroCon / PoliCon data: topic records, ready tasks, validation, and the task builder.

A topic record (``topics/<topic>.json``, a JSON list) is one European Parliament issue::

    {topic, title, background, resolution, id, stances: [{party_name, choice, stance, score?}], ...}

where ``choice`` (0-9) is the party group's support in the real vote. A task (``tasks/<k>/<topic>.json``)
is the same record restricted to k parties, plus ``seat_weights`` (one per listed party, tenths, summing to
1) and ``veto_party_name``. `build_task` makes tasks from topic records with the benchmark's rule: the k
parties whose ``choice`` values have maximal variance (ties broken by a seeded random choice), random seat
weights in tenths (each >= 0.1), and one veto party drawn at random; everything is seeded.

The data folder is ``--data PATH``, else ``$ACCORD_EUROCON``, else the small fictional sample shipped in
``accord/data/eurocon_sample`` (so ``accord consensus run`` works with no arguments).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from accord.errors import AccordError

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "eurocon_sample"
ENV_VAR = "ACCORD_EUROCON"
PARTY_COUNTS = (2, 4, 6)
TOPIC_FIELDS = ("topic", "title", "background", "stances", "id")
STANCE_FIELDS = ("party_name", "choice", "stance")
TASK_FIELDS = TOPIC_FIELDS + ("seat_weights", "veto_party_name")


@dataclass(frozen=True)
class Party:
    name: str
    stance: str
    choice: int
    """The party's real support (0-9) for the adopted text."""


@dataclass
class Task:
    topic: str
    id: str
    title: str
    background: str
    parties: list[Party]
    seat_weights: list[float]
    veto_party: str
    resolution: str = ""
    """The adopted text (used only as a one-shot example for other tasks)."""
    source: str = ""
    """The file the task came from."""
    extra: dict = field(default_factory=dict)

    @property
    def k(self) -> int:
        return len(self.parties)

    @property
    def key(self) -> str:
        return f"{self.k}|{self.topic}|{self.id}"

    @property
    def veto_index(self) -> int:
        return [p.name for p in self.parties].index(self.veto_party)


def resolve_data_dir(path: str | os.PathLike | None = None) -> Path:
    """--data, else $ACCORD_EUROCON, else the shipped sample."""
    chosen = path or os.environ.get(ENV_VAR) or SAMPLE_DIR
    root = Path(chosen).expanduser().resolve()  # recorded absolute, so a resume from another folder matches
    if not root.is_dir():
        raise AccordError(f"EuroCon data folder not found: {root}")
    if not (root / "tasks").is_dir() and not (root / "topics").is_dir():
        raise AccordError(f"{root} has neither tasks/ nor topics/ (expected the EuroCon layout)")
    return root


def _record_label(record, index: int) -> str:
    if isinstance(record, dict) and "id" in record:
        return f"record id {record['id']!r}"
    return f"record #{index}"


def validate_record(record, path: str | Path, index: int = 0, kind: str = "task",
                    parties: int | None = None) -> None:
    """Raise AccordError naming the file and record when a record is malformed.

    kind="topic" checks a topic record; kind="task" also checks seat weights and the veto party.
    """
    where = f"{path}: {_record_label(record, index)}"
    if not isinstance(record, dict):
        raise AccordError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for name in TASK_FIELDS if kind == "task" else TOPIC_FIELDS:
        if name not in record:
            raise AccordError(f"{where}: missing field {name!r}")
    for name in ("topic", "title", "background"):
        if not isinstance(record[name], str) or not record[name].strip():
            raise AccordError(f"{where}: field {name!r} must be a non-empty string")
    stances = record["stances"]
    if not isinstance(stances, list) or not stances:
        raise AccordError(f"{where}: 'stances' must be a non-empty list")
    for position, stance in enumerate(stances):
        if not isinstance(stance, dict):
            raise AccordError(f"{where}: stance #{position} is not an object")
        for name in STANCE_FIELDS:
            if name not in stance:
                raise AccordError(f"{where}: stance #{position} is missing field {name!r}")
        choice = stance["choice"]
        if isinstance(choice, bool) or not isinstance(choice, int) or not 0 <= choice <= 9:
            raise AccordError(f"{where}: stance #{position} has choice {choice!r}; expected an integer 0-9")
    names = [stance["party_name"] for stance in stances]
    if len(set(names)) != len(names):
        raise AccordError(f"{where}: a party is listed twice ({', '.join(names)})")
    if kind == "topic":
        return
    if parties is not None and len(stances) != parties:
        raise AccordError(f"{where}: {len(stances)} parties listed, expected {parties} in this task folder")
    weights = record["seat_weights"]
    if not isinstance(weights, list) or len(weights) != len(stances):
        count = len(weights) if isinstance(weights, list) else "no list of"
        raise AccordError(f"{where}: {count} seat weights for {len(stances)} parties")
    if any(isinstance(w, bool) or not isinstance(w, (int, float)) or not w > 0 for w in weights):
        raise AccordError(f"{where}: seat weights must be positive numbers, got {weights}")
    if abs(sum(weights) - 1.0) > 1e-6:
        raise AccordError(f"{where}: seat weights sum to {sum(weights):.4g}, not 1")
    if record["veto_party_name"] not in names:
        raise AccordError(f"{where}: veto party {record['veto_party_name']!r} is not among the parties "
                          f"({', '.join(names)})")


def task_from_record(record: dict, source: str = "") -> Task:
    return Task(
        topic=record["topic"], id=str(record["id"]), title=record["title"], background=record["background"],
        parties=[Party(s["party_name"], str(s["stance"]), int(s["choice"])) for s in record["stances"]],
        seat_weights=[float(w) for w in record["seat_weights"]], veto_party=record["veto_party_name"],
        resolution=record.get("resolution", "") or "", source=source,
    )


def _read_list(path: Path) -> list:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise AccordError(f"{path}: malformed JSON ({error})") from None
    if not isinstance(data, list):
        raise AccordError(f"{path}: expected a JSON list of records")
    return data


def _load_records(files: list[Path], kind: str, parties: int | None, skip_invalid: bool) -> list[tuple[dict, Path]]:
    found = []
    for path in files:
        for index, record in enumerate(_read_list(path)):
            try:
                validate_record(record, path, index, kind=kind, parties=parties)
            except AccordError as error:
                if not skip_invalid:
                    raise
                warnings.warn(f"skipped: {error}", stacklevel=2)
                continue
            found.append((record, path))
    return found


def task_files(root: Path, parties: int) -> list[Path]:
    return sorted((root / "tasks" / str(parties)).glob("*.json"))


def topic_files(root: Path) -> list[Path]:
    return sorted((root / "topics").glob("*.json"))


def load_topics(root: str | Path, skip_invalid: bool = False) -> list[dict]:
    root = Path(root)
    files = topic_files(root)
    if not files:
        raise AccordError(f"no topic files in {root / 'topics'}")
    return [record for record, _ in _load_records(files, "topic", None, skip_invalid)]


def load_tasks(root: str | Path, parties: int, skip_invalid: bool = False,
               from_topics: bool = False, seed: int = 0) -> list[Task]:
    """The k-party tasks of a data folder: tasks/<k>/*.json, or built from topics/ when there are none
    (or when from_topics is set). Order: file name, then position in the file."""
    root = Path(root)
    files = task_files(root, parties)
    if files and not from_topics:
        tasks = [task_from_record(r, str(p)) for r, p in _load_records(files, "task", parties, skip_invalid)]
    elif topic_files(root):
        tasks = build_tasks(load_topics(root, skip_invalid), parties, seed)
    else:
        raise AccordError(f"no {parties}-party tasks in {root / 'tasks' / str(parties)} and no topics/ to build them")
    seen = set()
    for task in tasks:
        if task.key in seen:
            raise AccordError(f"{task.source or root}: duplicate record id {task.id!r} in topic {task.topic!r}")
        seen.add(task.key)
    return tasks


def data_files(root: str | Path, parties: list[int], from_topics: bool = False) -> list[Path]:
    """The files a run reads (for the data hash)."""
    root = Path(root)
    files = []
    for k in parties:
        found = task_files(root, k)
        files.extend(found if found and not from_topics else topic_files(root))
    return sorted(set(files))


# ---- the task builder ------------------------------------------------------------------------------

def _variance(values) -> float:
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / len(values)


def most_divided(choices: list[int], k: int, rng: random.Random) -> tuple[int, ...]:
    """Indices (in their original order) of the k parties whose choices have maximal variance; among
    equally divided subsets one is drawn with `rng`."""
    if k > len(choices):
        raise AccordError(f"cannot choose {k} parties out of {len(choices)}")
    best, best_variance = [], -1.0
    for subset in itertools.combinations(range(len(choices)), k):
        variance = _variance([choices[i] for i in subset])
        if variance > best_variance + 1e-12:
            best, best_variance = [subset], variance
        elif abs(variance - best_variance) <= 1e-12:
            best.append(subset)
    return best[rng.randrange(len(best))]


def random_seat_weights(k: int, rng: random.Random) -> list[float]:
    """k multiples of 0.1, each >= 0.1, summing to 1: a uniformly drawn composition of 10 into k parts."""
    if not 1 <= k <= 10:
        raise AccordError(f"seat weights in tenths need 1-10 parties, got {k}")
    cuts = sorted(rng.sample(range(1, 10), k - 1))
    parts = [b - a for a, b in zip([0] + cuts, cuts + [10])]
    return [part / 10 for part in parts]


def build_task(record: dict, k: int, rng: random.Random) -> dict:
    """A task record (the tasks/<k> format) from a topic record."""
    chosen = most_divided([s["choice"] for s in record["stances"]], k, rng)
    stances = [dict(record["stances"][i]) for i in chosen]
    task = {name: value for name, value in record.items() if name not in ("stances", "party_num")}
    task["stances"] = stances
    task["party_num"] = k
    task["seat_weights"] = random_seat_weights(k, rng)
    task["veto_party_name"] = stances[rng.randrange(k)]["party_name"]
    return task


def build_task_records(records: list[dict], k: int, seed: int = 0) -> list[dict]:
    """Tasks for every topic record with at least k parties; deterministic for a seed. Each record gets
    its own generator seeded from (seed, topic, id), so adding records does not change the others."""
    tasks = []
    for record in records:
        if len(record["stances"]) < k:
            continue
        rng = random.Random(f"{seed}|{record['topic']}|{record['id']}|{k}")
        tasks.append(build_task(record, k, rng))
    return tasks


def build_tasks(records: list[dict], k: int, seed: int = 0) -> list[Task]:
    return [task_from_record(task, "built from topics") for task in build_task_records(records, k, seed)]


def write_tasks(records: list[dict], out_dir: str | Path, ks=PARTY_COUNTS, seed: int = 0) -> list[Path]:
    """Write tasks/<k>/<topic>.json for each k (used to make the shipped sample)."""
    written = []
    for k in ks:
        by_topic: dict[str, list] = {}
        for task in build_task_records(records, k, seed):
            by_topic.setdefault(task["topic"], []).append(task)
        for topic, tasks in by_topic.items():
            path = Path(out_dir) / "tasks" / str(k) / f"{topic}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(tasks, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(path)
    return written
