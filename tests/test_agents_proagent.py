"""Known-answer tests of ProAgent's modules: grounding text of hand-built states, the free-text parser, the
constrained-choice planner against a scripted scorer, belief records and their mismatches, the bounded
re-plan with its counted wait(1) fallback, memory retrieval, and one model call per skill decision."""

import numpy as np
import pytest

pytest.importorskip("overcooked.mdp.overcooked_mdp", reason="the overcooked package is not installed (scripts/setup.sh)")

from overcooked.mdp.overcooked_mdp import ObjectState, OvercookedState, PlayerState, SoupState

from accord.agents.belief import Belief, completed_skill
from accord.agents.grounding import layout_text, scene_text, shared_counters
from accord.agents.memory import Memory
from accord.agents.overcooked_env import DIRECTIONS, make_mdp
from accord.agents.partners import StayPolicy, play_episodes
from accord.agents.planner import ChoicePlanner, FreeTextPlanner, parse_plan, parse_skill
from accord.agents.proagent import ProAgent, ProAgentConfig
from accord.agents.prompts import SKILLS, planner_system, seat_skills
from accord.agents.verification import FALLBACK, verify
from accord.errors import AccordError
from accord.lm.base import Generation

N, S, E, W = DIRECTIONS
make_mdp("cramped_room")  # configures the package's Recipe class, which hand-built soups need


def cramped_state(players, objects=(), timestep=7):
    mdp = make_mdp("cramped_room")
    state = OvercookedState(players, {o.position: o for o in objects}, all_orders=mdp.start_all_orders,
                            timestep=timestep)
    return mdp, state


class ScriptedLM:
    """A fake model: `answers` are returned in turn by generate; choice_logprobs returns `scores` rows."""

    name, backend = "scripted", "fake"

    def __init__(self, answers=(), scores=None):
        self.answers, self.scores = list(answers), scores
        self.generate_calls, self.choice_calls, self.prompts = 0, 0, []

    def chat_prompt(self, user, system=None):
        return f"[SYS]{system}[USER]{user}[ASSISTANT]"

    def generate(self, prompts, sampling, on_token=None):
        self.generate_calls += 1
        self.prompts.extend(prompts)
        return [Generation(self.answers.pop(0) if self.answers else "no idea")]

    def choice_logprobs(self, prompts, choices, prefix=""):
        self.choice_calls += 1
        self.prompts.extend(prefix + p for p in prompts)
        rows = np.log(np.asarray(self.scores, dtype=float))
        return np.tile(rows[:len(choices)], (len(prompts), 1))


# ---- grounding ---------------------------------------------------------------------------------------
def test_scene_lists_exactly_the_holdings_and_pots_of_a_hand_built_state():
    onion = ObjectState("onion", (1, 2))
    soup = SoupState.get_soup((3, 1), num_onions=3, finished=True)
    mdp, state = cramped_state([PlayerState((1, 2), N, onion), PlayerState((3, 1), N, soup)],
                               [SoupState.get_soup((2, 0), num_onions=2)])
    assert scene_text(mdp, state, ego=0) == ("Scene 7: <Player 0> holds one onion. <Player 1> holds a dish with soup. "
                                             "Kitchen states: <Pot 0> has 2 onions.")
    assert scene_text(mdp, state, ego=1).startswith(
        "Scene 7: <Player 1> holds a dish with soup and should deliver it. <Player 0> holds one onion.")


def test_scene_gives_the_cooking_time_left_and_a_ready_pot():
    mdp, state = cramped_state([PlayerState((1, 2), N), PlayerState((3, 1), N)],
                               [SoupState.get_soup((2, 0), num_onions=3, cooking_tick=5)])
    assert "<Pot 0> is cooking; the soup is ready in 15 steps." in scene_text(mdp, state, 0)
    mdp, state = cramped_state([PlayerState((1, 2), N), PlayerState((3, 1), N)],
                               [SoupState.get_soup((2, 0), num_onions=3, finished=True)])
    assert "<Pot 0> has cooked soup ready" in scene_text(mdp, state, 0)
    assert layout_text(mdp) == ("The kitchen has: <Onion Dispenser 0>, <Onion Dispenser 1>, <Dish Dispenser 0>, "
                                "<Serving Spot 0>, <Pot 0>.")


