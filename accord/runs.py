"""Run records shared by every long job: append-only JSONL results that survive a crash, and the
metadata (model, method, hyper-parameters, seed, versions, data hash) written next to them.

    store = ResultStore(out_dir / "results.jsonl")
    todo = [item for item in items if item_key(item) not in store.done]
    store.append({"key": ..., ...})          # flushed and fsynced: a kill loses at most the line in flight

Appends and loads take an exclusive file lock, so several processes (e.g. `--shard 1/2` and `--shard 2/2`)
can share one store.

A line cut short by a crash is dropped when the store is reopened, so a rerun repeats only that item.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import os
import platform
import sys
import time
from pathlib import Path

from accord.errors import AccordError


def versions() -> dict:
    found = {"python": platform.python_version()}
    for package in ("accord", "torch", "transformers", "numpy", "llama_cpp_python"):
        try:
            found[package] = importlib.metadata.version(package.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def sha256_files(paths: list[Path]) -> str:
    """One hash over several files (names and contents), order-independent."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def check_shard(shard: tuple[int, int]) -> tuple[int, int]:
    """(K, N) of a run split over N processes, each taking every N-th item from the K-th; an error otherwise."""
    index, count = shard
    if not 1 <= index <= count:
        raise AccordError(f"shard must be K/N with 1 <= K <= N, got {index}/{count}")
    return index, count


class ResultStore:
    """Append-only JSONL of finished items, keyed by `key_field`."""

    def __init__(self, path: str | Path, key_field: str = "key"):
        self.path = Path(path)
        self.key_field = key_field
        self.records: list[dict] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._load()
        self.done = {record.get(key_field) for record in self.records}

    def _load(self):
        with open(self.path, "r+b") as handle:  # under the writers' lock: a shard mid-append is not cut
            fcntl.flock(handle, fcntl.LOCK_EX)
            raw = handle.read()
            good_until = 0
            for line in raw.splitlines(keepends=True):
                if not line.endswith(b"\n"):
                    break  # a line cut short by a crash
                try:
                    self.records.append(json.loads(line))
                except json.JSONDecodeError:
                    if good_until + len(line) == len(raw):
                        break
                    raise AccordError(f"{self.path}: corrupt line {len(self.records) + 1}; fix or remove it") from None
                good_until += len(line)
            if good_until != len(raw):
                handle.truncate(good_until)

    def append(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # several processes (shards) may append to one store
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        self.records.append(record)
        self.done.add(record.get(self.key_field))


def write_run_metadata(out_dir: str | Path, settings: dict, name: str = "run.json") -> dict:
    """Write settings + versions + start time to out_dir/run.json; on resume, refuse changed settings."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    if path.exists():
        previous = json.loads(path.read_text())
        if previous.get("settings") != json.loads(json.dumps(settings)):
            changed = sorted(k for k in set(previous.get("settings", {})) | set(settings)
                             if previous.get("settings", {}).get(k) != settings.get(k))
            raise AccordError(f"{out_dir} holds a run with other settings ({', '.join(changed)}); "
                              "use another --out or the same settings to resume")
        return previous
    metadata = {"settings": settings, "versions": versions(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "argv": sys.argv}
    path.write_text(json.dumps(metadata, indent=2, ensure_ascii=False))
    return metadata
