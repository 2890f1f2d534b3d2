"""Happy paths of `accord generate` (protocols, presets, bs) and `accord eval preferences / validate-judge`
on a tiny random model saved to a folder, checking what they print and record."""

import json

import pytest

from accord.cli import main
from accord.decoding.methods import generate_answers
from accord.decoding.protocols import PAPER_SYSTEM_PROMPT, PROTOCOLS
from accord.lm.base import SamplingConfig


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCORD_CACHE", str(tmp_path / "cache"))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generate_bs_under_the_paper_protocol(capsys, tiny_model_folder):
    code, out, _ = run(capsys, "generate", "Name a color.", "--model", tiny_model_folder, "--backend", "transformers",
                       "--preference", "concise", "--method", "bs", "--num-beams", "3", "--max-new-tokens", "6",
                       "--json")
    record = json.loads(out)
    assert code == 0
    assert (record["protocol"], record["placement"], record["num_beams"]) == ("paper", "system", 3)
    assert record["system_prompt"] == PAPER_SYSTEM_PROMPT
    from accord.lm import load_model

    lm = load_model(tiny_model_folder, backend="transformers")
    expected = generate_answers(lm, ["Name a color."], PROTOCOLS["paper"].method_config("bs", "concise", num_beams=3),
                                SamplingConfig(max_new_tokens=6))[0]
    assert record["text"] == expected.text and record["num_tokens"] == expected.num_tokens


def test_generate_accord_protocol_and_a_free_preference(capsys, tiny_model_folder, tmp_path):
    questions = tmp_path / "q.json"
    questions.write_text(json.dumps([{"index": 7, "question": "Name a fruit."}]))
    output = tmp_path / "answers.jsonl"
    code, _, _ = run(capsys, "generate", "--input", questions, "--output", output, "--model", tiny_model_folder,
                     "--backend", "transformers", "--protocol", "accord", "--preference", "like a pirate",
                     "--method", "pref", "--max-new-tokens", "4")
    assert code == 0
    answer = json.loads(output.read_text())
    assert (answer["id"], answer["preference"], answer["method"]) == ("7", "like a pirate", "pref")
    settings = json.loads((tmp_path / "answers.run.json").read_text())["settings"]
    assert settings["protocol"] == "accord" and settings["placement"] == "question"
    assert settings["system_prompt"] == "You are a helpful assistant."


def test_empty_question_is_one_error_line(capsys):
    code, out, err = run(capsys, "generate", "   ", "--preference", "concise")
    assert code == 2 and out == "" and err.count("\n") == 1 and "question is empty" in err


def test_eval_preferences_then_validate_judge(capsys, tiny_model_folder, tmp_path, cache):
    data = tmp_path / "q.json"
    data.write_text(json.dumps([{"index": i, "question": q} for i, q in enumerate(["Name a color.", "Why?"])]))
    common = ["--data", data, "--limit", "2", "--backend", "transformers", "--max-new-tokens", "4"]
    code, out, _ = run(capsys, "eval", "preferences", *common, "--model", tiny_model_folder, "--judge", tiny_model_folder,
                       "--preference", "concise", "--preference", "formal", "--num-beams", "2",
                       "--out", tmp_path / "eval")
    assert code == 0
    assert "| preference | vs base | vs pref | vs bs | vs la |" in out
    assert "| concise |" in out and "| formal |" in out
    assert "NOT VALIDATED" in out
    settings = json.loads((tmp_path / "eval" / "run.json").read_text())["settings"]
    assert settings["methods"] == ["base", "pref", "bs", "la", "amulet"] and settings["reading"] == "pairwise"
    assert settings["protocol"]["system_prompt"] == PAPER_SYSTEM_PROMPT
    assert settings["parameters"]["bs"]["num_beams"] == 2
    assert "A, B or Tie" in settings["judge_texts"]["question"]

    code, out, err = run(capsys, "eval", "validate-judge", *common, "--judge", tiny_model_folder, "--writer", tiny_model_folder,
                         "--preferences", "concise,verbose", "--reading", "pairwise", "--writer-protocol", "accord",
                         "--max-new-tokens", "16",
                         "--out", tmp_path / "check")
    assert code == 0, err
    contrasts = [json.loads(line) for line in (tmp_path / "check" / "contrasts.jsonl").read_text().splitlines()]
    differing = sum(c["follows"].strip() != c["opposes"].strip() for c in contrasts)
    assert len(contrasts) == 4 and differing > 0
    assert "all:" in out and f"n={differing}" in out
    assert "writer check" in out
    code, out, _ = run(capsys, "eval", "preferences", *common, "--model", tiny_model_folder, "--judge", tiny_model_folder,
                       "--preference", "concise", "--preference", "formal", "--num-beams", "2",
                       "--out", tmp_path / "eval")
    assert code == 0 and "preference-contrast check (pairwise reading)" in out and "NOT VALIDATED" not in out


def test_validate_judge_rejects_a_preference_without_opposite(capsys, tmp_path):
    data = tmp_path / "q.json"
    data.write_text(json.dumps(["Hi?"]))
    code, _, err = run(capsys, "eval", "validate-judge", "--data", data, "--preferences", "concise,purple")
    assert code == 2 and "no known opposite" in err and err.count("\n") == 1