def test_forced_coordination_counts_only_the_counters_both_sides_reach():
    mdp = make_mdp("forced_coordination")
    state = mdp.get_standard_start_state()
    middle = shared_counters(mdp, state, 0)
    assert middle == [(2, 1), (2, 2), (2, 3)]  # the dividing column; both players face it from their sides
    state.add_object(ObjectState("onion", (2, 2)))
    state.add_object(ObjectState("dish", (0, 0)))  # a corner counter nobody reaches: not counted
    text = scene_text(mdp, state, 0, show_teammate=False, counters="shared")
    assert "<Player 1>" not in text
    assert text.endswith("3 counters can be reached by <Player 0>: 1 hold onion; none holds dish; none holds soup; "
                         "2 are empty.")


def test_all_counters_option_and_bad_option():
    mdp, state = cramped_state([PlayerState((1, 2), N), PlayerState((3, 1), N)],
                               [ObjectState("onion", (0, 2)), ObjectState("onion", (4, 2)), ObjectState("dish", (2, 3))])
    assert scene_text(mdp, state, 0, counters="all").endswith("Counters hold: 1 dish, 2 onions.")
    with pytest.raises(ValueError):
        scene_text(mdp, state, 0, counters="some")


# ---- prompts -----------------------------------------------------------------------------------------
def test_prompts_carry_the_layout_rules_and_the_answer_format():
    ring = planner_system("coordination_ring", 1, cook_time=20)
    assert "Never wait while some <Pot> is not full." in ring and 'Plan for Player 1: "<skill>"' in ring
    assert "You control <Player 1>" in ring and "Intention for" not in ring
    aip = planner_system("cramped_room", 0, with_intention=True)
    assert 'Intention for Player 1: "<skill>"' in aip and "infer which skill <Player 1> will do next" in aip
    assert seat_skills("forced_coordination", 1) == ("pickup(onion)", "pickup(dish)", "place_obj_on_counter()", "wait(1)")
    assert "put_onion_in_pot()" not in planner_system("forced_coordination", 1).split("Notes for")[0]


# ---- free-text parsing -------------------------------------------------------------------------------
@pytest.mark.parametrize("answer, seat, skill", [
    ('Analysis: the pot needs onions.\nPlan for Player 0: "pickup(onion)".', 0, "pickup(onion)"),
    ('Analysis: ...\nIntention for Player 0: "pickup(onion)".\nPlan for Player 1: "fill_dish_with_soup()"', 1,
     "fill_dish_with_soup()"),
    ('Plan for Player 0: "deliver_soup(), pickup(onion)"', 0, "deliver_soup()"),
    ("Plan for Player 0: wait(5)", 0, "wait(5)"),
    ("Plan for Player 0: wait", 0, "wait(1)"),
    ("Plan for Player 0: place_obj_on_counter", 0, "place_obj_on_counter()"),
    ("I think picking up a dish is best", 0, "pickup(dish)"),  # no plan line: the whole answer is read
])
def test_free_text_parser_extracts_the_plan(answer, seat, skill):
    assert parse_plan(answer, seat) == skill


@pytest.mark.parametrize("junk", ["", "Hello! How can I help you today?", "Plan for Player 0: move north",
                                  "Plan for Player 0: pickup(tomato)"])
def test_free_text_parser_returns_none_on_junk(junk):
    assert parse_plan(junk, 0) is None


