"""ProAgent's prompt texts as data: the planner's instructions and the failure explainer's instructions.

Zhang et al., "ProAgent: Building Proactive Cooperative Agents with Large Language Models", AAAI 2024,
arXiv 2308.11339. The released code keeps one hand-written planner prompt per layout and seat
(prompts/gpt/planner/l2-ap/<layout>_<seat>.txt, l3-aip for the intention variant) and one explainer prompt
per seat. The words below are ours; every rule, precondition, layout note and output format of those files
is kept, assembled from parts (common rules + the layout's notes) instead of ten copies. docs/agents.md lists
what differs.

    system = planner_system("cramped_room", seat=0, cook_time=20, with_intention=False)
"""

from __future__ import annotations

SKILLS = ("pickup(onion)", "pickup(dish)", "put_onion_in_pot()", "fill_dish_with_soup()", "deliver_soup()",
          "place_obj_on_counter()", "wait(1)")
"""The skill vocabulary, as the planner writes it; wait takes 1..MAX_WAIT steps."""

MAX_WAIT = 20
"""Longest wait(n) the paper's verifier accepts."""

GAME_RULES = """Game rules:
- Overcooked is played by two players as a team; the team wants the highest possible score.
- The only recipe is THREE onions in a <Pot>. Each delivered soup gives the team 20 points; the soup and its dish then disappear (dishes need no washing).
- To make a soup, onions are picked up one at a time and put into a <Pot>. A <Pot> holds at most three onions, starts cooking by itself once it holds three, and the soup is ready {cook_time} steps later.
- Once a soup is cooking or ready, a player takes a dish and fills it with the soup, then delivers it at once.
- A player holds at most one item. An onion can only be held, put into a <Pot> that is not full, or set on a counter; a dish can only be held, filled with soup, or set on a counter. A counter holds one item. To empty the hands, use place_obj_on_counter().
- Dispensers never run out."""

SKILL_RULES = {
    "pickup(onion)": "pickup(onion): only with empty hands.",
    "pickup(dish)": "pickup(dish): only with empty hands, and only when some <Pot> is cooking or has a ready soup (otherwise do not take a dish).",
    "put_onion_in_pot()": "put_onion_in_pot(): only while holding an onion and some <Pot> has fewer than three onions and is not cooking.",
    "fill_dish_with_soup()": "fill_dish_with_soup(): only while holding a dish and some <Pot> is cooking or ready; afterwards deliver_soup() must follow.",
    "deliver_soup()": "deliver_soup(): only while holding a dish with soup; a player holding soup must deliver it right away.",
    "place_obj_on_counter()": "place_obj_on_counter(): only while holding something, and never while holding a dish with soup.",
    "wait(1)": "wait(n): do nothing for n steps, 0 < n <= 20.",
}

LAYOUT_NOTES = {
    # cramped room: a dish may be taken as soon as a soup cooks.
    ("cramped_room", 0): [], ("cramped_room", 1): [],
    ("asymmetric_advantages", 0): ["dish_when_ready", "two_pots"],
    ("asymmetric_advantages", 1): ["dish_when_ready", "two_pots"],
    ("coordination_ring", 0): ["no_wait_while_pot_open", "two_pots"],
    ("coordination_ring", 1): ["no_wait_while_pot_open", "two_pots"],
    ("counter_circuit", 0): ["dish_when_ready", "two_pots", "never_wait"],
    ("counter_circuit", 1): ["dish_when_ready", "two_pots", "never_wait"],
    ("forced_coordination", 0): ["pot_side", "dish_when_ready", "two_pots"],
    ("forced_coordination", 1): ["dispenser_side", "dish_when_ready"],
}
"""Which layout notes each layout and seat's prompt carries (the paper's per-file differences)."""

NOTE_TEXT = {
    "dish_when_ready": "Take a dish only when some <Pot> holds a ready soup (on this layout, not while it is still cooking).",
    "two_pots": "While a soup cooks: if every <Pot> is cooking or ready, take a dish and fill it; if some <Pot> is not full, prepare the next soup instead.",
    "no_wait_while_pot_open": "Never wait while some <Pot> is not full.",
    "never_wait": "Do not use wait.",
    "pot_side": ("You can only take onions and dishes from the counters between you and your teammate. "
                 "When there is nothing useful on those counters, wait(1). Once a soup is done, start on the next one."),
    "dispenser_side": ("You cannot reach a <Pot>: take onions and dishes from the dispensers and place them on the counters "
                       "between you and your teammate. Do not take an onion when an onion already lies on those counters, "
                       "nor a dish when a dish already lies there. Watch the counters closely. A soup is ready only when the "
                       "scene says so."),
}

SEAT_SKILLS = {("forced_coordination", 1): ("pickup(onion)", "pickup(dish)", "place_obj_on_counter()", "wait(1)")}
"""Seats whose prompt offers fewer skills (the paper's forced coordination dispenser side); others get SKILLS."""

EXAMPLES_ANALYSIS = [
    ("Scene 888: <Player {me}> holds nothing. <Player {mate}> holds nothing. Kitchen states: <Pot 0> has 1 onion.",
     "Neither player holds anything. <Pot 0> needs two more onions before it cooks.",
     "pickup(onion)", "pickup(onion)"),
    ("Scene 999: <Player {me}> holds one onion. <Player {mate}> holds nothing. Kitchen states: <Pot 0> is empty.",
     "<Player {me}> holds an onion and <Pot 0> is empty, so the onion should go into the pot to start a soup.",
     "put_onion_in_pot()", "pickup(onion)"),
]
"""Worked examples (the paper's two cramped-room examples, in our words); {me}/{mate} are the seats."""


