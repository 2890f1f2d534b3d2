"""Tests of the MPO trainer on a tiny random Llama model and a character tokenizer (seconds on CPU)."""

import json

import numpy as np
import pytest
import torch

from accord.errors import AccordError
from accord.train.judges import LMJudge, call_judge, response_style, style_cycle_judge
from accord.train.mpo import (MPOConfig, MPOTrainer, Snapshot, add_lora, mirror_loss, mirror_targets,
                              next_token_logprobs, sequence_kl_surrogate, token_logprobs)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models run far faster on one thread; several threads spin against each other on a loaded machine."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


CHARS = list("abcdefghijklmnopqrstuvwxyz .,!?") + ["\n", ":"]


def tiny_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, **{c: i + 3 for i, c in enumerate(CHARS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")


def tiny_model(seed=0, init_range=0.02):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(CHARS) + 3, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
                         pad_token_id=0, eos_token_id=1, bos_token_id=1, initializer_range=init_range)
    return LlamaForCausalLM(config)


PROMPTS = ["write:", "say it:", "go:"]


def test_tokenizer_roundtrip():
    tok = tiny_tokenizer()
    assert tok.decode(tok("abc, d!", add_special_tokens=False)["input_ids"]) == "abc, d!"


def test_style_cycle_judge():
    assert response_style("aab") == "A" and response_style("xyz") is None
    assert style_cycle_judge("", "aa", "bb") == 1.0 and style_cycle_judge("", "cc", "aa") == 1.0
    assert style_cycle_judge("", "bb", "aa") == 0.0 and style_cycle_judge("", "a", "a") == 0.5


def test_judge_out_of_range_is_an_error():
    with pytest.raises(AccordError, match=r"\[0, 1\]"):
        call_judge(lambda p, a, b: 1.5, ["x"], ["a"], ["b"])
    with pytest.raises(AccordError, match=r"\[0, 1\]"):
        call_judge(lambda p, a, b: float("nan"), ["x"], ["a"], ["b"])


def test_lm_judge_averages_both_orders():
    class FakeLM:  # always prefers whichever response is shown first, plus a real preference for "good"
        def chat_prompt(self, user, system=None):
            return user

        def choice_logprobs(self, prompts, choices):
            out = []
            for text in prompts:
                first_good = text.index("Response A: good") >= 0 if "Response A: good" in text else False
                pa = 0.9 if first_good else 0.6  # position bias 0.6 without preference
                out.append([np.log(pa), np.log(1 - pa)])
            return np.array(out)

    judge = LMJudge(FakeLM())
    p = judge("q", "good", "bad")
    assert p == pytest.approx(0.5 * (0.9 + (1 - 0.6)))
    assert judge("q", "bad", "good") == pytest.approx(1 - p)


def test_snapshot_is_magnet_under_pretrained_lora():
    tok = tiny_tokenizer()
    model = add_lora(tiny_model(), rank=4)
    for n, p in model.named_parameters():  # a "pretrained" adapter: non-zero B
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.5)
    ids = tok(["abc abc"], return_tensors="pt")["input_ids"]
    mask = torch.ones_like(ids)
    rmask = torch.ones_like(ids, dtype=torch.float)
    magnet = Snapshot(model)
    with torch.no_grad():
        policy = token_logprobs(model, ids, mask, rmask)
        with magnet as m:
            from_magnet = token_logprobs(m, ids, mask, rmask)
        with model.disable_adapter():
            base = token_logprobs(model, ids, mask, rmask)
    assert torch.allclose(policy, from_magnet) and not torch.allclose(policy, base, atol=1e-3)
    for n, p in model.named_parameters():  # the policy moves; the magnet does not follow until refresh
        if p.requires_grad:
            p.data.add_(0.3)
    with torch.no_grad():
        with magnet as m:
            still = token_logprobs(m, ids, mask, rmask)
        moved = token_logprobs(model, ids, mask, rmask)
    assert torch.allclose(still, from_magnet) and not torch.allclose(moved, policy, atol=1e-3)
    magnet.refresh()
    with torch.no_grad(), magnet as m:
        assert torch.allclose(token_logprobs(m, ids, mask, rmask), moved)


