"""Political consensus benchmark: goals, data validation and task builder, drafting prompts (one-shot leak
prevention), judging with the shared prefix, run + resume after a simulated crash, report bootstrap."""

import json
import random
import warnings
from pathlib import Path

import numpy as np
import pytest

from accord.consensus import data as cdata
from accord.consensus.data import (SAMPLE_DIR, build_task_records, load_tasks, load_topics, most_divided,
                                   random_seat_weights, validate_record)
from accord.consensus.drafting import drafting_question, finish_draft, pick_example
from accord.consensus.goals import GOALS, evaluate, parse_goals, requirement
from accord.consensus.judge import DIGITS, judge_resolution, judge_texts, split_prompts
from accord.consensus.report import make_report, seat_favour, summarize
from accord.stats import bootstrap_ci
from accord.consensus.run import RunConfig, run_consensus
from accord.errors import AccordError


# ---- goals -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("goal,scores,weights,veto,passed,value", [
    ("simple_majority", [5, 5], [0.5, 0.5], 0, True, 1.0),
    ("simple_majority", [9, 0], [0.5, 0.5], 0, False, 0.0),          # V = 4.5
    ("simple_majority", [7, 1, 3], [0.6, 0.3, 0.1], 0, False, 0.0),  # 4.2+0.3+0.3 = 4.8
    ("simple_majority", [7, 3, 5], [0.6, 0.3, 0.1], 0, True, 1.0),   # 4.2+0.9+0.5 = 5.6
    ("two_thirds", [7, 6], [0.7, 0.3], 0, True, 1.0),                # 6.7 >= 6.667
    ("two_thirds", [7, 6], [0.6, 0.4], 0, False, 0.0),               # 6.6
    ("veto", [9, 5], [0.5, 0.5], 1, False, 0.0),                     # veto party at 5
    ("veto", [4, 6], [0.5, 0.5], 1, True, 1.0),                      # V = 5, veto 6
    ("veto", [3, 6], [0.5, 0.5], 1, False, 0.0),                     # V = 4.5
])
def test_voting_goals_known_answers(goal, scores, weights, veto, passed, value):
    result = evaluate(goal, scores, weights, veto)
    assert result["passed"] is passed and result["value"] == value


def test_threshold_exactly_five_despite_float_rounding():
    # 0.1*5 + 0.2*5 + 0.7*5 is 4.999999... in floating point
    assert evaluate("simple_majority", [5, 5, 5], [0.1, 0.2, 0.7])["passed"] is True


def test_welfare_goals():
    assert evaluate("rawlsian", [3, 8, 6], [0.2, 0.5, 0.3])["value"] == 3
    assert evaluate("utilitarian", [3, 8, 7], [0.2, 0.5, 0.3])["value"] == 6
    assert evaluate("utilitarian", [3, 8, 7], [0.2, 0.5, 0.3])["passed"] is None


def test_requirements_name_seats_and_veto():
    text = requirement("veto", ["EPP", "S&D"], [0.3, 0.7], "S&D")
    assert "EPP 30%" in text and "S&D 70%" in text and "S&D holds a veto" in text
    assert "two-thirds" in requirement("two_thirds", ["A", "B"], [0.5, 0.5])
    assert "maximin" in requirement("rawlsian", ["A", "B"], [0.5, 0.5])
    assert parse_goals("all") == list(GOALS)
    with pytest.raises(AccordError, match="unknown goal"):
        parse_goals("plurality")


# ---- data ------------------------------------------------------------------------------------------

def good_task(**changes):
    record = {"topic": "t", "title": "T", "background": "B", "id": 7, "resolution": "R",
              "stances": [{"party_name": "A", "choice": 8, "stance": "a"}, {"party_name": "B", "choice": 1, "stance": "b"}],
              "seat_weights": [0.4, 0.6], "veto_party_name": "B"}
    record.update(changes)
    return record


