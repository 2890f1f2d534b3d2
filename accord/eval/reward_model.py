"""A reward-model scorer for any local sequence-classification reward model (transformers
AutoModelForSequenceClassification), the Amulet paper's second metric (it used ArmoRM-Llama3-8B and read
its instruction-following objective, head 6).

Each (question, answer) is scored as a two-turn conversation: the user turn is the question followed by the
preference sentence, the assistant turn is the answer, rendered with the reward model's chat template (or
"User: ...\\nAssistant: ..." without one). Conversations are scored one at a time, so no padding can reach
the score, and nothing is truncated (the released evaluation truncated each conversation to
max_new_tokens = 128 tokens, cutting most answers off; we do not copy that).

    scorer = RewardModelScorer("path/to/ArmoRM-Llama3-8B-v0.1", head=6, device="cuda")
    scorer.score([("How do I learn Python?", "Practice daily.")], "Your answer should be as concise as possible.")
"""

from __future__ import annotations

from pathlib import Path

import torch

from accord.errors import AccordError


class RewardModelScorer:
    """A local reward model; `score` returns one float per (question, answer)."""

    def __init__(self, path: str | Path, head: int = 0, device: str = "cpu", dtype: str = "auto",
                 model=None, tokenizer=None):
        if model is None or tokenizer is None:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            if not Path(path).is_dir():
                raise AccordError(f"reward model folder not found: {path} (give a local folder of a "
                                  "sequence-classification model)")
            torch_dtype = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
            try:
                tokenizer = AutoTokenizer.from_pretrained(str(path))
                model = AutoModelForSequenceClassification.from_pretrained(str(path), dtype=torch_dtype)
            except (OSError, ValueError) as error:
                raise AccordError(f"cannot load a sequence-classification reward model from {path}: "
                                  f"{str(error).splitlines()[0]}") from None
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.head = head
        self.name = str(path)
        self.device = device

    def conversation(self, question: str, answer: str, preference_sentence: str) -> str:
        user = f"{question} {preference_sentence}".strip()
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False)
        return f"User: {user}\nAssistant: {answer}"

    @torch.no_grad()
    def score(self, items: list[tuple[str, str]], preference_sentence: str) -> list[float]:
        scores = []
        for question, answer in items:
            text = self.conversation(question, answer, preference_sentence)
            ids = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"].to(self.device)
            output = self.model(input_ids=ids)
            values = getattr(output, "rewards", None)  # multi-objective models such as ArmoRM
            values = output.logits if values is None else values
            if not 0 <= self.head < values.shape[-1]:
                raise AccordError(f"reward head {self.head} does not exist (the model has {values.shape[-1]})")
            scores.append(float(values[0, self.head]))
        return scores
