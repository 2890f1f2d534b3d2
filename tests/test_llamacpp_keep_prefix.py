"""llama.cpp `keep_prefix`: the prompt KV kept between calls is reused only where the new prompt starts with
the kept tokens; results equal a fresh model's, and the reused tokens are not evaluated again (counted).
A tiny GGUF written in the test (tests/test_loading.py); seconds."""

import numpy as np
import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install llama-cpp-python")
pytest.importorskip("gguf", reason="the gguf package is not installed: pip install gguf")

from accord.lm.base import SamplingConfig  # noqa: E402
from accord.lm.llamacpp import LlamaCppLM  # noqa: E402
from test_loading import write_tiny_gguf  # noqa: E402

INSTRUCTIONS = "You plan skills for a cook. Rules: one item in hand; three onions make a soup. " * 3


@pytest.fixture(scope="module")
def gguf_path(tmp_path_factory):
    return write_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


def counting(lm):
    """Count the tokens each llama_decode evaluates."""
    counts = []
    original = lm._decode

    def decode(tokens, positions, seq_ids, outputs):
        counts.append(len(tokens))
        return original(tokens, positions, seq_ids, outputs)

    lm._decode = decode
    return counts


def test_choice_prefix_is_evaluated_once_across_calls_with_the_same_results(gguf_path):
    kept, fresh = LlamaCppLM(gguf_path, n_ctx=512, n_threads=1), LlamaCppLM(gguf_path, n_ctx=512, n_threads=1)
    kept.keep_prefix = True
    counts = counting(kept)
    scenes = ["Scene 1: holds nothing.", "Scene 2: holds one onion.", "Scene 3: holds a dish."]
    for scene in scenes:
        got = kept.choice_logprobs([scene + " Answer:", scene + " Other:"], ["A", "B"], prefix=INSTRUCTIONS)
        want = fresh.choice_logprobs([scene + " Answer:", scene + " Other:"], ["A", "B"], prefix=INSTRUCTIONS)
        np.testing.assert_allclose(got, want, atol=1e-4)
    prefix_tokens = len(kept.tokenize(INSTRUCTIONS))
    suffix_tokens = [sum(len(kept.tokenize(s + t)) for t in (" Answer:", " Other:")) for s in scenes]
    assert counts == [prefix_tokens, suffix_tokens[0], suffix_tokens[1], suffix_tokens[2]]
    other = kept.choice_logprobs(["x"], ["A", "B"], prefix="A different prefix. ")  # no shared head: all evaluated
    np.testing.assert_allclose(other, fresh.choice_logprobs(["x"], ["A", "B"], prefix="A different prefix. "), atol=1e-4)


def test_single_prompt_generation_reuses_the_shared_head_and_gives_the_same_tokens(gguf_path):
    kept, fresh = LlamaCppLM(gguf_path, n_ctx=512, n_threads=1), LlamaCppLM(gguf_path, n_ctx=512, n_threads=1)
    kept.keep_prefix = True
    sampling = SamplingConfig(max_new_tokens=8)
    counts = counting(kept)
    for scene in ["Scene 1: holds nothing.", "Scene 2: holds one onion."]:
        got = kept.generate([INSTRUCTIONS + scene], sampling)[0]
        assert got.token_ids == fresh.generate([INSTRUCTIONS + scene], sampling)[0].token_ids
    first_prompt = len(kept.tokenize(INSTRUCTIONS + "Scene 1: holds nothing."))
    second_prompt = kept.tokenize(INSTRUCTIONS + "Scene 2: holds one onion.")
    second_prefill = [c for c in counts if c > 1]  # the prefills (each generated token is a decode of 1)
    assert second_prefill[0] == first_prompt and second_prefill[1] < len(second_prompt) // 2
    # a batch of two prompts does not use (or keep) the cache
    pair = kept.generate([INSTRUCTIONS + "a", INSTRUCTIONS + "b"], sampling)
    assert [g.token_ids for g in pair] == [g.token_ids for g in fresh.generate([INSTRUCTIONS + "a", INSTRUCTIONS + "b"], sampling)]
    assert kept._kept == []