@pytest.mark.parametrize("changes,message", [
    ({"background": None}, "field 'background'"),
    ({"seat_weights": [0.4, 0.5]}, "sum to 0.9"),
    ({"seat_weights": [1.0]}, "1 seat weights for 2 parties"),
    ({"veto_party_name": "C"}, "veto party 'C' is not among"),
    ({"stances": [{"party_name": "A", "choice": 12, "stance": "a"}, {"party_name": "B", "choice": 1, "stance": "b"}]},
     "choice 12"),
])
def test_validation_names_file_and_record(changes, message):
    record = good_task(**changes)
    if changes.get("background", "") is None:
        del record["background"]
    with pytest.raises(AccordError, match=message) as error:
        validate_record(record, "tasks/2/t.json", 0)
    assert "tasks/2/t.json: record id 7" in str(error.value)


def test_invalid_file_fails_or_is_skipped(tmp_path):
    folder = tmp_path / "tasks" / "2"
    folder.mkdir(parents=True)
    (folder / "t.json").write_text(json.dumps([good_task(), good_task(id=8, veto_party_name="Z")]))
    with pytest.raises(AccordError, match=r"t\.json: record id 8: veto party 'Z'"):
        load_tasks(tmp_path, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tasks = load_tasks(tmp_path, 2, skip_invalid=True)
    assert [t.id for t in tasks] == ["7"] and "record id 8" in str(caught[0].message)
    with pytest.raises(AccordError, match="expected 4"):
        (tmp_path / "tasks" / "4").mkdir()
        (tmp_path / "tasks" / "4" / "t.json").write_text(json.dumps([good_task()]))
        load_tasks(tmp_path, 4)


def test_most_divided_picks_max_variance_and_breaks_ties_by_seed():
    assert most_divided([8, 5, 0, 7, 8, 7, 0], 4, random.Random(0)) in {(0, 2, 4, 6)}
    # [9, 9, 0]: {0,2} and {1,2} tie; both must be reachable and each seed deterministic
    picks = {most_divided([9, 9, 0], 2, random.Random(seed)) for seed in range(30)}
    assert picks == {(0, 2), (1, 2)}
    assert most_divided([9, 9, 0], 2, random.Random(5)) == most_divided([9, 9, 0], 2, random.Random(5))


def test_seat_weights_rule():
    rng = random.Random(1)
    for k in (2, 4, 6, 10):
        for _ in range(200):
            weights = random_seat_weights(k, rng)
            tenths = [round(w * 10) for w in weights]
            assert len(weights) == k and min(tenths) >= 1 and sum(tenths) == 10
            assert all(abs(w * 10 - t) < 1e-9 for w, t in zip(weights, tenths))


def test_task_builder_is_deterministic_and_valid():
    topics = load_topics(SAMPLE_DIR)
    for k in (2, 4, 6):
        first, again = build_task_records(topics, k, seed=3), build_task_records(topics, k, seed=3)
        assert first == again
        for index, task in enumerate(first):
            validate_record(task, "built", index, parties=k)
            choices = [s["choice"] for s in task["stances"]]
            source = next(r for r in topics if r["id"] == task["id"] and r["topic"] == task["topic"])
            best = max(np.var(c) for c in _subsets([s["choice"] for s in source["stances"]], k))
            assert np.var(choices) == pytest.approx(best)
    assert build_task_records(topics, 4, seed=0) != build_task_records(topics, 4, seed=1)


def _subsets(values, k):
    import itertools
    return [list(c) for c in itertools.combinations(values, k)]


def test_shipped_sample_matches_its_builder():
    topics = load_topics(SAMPLE_DIR)
    for k in (2, 4, 6):
        shipped = load_tasks(SAMPLE_DIR, k)
        built = cdata.build_tasks(topics, k, seed=0)
        assert [(t.key, t.seat_weights, t.veto_party, [p.name for p in t.parties]) for t in shipped] == \
               [(t.key, t.seat_weights, t.veto_party, [p.name for p in t.parties]) for t in built]


def test_data_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCORD_EUROCON", str(tmp_path / "missing"))
    with pytest.raises(AccordError, match="not found"):
        cdata.resolve_data_dir()
    monkeypatch.delenv("ACCORD_EUROCON")
    assert cdata.resolve_data_dir() == SAMPLE_DIR


# ---- drafting ----------------------------------------------------------------------------------------

def test_one_shot_example_is_never_the_task_itself():
    tasks = load_tasks(SAMPLE_DIR, 2) + load_tasks(SAMPLE_DIR, 4)
    for task in tasks:
        for seed in range(10):
            example = pick_example(task, tasks, random.Random(seed))
            if example is None:
                continue
            assert example.topic == task.topic and example.id != task.id
            assert example.resolution != task.resolution
            question = drafting_question(task, example)
            assert task.resolution not in question and example.resolution[:80] in question
    lonely = next(t for t in tasks if t.topic == "transport & tourism")
    assert pick_example(lonely, tasks, random.Random(0)) is None  # its only record is itself
    with pytest.raises(AccordError, match="own record"):
        drafting_question(lonely, lonely)


def test_finish_draft():
    assert finish_draft(" Resolution: X\n\n1. Calls on Y.") == "The European Parliament Resolution: X 1. Calls on Y."
    assert finish_draft("The European Parliament urges Y") == "The European Parliament urges Y"
    assert finish_draft(", in view of Z,  asks") == "The European Parliament, in view of Z, asks"


# ---- judging on the tiny model --------------------------------------------------------------------------

def test_shared_prefix_split_and_scores(tiny_lm):
    task = load_tasks(SAMPLE_DIR, 4)[0]
    common, specifics = judge_texts(task, "The European Parliament agrees.")
    prefix, suffixes = split_prompts(tiny_lm, common, specifics)
    assert prefix and all(prefix + s == tiny_lm.chat_prompt(common + p, system=s_system()) for s, p in
                          zip(suffixes, specifics))
    from accord.consensus.judge import RUBRIC
    assert RUBRIC in prefix and not any(RUBRIC in s for s in suffixes)  # only the stance is per party
    assert all(p.stance in s for p, s in zip(task.parties, suffixes))
    votes, _ = judge_resolution(tiny_lm, task, "The European Parliament agrees.")
    full = tiny_lm.choice_logprobs([prefix + s for s in suffixes], DIGITS)
    for vote, row in zip(votes, full):
        probs = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
        assert vote.score == int(np.argmax(probs))
        assert vote.expected == pytest.approx(float(probs @ np.arange(10)), abs=1e-4)
        assert len(vote.distribution) == 10 and sum(vote.distribution) == pytest.approx(1, abs=1e-5)


def s_system():
    from accord.consensus.judge import JUDGE_SYSTEM
    return JUDGE_SYSTEM


# ---- run, resume, report -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def short_data(tmp_path_factory):
    """A data folder with very short texts (the tiny model's tokenizer is character-level)."""
    root = tmp_path_factory.mktemp("eurocon")
    (root / "topics").mkdir()
    names = ["A", "B", "C", "D", "E"]
    records = [{"topic": "t", "title": f"T{i}", "background": f"Bg {i}.", "id": i, "resolution": f"Res {i}.",
                "stances": [{"party_name": n, "choice": (i * 3 + j * 5) % 10, "stance": f"{n} wants {j}."}
                            for j, n in enumerate(names)]} for i in range(3)]
    (root / "topics" / "t.json").write_text(json.dumps(records))
    cdata.write_tasks(records, root, ks=(2, 4), seed=0)
    return root


def small_config(data, **changes):
    settings = dict(data=str(data), parties=[2, 4], goals=["two_thirds", "veto", "rawlsian"], method="amulet",
                    model="tiny", max_new_tokens=4, batch_size=4, one_shot=True, limit=1)
    settings.update(changes)
    return RunConfig(**settings)


def test_sample_is_a_seeded_subset(short_data):
    from accord.consensus.run import select_tasks

    every = select_tasks(small_config(short_data, limit=None), short_data)[4][0]
    picked = select_tasks(small_config(short_data, limit=2, sample=True), short_data)[4][0]
    again = select_tasks(small_config(short_data, limit=2, sample=True), short_data)[4][0]
    assert len(picked) == 2 and [t.key for t in picked] == [t.key for t in again]
    assert {t.key for t in picked} <= {t.key for t in every}
    other_seeds = {tuple(t.key for t in select_tasks(small_config(short_data, limit=2, sample=True, seed=s),
                                                     short_data)[4][0]) for s in range(8)}
    assert len(other_seeds) > 1  # the seed changes the subset


def test_run_resume_after_crash_repeats_nothing(tiny_lm, tmp_path, short_data):
    out = tmp_path / "run"
    store = run_consensus(small_config(short_data), out, tiny_lm, progress=False, stop_after=3)
    assert len(store.records) == 3
    # a crash mid-line: the cut line is dropped on reopening, and only that item is redone
    with open(out / "results.jsonl", "a") as handle:
        handle.write('{"key": "cut sho')
    store = run_consensus(small_config(short_data), out, tiny_lm, progress=False)
    keys = [r["key"] for r in store.records]
    assert len(keys) == len(set(keys)) == 2 * 1 * 3
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 6 and all(json.loads(line)["key"] for line in lines)
    # same result as an uninterrupted run
    fresh = run_consensus(small_config(short_data), tmp_path / "fresh", tiny_lm, progress=False)
    by_key = {r["key"]: r for r in fresh.records}
    for record in store.records:
        assert record["draft"] == by_key[record["key"]]["draft"]
        assert record["votes"][0]["score"] == by_key[record["key"]]["votes"][0]["score"]
    record = store.records[0]
    assert record["draft"].startswith("The European Parliament")
    assert {"draft", "votes", "passed", "value", "seconds", "weighted_vote"} <= set(record)
    meta = json.loads((out / "run.json").read_text())
    assert meta["settings"]["method"] == "amulet" and len(meta["settings"]["data_sha256"]) == 64
    assert meta["settings"]["drafter"]["name"] == "tiny" and "versions" in meta
    assert set(meta["settings"]["judge_prompt"]) == {"system", "rubric", "answer_cue"}
    with pytest.raises(AccordError, match="other settings"):
        run_consensus(small_config(short_data, seed=1), out, tiny_lm, progress=False)
    text, summary = make_report(out)
    assert "two_thirds" in text and (out / "report.png").stat().st_size > 1000
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "<table>" in page
    assert summary["records"] == 6


def test_shards_fill_one_folder_like_one_process(tiny_lm, tmp_path, short_data):
    """Two shards (as two processes would run them) share one folder; together they hold exactly the
    records of an unsharded run, each once, and run.json is the same for all."""
    out = tmp_path / "sharded"
    config = dict(limit=3, goals=["veto", "rawlsian"], method="pref")
    second = run_consensus(small_config(short_data, shard=(2, 2), **config), out, tiny_lm, progress=False)
    assert len(second.records) == 2 * 1 * 2  # the 2nd of 3 tasks, for 2 and 4 parties, 2 goals
    first = run_consensus(small_config(short_data, shard=(1, 2), **config), out, tiny_lm, progress=False)
    fresh = run_consensus(small_config(short_data, **config), tmp_path / "fresh", tiny_lm, progress=False)
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["key"] for r in lines) == sorted(r["key"] for r in fresh.records)
    assert len(lines) == 2 * 3 * 2
    by_key = {r["key"]: r["draft"] for r in fresh.records}
    assert all(r["draft"] == by_key[r["key"]] for r in lines)
    assert len(first.records) == len(lines)  # the second process's rows are read on opening
    with pytest.raises(AccordError, match="shard"):
        small_config(short_data, shard=(3, 2))


