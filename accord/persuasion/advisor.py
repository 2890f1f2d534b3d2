"""The persuasion Advisor: a small trainable model that signals to a black-box Receiver.

Bai, Wang, Zhang et al. (2024), "Efficient Model-agnostic Alignment via Bayesian Persuasion", arXiv
2405.18718. The Advisor observes the question and an information item ω (the state) and sends a short text
signal; the Receiver — any model of accord's model layer (local, or an OpenAI-compatible server; text in,
text out) — answers the question with the signal in its prompt. The Advisor's signalling strategy is trained
so that the Receiver's answers become correct. The paper's code is not public: this is a reconstruction
whose choices are settings (`PersuasionConfig`) and are listed in docs/persuasion.md.

Training reuses accord/train's MPO trainer (generation with a KV cache, token log-probabilities, the
token-level REINFORCE + KL(π ‖ ρ) loss, checkpoints and resume). The magnet ρ is the initial Advisor and is
never refreshed, so the logged KL is the KL to the initial Advisor. One step:

  generate   `group` signals per sampled training task from the current Advisor
  score      the Receiver answers each task with each signal (greedy); reward 1 if correct, else 0
  log-probs  token log-probabilities of the signals under the Advisor (grad) and the initial Advisor
  loss       REINFORCE with the group's leave-one-out mean as baseline + kl_coef · KL(π ‖ π_0)
  log        one JSONL row: reward, KL to the initial Advisor, samples, phase timings

    trainer = AdvisorTrainer(model, tokenizer, train_tasks, receiver, PersuasionConfig(), MPOConfig(...), "runs/p")
    trainer.train()
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from accord.errors import AccordError
from accord.lm.base import SamplingConfig
from accord.persuasion.sandbox import run_program
from accord.persuasion.tasks import Task, extract_integer, program_for
from accord.runs import write_run_metadata
from accord.train.mpo import MPOConfig, MPOTrainer, mpo_loss


@dataclass
class PersuasionConfig:
    """Settings of the persuasion game (recorded in run.json next to the optimizer's MPOConfig)."""

    group: int = 4
    """Signals sampled per task and step; their rewards' leave-one-out mean is each one's baseline."""
    advisor_sees_info: bool = True
    """The Advisor observes ω (the Sender observes the state, as in Bayesian persuasion); False: only the
    question (a hint writer without privileged information)."""
    receiver_max_tokens: int = 384
    """Length limit of the Receiver's answer."""
    code_timeout: float = 10.0
    """Wall-clock seconds for one HumanEval check in the sandbox."""
    code_memory_mb: int = 1024
    """Address-space limit of the sandbox in MiB."""


ADVISOR_PROMPT = (
    "A stronger model will solve the problem below. Write one or two short sentences of advice that will help "
    "it reach the correct answer.\n\nProblem:\n{question}\n{info}Advice:"
)
ADVISOR_INFO = "\nInformation only you can see:\n{info}\n"
RECEIVER_PROMPTS = {
    "math": "Solve this problem step by step.\n\n{question}\n{hint}\nEnd with a last line of the form "
            "'Answer: <integer>'.",
    "code": "Complete the following Python function.\n\n```python\n{question}```\n{hint}\nReply with the "
            "complete function in one ```python code block.",
}
RECEIVER_HINT = "\nAdvice from an assistant: {signal}\n"


def advisor_prompt(task: Task, sees_info: bool = True) -> str:
    """The Advisor's input: the question, and ω when the Advisor observes it."""
    info = ADVISOR_INFO.format(info=task.info.strip()) if sees_info else ""
    return ADVISOR_PROMPT.format(question=task.question.strip(), info=info)


def receiver_prompt(task: Task, signal: str | None) -> str:
    """The Receiver's input: the question and, except in the no-context condition, a signal."""
    hint = RECEIVER_HINT.format(signal=signal.strip()) if signal else ""
    return RECEIVER_PROMPTS[task.kind].format(question=task.question, hint=hint)


def is_correct(task: Task, reply: str, config: PersuasionConfig) -> bool:
    """math: the final integer equals the answer; code: HumanEval's tests pass in the sandbox."""
    if task.kind == "math":
        return extract_integer(reply) == task.answer
    return run_program(program_for(task, reply), config.code_timeout, config.code_memory_mb)


def receiver_success(receiver, tasks: list[Task], signals: list[str | None], config: PersuasionConfig
                     ) -> tuple[np.ndarray, list[str]]:
    """Ask the Receiver (greedy) each task with its signal; (1.0 / 0.0 per task, the replies)."""
    prompts = [receiver.chat_prompt(receiver_prompt(task, signal)) for task, signal in zip(tasks, signals)]
    replies = [g.text for g in receiver.generate(prompts, SamplingConfig(max_new_tokens=config.receiver_max_tokens))]
    return np.array([float(is_correct(t, r, config)) for t, r in zip(tasks, replies)]), replies


def leave_one_out(rewards: np.ndarray, group: int) -> np.ndarray:
    """Advantage of each sample: its reward minus the mean of the other samples of its group (RLOO)."""
    r = rewards.reshape(-1, group)
    if group == 1:
        return (r - r.mean()).reshape(-1)
    return (r - (r.sum(1, keepdims=True) - r) / (group - 1)).reshape(-1)


def chat_formatter(tokenizer):
    """The Advisor's chat template around a user message (plain text when the tokenizer has none)."""
    if getattr(tokenizer, "chat_template", None):
        return lambda text: tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                          add_generation_prompt=True)
    return lambda text: text