def test_kl_surrogate_gradient_is_exact_sequence_kl_gradient():
    """Known answer: over ALL two-token responses (39² of them), the π-weighted surrogate has exactly the
    gradient of the sequence KL(π ‖ ρ) computed by enumeration; the k3 estimator used as a loss has the
    gradient of the reverse KL(ρ ‖ π) at each position instead (and so fails the first check)."""
    policy, magnet = tiny_model(seed=0, init_range=0.5), tiny_model(seed=1, init_range=0.5)
    vocab = policy.config.vocab_size
    prompt = torch.tensor([[5, 6, 7]])
    pairs = torch.cartesian_prod(torch.arange(vocab), torch.arange(vocab))
    ids = torch.cat([prompt.repeat(len(pairs), 1), pairs], dim=1)
    attention = torch.ones_like(ids)
    mask = torch.ones(len(pairs), 2)
    first = prompt.shape[1] - 1
    logp = next_token_logprobs(policy, ids, attention, first)
    with torch.no_grad():
        magnet_logp = next_token_logprobs(magnet, ids, attention, first)
    sampled = logp.gather(-1, ids[:, first + 1:, None]).squeeze(-1)
    rho = magnet_logp.gather(-1, ids[:, first + 1:, None]).squeeze(-1)
    seq_logp, seq_rho = sampled.sum(1), rho.sum(1)
    params = [p for p in policy.parameters()]

    def grad(value):
        return torch.cat([g.flatten() for g in torch.autograd.grad(value, params, retain_graph=True)])

    forward_kl = (seq_logp.exp() * (seq_logp - seq_rho)).sum()
    assert forward_kl.item() > 0.05  # distributions far enough apart for the check to mean something
    weights = seq_logp.detach().exp()
    surrogate, value = sequence_kl_surrogate(logp, magnet_logp, sampled, mask)
    assert float((weights * value).sum()) == pytest.approx(float(forward_kl), rel=1e-4)
    exact = grad(forward_kl)
    ours = grad((weights * surrogate).sum())
    assert torch.allclose(ours, exact, rtol=1e-3, atol=1e-5 * float(exact.abs().max()))
    diff = rho - sampled
    k3 = (torch.exp(diff) - diff - 1).sum(1)
    k3_grad = grad((weights * k3).sum())
    assert not torch.allclose(k3_grad, exact, rtol=0.1, atol=0.1 * float(exact.abs().max()))
    reverse_per_position = (magnet_logp.exp() * (magnet_logp - logp)).sum(-1).sum(1)
    assert torch.allclose(k3_grad, grad((weights * reverse_per_position).sum()), rtol=1e-3,
                          atol=1e-5 * float(exact.abs().max()))


@pytest.mark.parametrize("step,kl_coef", [(0.5, 0.3), (2.0, 0.1), (1.0, 0.0)])
def test_mirror_regression_solves_to_the_mmd_step(step, kl_coef):
    """loss="mirror": the least-squares fit of mirror_targets over all pairs (y, y') ~ π × π, with p the
    exact P(y ≻ y'), is the MMD step π' ∝ [π · ρ^{ηα} · exp(η·Pπ)]^{1/(1+ηα)}. Tabular policy over 7
    responses, random game and magnet; pairs enumerated and weighted, solved by numpy least squares."""
    rng = np.random.default_rng(3)
    n = 7
    upper = rng.uniform(size=(n, n))
    game = np.triu(upper, 1) + np.tril(1 - upper.T, -1) + 0.5 * np.eye(n)  # P + Pᵀ = 1
    policy, magnet = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(n))
    first, second = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
    interleaved = np.stack([first, second], 1).reshape(-1)
    targets = mirror_targets(torch.tensor(np.log(policy[interleaved])), torch.tensor(np.log(magnet[interleaved])),
                             torch.tensor(game[first, second]), step, kl_coef).numpy()
    # unknown: d(y) = log π'(y) − log π(y) up to a constant; each pair says d(y) − d(y') ≈ target
    design = np.zeros((n * n + 1, n))
    design[np.arange(n * n), first] += 1
    design[np.arange(n * n), second] -= 1
    design[-1] = 1  # pins the free constant
    weights = np.sqrt(np.append(policy[first] * policy[second], 1.0))
    shift, *_ = np.linalg.lstsq(design * weights[:, None], np.append(targets, 0.0) * weights, rcond=None)
    fitted = policy * np.exp(shift)
    fitted /= fitted.sum()
    expected = (policy * magnet ** (step * kl_coef) * np.exp(step * game @ policy)) ** (1 / (1 + step * kl_coef))
    np.testing.assert_allclose(fitted, expected / expected.sum(), rtol=1e-9)