def test_plausibility_is_recorded_only_when_on(tiny_lm, tmp_path, short_data):
    config = dict(limit=1, parties=[2], goals=["veto"], method="la")
    run_consensus(small_config(short_data, **config), tmp_path / "off", tiny_lm, progress=False)
    run_consensus(small_config(short_data, plausibility=0.5, **config), tmp_path / "on", tiny_lm, progress=False)
    off = json.loads((tmp_path / "off" / "run.json").read_text())["settings"]
    on = json.loads((tmp_path / "on" / "run.json").read_text())["settings"]
    assert "plausibility" not in off["method_parameters"] and "plausibility" not in off
    assert on["method_parameters"]["plausibility"] == 0.5
    with pytest.raises(AccordError, match="other settings"):  # a resume never mixes the two
        run_consensus(small_config(short_data, plausibility=0.5, **config), tmp_path / "off", tiny_lm,
                      progress=False)
    with pytest.raises(AccordError, match="plausibility"):
        small_config(short_data, plausibility=2.0, **config)


class ConstantJudge:
    """A judge whose digit log-probabilities put almost all mass on one digit."""
    name, backend = "constant", "test"

    def __init__(self, digit: int):
        self.digit = digit

    def chat_prompt(self, user, system=None):
        return f"[{system}]\n{user}\n[answer]"

    def choice_logprobs(self, prompts, choices, prefix=""):
        rows = np.full((len(prompts), len(choices)), -20.0)
        rows[:, self.digit] = 0.0
        return rows