def test_free_text_planner_reads_plan_and_intention_and_stops_at_the_next_scene():
    lm = ScriptedLM(['Analysis: x\nIntention for Player 1: "pickup(onion)".\nPlan for Player 0: "pickup(dish)".\n'
                     'Scene 9: Plan for Player 0: "deliver_soup()"'])
    plan = FreeTextPlanner(lm, "SYSTEM", seat=0, with_intention=True).plan("Scene 8: ...")
    assert (plan.skill, plan.intention) == ("pickup(dish)", "pickup(onion)") and "Scene 9" not in plan.text


# ---- constrained choice -----------------------------------------------------------------------------
def test_choice_planner_picks_the_skill_with_the_highest_scripted_probability():
    scores = [0.05, 0.1, 0.5, 0.05, 0.1, 0.1, 0.1]  # letter C = put_onion_in_pot()
    lm = ScriptedLM(scores=scores)
    planner = ChoicePlanner(lm, "SYSTEM", seat=0, skills=SKILLS)
    plan = planner.plan("Scene 3: <Player 0> holds one onion.")
    assert plan.skill == "put_onion_in_pot()" and lm.choice_calls == 1
    assert plan.probs["put_onion_in_pot()"] == pytest.approx(0.5)
    assert "C. put_onion_in_pot()" in lm.prompts[0] and lm.prompts[0].startswith("[SYS]SYSTEM[USER]Scene 3")


def test_choice_planner_renormalizes_over_the_seat_skills_and_asks_the_intention_in_the_same_call():
    scores = [0.1, 0.2, 0.3, 0.15, 0.05, 0.1, 0.1]  # of 7 letters, the seat offers A-D only
    lm = ScriptedLM(scores=scores)
    skills = seat_skills("forced_coordination", 1)
    plan = ChoicePlanner(lm, "SYSTEM", seat=1, skills=skills, with_intention=True).plan("Scene 0:")
    assert plan.skill == "place_obj_on_counter()" and plan.intention == "put_onion_in_pot()"
    assert sum(plan.probs.values()) == pytest.approx(1.0) and lm.choice_calls == 1 and len(lm.prompts) == 2


# ---- belief ------------------------------------------------------------------------------------------
def test_completed_skills_are_read_off_consecutive_states():
    mdp, before = cramped_state([PlayerState((1, 2), N), PlayerState((2, 1), N, ObjectState("onion", (2, 1)))],
                                [SoupState.get_soup((2, 0), num_onions=1)], timestep=4)
    _, after = cramped_state([PlayerState((1, 2), N), PlayerState((2, 1), N)],
                             [SoupState.get_soup((2, 0), num_onions=2)], timestep=5)
    assert completed_skill(mdp, before, after, 1) == "put_onion_in_pot()"
    assert completed_skill(mdp, before, after, 0) is None
    _, placed = cramped_state([PlayerState((1, 2), N), PlayerState((2, 1), N)],
                              [SoupState.get_soup((2, 0), num_onions=1), ObjectState("onion", (2, 2))])
    assert completed_skill(mdp, before, placed, 1) == "place_obj_on_counter()"
    assert completed_skill(mdp, after, before, 1) == "pickup(onion)"


def test_belief_records_a_mismatch_between_intention_and_completed_skill():
    mdp, before = cramped_state([PlayerState((1, 2), N), PlayerState((2, 1), N, ObjectState("onion", (2, 1)))],
                                [SoupState.get_soup((2, 0), num_onions=1)], timestep=4)
    _, after = cramped_state([PlayerState((1, 2), N), PlayerState((2, 1), N)],
                             [SoupState.get_soup((2, 0), num_onions=1), ObjectState("onion", (2, 2))], timestep=5)
    belief = Belief(mate=1)
    belief.record_intention(3, "put_onion_in_pot()")
    assert belief.observe(mdp, before, after) == "place_obj_on_counter()"
    assert belief.mismatches() == [("3", "put_onion_in_pot()", "place_obj_on_counter()")]
    text = belief.prompt()
    assert "{'3': 'put_onion_in_pot()'}" in text and "{'4': 'place_obj_on_counter()'}" in text
    belief.record_intention(5, "pickup(onion)")  # not carried out yet: a mismatch with "nothing since"
    assert belief.mismatches()[-1] == ("5", "pickup(onion)", None)


