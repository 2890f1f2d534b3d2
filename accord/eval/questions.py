"""Question files: JSON (a list of strings or of {"question": ..., "index"/"id"?: ...}, the format of the
Amulet paper's question sets) or JSONL with one such item per line."""

from __future__ import annotations

import json
from pathlib import Path

from accord.errors import AccordError


def load_questions(path: str | Path) -> list[dict]:
    """[{"id": str, "question": str}, ...]; a malformed file is one clear AccordError."""
    path = Path(path)
    if not path.is_file():
        raise AccordError(f"input file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".jsonl":
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            items = json.loads(text)
    except json.JSONDecodeError as error:
        raise AccordError(f"{path}: malformed JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(items, list) or not items:
        raise AccordError(f"{path}: expected a non-empty list of questions")
    questions = []
    for position, item in enumerate(items):
        if isinstance(item, str):
            item = {"question": item}
        if not isinstance(item, dict) or not isinstance(item.get("question"), str) or not item["question"].strip():
            raise AccordError(f"{path}: item {position} has no non-empty 'question' string")
        questions.append({"id": str(item.get("index", item.get("id", position))), "question": item["question"]})
    if len({q["id"] for q in questions}) != len(questions):
        raise AccordError(f"{path}: question ids are not unique")
    return questions
