"""Token sampling (accord.lm.base.pick_tokens, item_generators) and its use by the transformers backend:
frequencies match softmax(z / T), top-p keeps exactly the nucleus, and seeded samples do not depend on how
items are batched (a batch, one at a time, another order and a resumed run give the same tokens).

The frequency checks draw 20,000 samples with fixed seeds, so they are deterministic; their tolerance
(0.02) is about six standard deviations of a frequency (sqrt(0.25 / 20000) = 0.0035) and several times
smaller than what a wrong temperature or an ignored top-p changes (see the `apart` checks).
"""

import numpy as np
import pytest
import torch

from accord.decoding.methods import MethodConfig, generate_answers
from accord.errors import AccordError
from accord.lm.base import SamplingConfig, item_generators, item_keys, item_seed, pick_tokens

DRAWS = 20_000
TOLERANCE = 0.02
LOGITS = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0])


def frequencies(logits: torch.Tensor, sampling: SamplingConfig) -> np.ndarray:
    scores = logits.expand(DRAWS, -1).clone()
    generators = item_generators([f"draw {i}" for i in range(DRAWS)], sampling)
    tokens = pick_tokens(scores, sampling, generators)
    return np.bincount(tokens.numpy(), minlength=len(logits)) / DRAWS


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_frequencies_match_softmax_over_temperature(temperature):
    sampling = SamplingConfig(temperature=temperature, seed=3)
    expected = torch.softmax(LOGITS / temperature, dim=-1).numpy()
    assert np.abs(frequencies(LOGITS, sampling) - expected).max() < TOLERANCE
    apart = np.abs(expected - torch.softmax(LOGITS, dim=-1).numpy()).max()  # what ignoring T would change
    assert temperature == 1.0 or apart > 3 * TOLERANCE


def test_top_p_keeps_the_nucleus_renormalized():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    sampling = SamplingConfig(temperature=1.0, top_p=0.7, seed=5)
    # the nucleus is the smallest top set whose mass reaches 0.7: {0, 1} (0.5 alone falls short)
    observed = frequencies(probs.log(), sampling)
    assert observed[2:].sum() == 0
    np.testing.assert_allclose(observed[:2], [0.5 / 0.8, 0.3 / 0.8], atol=TOLERANCE)
    wide = frequencies(probs.log(), SamplingConfig(temperature=1.0, top_p=0.9, seed=5))
    assert wide[2] > 0.1 and wide[3] == 0  # 0.9 takes in token 2 (0.8 < 0.9), not token 3


def test_greedy_takes_the_argmax_and_sampling_needs_generators():
    scores = torch.tensor([[0.1, 3.0, 2.9], [5.0, -1.0, 4.0]])
    assert pick_tokens(scores, SamplingConfig(temperature=0.0), None).tolist() == [1, 0]
    assert item_generators(["a"], SamplingConfig(temperature=0.0)) is None
    with pytest.raises(AccordError, match="one generator per row"):
        pick_tokens(scores, SamplingConfig(temperature=1.0), item_generators(["a"], SamplingConfig(temperature=1.0)))


def test_item_keys_and_seeds():
    assert item_keys(["a", "b", "a"]) == ["0|a", "0|b", "1|a"]  # a repeated prompt gets a second key
    assert item_seed(1, "0|a") == item_seed(1, "0|a") != item_seed(2, "0|a")
    assert item_seed(1, "0|a") != item_seed(1, "0|b") and 0 <= item_seed(1, "0|a") < 2 ** 63


QUESTIONS = ["Name a color.", "What is 2 + 2?", "Say hi."]


def answers(lm, questions, method="base", seed=11):
    config = MethodConfig(method=method, preference="" if method == "base" else "concise")
    sampling = SamplingConfig(max_new_tokens=8, temperature=1.0, seed=seed)
    return [g.token_ids for g in generate_answers(lm, questions, config, sampling)]


@pytest.mark.parametrize("method", ["base", "amulet"])
def test_seeded_samples_do_not_depend_on_the_batch(tiny_lm, method):
    together = answers(tiny_lm, QUESTIONS, method)
    alone = [answers(tiny_lm, [q], method)[0] for q in QUESTIONS]
    reversed_order = answers(tiny_lm, QUESTIONS[::-1], method)[::-1]
    resumed = answers(tiny_lm, QUESTIONS[:1], method) + answers(tiny_lm, QUESTIONS[1:], method)
    assert together == alone == reversed_order == resumed
    assert len({tuple(t) for t in together}) == 3 and all(len(t) > 3 for t in together)
    assert answers(tiny_lm, QUESTIONS, method, seed=12) != together  # the seed matters


def test_a_repeated_prompt_gets_different_samples(tiny_lm):
    first, second = answers(tiny_lm, [QUESTIONS[0], QUESTIONS[0]])
    assert first == answers(tiny_lm, [QUESTIONS[0]])[0] and second != first


def write_small_eurocon(root):
    """A EuroCon-shaped data folder: three records of one topic, two parties, very short texts."""
    import json

    from accord.consensus import data as cdata

    (root / "topics").mkdir(parents=True)
    records = [{"topic": "t", "title": f"T{i}", "background": f"Bg {i}.", "id": i, "resolution": f"Resolved {i}x.",
                "stances": [{"party_name": n, "choice": (i + j) % 10, "stance": f"{n} wants {j}."}
                            for j, n in enumerate("AB")]} for i in range(3)]
    (root / "topics" / "t.json").write_text(json.dumps(records))
    cdata.write_tasks(records, root, ks=(2,), seed=0)
    return root


class FlatJudge:
    """A judge giving every digit the same probability (the drafts are what this test is about)."""
    name, backend = "flat", "test"

    def chat_prompt(self, user, system=None):
        return user

    def choice_logprobs(self, prompts, choices, prefix=""):
        return np.full((len(prompts), len(choices)), -np.log(len(choices)))


def test_consensus_resume_with_another_batch_size_gives_the_same_sampled_drafts(tiny_lm, tmp_path):
    """The consensus run leaves batch_size out of the settings a resume compares: true only because a
    sampled draft does not depend on its batch."""
    from accord.consensus.run import RunConfig, run_consensus

    root = write_small_eurocon(tmp_path / "eurocon")

    def config(batch_size):
        return RunConfig(data=str(root), parties=[2], goals=["two_thirds", "veto"], method="base", model="tiny",
                         max_new_tokens=6, temperature=1.0, seed=4, batch_size=batch_size, limit=2)

    fresh = run_consensus(config(4), tmp_path / "fresh", tiny_lm, FlatJudge(), progress=False)
    run_consensus(config(1), tmp_path / "resumed", tiny_lm, FlatJudge(), progress=False, stop_after=1)
    resumed = run_consensus(config(3), tmp_path / "resumed", tiny_lm, FlatJudge(), progress=False)
    drafts = {r["key"]: r["draft"] for r in fresh.records}
    assert len(drafts) == 4 and len(set(drafts.values())) > 1
    assert {r["key"]: r["draft"] for r in resumed.records} == drafts


def test_normalize_choices_known_values():
    from accord.lm.base import normalize_choices

    probs = normalize_choices(np.log([[0.1, 0.3], [0.2, 0.2]]) - 5.0)  # any common shift cancels
    np.testing.assert_allclose(probs, [[0.25, 0.75], [0.5, 0.5]])
