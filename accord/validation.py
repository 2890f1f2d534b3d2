"""Judges are instruments: known-answer validation of a judge, cached per judge, and the one line every
report prints about it.

A judge (a language model that scores other models' outputs: a consensus voter, a preference judge, a
know-why scorer, a reward model) is checked on contrasts whose right ordering is known before anyone
trusts its numbers. Each contrast gives an outcome: 1 when the judge orders the pair the right way, 0 when
it orders it the wrong way, 0.5 for a tie. A check is the share of right orderings with a bootstrap 95%
interval (`accord.stats.bootstrap_ci`).

    checks = [ordering_check("side", "expected", outcomes), ordering_check("side", "argmax", other)]
    key = judge_key({"judge": "qwen2.5-coder-1.5b", "prompt": texts, ...})
    save_validation("consensus", key, {"judge": "qwen2.5-coder-1.5b"}, checks)
    print(validation_line("consensus", key, "qwen2.5-coder-1.5b", check="side", reading="expected",
                          command="accord consensus validate-judge --judge qwen2.5-coder-1.5b"))

Records live under `$ACCORD_CACHE/validation/<kind>/<key>.json` (default ~/.cache/accord), one per judge
setting, written atomically; the key hashes everything that changes the judge's answers (model, prompt
texts, reading), so a changed prompt is never covered by an old validation.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from accord.stats import bootstrap_ci

RELIABLE_RATE = 0.75
"""Below this share of right orderings on its main check a judge is reported as not reliable."""


@dataclass
class CheckResult:
    """One known-answer check of a judge under one reading of its answers."""

    check: str
    """Name of the contrast, e.g. "side", "relevance", "preference-contrast"."""
    reading: str
    """How the judge's answer was read, e.g. "argmax", "expected", "pairwise"."""
    rate: float
    """Share of right orderings (ties count one half)."""
    low: float
    """Lower end of the bootstrap 95% interval."""
    high: float
    """Upper end of the bootstrap 95% interval."""
    n: int
    """Number of contrasts."""


def ordering_check(check: str, reading: str, outcomes, seed: int = 0) -> CheckResult:
    """Share of right orderings with its bootstrap interval; `outcomes` holds 1 (right), 0 (wrong), 0.5 (tie)."""
    values = [float(value) for value in outcomes]
    if any(value not in (0.0, 0.5, 1.0) for value in values):
        raise ValueError("ordering outcomes must be 1 (right), 0 (wrong) or 0.5 (tie)")
    rate, low, high = bootstrap_ci(values, seed=seed)
    return CheckResult(check, reading, rate, low, high, len(values))


def ordering_outcome(right_score: float, wrong_score: float, tolerance: float = 1e-9) -> float:
    """1 when the judge scores the text that should win higher, 0 when lower, 0.5 on a tie."""
    if abs(right_score - wrong_score) <= tolerance:
        return 0.5
    return 1.0 if right_score > wrong_score else 0.0


def judge_key(settings: dict) -> str:
    """A short stable hash of everything that changes a judge's answers (model, prompt texts, reading)."""
    blob = json.dumps(settings, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def validation_dir() -> Path:
    return Path(os.environ.get("ACCORD_CACHE", Path.home() / ".cache" / "accord")) / "validation"


def validation_path(kind: str, key: str) -> Path:
    return validation_dir() / kind / f"{key}.json"


def save_validation(kind: str, key: str, judge: dict, checks: list[CheckResult], extra: dict | None = None) -> Path:
    """Write the record atomically (a unique temporary name, then a rename), so two runs cannot race."""
    path = validation_path(kind, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"kind": kind, "key": key, "judge": judge, "checks": [asdict(check) for check in checks],
              "validated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(extra or {})}
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{key}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(record, out, indent=2, ensure_ascii=False)
    os.replace(temporary, path)
    return path


def load_validation(kind: str, key: str) -> dict | None:
    path = validation_path(kind, key)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def find_check(record: dict, check: str, reading: str) -> dict | None:
    for entry in record.get("checks", []):
        if entry["check"] == check and entry["reading"] == reading:
            return entry
    return None


def validation_line(kind: str, key: str, judge_name: str, check: str, reading: str, command: str,
                    threshold: float = RELIABLE_RATE) -> str:
    """The one line a report prints about its judge: the main check's rate and interval, and whether the
    judge is reliable; or that it has not been validated, with the command that validates it."""
    record = load_validation(kind, key)
    entry = find_check(record, check, reading) if record else None
    if entry is None:
        return f"judge {judge_name}: NOT VALIDATED for this setting; run `{command}` before trusting its numbers"
    verdict = "reliable" if entry["rate"] >= threshold else f"NOT RELIABLE (below {threshold:.2f})"
    return (f"judge {judge_name}: {check} check ({reading} reading) {entry['rate']:.2f} right "
            f"[95% CI {entry['low']:.2f}, {entry['high']:.2f}], n={entry['n']}: {verdict}")
