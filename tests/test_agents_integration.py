"""ProAgent with the real packaged qwen2.5-coder-0.5b (llama.cpp) on a short cramped-room game: the
constrained-choice planner never leaves a plan unparsed, costs one call per decision (+ re-plans), and the
kept instructions' KV is reused between decisions. Skipped with a reason when the model is not installed."""

import pytest

pytest.importorskip("overcooked.mdp.overcooked_mdp", reason="the overcooked package is not installed (scripts/setup.sh)")
pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install llama-cpp-python")

from accord.agents.partners import GreedyPolicy, play_episodes  # noqa: E402
from accord.agents.proagent import ProAgent, ProAgentConfig  # noqa: E402
from accord.agents.prompts import SKILLS  # noqa: E402
from accord.errors import AccordError  # noqa: E402
from test_llamacpp_keep_prefix import counting  # noqa: E402


@pytest.fixture(scope="module")
def qwen():
    from accord.lm.llamacpp import LlamaCppLM
    from accord.lm.packaged import packaged_gguf_path

    try:
        path = packaged_gguf_path("qwen2.5-coder-0.5b")
    except AccordError as error:
        pytest.skip(f"qwen2.5-coder-0.5b is not installed: {error}")
    lm = LlamaCppLM(path, name="qwen2.5-coder-0.5b", n_ctx=4096)
    lm.keep_prefix = True
    return lm


def test_choice_planner_plays_a_short_game_with_the_real_model(qwen):
    agent = ProAgent(qwen, ProAgentConfig(layout="cramped_room", planner_mode="choice", explainer="checks"))
    counted = counting(qwen)  # tokens per llama_decode (an instance attribute, removed below)
    try:
        [result] = play_episodes("cramped_room", agent, GreedyPolicy(), episodes=1, horizon=12)
    finally:
        del qwen._decode
    stats = agent.episode_stats()
    assert result["steps"] == 12 and stats["unparsed"] == 0
    calls = stats["model_calls"]
    assert calls == sum(len(d["plans"]) for d in agent.decisions) >= 1  # one call per plan, none per step
    assert all(plan["skill"] in SKILLS for d in agent.decisions for plan in d["plans"])
    instructions = counted[0]  # the first decode of the first call evaluates the whole instructions
    if calls >= 2:  # later calls evaluate the scene only (without the kept prefix each would cost > instructions)
        assert sum(counted) < calls * instructions
