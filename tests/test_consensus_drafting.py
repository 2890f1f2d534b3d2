"""Drafting with la / amulet: the adaptive plausibility constraint (a named option, off by default) on known
answers, on a tiny model built in code, and through consensus drafting."""

import math

import pytest
import torch

from accord.consensus import data as cdata
from accord.consensus.drafting import draft_resolutions, method_parameters
from accord.consensus.protocols import PAPER
from accord.decoding.amulet import amulet_logits
from accord.decoding.linear_alignment import linear_alignment_logits
from accord.decoding.methods import MethodConfig, combiner, generate_answers, plausible_only
from accord.errors import AccordError
from accord.lm.base import SamplingConfig, shared_prefix_length

QUESTIONS = ["How do I learn Python?", "Name a color.", "Why is the sky blue?"]


def test_published_update_picks_a_token_both_streams_find_unlikely():
    # z_plain = (3, 0, -7), z_pref = (3, 0, -3): la = 3 z_pref - 2 z_plain = (3, 0, 5) picks token 2, whose
    # probability under the preference stream is e^-6 (~0.25%) of the top token's
    plain, pref = torch.tensor([[3.0, 0.0, -7.0]]), torch.tensor([[3.0, 0.0, -3.0]])
    published = combiner(MethodConfig(method="la", preference="x"))
    assert published(plain, pref).tolist() == [[3.0, 0.0, 5.0]]
    constrained = combiner(MethodConfig(method="la", preference="x", plausibility=0.1))(plain, pref)
    assert constrained[0, 0] == 3.0 and torch.isinf(constrained[0, 1:]).all() and int(constrained.argmax()) == 0
    # the threshold is p_pref(x) >= beta * max p_pref: token 1 has ratio e^-3 ~ 0.0498
    kept = plausible_only(torch.zeros(1, 3), pref, math.exp(-3) - 1e-6)
    assert torch.isfinite(kept[0, :2]).all() and torch.isinf(kept[0, 2])


def test_plausibility_off_is_the_published_update():
    torch.manual_seed(0)
    plain, pref = torch.randn(4, 50), torch.randn(4, 50)
    assert torch.equal(combiner(MethodConfig(method="la", preference="x"))(plain, pref),
                       linear_alignment_logits(plain, pref))
    assert torch.equal(combiner(MethodConfig(method="amulet", preference="x"))(plain, pref),
                       amulet_logits(plain, pref))
    assert "plausibility" not in MethodConfig(method="amulet", preference="x").parameters()  # old runs resume
    assert MethodConfig(method="la", preference="x", plausibility=0.1).parameters()["plausibility"] == 0.1
    with pytest.raises(AccordError, match="plausibility"):
        MethodConfig(method="la", preference="x", plausibility=1.5)


@pytest.mark.parametrize("method", ["la", "amulet"])
def test_full_plausibility_reduces_to_pref_greedy(tiny_lm, method):
    """beta = 1 keeps only the preference stream's argmax, so la/amulet must give pref's greedy tokens."""
    sampling = SamplingConfig(max_new_tokens=16)
    pref = generate_answers(tiny_lm, QUESTIONS, MethodConfig(method="pref", preference="concise"), sampling)
    published = generate_answers(tiny_lm, QUESTIONS, MethodConfig(method=method, preference="concise"), sampling)
    full = generate_answers(tiny_lm, QUESTIONS, MethodConfig(method=method, preference="concise", plausibility=1.0),
                            sampling)
    assert [g.token_ids for g in full] == [g.token_ids for g in pref]
    assert [g.token_ids for g in published] != [g.token_ids for g in pref]  # the option changes something here


def test_drafting_passes_the_option_through(tiny_lm):
    tasks = [cdata.Task(topic="t", id=str(i), title=f"T{i}", background=f"Bg {i}.",
                        parties=[cdata.Party("A", "A wants lanes.", 8), cdata.Party("B", "B fears costs.", 2)],
                        seat_weights=[0.6, 0.4], veto_party="B") for i in range(2)]
    goals = ["two_thirds", "rawlsian"]
    sampling = SamplingConfig(max_new_tokens=8)
    pref = draft_resolutions(tiny_lm, tasks, goals, "pref", sampling, protocol=PAPER)
    full = draft_resolutions(tiny_lm, tasks, goals, "amulet", sampling, method_overrides={"plausibility": 1.0},
                             protocol=PAPER)
    assert [d.text for d in full] == [d.text for d in pref]
    assert method_parameters("amulet", {"plausibility": 0.1})["plausibility"] == 0.1


# ---- llama.cpp: the shared prefix of la/amulet is copied in whole micro-batches only -------------------------

def test_llamacpp_two_stream_prefill_gives_each_prompt_its_logits_alone(tmp_path):
    """llama.cpp's result for a token depends on the micro-batch (n_ubatch) it is evaluated in, and, with the
    default f16 KV cache, on the other prompts of the same llama_decode. Known answer: every row of the
    two-stream prefill, with sharing and without, equals that prompt evaluated alone. Before the fix the
    second stream copied the whole shared prefix (here ~700 tokens: the rest was evaluated from mid micro-batch,
    moving its logits by ~0.2 on this tiny GGUF) and without sharing all prompts shared one llama_decode."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install llama-cpp-python")
    pytest.importorskip("gguf", reason="the gguf package is not installed: pip install gguf")
    from test_loading import write_tiny_gguf

    from accord.lm.llamacpp import LlamaCppLM

    lm = LlamaCppLM(write_tiny_gguf(tmp_path / "tiny.gguf"), n_ctx=1024)  # default context: f16 KV cache
    heads = ["Background: " + " ".join(f"item {i} of record {r};" for i in range(40)) for r in ("A", "B")]
    plain = [lm.chat_prompt(f"{head} Draft it.") for head in heads]
    pref = [lm.chat_prompt(f"{head} Goal {g}: please everyone. Draft it.") for head, g in zip(heads, ("one", "two"))]
    ids = lm._encode_prompts(plain + pref)
    assert all(600 < shared_prefix_length(ids[q], ids[2 + q]) < 1000 for q in range(2))  # > one micro-batch
    lm._ensure_context(len(ids), max(map(len, ids)) + 8)
    alone = []
    for row in ids:
        lm._clear()
        alone.append(lm._prefill([row])[0])
    alone = torch.stack(alone)
    starts = []
    original = lm._prefill

    def spy(sequences, start=0, first_seq=0):
        if first_seq >= 2:  # the second stream (sequences 2, 3): its own evaluation
            starts.append(start)
        return original(sequences, start, first_seq)

    lm._prefill = spy
    for share in (True, False):
        lm.share_prefix = share
        lm._clear()
        logits = lm._prefill_streams(ids, 2)
        assert float((logits - alone).abs().max()) < 1e-4, f"share_prefix={share}"
    assert starts[:2] == [512, 512] and lm._ubatch == 512  # whole micro-batches copied, the rest evaluated
    lm._prefill = original
    combine = combiner(MethodConfig(method="amulet", preference="x"))
    runs = {}
    for share in (False, True):
        lm.share_prefix = share
        runs[share] = [g.token_ids for g in lm.generate_two_streams(plain, pref, combine, SamplingConfig(max_new_tokens=6))]
    assert runs[True] == runs[False] and all(len(tokens) == 6 for tokens in runs[True])
