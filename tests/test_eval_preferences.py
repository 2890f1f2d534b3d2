"""The preference evaluation: summary statistics by hand, and an end-to-end run + resume on a tiny model."""

import json

import pytest

from accord.decoding.methods import MethodConfig
from accord.eval.preferences import PreferenceEvalConfig, run_preference_eval, summarize
from accord.lm.base import SamplingConfig
from accord.stats import bootstrap_ci


def test_summary_by_hand():
    scores = []
    for qid, (base, amulet) in enumerate([(0.2, 0.9), (0.5, 0.5), (0.8, 0.1), (0.3, 0.6)]):
        scores.append({"id": str(qid), "method": "base", "judge_score": base, "num_tokens": 10})
        scores.append({"id": str(qid), "method": "amulet", "judge_score": amulet, "num_tokens": 4})
    summary = summarize(scores, ["base", "amulet"], "concise")
    assert summary["questions"] == 4
    assert summary["methods"]["base"]["judge_mean"] == pytest.approx(0.45)
    assert summary["methods"]["amulet"]["tokens_mean"] == 4
    # wins, tie, loss, win -> (1 + 0.5 + 0 + 1) / 4
    assert summary["win_rates"]["amulet vs base"]["rate"] == pytest.approx(0.625)
    low, high = summary["win_rates"]["amulet vs base"]["ci"]
    assert 0 <= low <= 0.625 <= high <= 1


def test_bootstrap_interval_covers_and_shrinks():
    import numpy as np

    rng = np.random.default_rng(0)
    small = bootstrap_ci(rng.normal(1.0, 1.0, 20))
    large = bootstrap_ci(rng.normal(1.0, 1.0, 2000))
    assert large[1] < 1.0 < large[2]
    assert (large[2] - large[1]) < (small[2] - small[1])


def test_end_to_end_and_resume(tiny_lm, tmp_path):
    questions = [{"id": str(i), "question": q} for i, q in enumerate(["What is 2+2?", "Name a fruit.", "Hi?"])]
    configs = [MethodConfig(method=m, preference="concise") for m in ("base", "amulet")]
    loads = []

    def load(name):
        loads.append(name)
        return tiny_lm

    config = PreferenceEvalConfig(preference="concise", methods=("base", "amulet"), model="tiny", judge="tiny")
    summary = run_preference_eval(questions, config, configs, SamplingConfig(max_new_tokens=6), tmp_path, {"x": 1}, load)
    assert summary["questions"] == 3
    assert (tmp_path / "summary.png").stat().st_size > 0
    assert len((tmp_path / "answers.jsonl").read_text().splitlines()) == 6
    # A rerun finds everything done: no model is loaded again, nothing is appended.
    loads.clear()
    again = run_preference_eval(questions, config, configs, SamplingConfig(max_new_tokens=6), tmp_path, {"x": 1}, load)
    assert loads == [] and again["methods"] == summary["methods"]
    assert json.loads((tmp_path / "run.json").read_text())["settings"] == {"x": 1}
