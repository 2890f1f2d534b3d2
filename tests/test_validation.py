"""accord.validation: ordering checks with known answers, the cache round trip, and the report line."""

import pytest

from accord import validation


def test_ordering_check_counts_ties_as_half():
    result = validation.ordering_check("side", "expected", [1, 1, 0, 0.5])
    assert result.rate == pytest.approx(0.625)
    assert result.n == 4
    assert result.low <= result.rate <= result.high


def test_ordering_check_rejects_other_outcomes():
    with pytest.raises(ValueError):
        validation.ordering_check("side", "expected", [1, 2])


def test_ordering_outcome_orientation():
    assert validation.ordering_outcome(0.9, 0.1) == 1.0
    assert validation.ordering_outcome(0.1, 0.9) == 0.0
    assert validation.ordering_outcome(0.5, 0.5) == 0.5


def test_judge_key_changes_with_prompt():
    first = validation.judge_key({"judge": "m", "prompt": "a"})
    assert first == validation.judge_key({"prompt": "a", "judge": "m"})
    assert first != validation.judge_key({"judge": "m", "prompt": "b"})


def test_line_reliable_unreliable_and_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCORD_CACHE", str(tmp_path))
    command = "accord consensus validate-judge --judge m"
    missing = validation.validation_line("consensus", "k1", "m", "side", "expected", command)
    assert "NOT VALIDATED" in missing and command in missing
    good = validation.ordering_check("side", "expected", [1] * 9 + [0])
    bad = validation.ordering_check("side", "argmax", [1, 0, 0, 1, 0.5, 0])
    path = validation.save_validation("consensus", "k1", {"judge": "m"}, [good, bad])
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    line = validation.validation_line("consensus", "k1", "m", "side", "expected", command)
    assert "0.90" in line and "reliable" in line and "NOT" not in line
    line = validation.validation_line("consensus", "k1", "m", "side", "argmax", command)
    assert "0.42" in line and "NOT RELIABLE" in line
