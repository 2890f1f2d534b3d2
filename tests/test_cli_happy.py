"""Command-line success paths, checked on what they print and write: `accord generate` (streaming, --json,
batch mode with resume), `accord models`, `accord games solve`, `accord mpo train` (with resume).

The model of `generate` is the tiny GGUF written in the test (tests/test_loading.py; llama.cpp when it is
installed, else transformers): loads in a second, answers in printable ASCII. The checks hold under any
prompt protocol (streamed text = the --json text = the batch answer of the same question).
"""

import json

import pytest

from accord.cli import main
from test_loading import write_tiny_gguf

QUESTIONS = ["Name a color.", "What is 2 + 2?", "Say hi."]
TOKENS = "8"


@pytest.fixture(scope="module")
def gguf(tmp_path_factory):
    return str(write_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny.gguf"))


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCORD_CACHE", str(tmp_path / "cache"))  # a transformers load converts into it


def ask(capsys, gguf, question, *extra):
    assert main(["generate", question, "--method", "base", "--model", gguf, "--max-new-tokens", TOKENS, *extra]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("backend", ["auto", "transformers"])
def test_generate_streams_the_same_text_that_json_reports(gguf, capsys, backend):
    streamed = ask(capsys, gguf, QUESTIONS[0], "--backend", backend)
    record = json.loads(ask(capsys, gguf, QUESTIONS[0], "--backend", backend, "--json"))
    assert streamed.endswith(record["text"] + "\n") and record["text"].strip()  # (after a conversion notice)
    assert record["num_tokens"] == int(TOKENS) and record["finish_reason"] == "length"
    assert (record["method"], record["model"], record["max_new_tokens"]) == ("base", gguf, int(TOKENS))
    assert record["backend"] in (("llamacpp", "transformers") if backend == "auto" else ("transformers",))
    other = json.loads(ask(capsys, gguf, QUESTIONS[1], "--backend", backend, "--json"))
    assert other["text"] != record["text"]  # the answer depends on the question


def test_generate_two_stream_method_reports_its_settings(gguf, capsys):
    assert main(["generate", QUESTIONS[0], "--method", "amulet", "--preference", "concise", "--model", gguf,
                 "--max-new-tokens", TOKENS, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["method"] == "amulet" and record["preference"] == "concise" and record["num_tokens"] == 8
    assert {"alpha", "eta", "lam", "iterations"} <= set(record)


def test_generate_batch_mode_resumes_and_matches_single_answers(gguf, tmp_path, capsys):
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps([{"id": f"q{i}", "question": q} for i, q in enumerate(QUESTIONS)]))
    output = tmp_path / "out" / "answers.jsonl"
    argv = ["generate", "--input", str(questions), "--output", str(output), "--method", "base", "--model", gguf,
            "--max-new-tokens", TOKENS, "--batch-size", "2"]
    assert main(argv) == 0
    assert "3 answers in" in capsys.readouterr().err
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q0", "q1", "q2"] and [r["question"] for r in rows] == QUESTIONS
    singles = [json.loads(ask(capsys, gguf, q, "--json"))["text"] for q in QUESTIONS]
    assert [r["answer"] for r in rows] == singles
    meta = json.loads((output.parent / "answers.run.json").read_text())
    assert meta["settings"]["method"] == "base" and len(meta["settings"]["input_sha256"]) == 64
    # a crash after the first answer, in the middle of writing the second: resuming redoes only the rest
    lines = output.read_text().splitlines()
    output.write_text(lines[0] + "\n" + lines[1][:10])
    assert main(argv) == 0
    resumed = [json.loads(line) for line in output.read_text().splitlines()]
    assert resumed == rows


def test_models_lists_every_packaged_model(capsys):
    from accord.lm.packaged import DEFAULT_MODEL, PACKAGED_MODELS

    assert main(["models"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(PACKAGED_MODELS)
    for line, (name, spec) in zip(lines, PACKAGED_MODELS.items()):
        assert line.startswith(name) and f"{spec.size / 2**20:.0f} MiB" in line
        assert ("(default)" in line) == (name == DEFAULT_MODEL)
        assert "installed" in line
    assert len({line.index(" MiB") for line in lines}) == 1  # the size column lines up after "(default)"


@pytest.mark.parametrize("solver", ["mpo", "mmd", "fp"])
def test_games_solve_finds_the_rock_paper_scissors_equilibrium(capsys, solver):
    assert main(["games", "solve", "--game", "rps", "--solver", solver, "--iters", "3000", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["solver"] == solver and result["game"] == "rps"
    assert result["average_exploitability"] < 0.05
    if solver != "fp":  # fictitious play's last iterate cycles; its average converges
        assert result["last_policy"] == pytest.approx([1 / 3] * 3, abs=0.02)
    assert main(["games", "solve", "--game", "rps", "--solver", solver, "--iters", "300"]) == 0
    assert "exploitability" in capsys.readouterr().out


def test_mpo_train_logs_evaluates_and_resumes(tmp_path, capsys):
    from test_mpo import saved_tiny_model_and_prompts

    model_dir, prompts = saved_tiny_model_and_prompts(tmp_path)
    out = tmp_path / "run"
    argv = ["mpo", "train", "--model", str(model_dir), "--prompts", str(prompts), "--judge", "style-cycle",
            "--batch", "2", "--max-new-tokens", "4", "--eval-every", "1", "--magnet-every", "2", "--lr", "1e-3",
            "--out", str(out)]
    assert main(argv + ["--steps", "2"]) == 0
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and [r["magnet_refreshed"] for r in rows] == [False, True]
    assert all(0 <= r["win_rate_vs_initial"] <= 1 and 0 <= r["mean_p"] <= 1 for r in rows)
    assert (out / "curves.png").stat().st_size > 1000 and (out / "checkpoint.pt").is_file()
    assert main(argv + ["--steps", "3"]) == 0  # resumes from the checkpoint at step 2
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert json.loads((out / "run.json").read_text())["config"]["steps"] == 3
