"""Consensus selection (accord/consensus/selection.py): the goal-matched rule and the social-choice rules
pick the right candidate on hand-made score tables."""

import pytest

from accord.consensus.selection import select_candidate, summarize_selection
from accord.errors import AccordError

# three candidates x two parties (seats 0.7 / 0.3)
SCORES = [[9.0, 1.0],   # the big party's favourite: V = 6.6, min 1
          [5.0, 5.0],   # the compromise: V = 5.0, min 5
          [6.0, 3.0]]   # V = 5.1, min 3
SEATS = [0.7, 0.3]


def test_goal_matched_rules():
    assert select_candidate(SCORES, SEATS, "simple_majority")[0] == 0       # highest seat-weighted vote
    assert select_candidate(SCORES, SEATS, "rawlsian")[0] == 1              # best worst-off party
    assert select_candidate(SCORES, SEATS, "utilitarian")[0] == 0           # means 5, 5, 4.5: tie -> first
    # two thirds (V >= 6.67): nobody passes, so the seat-weighted vote decides
    assert select_candidate(SCORES, SEATS, "two_thirds")[0] == 0
    # veto by the small party (needs its 6 and V >= 5): only a candidate it rates 6+ can pass
    vetoed = [[9.0, 1.0], [5.0, 6.0], [6.0, 3.0]]
    index, values = select_candidate(vetoed, SEATS, "veto", veto_index=1)
    assert index == 1 and values[1] > values[0]


def test_social_choice_rules():
    def pick(rule, seats=SEATS):
        return select_candidate(SCORES, seats, "simple_majority", rule=rule)[0]

    assert pick("utilitarian") == 0 and pick("seat-weighted") == 0 and pick("rawlsian") == 1
    # the big party's ranking 0 > 2 > 1 carries every pairwise majority: candidate 0 is the Condorcet winner
    for rule in ("borda", "copeland", "condorcet", "kemeny", "maximal-lottery", "plurality"):
        assert pick(rule) == 0, rule
    # Nash welfare with equal seats prefers the compromise: log 5 + log 5 > log 6 + log 3 > log 9 + log 1
    assert pick("nash", [0.5, 0.5]) == 1


def test_bad_input():
    with pytest.raises(AccordError, match="unknown selection rule"):
        select_candidate(SCORES, SEATS, "simple_majority", rule="dictator")
    with pytest.raises(AccordError, match="parties"):
        select_candidate([[1.0, 2.0, 3.0]], SEATS, "rawlsian")


def test_summary_pairs_selected_with_first_candidate():
    records = [{"key": "k1", "goal": "rawlsian", "usable": True, "selected_index": 1,
                "candidates": [{"value": 2.0}, {"value": 5.0}]},
               {"key": "k2", "goal": "rawlsian", "usable": True, "selected_index": 0,
                "candidates": [{"value": 4.0}, {"value": 3.0}]}]
    single = [{"key": "k1", "usable": True, "expected_value": 1.0}, {"key": "k3", "usable": True,
                                                                      "expected_value": 9.0}]
    summary = summarize_selection(records, "expected", single)["rawlsian"]
    assert summary["n"] == 2 and summary["selected"] == 4.5 and summary["first_candidate"] == 3.0
    assert summary["selected_minus_first"][0] == 1.5
    assert summary["n_shared_with_single_run"] == 1 and summary["selected_minus_single_run"][0] == 4.0


