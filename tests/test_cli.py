"""Bad input on the command line: one clear error line, a non-zero exit, never a traceback."""

import json
import subprocess
import sys

import pytest

from accord.cli import main


def run_cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse rejects a value
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.parametrize("argv,message", [
    (["generate", "Hi", "--method", "base", "--model", "no-such-model"], "unknown model"),
    (["generate", "Hi", "--preference", "", "--method", "amulet", "--model", "smollm2-135m"], "non-empty preference"),
    (["generate", "Hi", "--preference", "x", "--eta", "0"], "positive"),
    (["generate", "Hi", "--preference", "x", "--iterations", "-3"], "positive"),
    (["generate", "Hi", "--preference", "x", "--max-new-tokens", "0"], "positive"),
    (["generate", "--input", "/no/such/file.json", "--output", "/tmp/x.jsonl", "--preference", "x"], "not found"),
    (["generate", "Hi", "--method", "base", "--model", "/no/such/model.gguf"], "not found"),
])
def test_bad_input_is_one_line(capsys, argv, message):
    code, err = run_cli(capsys, *argv)
    assert code != 0
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_malformed_input_file(tmp_path, capsys):
    bad = tmp_path / "questions.json"
    bad.write_text('[{"question": "ok"}, {"quest')
    code, err = run_cli(capsys, "generate", "--input", str(bad), "--output", str(tmp_path / "a.jsonl"),
                        "--preference", "concise")
    assert code == 2 and "malformed JSON" in err and len(err.strip().splitlines()) == 1
    bad.write_text(json.dumps([{"text": "no question field"}]))
    code, err = run_cli(capsys, "generate", "--input", str(bad), "--output", str(tmp_path / "a.jsonl"),
                        "--preference", "concise")
    assert code == 2 and "question" in err


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "accord", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip()