def test_mirror_loss_is_zero_at_the_targets():
    policy_logp = torch.tensor([-1.0, -2.0, -0.5, -3.0])
    targets = torch.tensor([0.3, -0.2])
    new = policy_logp + torch.tensor([0.3, 0.0, 0.0, 0.2])
    assert mirror_loss(new, policy_logp, targets).item() == pytest.approx(0.0, abs=1e-12)
    assert mirror_loss(policy_logp, policy_logp, targets).item() == pytest.approx((0.3 ** 2 + 0.2 ** 2) / 2)


def run(tmp_path, steps=4, lora=0, **kw):
    cfg = MPOConfig(steps=steps, prompts_per_step=2, max_new_tokens=6, learning_rate=1e-3, magnet_every=2,
                    eval_every=2, eval_prompts=2, checkpoint_every=2, lora_rank=lora, **kw)
    trainer = MPOTrainer(tiny_model(), tiny_tokenizer(), PROMPTS, style_cycle_judge, cfg, out_dir=tmp_path)
    return trainer, trainer.train()


@pytest.mark.parametrize("lora,loss", [(0, "reinforce"), (4, "reinforce"), (0, "mirror")])
def test_training_logs_checkpoints_and_plots(tmp_path, lora, loss):
    trainer, rows = run(tmp_path, lora=lora, loss=loss, inner_steps=3)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(r["loss"]) and r["kl_to_magnet"] >= 0 for r in rows)
    assert rows[1]["magnet_refreshed"] and "win_rate_vs_initial" in rows[1]
    assert set(rows[0]["seconds"]) == {"generate", "judge", "logprobs", "loss"}
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "curves.png").is_file()
    meta = json.loads((tmp_path / "run.json").read_text())
    assert {"python", "torch", "numpy", "accord"} <= set(meta["versions"]) and meta["seed"] == 0
    if lora:
        assert all("lora" in n for n, p in trainer.model.named_parameters() if p.requires_grad)


def test_kl_is_zero_right_after_refresh(tmp_path):
    trainer, rows = run(tmp_path, steps=1, kl_coef=0.5)
    assert rows[0]["kl_to_magnet"] == pytest.approx(0.0, abs=1e-6)  # magnet = initial policy at step 1


def test_resume_after_crash_matches_uninterrupted(tmp_path):
    _, full = run(tmp_path / "a", steps=4)
    cfg = MPOConfig(steps=4, prompts_per_step=2, max_new_tokens=6, learning_rate=1e-3, magnet_every=2,
                    eval_every=2, eval_prompts=2, checkpoint_every=2)
    crashed = MPOTrainer(tiny_model(), tiny_tokenizer(), PROMPTS, style_cycle_judge, cfg, out_dir=tmp_path / "b")
    original = crashed.train_step
    calls = []

    def crash_on_third():
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original()

    crashed.train_step = crash_on_third
    with pytest.raises(KeyboardInterrupt):
        crashed.train()
    resumed = MPOTrainer(tiny_model(seed=5), tiny_tokenizer(), PROMPTS, style_cycle_judge, cfg, out_dir=tmp_path / "b")
    rows = resumed.train()
    assert [r["step"] for r in rows] == [3, 4]
    logged = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2, 3, 4]
    assert logged[3]["loss"] == pytest.approx(full[3]["loss"], rel=1e-4)
    assert logged[3]["samples"] == full[3]["samples"]


def test_bad_config(tmp_path):
    with pytest.raises(AccordError, match="learning_rate"):
        MPOTrainer(tiny_model(), tiny_tokenizer(), PROMPTS, style_cycle_judge, MPOConfig(learning_rate=0.0))
    with pytest.raises(AccordError, match="optimizer"):
        MPOConfig(optimizer="adam").check()
    with pytest.raises(AccordError, match="loss must be"):
        MPOConfig(loss="dpo").check()
    with pytest.raises(AccordError, match="inner_steps"):
        MPOConfig(inner_steps=0).check()
    with pytest.raises(AccordError, match="judge must return"):
        MPOTrainer(tiny_model(), tiny_tokenizer(), PROMPTS, lambda p, a, b: -1.0,
                   MPOConfig(steps=1, prompts_per_step=1, max_new_tokens=3), out_dir=tmp_path).train()


