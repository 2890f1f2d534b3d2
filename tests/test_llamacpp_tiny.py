"""The llama.cpp backend on a tiny GGUF written in the test (tests/test_loading.py): calls split into groups
that fit `max_cells` (forced here with a small one) give what each item gets alone, and seeded sampling does
not depend on the batch. Seconds; the comparisons with transformers on smollm2 are in tests/test_llamacpp.py.
"""

import numpy as np
import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install llama-cpp-python")
pytest.importorskip("gguf", reason="the gguf package is not installed: pip install gguf")

from accord.decoding.methods import MethodConfig, generate_answers  # noqa: E402
from accord.lm.base import SamplingConfig  # noqa: E402
from accord.lm.llamacpp import CELL_BLOCK, LlamaCppLM  # noqa: E402
from test_loading import write_tiny_gguf  # noqa: E402

QUESTIONS = ["Name a color.", "What is 2 + 2?", "Say hi.", "Why?", "Count to three."]
N_CTX = 256  # the context per sequence asked for: one sequence takes one CELL_BLOCK of 256 cells


@pytest.fixture(scope="module")
def gguf_path(tmp_path_factory):
    return write_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


def spy_contexts(lm):
    """Record the (sequences, cells per sequence) shape of the context each group runs in."""
    shapes = []
    original = lm._ensure_context

    def ensure(sequences, cells):
        original(sequences, cells)
        shapes.append(lm._ctx_shape)

    lm._ensure_context = ensure
    return shapes


@pytest.mark.parametrize("method", ["base", "amulet"])
def test_groups_fit_max_cells_and_match_items_alone(gguf_path, method):
    small = LlamaCppLM(gguf_path, n_ctx=N_CTX, max_cells=2 * CELL_BLOCK)  # 2 sequences per group at most
    shapes = spy_contexts(small)
    config = MethodConfig(method=method, preference="" if method == "base" else "short")
    sampling = SamplingConfig(max_new_tokens=8)
    grouped = [g.token_ids for g in generate_answers(small, QUESTIONS, config, sampling)]
    assert len(shapes) == {"base": 3, "amulet": 5}[method]  # 1 or 2 sequences per item, 2 per group
    assert all(sequences * cells <= 2 * CELL_BLOCK for sequences, cells in shapes)
    alone = [generate_answers(small, [q], config, sampling)[0].token_ids for q in QUESTIONS]
    assert grouped == alone and all(len(tokens) == 8 for tokens in grouped)


def test_choice_logprobs_with_a_prefix_across_groups(gguf_path):
    small = LlamaCppLM(gguf_path, n_ctx=N_CTX, max_cells=2 * CELL_BLOCK)
    wide = LlamaCppLM(gguf_path, n_ctx=N_CTX)
    shapes = spy_contexts(small)
    choices = ["a", "b", "c", "d"]
    grouped = small.choice_logprobs(QUESTIONS, choices, prefix="Background: ")
    assert len(shapes) == 3  # 5 prompts, 2 per group
    np.testing.assert_allclose(grouped, wide.choice_logprobs(QUESTIONS, choices, prefix="Background: "), atol=1e-4)
    alone = np.concatenate([wide.choice_logprobs(["Background: " + q], choices) for q in QUESTIONS])
    np.testing.assert_allclose(grouped, alone, atol=1e-4)
    assert np.ptp(grouped, axis=0).max() > 0.1  # the prompts do change the scores


@pytest.mark.parametrize("method", ["base", "amulet"])
def test_seeded_samples_do_not_depend_on_the_batch(gguf_path, method):
    lm = LlamaCppLM(gguf_path, n_ctx=N_CTX)
    config = MethodConfig(method=method, preference="" if method == "base" else "short")
    sampling = SamplingConfig(max_new_tokens=10, temperature=1.0, seed=3)

    def answers(questions):
        return [g.token_ids for g in generate_answers(lm, questions, config, sampling)]

    together = answers(QUESTIONS[:3])
    assert together == [answers([q])[0] for q in QUESTIONS[:3]] == answers(QUESTIONS[:1]) + answers(QUESTIONS[1:3])
    assert together == answers(QUESTIONS[:3][::-1])[::-1]
    assert together != [g.token_ids for g in generate_answers(lm, QUESTIONS[:3], config,
                                                              SamplingConfig(max_new_tokens=10))]  # it samples