def test_rejudge_keeps_drafts_and_matches_a_fresh_judgement(tiny_lm, tmp_path, short_data):
    from accord.consensus.run import rejudge_run

    source = tmp_path / "run"
    original = run_consensus(small_config(short_data), source, tiny_lm, progress=False)
    # the same judge votes exactly as in the run
    again = rejudge_run(source, tmp_path / "same", tiny_lm, progress=False)
    assert [r["votes"] for r in again.records] == [r["votes"] for r in original.records]
    assert [r["draft"] for r in again.records] == [r["draft"] for r in original.records]
    # another judge: new votes and outcomes on the same drafts; a crash mid-way resumes without repeats
    out = tmp_path / "nine"
    assert len(rejudge_run(source, out, ConstantJudge(9), progress=False, stop_after=2).records) == 2
    store = rejudge_run(source, out, ConstantJudge(9), progress=False)
    assert [r["key"] for r in store.records] == [r["key"] for r in original.records]
    assert [r["draft"] for r in store.records] == [r["draft"] for r in original.records]
    for record in store.records:
        assert all(v["score"] == 9 for v in record["votes"])
        assert record["passed"] is (None if record["goal"] == "rawlsian" else True)
        assert record["goal"] != "rawlsian" or record["value"] == 9
    meta = json.loads((out / "run.json").read_text())["settings"]
    assert meta["judge"]["name"] == "constant" and meta["drafts_from"]["run"] == str(source.resolve())
    with pytest.raises(AccordError, match="other than the source"):
        rejudge_run(source, source, ConstantJudge(9), progress=False)
    with pytest.raises(AccordError, match="not a consensus run"):
        rejudge_run(tmp_path / "missing", tmp_path / "x", ConstantJudge(9), progress=False)