def test_geometry_study_mirror_descent_reaches_the_equilibrium():
    """examples/mpo_geometry.py: with exact expected updates, MPO's schedule in mirror-descent geometry
    reaches the known equilibrium mix of the demo game; softmax policy gradient with a small SGD step
    collapses onto a corner (a style that vanishes gets no gradient)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from mpo_geometry import train

    assert train("mirror", "sgd", alpha=0.3, refresh_every=20, lr=0.5, steps=3000)[-1] < 1e-3
    assert train("softmax-pg", "sgd", alpha=0.3, refresh_every=20, lr=0.5, steps=3000)[-1] > 0.5


def saved_tiny_model_and_prompts(tmp_path):
    """The tiny model saved as a local folder and PROMPTS as a JSON file: inputs of `accord mpo train`."""
    model_dir = tmp_path / "tiny"
    tiny_model().save_pretrained(model_dir)
    tiny_tokenizer().save_pretrained(model_dir)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps(PROMPTS))
    return model_dir, prompts


def test_command_line_trains_with_the_mirror_loss(tmp_path, capsys):
    """`accord mpo train` on a local model folder: flags reach the config, the run is logged, bad input is
    one error line."""
    from accord.cli import main

    model_dir, prompts = saved_tiny_model_and_prompts(tmp_path)
    out = tmp_path / "run"
    args = ["mpo", "train", "--model", str(model_dir), "--prompts", str(prompts), "--steps", "2", "--batch", "2",
            "--max-new-tokens", "3", "--eval-every", "0", "--loss", "mirror", "--mirror-step", "2",
            "--inner-steps", "3", "--lr", "1e-3", "--out", str(out)]
    assert main(args) == 0
    config = json.loads((out / "run.json").read_text())["config"]
    assert (config["loss"], config["mirror_step"], config["inner_steps"]) == ("mirror", 2.0, 3)
    assert len((out / "log.jsonl").read_text().splitlines()) == 2
    prompts.write_text("[]")
    assert main(args) != 0
    assert "expected a non-empty JSON list" in capsys.readouterr().err


def test_command_line_loads_a_trainable_torch_model(tmp_path, monkeypatch):
    """`accord mpo train` must load through transformers even where llama.cpp would be the default backend
    for a packaged GGUF model (a llama.cpp model cannot be trained): it used to crash with a traceback."""
    import accord.lm
    from accord.cli import main

    calls = []

    class TinyLM:
        model, tokenizer = tiny_model(), tiny_tokenizer()

        @staticmethod
        def chat_prompt(text):
            return text

    def fake_load_model(name, **options):
        calls.append((name, options))
        return TinyLM

    monkeypatch.setattr(accord.lm, "load_model", fake_load_model)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps(PROMPTS))
    assert main(["mpo", "train", "--prompts", str(prompts), "--steps", "1", "--batch", "1", "--max-new-tokens", "2",
                 "--eval-every", "0", "--out", str(tmp_path / "run")]) == 0
    assert calls == [("smollm2-135m", {"backend": "transformers", "dtype": "float32", "device": None})]


def test_style_cycle_demo_runs_end_to_end(tmp_path, monkeypatch):
    """examples/mpo_style_cycle.py at toy size: every arm logs its curve from step 0, the fixed-magnet target
    solves its regularised game, the figure is written."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    import mpo_style_cycle

    monkeypatch.setattr(sys, "argv", ["mpo_style_cycle.py", "--out", str(tmp_path), "--steps", "2", "--batch", "4",
                                      "--every", "1", "--inner-steps", "2", "--workers", "1"])
    assert mpo_style_cycle.main() == 0
    summary = json.loads((tmp_path / "results.json").read_text())
    assert {name: [row["step"] for row in rows] for name, rows in summary["results"].items()} == {
        "mpo": [0, 1, 2], "mmd-fixed": [0, 1, 2], "no-magnet": [0, 1, 2]}
    assert summary["fixed_magnet_target"]["regularized_gap"] < 1e-9
    assert summary["configs"]["mpo"]["loss"] == "mirror" and (tmp_path / "distance.png").is_file()