# ---- verification and memory ---------------------------------------------------------------------------
def test_verification_replans_at_most_the_bound_then_falls_back_to_wait_and_counts_it():
    asked = []
    outcome = verify("deliver_soup()", check=lambda s: None if s.startswith("wait") else f"{s} cannot run",
                     explain=lambda s, r: f"because {r}", replan=lambda e: asked.append(e) or "deliver_soup()",
                     max_replans=3)
    assert (outcome.skill, outcome.replans, outcome.fell_back) == (FALLBACK, 3, True) and len(asked) == 3
    assert outcome.explanations[0] == "because deliver_soup() cannot run"


def test_verification_accepts_a_valid_replan_without_fallback():
    plans = iter(["pickup(dish)", "pickup(onion)"])
    outcome = verify("deliver_soup()", check=lambda s: None if s == "pickup(onion)" else "no",
                     explain=lambda s, r: r, replan=lambda e: next(plans), max_replans=3)
    assert (outcome.skill, outcome.replans, outcome.fell_back) == ("pickup(onion)", 2, False)
    zero = verify("deliver_soup()", lambda s: None if s == FALLBACK else "no", lambda s, r: r, lambda e: "x", 0)
    assert (zero.skill, zero.replans, zero.fell_back) == (FALLBACK, 0, True)


def test_memory_retrieves_the_most_recent_k():
    memory = Memory(k=2)
    for i in range(4):
        memory.add("user", f"m{i}")
    assert memory.recent() == [("user", "m2"), ("user", "m3")]
    assert Memory(k=0, messages=[("user", "x")]).text() == ""


# ---- the agent -------------------------------------------------------------------------------------------
def test_one_model_call_per_skill_decision_and_a_counted_fallback():
    """Against a stay partner the scripted planner always wants to deliver a soup it never has: every
    decision is 1 plan + 3 explanations + 3 re-plans, then wait(1); the controller runs the wait without a call."""
    lm = ScriptedLM(answers=['Plan for Player 0: "deliver_soup()"'] * 10_000)
    agent = ProAgent(lm, ProAgentConfig(layout="cramped_room", max_replans=3))
    play_episodes("cramped_room", agent, StayPolicy(), episodes=1, horizon=6)
    stats = agent.episode_stats()
    assert stats["fallbacks"] == stats["decisions"] and stats["replans"] == 3 * stats["decisions"]
    assert stats["model_calls"] == lm.generate_calls == 7 * stats["decisions"]
    assert stats["decisions"] == 6  # wait(1) lasts one step: a decision at every one of the 6 steps
    question = lm.prompts[1]  # the explainer is asked after the first plan
    assert "Act as a Python interpreter" in question and "<Player 0> failed at deliver_soup()." in question
    replan = lm.prompts[2]  # the re-plan carries the explanation (memory, k=1) and the paper's request
    assert "Recent notes:\n[user] Plan for Player 0" in replan and replan.endswith("plan again.[ASSISTANT]")


def test_a_good_plan_runs_for_many_steps_on_one_call_and_unparsed_answers_wait():
    lm = ScriptedLM(answers=['Plan for Player 0: "pickup(onion)"', "gibberish"] + ['Plan: "wait(20)"'] * 50)
    agent = ProAgent(lm, ProAgentConfig(layout="cramped_room", planner_mode="freetext", explainer="checks"))
    play_episodes("cramped_room", agent, StayPolicy(), episodes=1, horizon=30)
    stats = agent.episode_stats()
    assert agent.decisions[0]["skill"] == "pickup(onion)" and stats["unparsed"] == 1
    assert stats["model_calls"] == stats["decisions"] < 10  # 30 steps, a handful of decisions