class LengthJudge:
    """Scores by the resolution's length: party A rates short texts high, party B long ones."""

    name, backend = "length", "test"

    def chat_prompt(self, user, system=None):
        return user

    def choice_logprobs(self, prompts, choices, prefix=""):
        import numpy as np

        length = len(prefix.split("Proposed resolution:")[1].split("\n")[0])
        rows = np.full((len(prompts), 10), -30.0)
        for row, prompt in enumerate(prompts):
            digit = max(0, 9 - length // 8) if "group: A" in (prefix + prompt) else min(9, length // 8)
            rows[row, digit] = 0.0
        return rows


def test_draft_and_select_picks_by_the_rule(tiny_lm):
    import numpy as np

    from accord.consensus.data import Party, Task
    from accord.consensus.protocols import get_protocol
    from accord.consensus.selection import draft_and_select
    from accord.lm.base import SamplingConfig

    task = Task("t", "1", "T", "Bg.", [Party("A", "short", 5), Party("B", "long", 5)], [0.5, 0.5], "A")
    batch = [(task, "rawlsian", []), (task, "simple_majority", [])]
    sampling = SamplingConfig(max_new_tokens=12, temperature=1.0, seed=3)
    results = draft_and_select(tiny_lm, LengthJudge(), batch, None, sampling, "base", get_protocol("paper"), 4)
    assert len(results) == 2
    for (task_, goal, _), (draft, votes, seconds, extra) in zip(batch, results):
        candidates = extra["candidates"]
        assert len({c["draft"] for c in candidates}) > 1               # sampled candidates differ
        scores = np.array([c["scores"] for c in candidates])
        # independent choice: rawlsian = largest minimum (ties to the larger mean, then the first)
        if goal == "rawlsian":
            best = max(range(4), key=lambda c: (scores[c].min(), scores[c].mean(), -c))
        else:
            best = max(range(4), key=lambda c: (scores[c] @ [0.5, 0.5] >= 5 - 1e-9, scores[c] @ [0.5, 0.5], -c))
        assert extra["selected_index"] == best and draft.text == candidates[best]["draft"]
        assert [v.expected for v in votes] == pytest.approx(list(scores[best]))


def test_run_with_candidates_records_the_selection(tiny_lm, tmp_path):
    import json

    from accord.consensus import data as cdata
    from accord.consensus.run import RunConfig, run_consensus

    root = tmp_path / "eurocon"
    (root / "topics").mkdir(parents=True)
    records = [{"topic": "t", "title": f"T{i}", "background": f"Bg {i}.", "id": i, "resolution": f"Res {i}.",
                "stances": [{"party_name": n, "choice": (i + j * 5) % 10, "stance": f"{n} wants {j}."}
                            for j, n in enumerate("ABC")]} for i in range(2)]
    (root / "topics" / "t.json").write_text(json.dumps(records))
    cdata.write_tasks(records, root, ks=(2,), seed=0)
    settings = dict(data=str(root), parties=[2], goals=["rawlsian", "simple_majority"], method="base",
                    model="tiny", max_new_tokens=6, batch_size=4, one_shot=False, limit=1, temperature=1.0)
    store = run_consensus(RunConfig(candidates=3, **settings), tmp_path / "run", tiny_lm, judge=LengthJudge(),
                          progress=False)
    assert len(store.records) == 2
    for record in store.records:
        chosen = record["candidates"][record["selected_index"]]
        assert len(record["candidates"]) == 3 and record["draft"] == chosen["draft"]
        assert [v["expected"] for v in record["votes"]] == pytest.approx(chosen["scores"])
    meta = json.loads((tmp_path / "run" / "run.json").read_text())["settings"]
    assert meta["candidates"] == 3 and meta["select_rule"] == "auto"
    # a single-draft run records no selection settings (run.json as before), and sampling is required for N > 1
    run_consensus(RunConfig(**settings), tmp_path / "single", tiny_lm, judge=LengthJudge(), progress=False)
    assert "candidates" not in json.loads((tmp_path / "single" / "run.json").read_text())["settings"]
    with pytest.raises(AccordError, match="temperature"):
        RunConfig(candidates=2, **dict(settings, temperature=0.0))
    with pytest.raises(AccordError, match="unknown selection rule"):
        RunConfig(candidates=2, select_rule="dictator", **settings)


def test_llamacpp_judge_evaluates_a_task_s_background_once_for_all_candidates(tmp_path):
    """With llama.cpp the judge keeps the prompt head its candidates share (system text, background): the
    same votes as a fresh judge per candidate (float32 cache) and fewer tokens evaluated."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    pytest.importorskip("gguf", reason="the gguf package is not installed")
    import numpy as np
    from test_llamacpp_keep_prefix import counting
    from test_loading import write_tiny_gguf

    from accord.consensus.data import Party, Task
    from accord.consensus.judge import judge_resolution
    from accord.consensus.protocols import get_protocol
    from accord.consensus.selection import draft_and_select
    from accord.lm.base import SamplingConfig
    from accord.lm.llamacpp import EXACT_CONTEXT, LlamaCppLM

    path = write_tiny_gguf(tmp_path / "tiny.gguf", context_length=8192)
    judge, fresh = (LlamaCppLM(path, n_ctx=8192, n_threads=1, context_overrides=EXACT_CONTEXT) for _ in range(2))
    drafter = LlamaCppLM(path, n_ctx=2048, n_threads=1)
    protocol = get_protocol("paper")
    background = "The council debates how to fund rural bus lines over the next ten years. " * 4
    task = Task("t", "1", "Buses", background, [Party("A", "more buses", 6), Party("B", "lower taxes", 4)],
                [0.6, 0.4], "A")
    evaluated = counting(judge)
    sampling = SamplingConfig(max_new_tokens=6, temperature=1.0, seed=1)
    (_, _, _, extra), = draft_and_select(drafter, judge, [(task, "rawlsian", [])], None, sampling, "base",
                                         protocol, 3)
    assert judge.keep_prefix is False
    fresh_evaluated = counting(fresh)
    for candidate in extra["candidates"]:
        fresh._clear()
        votes, _ = judge_resolution(fresh, task, candidate["draft"], protocol)
        np.testing.assert_allclose(candidate["scores"], [v.expected for v in votes], atol=1e-4)
    background_tokens = len(fresh.tokenize(background))
    assert sum(evaluated) <= sum(fresh_evaluated) - 2 * background_tokens  # the background once, not 3 times
