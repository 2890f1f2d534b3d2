"""The choice planner's prompt-prefix cache on llama.cpp (planner.scene_prefix): the instructions, the layout
line and the scene are one prefix, evaluated once for both questions of a decision; the next decision
evaluates only what follows the head it shares with the last one; the probabilities equal a fresh model's
on the whole prompts. A tiny GGUF written in the test (tests/test_loading.py); seconds."""

import numpy as np
import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install llama-cpp-python")
pytest.importorskip("gguf", reason="the gguf package is not installed: pip install gguf")

from accord.agents.planner import ChoicePlanner, scene_prefix, split_chat  # noqa: E402
from accord.agents.prompts import SKILLS  # noqa: E402
from accord.lm.base import normalize_choices  # noqa: E402
from accord.lm.llamacpp import EXACT_CONTEXT, LlamaCppLM  # noqa: E402
from test_llamacpp_keep_prefix import counting  # noqa: E402
from test_loading import write_tiny_gguf  # noqa: E402

SYSTEM = "You plan skills for a cook. One item in hand; three onions make a soup. " * 2
SCENES = ["The kitchen has: <Onion Dispenser 0>, <Pot 0>.\nScene 3: <Player 0> holds nothing.",
          "The kitchen has: <Onion Dispenser 0>, <Pot 0>.\nScene 9: <Player 0> holds one onion.",
          "The kitchen has: <Onion Dispenser 0>, <Pot 0>.\nScene 15: <Player 0> holds a dish. <Pot 0> is cooking."]


@pytest.fixture(scope="module")
def gguf_path(tmp_path_factory):
    return write_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


def shared(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


@pytest.mark.parametrize("with_intention", [False, True])
def test_scene_is_evaluated_once_and_the_shared_head_is_kept_with_the_same_probabilities(gguf_path, with_intention):
    # float32 KV cache: the default f16 cache rounds a prompt evaluated in other splits differently (~1e-3)
    kept, fresh = (LlamaCppLM(gguf_path, n_ctx=2048, n_threads=1, context_overrides=EXACT_CONTEXT) for _ in range(2))
    kept.keep_prefix = True
    planner = ChoicePlanner(kept, SYSTEM, 0, SKILLS, with_intention=with_intention)
    counts = counting(kept)
    want_counts, last_head, system_only = [], [], 0
    for user in SCENES:
        plan = planner.plan(user)
        asked, letters = planner.questions(user, SKILLS)
        prompts = [fresh.chat_prompt(q, system=SYSTEM) for q in asked]
        whole = fresh.choice_logprobs(prompts, [chr(65 + i) for i in range(len(SKILLS))])  # no prefix at all
        assert plan.skill == SKILLS[int(np.argmax(whole[0]))]
        np.testing.assert_allclose(list(plan.probs.values()), normalize_choices(whole[0]), atol=1e-4)
        head = scene_prefix(kept, prompts, user)
        assert head.endswith(user + "\n\n")  # the scene belongs to the prefix
        head_ids = kept.tokenize(head)
        want_counts += [len(head_ids) - shared(last_head, head_ids), sum(len(kept.tokenize(p[len(head):])) for p in prompts)]
        last_head = head_ids
        system_ids = kept.tokenize(split_chat(kept, SYSTEM, user)[0])
        system_only += sum(len(kept.tokenize(p)) - len(system_ids) for p in prompts)  # the system-split prefix
    assert counts == [c for c in want_counts if c]
    assert sum(counts[2:]) < system_only * 2 / 3  # later decisions: far fewer tokens than after the system head


def test_a_head_that_tokenizes_differently_at_the_seam_is_not_used():
    class MergingTokenizer:
        keep_prefix = True

        @staticmethod
        def tokenize(text):  # merges the last newline with the question's first word, as some BPEs would
            return list(text.replace("\n\nWhich", "\x00"))

    user = "Scene 1: holds nothing."
    prompt = f"[SYS]rules[USER]{user}\n\nWhich skill?[ASSISTANT]"
    assert scene_prefix(MergingTokenizer(), [prompt], user) == ""
    MergingTokenizer.tokenize = staticmethod(list)
    assert scene_prefix(MergingTokenizer(), [prompt], user) == f"[SYS]rules[USER]{user}\n\n"