class AdvisorTrainer(MPOTrainer):
    """REINFORCE on Receiver success with a KL to the initial Advisor (module docstring)."""

    def __init__(self, model, tokenizer, tasks: list[Task], receiver, settings: PersuasionConfig,
                 config: MPOConfig, out_dir, receiver_name: str = "", advisor_name: str = ""):
        if not tasks:
            raise AccordError("no training tasks")
        if settings.group < 1:
            raise AccordError(f"group must be a positive integer, got {settings.group}")
        config.magnet_every, config.eval_every = 0, 0  # ρ = the initial Advisor; no MPO win-rate evaluation
        self.tasks, self.receiver, self.settings = list(tasks), receiver, settings
        self.names = {"receiver": receiver_name, "advisor": advisor_name}
        prompts = [advisor_prompt(task, settings.advisor_sees_info) for task in self.tasks]
        super().__init__(model, tokenizer, prompts, judge=None, config=config, out_dir=out_dir,
                         format_prompt=chat_formatter(tokenizer))

    def train_step(self) -> dict:
        cfg, group, timings = self.config, self.settings.group, {}
        picked = [self.rng.randrange(len(self.tasks)) for _ in range(cfg.prompts_per_step)]
        # generate
        t = time.perf_counter()
        signals, ids, attention, response_mask = self.generate([self.prompts[i] for i in picked], copies=group)
        timings["generate"] = time.perf_counter() - t
        # score
        t = time.perf_counter()
        tasks = [self.tasks[i] for i in picked for _ in range(group)]
        rewards, _ = receiver_success(self.receiver, tasks, signals, self.settings)
        timings["score"] = time.perf_counter() - t
        # log-probs
        t = time.perf_counter()
        logp, initial_logp = self.logprobs(ids, attention, response_mask)
        timings["logprobs"] = time.perf_counter() - t
        # loss
        t = time.perf_counter()
        advantages = torch.tensor(leave_one_out(rewards, group), dtype=torch.float, device=self.device)
        loss, kl = mpo_loss(logp, initial_logp, ids, response_mask, advantages, cfg.kl_coef)
        self.optimize(loss)
        timings["loss"] = time.perf_counter() - t
        # log
        self.step += 1
        return {"step": self.step, "loss": loss.item(), "reward": float(rewards.mean()),
                "kl_to_initial": kl.item(), "signal_tokens": float(response_mask.sum() / len(signals)),
                "tasks": [self.tasks[i].task_id for i in picked], "samples": signals[:2], "seconds": timings}

    def train(self, on_step=None) -> list[dict]:
        """Train to `config.steps`, resuming from out_dir/checkpoint.pt; writes run.json and log.jsonl."""
        self.out.mkdir(parents=True, exist_ok=True)
        write_run_metadata(self.out, {"method": "persuasion-advisor (arXiv 2405.18718, reconstruction)",
                                      **self.names, "persuasion": asdict(self.settings),
                                      "optimizer": {k: v for k, v in asdict(self.config).items() if k != "steps"},
                                      "seed": self.config.seed,
                                      "train_tasks": [task.task_id for task in self.tasks]})
        self.resume()
        return self.run_steps(on_step)

    @torch.no_grad()
    def signals(self, tasks: list[Task], seed: int = 0) -> list[str]:
        """One signal per task, sampled from the current Advisor (its signalling scheme) with a fixed seed."""
        self.generator.manual_seed(seed)
        out = []
        for start in range(0, len(tasks), 8):
            batch = tasks[start:start + 8]
            out += self.generate([advisor_prompt(t, self.settings.advisor_sees_info) for t in batch], copies=1)[0]
        return out
