"""Known-answer tests of the Overcooked foundation: the 2019 rules through the env wrapper, skill
preconditions, the controller's shortest paths (against brute force over the package's own dynamics), the
teammate as an obstacle, and greedy+greedy delivering soups."""

import itertools

import pytest

pytest.importorskip("overcooked.mdp.overcooked_mdp", reason="the overcooked package is not installed (scripts/setup.sh)")

from overcooked.mdp.overcooked_mdp import OvercookedGridworld, ObjectState, OvercookedState, PlayerState, SoupState

from accord.agents import skills
from accord.agents.controller import SkillController
from accord.agents.grid import plan_to_targets
from accord.agents.overcooked_env import (
    DIRECTIONS,
    EAST,
    INTERACT,
    LAYOUTS,
    NORTH,
    STAY,
    OvercookedParallelEnv,
    make_mdp,
    package_action,
)
from accord.agents.partners import GreedyPolicy, RandomPolicy, StayPolicy, greedy_skill, make_partner, play_episodes
from accord.errors import AccordError

N, S, E, W = DIRECTIONS


def cramped_env_with(players, objects=()):
    """cramped_room (pot (2,0), onions (0,1) (4,1), dish (1,3), serving (3,3)) in a hand-made state."""
    env = OvercookedParallelEnv("cramped_room")
    env.reset(seed=0)
    env.state = OvercookedState(players, {o.position: o for o in objects}, all_orders=env.mdp.start_all_orders)
    return env


def test_unknown_layout_lists_the_known_ones():
    with pytest.raises(AccordError, match="known layouts: cramped_room, asymmetric_advantages.*counter_circuit"):
        OvercookedParallelEnv("kitchen_nightmares")


def test_layouts_are_the_2019_ones():
    mdp = make_mdp("counter_circuit")  # not the package's tomato counter_circuit
    assert mdp.terrain_mtx[2] == list("D XXXX S") and len(mdp.get_pot_locations()) == 2
    assert mdp.start_all_orders == [{"ingredients": ["onion", "onion", "onion"]}]
    for layout in LAYOUTS:
        mdp = make_mdp(layout)
        assert mdp.old_dynamics and mdp.start_bonus_orders == []


def test_delivering_a_soup_pays_20_to_each_agent_and_counts_one_soup():
    soup = SoupState.get_soup((3, 2), num_onions=3, finished=True)
    env = cramped_env_with([PlayerState((3, 2), S, soup), PlayerState((1, 2), N)])
    _, rewards, terms, truncs, infos = env.step({"player_0": INTERACT, "player_1": STAY})
    assert rewards == {"player_0": 20.0, "player_1": 20.0}
    assert env.soups == 1 and env.episode_return == 20.0 and not env.state.players[0].has_object()
    assert not any(terms.values()) and not any(truncs.values())


def test_an_onion_into_a_full_pot_is_refused():
    cooking = SoupState.get_soup((2, 0), num_onions=3, cooking_tick=0)
    onion = ObjectState("onion", (2, 1))
    env = cramped_env_with([PlayerState((2, 1), N, onion), PlayerState((1, 2), N)], [cooking])
    reason = skills.precondition(env.mdp, env.state, 0, skills.PUT_ONION_IN_POT)
    assert reason and "no pot has room" in reason
    env.step({"player_0": INTERACT, "player_1": STAY})
    assert skills.held_name(env.state, 0) == "onion"
    assert len(env.state.get_object((2, 0)).ingredients) == 3


def test_third_onion_starts_cooking_which_takes_20_steps():
    two = SoupState.get_soup((2, 0), num_onions=2)
    env = cramped_env_with([PlayerState((2, 1), N, ObjectState("onion", (2, 1))), PlayerState((1, 2), N)], [two])
    env.step({"player_0": INTERACT, "player_1": STAY})
    soup = env.state.get_object((2, 0))
    assert soup.is_cooking and not soup.is_ready
    for _ in range(19):
        env.step({"player_0": STAY, "player_1": STAY})
    assert env.state.get_object((2, 0)).is_ready


