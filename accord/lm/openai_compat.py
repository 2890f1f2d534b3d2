"""OpenAI-compatible HTTP backend of the model layer (llama.cpp server, vLLM, SGLang, Ollama, OpenAI...).

Talks to ``/v1/completions`` (default: the prompt is sent as text, formatted with a ChatML template that
Qwen and SmolLM servers expect) or ``/v1/chat/completions`` (api="chat": the prompt is turned back into
messages). Standard library only (urllib); requests run in a thread pool, with retries and exponential
backoff on connection errors, timeouts, 429 and 5xx, and a per-request timeout.

    lm = OpenAICompatLM("http://127.0.0.1:8080/v1", model="qwen2.5-coder-0.5b")
    lm = OpenAICompatLM.from_spec("http://127.0.0.1:8080/v1#qwen2.5-coder-0.5b")   # same

- `choice_logprobs` asks for one token with ``logprobs``/``top_logprobs`` (up to 20 alternatives) and reads
  each choice's log-probability from them (a choice absent from the top list gets -inf). When the
  endpoint returns no log-probabilities, the generated token itself is used: a one-hot row on the answered
  choice. `last_choice_sources` tells, per prompt, which it was: "top_logprobs", "answer", or "unusable"
  (no choice answered; the row is all -inf).
- A shared ``prefix`` is simply prepended (servers with prompt caching reuse it themselves).
- `generate_two_streams` (Linear Alignment, Amulet) needs the full next-token logits of two prompts at
  every step, which these APIs do not return: it raises AccordError.
- In chat mode, text after the assistant turn's start (a prefill) cannot be sent portably and is dropped.

An API key is read from ``$ACCORD_API_KEY`` when set (sent as a Bearer token); nothing else is read.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from accord.errors import AccordError
from accord.lm.base import Generation, LogitsCombiner, SamplingConfig, TokenCallback

ROLE_MARK = "\x1e"  # record separator: starts a message in a chat-mode prompt
CONTENT_MARK = "\x1f"  # unit separator: between role and content
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
TOP_LOGPROBS = 20


class OpenAICompatLM:
    backend = "openai"

    def __init__(self, base_url: str, model: str = "", api: str = "completions", concurrency: int = 4,
                 timeout: float = 60.0, retries: int = 3, backoff: float = 0.5,
                 chat_template: str = "chatml", api_key: str | None = None):
        if api not in ("completions", "chat"):
            raise AccordError(f"api must be 'completions' or 'chat', got {api!r}")
        if not base_url.startswith(("http://", "https://")):
            raise AccordError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = model or self.base_url
        self.source = self.base_url
        self.api = api
        self.concurrency = max(1, int(concurrency))
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.chat_template = chat_template
        self.api_key = api_key if api_key is not None else os.environ.get("ACCORD_API_KEY")
        self.last_choice_sources: list[str] = []
        self.requests_sent = 0

    @classmethod
    def from_spec(cls, spec: str, **options) -> "OpenAICompatLM":
        """'URL[#model][?api=chat]' -> an OpenAICompatLM."""
        match = re.search(r"\?api=(\w+)", spec)
        if match:
            options.setdefault("api", match.group(1))
            spec = spec[:match.start()] + spec[match.end():]
        url, _, model = spec.partition("#")
        return cls(url, model=model, **options)

    # ---- HTTP --------------------------------------------------------------------------------------
    def _post(self, path: str, payload: dict) -> dict:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last_error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self.base_url + path, data=body, headers=headers, method="POST")
            self.requests_sent += 1
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as error:
                detail = error.read()[:200].decode("utf-8", "replace")
                last_error = f"HTTP {error.code}: {detail}"
                if error.code not in RETRY_STATUS:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
                last_error = str(getattr(error, "reason", error))
            except json.JSONDecodeError:
                last_error = "the server answered with malformed JSON"
        raise AccordError(f"{self.base_url}{path} failed after {attempt + 1} attempt(s): {last_error}")

    def _map(self, fn, items: list):
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(fn, items))

    # ---- prompts -------------------------------------------------------------------------------------
    def chat_prompt(self, user: str, system: str | None = None) -> str:
        messages = ([("system", system)] if system else []) + [("user", user)]
        if self.api == "chat":
            return "".join(f"{ROLE_MARK}{role}{CONTENT_MARK}{text}" for role, text in messages) + \
                f"{ROLE_MARK}assistant{CONTENT_MARK}"
        if self.chat_template == "chatml":
            return "".join(f"<|im_start|>{role}\n{text}<|im_end|>\n" for role, text in messages) + \
                "<|im_start|>assistant\n"
        head = f"System: {system}\n" if system else ""
        return f"{head}User: {user}\nAssistant:"

    @staticmethod
    def prompt_messages(prompt: str) -> list[dict]:
        """Chat-mode prompt -> messages (a trailing assistant prefill is dropped)."""
        if not prompt.startswith(ROLE_MARK):
            return [{"role": "user", "content": prompt}]
        messages = []
        for part in prompt.split(ROLE_MARK)[1:]:
            role, _, content = part.partition(CONTENT_MARK)
            messages.append({"role": role, "content": content})
        if messages and messages[-1]["role"] == "assistant":
            messages.pop()
        return messages

    def _request(self, prompt: str, max_tokens: int, temperature: float, top_p: float = 1.0,
                 seed: int | None = None, logprobs: bool = False) -> dict:
        payload: dict = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p}
        if self.model:
            payload["model"] = self.model
        if seed is not None:
            payload["seed"] = seed
        if self.api == "chat":
            payload["messages"] = self.prompt_messages(prompt)
            if logprobs:
                payload.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
            return self._post("/chat/completions", payload)
        payload["prompt"] = prompt
        if logprobs:
            payload["logprobs"] = TOP_LOGPROBS
        return self._post("/completions", payload)

    @staticmethod
    def _choice(response: dict) -> dict:
        choices = response.get("choices") if isinstance(response, dict) else None
        if not choices:
            raise AccordError("the server's answer has no choices")
        return choices[0]

    def _text(self, choice: dict) -> str:
        if self.api == "chat":
            return (choice.get("message") or {}).get("content") or ""
        return choice.get("text") or ""

    # ---- generation ------------------------------------------------------------------------------------
    def generate(self, prompts: list[str], sampling: SamplingConfig,
                 on_token: TokenCallback | None = None) -> list[Generation]:
        if not prompts:
            raise AccordError("no prompts given")

        def one(indexed):
            row, prompt = indexed
            seed = None if sampling.seed is None else sampling.seed + row
            choice = self._choice(self._request(prompt, sampling.max_new_tokens, sampling.temperature,
                                                sampling.top_p, seed))
            text = self._text(choice)
            if on_token is not None:
                on_token(row, text)
            reason = "stop" if choice.get("finish_reason") == "stop" else "length"
            return Generation(text, [], reason)

        return self._map(one, list(enumerate(prompts)))

    def generate_two_streams(self, plain_prompts: list[str], pref_prompts: list[str], combine: LogitsCombiner,
                             sampling: SamplingConfig, on_token: TokenCallback | None = None) -> list[Generation]:
        raise AccordError("two-stream methods (la, amulet) need full next-token logits, which OpenAI-compatible "
                          "HTTP APIs do not return; use --method base or pref with this backend")

    # ---- constrained choice ----------------------------------------------------------------------------
    def _top_logprobs(self, choice: dict) -> dict[str, float] | None:
        logprobs = choice.get("logprobs")
        if not logprobs:
            return None
        if self.api == "chat" or "content" in logprobs:
            content = logprobs.get("content") or []
            if not content:
                return None
            first = content[0]
            found = {item["token"]: item["logprob"] for item in first.get("top_logprobs") or []}
            found.setdefault(first.get("token", ""), first.get("logprob", -math.inf))
            return found
        tops = logprobs.get("top_logprobs") or []
        if not tops or not tops[0]:
            tokens = logprobs.get("tokens") or []
            values = logprobs.get("token_logprobs") or []
            return {tokens[0]: values[0]} if tokens and values and values[0] is not None else None
        return dict(tops[0])

    def choice_logprobs(self, prompts: list[str], choices: list[str], prefix: str = "") -> np.ndarray:
        if not prompts:
            raise AccordError("no prompts to score")
        if len(set(choices)) != len(choices):
            raise AccordError(f"choices {choices} are not distinct")

        def one(prompt: str):
            choice = self._choice(self._request(prefix + prompt, 1, 0.0, logprobs=True))
            row = np.full(len(choices), -np.inf)
            top = self._top_logprobs(choice)
            if top:
                for token, value in top.items():
                    stripped = token.strip()
                    if stripped in choices and value is not None:
                        index = choices.index(stripped)
                        row[index] = np.logaddexp(row[index], float(value))
                if np.isfinite(row).any():
                    return row, "top_logprobs"
            answer = self._text(choice).strip()
            matches = [i for i, c in enumerate(choices) if answer.startswith(c)]
            if matches:
                row[max(matches, key=lambda i: len(choices[i]))] = 0.0
                return row, "answer"
            return row, "unusable"

        results = self._map(one, list(prompts))
        self.last_choice_sources = [source for _, source in results]
        return np.stack([row for row, _ in results])