def test_bootstrap_ci():
    mean, low, high = bootstrap_ci([1, 0, 1, 1, 0, 1, 0, 1], seed=0)
    assert mean == 0.625 and 0.2 < low < mean < high <= 1.0
    assert bootstrap_ci([1, 0, 1, 1, 0, 1, 0, 1], seed=0) == (mean, low, high)
    assert bootstrap_ci([4.0]) == (4.0, 4.0, 4.0)
    narrow = bootstrap_ci(np.r_[np.ones(500), np.zeros(500)], seed=1)
    assert narrow[2] - narrow[1] < 0.1


def test_summary_and_seat_favour():
    def record(goal, topic, value, weights, scores):
        return {"goal": goal, "parties": len(weights), "topic": topic, "value": value, "usable": True,
                "votes": [{"seat_weight": w, "score": s} for w, s in zip(weights, scores)]}

    records = [record("veto", "a", 1.0, [0.7, 0.3], [8, 2]), record("veto", "b", 0.0, [0.4, 0.6], [3, 7]),
               record("veto", "a", 1.0, [0.2, 0.8], [1, 9]), record("rawlsian", "a", 2.0, [0.9, 0.1], [9, 2])]
    rows = summarize(records)
    overall = next(r for r in rows if r["goal"] == "veto" and r["topic"] == "all topics")
    assert overall["n"] == 3 and overall["mean"] == pytest.approx(2 / 3)
    assert next(r for r in rows if r["goal"] == "veto" and r["topic"] == "a")["mean"] == 1.0
    favour = seat_favour(records)
    assert favour["r"] > 0.9 and favour["largest_gap"] > 0
    for record_, expected in zip(records, ([7.5, 2.5], [3.5, 6.0], [1.0, 8.5], [8.0, 2.0])):
        for vote, value in zip(record_["votes"], expected):
            vote["score"], vote["expected"] = 8, value  # argmax saturated, expected digit still varies
    assert seat_favour(records)["r"] is None
    by_expected = seat_favour(records, score="expected")
    weights = np.concatenate([[v["seat_weight"] for v in r["votes"]] for r in records])
    values = np.concatenate([[v["expected"] for v in r["votes"]] for r in records])
    assert by_expected["r"] == pytest.approx(np.corrcoef(weights, values)[0, 1])