def seat_skills(layout: str, seat: int) -> tuple[str, ...]:
    """The skills the prompt for this layout and seat offers."""
    return SEAT_SKILLS.get((layout, seat), SKILLS)


def planner_system(layout: str, seat: int, cook_time: int = 20, with_intention: bool = False) -> str:
    """The planner's instructions for the player in `seat` on `layout` (paper: l2-ap; with_intention: l3-aip,
    which also asks what the teammate will do)."""
    me, mate = seat, 1 - seat
    skills = seat_skills(layout, seat)
    lines = [GAME_RULES.format(cook_time=cook_time), "",
             f"Skills: each player can ONLY use these {len(skills)} skills; never answer with anything else:"]
    lines += [f"- {SKILL_RULES[s]}" for s in skills]
    notes = [NOTE_TEXT[key] for key in LAYOUT_NOTES.get((layout, seat), [])]
    if notes:
        lines += ["", "Notes for this kitchen:"] + [f"- {note}" for note in notes]
    steps = ["describe the current scene and analyse it"]
    if with_intention:
        steps.append(f"infer which skill <Player {mate}> will do next")
    steps.append(f"plan ONLY ONE best skill for <Player {me}> to do right now, written as one of the skills above")
    lines += ["", f"You control <Player {me}> and cooperate with <Player {mate}>, who follows some strategy of its own. "
              "The players cannot talk to each other. You cannot move the player yourself and should not use positions: "
              "a controller walks to where the skill is done. A <Pot> is full when it holds three onions. "
              "A player holding a soup must deliver it.",
              "Each turn you receive the current scene (the kitchen and your teammate). Then:"]
    lines += [f"{i}. {step}" for i, step in enumerate(steps, 1)]
    answer = ["Analysis: <your analysis>"]
    if with_intention:
        answer.append(f'Intention for Player {mate}: "<skill>"')
    answer.append(f'Plan for Player {me}: "<skill>"')
    lines += ["Answer in this form:"] + answer + ["", "Examples:"]
    for scene, analysis, plan, intention in EXAMPLES_ANALYSIS:
        lines.append("###")
        lines.append(scene.format(me=me, mate=mate))
        lines.append("Analysis: " + analysis.format(me=me, mate=mate))
        if with_intention:
            lines.append(f'Intention for Player {mate}: "{intention}"')
        lines.append(f'Plan for Player {me}: "{plan}"')
    lines.append("###")
    return "\n".join(lines)


REPLAN_SUFFIX = " Use the failure explanation and the scene to analyse and plan again."
"""Appended to the scene when the planner is asked again after a failed skill (the paper's wording, ours)."""

EXPLAINER_SYSTEM = """Act as a Python interpreter. The skill below could NOT be done by <Player {me}> in the given scene. Check every assertion of that skill's function in turn and name the one that fails.

def pickup(obj):
    assert object_in_hand() == "nothing", "<Player {me}> cannot pick up obj: the hands are not empty."
    assert obj in ["onion", "dish"], "<Player {me}> cannot pick up obj: it is not an onion or a dish."
def place_obj_on_counter():
    assert object_in_hand() in ["onion", "dish"], "<Player {me}> cannot place an object on a counter: the hands are empty."
def put_onion_in_pot():
    assert object_in_hand() == "onion", "<Player {me}> cannot put an onion in a <Pot>: no onion in hand."
    assert pot_onions_count() < 3, "<Player {me}> cannot put an onion in a <Pot>: every <Pot> already holds 3 onions; place the onion on a counter."
    assert not soup_ready() and not pot_started_cooking(), "<Player {me}> cannot put an onion in a <Pot>: it is cooking or ready; place the onion on a counter."
def fill_dish_with_soup():
    assert object_in_hand() == "dish", "<Player {me}> cannot fill a dish: no dish in hand."
    assert soup_ready() or pot_started_cooking(), "<Player {me}> cannot fill a dish: no soup is cooking or ready."
def deliver_soup():
    assert object_in_hand() == "soup_with_dish", "<Player {me}> cannot deliver soup: no dish with soup in hand."

Answer in this form:
- Assertion 1: <condition>. Satisfied or not satisfied. Reason: <why>.
- Assertion 2: ...
In all, the failed assertion is <the assertion>.

Example:
<Player {me}> failed at fill_dish_with_soup(). Scene 111: <Player {me}> holds one dish. <Player {mate}> holds a dish with soup. Kitchen states: <Pot 0> is empty.
<Player {me}> failed at fill_dish_with_soup() because of its second assertion: a soup must be ready or cooking, but <Pot 0> is empty, so nothing has started cooking. The assertion is not satisfied and the skill fails."""


def explainer_system(seat: int) -> str:
    """The failure explainer's instructions for the player in `seat` (paper: prompts/gpt/explainer/player<seat>)."""
    return EXPLAINER_SYSTEM.format(me=seat, mate=1 - seat)


def failure_question(scene: str, seat: int, skill: str) -> str:
    """The explainer's question after `skill` failed (the paper: scene, 'failed at', 'why')."""
    return f"{scene} <Player {seat}> failed at {skill}. Why did <Player {seat}> fail?"


def belief_text(intentions: dict, completed: dict, mate: int) -> str:
    """The belief-correction lines put before the scene (paper, l3-aip with belief revision): every intention
    inferred for the teammate and the skills it really completed, by time step."""
    return (f"Inferred intentions of <Player {mate}> by step: {intentions}.\n"
            f"Skills <Player {mate}> really completed by step: {completed}.\n")