def test_bad_config_is_one_clear_error():
    with pytest.raises(AccordError, match="unknown planner mode"):
        ProAgentConfig(planner_mode="telepathy")


# ---- command line ----------------------------------------------------------------------------------------
def run_cli(*argv):
    from accord.cli import main

    return main(list(argv))


def test_cli_resumes_a_cell_without_repeating_episodes(tmp_path, capsys):
    from accord.agents.episodes import load_cells

    args = ["agents", "overcooked", "--agent", "greedy", "--partner", "greedy", "--horizon", "30", "--out", str(tmp_path)]
    assert run_cli(*args, "--episodes", "2", "--frames", "3") == 0
    assert (tmp_path / "cramped_room" / "greedy" / "greedy-seat0" / "frames_ep0.png").is_file()  # t = 0, 10, 20
    first = load_cells([tmp_path])
    assert run_cli(*args, "--episodes", "3") == 0
    rows = load_cells([tmp_path])
    assert [r["key"] for r in rows] == ["ep0", "ep1", "ep2"] and rows[:2] == first
    assert run_cli("agents", "report", str(tmp_path)) == 0
    assert (tmp_path / "report.png").is_file() and "greedy | greedy | 0 | 3 |" in (tmp_path / "report.md").read_text()
    assert run_cli(*args[:-1], str(tmp_path), "--episodes", "1", "--horizon", "31") == 2  # other settings, same folder
    assert "other settings (horizon)" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--layout", "kitchen_nightmares"], "unknown layout 'kitchen_nightmares'"),
    (["--partner", "alien"], "unknown partner 'alien'"),
    (["--agent", "telepath"], "unknown agent 'telepath'"),
    (["--planner", "no-such-model"], "unknown model 'no-such-model'"),
])
def test_cli_bad_input_is_one_error_line(tmp_path, capsys, argv, message):
    assert run_cli("agents", "overcooked", "--out", str(tmp_path), "--episodes", "1", *argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_plays_proagent_with_a_tiny_model_and_records_prompts(tmp_path, tiny_model_folder):
    import json

    out = tmp_path / "oc"
    assert run_cli("agents", "overcooked", "--agent", "proagent", "--planner", tiny_model_folder, "--backend",
                   "transformers", "--planner-mode", "choice", "--partner", "stay", "--seat", "1", "--episodes", "1",
                   "--horizon", "4", "--explainer", "checks", "--out", str(out)) == 0
    [cell] = [p.parent for p in out.rglob("results.jsonl")]
    row = json.loads((cell / "results.jsonl").read_text())
    meta = json.loads((cell / "run.json").read_text())["settings"]
    assert row["seat"] == 1 and row["steps"] == 4 and row["model_calls"] >= 1
    assert meta["model"] == tiny_model_folder and "You control <Player 1>" in meta["prompts"]["planner_system"]
    assert meta["config"]["planner_mode"] == "choice" and (cell / "decisions" / "ep0.json").is_file()


def test_choice_planner_with_valid_options_offers_only_skills_whose_preconditions_hold():
    scores = [0.4, 0.3, 0.1, 0.05, 0.05, 0.05, 0.05]  # A is always the favourite letter
    lm = ScriptedLM(scores=scores)
    agent = ProAgent(lm, ProAgentConfig(layout="cramped_room", planner_mode="choice", choice_options="valid"))
    mdp, state = cramped_state([PlayerState((1, 2), N, ObjectState("onion", (1, 2))), PlayerState((3, 1), N)])
    agent.reset(mdp, 0)
    agent.act(state)
    # holding an onion with an empty pot: put_onion_in_pot(), place_obj_on_counter() and wait(1) can run
    assert "A. put_onion_in_pot()\nB. place_obj_on_counter()\nC. wait(1)\n" in lm.prompts[0]
    assert agent.decisions[0]["skill"] == "put_onion_in_pot()" and agent.stats["replans"] == 0