def test_horizon_truncates():
    env = OvercookedParallelEnv("cramped_room", horizon=3)
    env.reset(seed=0)
    for _ in range(3):
        _, _, _, truncs, _ = env.step({"player_0": STAY, "player_1": STAY})
    assert all(truncs.values()) and env.agents == []
    env.reset(seed=1)
    with pytest.raises(ValueError, match="index in 0..5"):
        env.step({"player_0": 9})


def test_parse_skill_and_preconditions():
    assert skills.parse_skill(" Pickup(onion) ") == skills.PICKUP_ONION
    assert skills.parse_skill("wait(3)") == skills.wait(3) and str(skills.wait(3)) == "wait(3)"
    with pytest.raises(ValueError, match="unknown skill"):
        skills.parse_skill("cook()")
    env = cramped_env_with([PlayerState((1, 2), N), PlayerState((3, 1), N, ObjectState("dish", (3, 1)))])
    pre = lambda i, s: skills.precondition(env.mdp, env.state, i, s)  # noqa: E731
    assert pre(0, skills.PICKUP_ONION) is None and pre(0, skills.PICKUP_DISH) is None
    assert "needs an onion in hand; you hold nothing" in pre(0, skills.PUT_ONION_IN_POT)
    assert "hands must be empty; you hold dish" in pre(1, skills.PICKUP_ONION)
    assert "no pot has a soup cooking or ready" in pre(1, skills.FILL_DISH_WITH_SOUP)
    assert pre(1, skills.PLACE_OBJ_ON_COUNTER) is None and "hold nothing" in pre(0, skills.PLACE_OBJ_ON_COUNTER)
    assert "needs a soup in hand" in pre(1, skills.DELIVER_SOUP)
    assert pre(0, skills.wait(1)) is None and pre(0, skills.wait(0))


def test_reachability_in_forced_coordination():
    mdp = make_mdp("forced_coordination")  # index 0 on the right (pots, window); index 1 on the left (onions, dishes)
    state = mdp.get_standard_start_state()
    assert skills.precondition(mdp, state, 1, skills.PICKUP_ONION) is None
    assert "no reachable onion dispenser" in skills.precondition(mdp, state, 0, skills.PICKUP_ONION)
    state.add_object(ObjectState("onion", (2, 1)))  # a hand-over on the middle counter
    assert skills.precondition(mdp, state, 0, skills.PICKUP_ONION) is None
    state.players[1].set_object(ObjectState("onion", state.players[1].position))
    assert "no reachable pot" in skills.precondition(mdp, state, 1, skills.PUT_ONION_IN_POT)
    assert skills.precondition(mdp, state, 1, skills.PLACE_OBJ_ON_COUNTER) is None
    assert greedy_skill(mdp, state, 1) == skills.PLACE_OBJ_ON_COUNTER


RING = ["XXXXX", "X  1O", "X X X", "X   X", "XDPSX"]  # onion at (4,1); free ring around (2,2)


def ring_mdp():
    return OvercookedGridworld.from_grid(RING, {"start_all_orders": [{"ingredients": ["onion"] * 3}]}, {"old_dynamics": True})


def brute_force_length(mdp, start, teammate, target, max_len=7):
    """Fewest actions, by trying every move sequence in the package's own dynamics, to face `target`."""
    for length in range(max_len + 1):
        for seq in itertools.product(range(4), repeat=length):
            state = OvercookedState([PlayerState(*start), PlayerState(teammate, N)], {}, all_orders=mdp.start_all_orders)
            for a in seq:
                state, _ = mdp.get_state_transition(state, [package_action(a), package_action(STAY)])
            p = state.players[0]
            if (p.position[0] + p.orientation[0], p.position[1] + p.orientation[1]) == target:
                return length
    return None


@pytest.mark.parametrize("start,teammate", [(((1, 3), S), (3, 3)), (((1, 3), S), (1, 1)), (((3, 3), W), (3, 2)), (((2, 1), W), (2, 3))])
def test_controller_path_is_shortest_and_avoids_the_teammate(start, teammate):
    mdp = ring_mdp()
    plan = plan_to_targets(mdp, start[0], start[1], [(4, 1)], blocked=[teammate])
    assert len(plan) == brute_force_length(mdp, start, teammate, (4, 1))
    cells = [start[0]]
    for a in plan:
        nxt = (cells[-1][0] + DIRECTIONS[a][0], cells[-1][1] + DIRECTIONS[a][1])
        cells.append(nxt if nxt in mdp.get_valid_player_positions() else cells[-1])
    assert teammate not in cells