def test_cli_errors_are_one_line(tmp_path, capsys):
    from accord.cli import main

    assert main(["consensus", "run", "--parties", "3"]) == 2
    assert "--parties expects" in capsys.readouterr().err
    assert main(["consensus", "run", "--goal", "plurality"]) == 2
    assert main(["consensus", "run", "--data", str(tmp_path / "nowhere")]) == 2
    assert main(["consensus", "report", str(tmp_path)]) == 2
    assert "no results" in capsys.readouterr().err


def test_build_tasks_cli_rejects_or_skips_a_bad_record(tmp_path, capsys):
    import json
    import shutil

    from accord.cli import main

    shutil.copytree(SAMPLE_DIR / "topics", tmp_path / "data" / "topics")
    bad_file = tmp_path / "data" / "topics" / "transport & tourism.json"
    records = json.loads(bad_file.read_text())
    records.append(dict(records[0], id="broken", stances=[]))
    bad_file.write_text(json.dumps(records))
    args = ["consensus", "build-tasks", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "built")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "record id 'broken'" in err and len(err.strip().splitlines()) == 1
    with pytest.warns(UserWarning, match="skipped: .*record id 'broken'"):
        assert main(args + ["--skip-invalid"]) == 0
    assert "wrote" in capsys.readouterr().out
    rebuilt = load_tasks(tmp_path / "built", 2)
    assert len(rebuilt) == len(cdata.build_tasks(load_topics(SAMPLE_DIR), 2, seed=0))


def test_data_folder_is_recorded_absolute(tmp_path, monkeypatch):
    """A run started with a relative --data and resumed with the absolute path (or from another folder)
    records the same folder, so the resume is not refused as "other settings"."""
    from accord.consensus.data import SAMPLE_DIR, resolve_data_dir

    monkeypatch.chdir(SAMPLE_DIR.parent)
    relative = resolve_data_dir(SAMPLE_DIR.name)
    assert relative.is_absolute() and relative == resolve_data_dir(str(SAMPLE_DIR.resolve()))


def test_chart_of_a_one_goal_run_draws_without_warnings():
    """A run of one goal leaves the other panel empty: it says so, and no empty legend is drawn (matplotlib warned)."""
    from accord.consensus.report import ALL, chart_png

    rows = [{"topic": ALL, "goal": "rawlsian", "parties": 2, "mean": 4.6, "low": 4.2, "high": 4.9}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = chart_png(rows)
    assert png[:4] == b"\x89PNG"
