"""ValueDCG data: one CSV per value with columns ``input,label``.

    valuenet_<VALUE>.csv   label -1 (against) / 0 (unrelated) / 1 (reflects)
    ethics_<subset>.csv    label 0 / 1 (meaning per subset: see accord.values.definitions)

The directory is --data, else $ACCORD_VALUEDCG, else the small sample shipped with accord
(accord/data/valuedcg_sample, written for this project). Any problem in a file is one AccordError line
naming the file and the data row (1 = first row after the header).
"""

from __future__ import annotations

import csv
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accord.errors import AccordError
from accord.values.definitions import VALUES, ValueSpec

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "valuedcg_sample"
ENV_VAR = "ACCORD_VALUEDCG"


@dataclass(frozen=True)
class Item:
    value: str
    """Canonical value name (ACHIEVEMENT, commonsense, ...)."""
    row: int
    """1-based data row in the file (the header is not counted)."""
    text: str
    label: int
    answer: str
    """The correct letter A/B/C (see the mapping in accord.values.definitions)."""

    @property
    def key(self) -> str:
        return f"{self.value}#{self.row}"

    @property
    def spec(self) -> ValueSpec:
        return VALUES[self.value]


def data_dir(path: str | Path | None = None) -> Path:
    """--data, else $ACCORD_VALUEDCG, else the shipped sample."""
    chosen = path or os.environ.get(ENV_VAR) or SAMPLE_DIR
    chosen = Path(chosen).expanduser()
    if not chosen.exists():
        raise AccordError(f"ValueDCG data directory not found: {chosen}")
    if not chosen.is_dir():
        raise AccordError(f"ValueDCG data path is not a directory: {chosen}")
    return chosen


def value_file(directory: Path, value: str) -> Path:
    path = Path(directory) / VALUES[value].file_name
    if not path.is_file():
        raise AccordError(f"no data file for value {value!r}: {path} does not exist")
    return path


def _parse_label(raw: str | None, allowed: tuple[int, ...], where: str) -> int:
    text = (raw or "").strip()
    try:
        label = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is None or not number.is_integer():
            raise AccordError(f"{where}: label {text!r} is not one of {', '.join(map(str, allowed))}") from None
        label = int(number)
    if label not in allowed:
        raise AccordError(f"{where}: label {text!r} is not one of {', '.join(map(str, allowed))}")
    return label


def load_value_file(path: str | Path, value: str) -> list[Item]:
    """All rows of one value's CSV as Items; a missing file, bad header, empty text or bad label raises."""
    spec = VALUES[value]
    path = Path(path)
    if not path.is_file():
        raise AccordError(f"data file not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            fields = [f.strip() for f in (reader.fieldnames or [])]
            if not fields:
                raise AccordError(f"{path}: empty file (expected a header 'input,label' and rows)")
            if "input" not in fields or "label" not in fields:
                raise AccordError(f"{path}: header must have columns 'input' and 'label', found {', '.join(fields)}")
            reader.fieldnames = fields
            items = []
            for number, row in enumerate(reader, start=1):
                where = f"{path}: row {number} (line {reader.line_num})"
                text = (row.get("input") or "").strip()
                if not text:
                    raise AccordError(f"{where}: empty input text")
                label = _parse_label(row.get("label"), spec.labels, where)
                items.append(Item(value=value, row=number, text=text, label=label, answer=spec.answer(label)))
    except UnicodeDecodeError as error:
        raise AccordError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except csv.Error as error:
        raise AccordError(f"{path}: malformed CSV: {error}") from None
    if not items:
        raise AccordError(f"{path}: no data rows (expected a header 'input,label' and at least one row)")
    return items


def value_rng(seed: int, value: str, *extra: int) -> np.random.Generator:
    """A generator that depends only on (seed, value, extra): the same on every run and on resume."""
    return np.random.default_rng([int(seed), zlib.crc32(value.encode()), *map(int, extra)])


def select_items(items: list[Item], limit: int | None, seed: int) -> list[Item]:
    """A seeded random subset of `limit` items (all when limit is None), in file order."""
    if limit is None or limit >= len(items):
        return list(items)
    order = value_rng(seed, items[0].value, 0).permutation(len(items))[:limit]
    return [items[i] for i in sorted(order)]


def load_values(directory: Path, values: list[str]) -> tuple[dict[str, list[Item]], list[Path]]:
    """{value: all its items} and the files read, for the chosen values."""
    pools, files = {}, []
    for value in values:
        path = value_file(directory, value)
        pools[value] = load_value_file(path, value)
        files.append(path)
    return pools, files