def test_controller_goes_round_a_blocking_teammate():
    mdp = ring_mdp()
    assert plan_to_targets(mdp, (1, 3), S, [(4, 1)]) == [NORTH, NORTH, EAST, EAST]  # over the top: 4
    assert plan_to_targets(mdp, (1, 3), S, [(4, 1)], blocked=[(1, 1)]) == [EAST, EAST, NORTH, NORTH, EAST]
    state = OvercookedState([PlayerState((1, 3), S), PlayerState((1, 1), N)], {}, all_orders=mdp.start_all_orders)
    controller = SkillController(mdp, 0)
    controller.start(skills.PICKUP_ONION, state)
    for _ in range(10):
        action = controller.act(state)
        if controller.status != "running":
            break
        state, _ = mdp.get_state_transition(state, [package_action(action), package_action(STAY)])
    assert controller.status == "done" and controller.steps == 6  # 5 moves + interact
    assert skills.held_name(state, 0) == "onion"


def test_controller_fails_a_skill_that_becomes_impossible():
    env = cramped_env_with([PlayerState((1, 2), N, ObjectState("onion", (1, 2))), PlayerState((3, 1), N)])
    controller = SkillController(env.mdp, 0)
    controller.start(skills.PUT_ONION_IN_POT, env.state)
    assert controller.act(env.state) != STAY
    env.state.add_object(SoupState.get_soup((2, 0), num_onions=3, cooking_tick=0))  # the teammate filled it
    assert controller.act(env.state) == STAY and controller.status == "failed"
    assert "no pot has room" in controller.failure


def test_wait_skill_counts_steps():
    env = cramped_env_with([PlayerState((1, 2), N), PlayerState((3, 1), N)])
    controller = SkillController(env.mdp, 0)
    controller.start(skills.wait(2), env.state)
    assert [controller.act(env.state) for _ in range(3)] == [STAY, STAY, STAY]
    assert controller.status == "done" and controller.steps == 2


def test_greedy_skill_rules():
    env = cramped_env_with([PlayerState((1, 2), N), PlayerState((3, 1), N)])
    assert greedy_skill(env.mdp, env.state, 0) == skills.PICKUP_ONION
    env.state.add_object(SoupState.get_soup((2, 0), num_onions=3, cooking_tick=5))
    assert greedy_skill(env.mdp, env.state, 0) == skills.PICKUP_DISH
    env.state.players[1].set_object(ObjectState("dish", (3, 1)))  # the teammate already carries the dish
    assert greedy_skill(env.mdp, env.state, 0) == skills.wait(1)  # the only pot is taken care of
    assert greedy_skill(env.mdp, env.state, 1) == skills.FILL_DISH_WITH_SOUP


def test_greedy_pair_delivers_in_cramped_room_deterministically():
    first = play_episodes("cramped_room", GreedyPolicy(), GreedyPolicy(), episodes=1, seed=0)
    again = play_episodes("cramped_room", GreedyPolicy(), GreedyPolicy(), episodes=1, seed=0)
    assert first[0]["soups"] >= 1 and first[0]["return"] == 20 * first[0]["soups"]
    assert first[0]["steps"] == 400 and [r["return"] for r in first] == [r["return"] for r in again]


def test_stay_and_random_partners_and_bad_partner_name():
    results = play_episodes("cramped_room", StayPolicy(), RandomPolicy(), episodes=2, horizon=20)
    assert [r["steps"] for r in results] == [20, 20] and all(r["return"] == 0 for r in results)
    with pytest.raises(AccordError, match="unknown partner 'bob'.*greedy, random, stay, bc, ppo"):
        make_partner("bob")


def test_pettingzoo_parallel_api():
    pytest.importorskip("pettingzoo", reason="pettingzoo (optional test dependency) not installed")
    from pettingzoo.test import parallel_api_test

    parallel_api_test(OvercookedParallelEnv("cramped_room", horizon=50), num_cycles=60)
