"""OpenAI-compatible HTTP backend of the model layer (llama.cpp server, vLLM, SGLang, Ollama, OpenAI...).

Talks to ``/v1/completions`` (default: the prompt is sent as text, formatted with a ChatML template that
Qwen and SmolLM servers expect) or ``/v1/chat/completions`` (api="chat": the prompt is turned back into
messages). Standard library only (urllib); requests run in a thread pool, with retries and exponential
backoff on connection errors, timeouts, 429 and 5xx, and a per-request timeout.

    lm = OpenAICompatLM("http://127.0.0.1:8080/v1", model="qwen2.5-coder-0.5b")
    lm = OpenAICompatLM.from_spec("http://127.0.0.1:8080/v1#qwen2.5-coder-0.5b")   # same
    lm = load_model("http://127.0.0.1:8080/v1#qwen2.5-coder-0.5b?concurrency=16&timeout=120")  # options
    lm = load_model("http://head:8000/v1#qwen?concurrency=64&data_parallel_size=8")  # vLLM with 8 DP ranks

- `choice_logprobs`, exact path (vLLM): each choice's first token id comes from the server's ``/tokenize``
  (as the local backends take the first token of each choice), and one token is asked for with
  ``logprob_token_ids`` (a vLLM extra, <= 128 ids) and ``return_tokens_as_token_ids``: the answer holds
  exactly those tokens' log-probabilities, whatever their rank.
- `choice_logprobs`, fallback (other servers; chosen once per server when ``/tokenize`` or the exact reading
  is missing): ``logprobs``/``top_logprobs`` (up to 20 alternatives); a choice's log-probability is summed
  over the listed tokens that strip to it, and a choice absent from the list gets -inf. When the endpoint
  returns no log-probabilities, the generated token itself is used: a one-hot row on the answered choice.
  `last_choice_sources` tells, per prompt, which it was: "logprob_token_ids", "top_logprobs", "answer", or
  "unusable" (no choice answered; the row is all -inf). `choice_reading` says "exact" or "top_logprobs"
  once a call has been made (`settings()` puts it next to the model in run.json).
- A shared ``prefix`` is simply prepended (servers with prompt caching reuse it themselves).
- `generate_two_streams` (Linear Alignment, Amulet) runs inside a vLLM server that loaded accord's logits
  processor (accord.lm.vllm_processor; greedy only): one ``/v1/completions`` call per question with both
  prompts as token ids, decoded in lock-step (accord.lm.vllm_scheduler lets both rows into the engine in one
  step); a pair the server decoded out of step is sent again up to `pair_retries` times (the calls each
  question took: `last_pair_attempts`), then it is an AccordError, as is a server without the processor
  (never plain decoding in its place).
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
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np

from accord.errors import AccordError
from accord.lm.base import (Generation, LogitsCombiner, SamplingConfig, TokenCallback, first_token_ids, item_keys,
                             item_seed)
from accord.lm.vllm_processor import PAIR_KEY, fingerprint

ROLE_MARK = "\x1e"  # record separator: starts a message in a chat-mode prompt
CONTENT_MARK = "\x1f"  # unit separator: between role and content
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
TOP_LOGPROBS = 20
MAX_LOGPROB_TOKEN_IDS = 128  # vLLM's limit on logprob_token_ids
# The per-token updates a vLLM server can run (accord.lm.vllm_processor), by the local function's name.
SERVER_METHODS = {"amulet_logits": "amulet", "amulet_logits_iterative": "amulet_iterative",
                  "linear_alignment_logits": "la"}
SPEC_OPTIONS = {"api": str, "concurrency": int, "timeout": float, "retries": int, "choice_reading": str,
                "data_parallel_size": int, "pair_retries": int}
PAIR_SCHEDULER = "accord.lm.vllm_scheduler.PairScheduler"  # lets both rows of a pair into the engine at once
BROKEN_PAIR_TEXT = "\x07"  # its token marks a pair decoded out of step (a control byte no answer needs)


class OpenAICompatLM:
    backend = "openai"

    def __init__(self, base_url: str, model: str = "", api: str = "completions", concurrency: int = 4,
                 timeout: float = 60.0, retries: int = 3, backoff: float = 0.5,
                 chat_template: str = "chatml", api_key: str | None = None, choice_reading: str = "auto",
                 data_parallel_size: int = 1, pair_retries: int = 2):
        if api not in ("completions", "chat"):
            raise AccordError(f"api must be 'completions' or 'chat', got {api!r}")
        if choice_reading not in ("auto", "exact", "top_logprobs"):
            raise AccordError(f"choice_reading must be auto, exact or top_logprobs, got {choice_reading!r}")
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
        self.choice_reading = choice_reading
        self.data_parallel_size = max(1, int(data_parallel_size))
        """vLLM data-parallel ranks behind the URL: each two-stream pair is pinned to one rank
        (X-data-parallel-rank, round robin), since the two rows of a pair must run in the same engine."""
        """"auto" until the first constrained choice; then "exact" (logprob_token_ids) or "top_logprobs"."""
        self.pair_retries = max(0, int(pair_retries))
        """Times a two-stream pair the server decoded out of step is sent again before it is an error."""
        self.last_pair_attempts: list[int] = []
        """Calls each question of the last generate_two_streams took (1 = in step at the first try)."""
        self._token_ids: dict[str, list[int]] = {}
        self._pair_processor_checked = False

    def settings(self) -> dict:
        """What a run records about this model (run.json)."""
        return {"name": self.name, "backend": self.backend, "source": self.source, "api": self.api,
                "choice_reading": self.choice_reading}

    @classmethod
    def from_spec(cls, spec: str, **options) -> "OpenAICompatLM":
        """'URL[#model][?option=value&...]' -> an OpenAICompatLM; options: api, concurrency (requests in
        flight), timeout (s), retries, choice_reading. E.g. 'http://gpu1:8000/v1#qwen?concurrency=32'."""
        match = re.search(r"\?([^#]*)", spec)
        if match:
            for item in filter(None, match.group(1).split("&")):
                key, _, value = item.partition("=")
                if key not in SPEC_OPTIONS:
                    raise AccordError(f"unknown server option {key!r} in {spec!r}; known: {', '.join(SPEC_OPTIONS)}")
                try:
                    options.setdefault(key, SPEC_OPTIONS[key](value))
                except ValueError:
                    raise AccordError(f"server option {key}={value!r} is not a {SPEC_OPTIONS[key].__name__}") from None
            spec = spec[:match.start()] + spec[match.end():]
        url, _, model = spec.partition("#")
        return cls(url, model=model, **options)

    # ---- HTTP --------------------------------------------------------------------------------------
    def _post(self, path: str, payload: dict, base: str | None = None, headers: dict | None = None) -> dict:
        base = base or self.base_url
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last_error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(base + path, data=body, headers=headers, method="POST")
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
        raise AccordError(f"{base}{path} failed after {attempt + 1} attempt(s): {last_error}")

    def _map(self, fn, items: list):
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(fn, items))

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text` by the server's tokenizer (vLLM's ``/tokenize``, no special tokens added)."""
        if text not in self._token_ids:
            root = self.base_url[:-3] if self.base_url.endswith("/v1") else self.base_url
            payload = {"prompt": text, "add_special_tokens": False, **({"model": self.model} if self.model else {})}
            answer = self._post("/tokenize", payload, base=root)
            tokens = answer.get("tokens") if isinstance(answer, dict) else None
            if not isinstance(tokens, list):
                raise AccordError(f"{root}/tokenize answered without token ids")
            self._token_ids[text] = [int(t) for t in tokens]
        return self._token_ids[text]

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
                 seed: int | None = None, logprobs: bool = False, token_ids: list[int] | None = None) -> dict:
        """One completion; logprobs: ask for the top alternatives, or, with token_ids, exactly those tokens'
        log-probabilities (vLLM's logprob_token_ids, keyed 'token_id:N')."""
        payload: dict = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p}
        if self.model:
            payload["model"] = self.model
        if seed is not None:
            payload["seed"] = seed
        if token_ids:
            payload.update(logprob_token_ids=token_ids, return_tokens_as_token_ids=True)
        if self.api == "chat":
            payload["messages"] = self.prompt_messages(prompt)
            if logprobs:
                payload.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
            return self._post("/chat/completions", payload)
        payload["prompt"] = prompt
        if logprobs:
            payload["logprobs"] = len(token_ids) if token_ids else TOP_LOGPROBS
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

        keys = item_keys(list(prompts))  # the seed sent for a prompt depends on it, not on its place in the batch

        def one(indexed):
            row, prompt = indexed
            seed = None if sampling.seed is None else item_seed(sampling.seed, keys[row]) % 2 ** 31
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
        """Amulet / Linear Alignment inside a vLLM server running accord.lm.vllm_processor (greedy only)."""
        if len(plain_prompts) != len(pref_prompts):
            raise AccordError("plain and preference prompts must pair up one to one")
        if not plain_prompts:
            raise AccordError("no prompts given")
        if self.api != "completions":
            raise AccordError("two-stream methods over HTTP use the completions API; drop ?api=chat")
        if sampling.temperature > 0:
            raise AccordError("two-stream methods inside vLLM are greedy only (temperature 0): both rows of a "
                              "pair would need to share their random draws")
        method, params = server_method(combine)
        broken = self._broken_pair_token()
        self._check_pair_processor(method, params, broken)

        def one(indexed):
            row, (plain, pref) = indexed
            for attempt in range(1, self.pair_retries + 2):
                first, second = self._pair_request(plain, pref, method, params, broken, sampling.max_new_tokens,
                                                   rank=row % self.data_parallel_size)
                if broken not in (first.get("stop_reason"), second.get("stop_reason")):
                    break
            else:
                raise AccordError(f"the vLLM server decoded the two prompts of question {row} out of step in "
                                  f"{attempt} call(s) (is it started with --scheduler-cls {PAIR_SCHEDULER}? "
                                  "otherwise a full batch, preemption or chunked prefill split the pair); that "
                                  "answer is failed rather than decoded without its preference stream")
            if first.get("token_ids") != second.get("token_ids"):
                raise AccordError(f"the two rows of question {row} got different tokens: the server did not apply "
                                  "accord's two-stream processor to them")
            text = first.get("text") or ""
            if on_token is not None:
                on_token(row, text)
            ids = list(first.get("token_ids") or [])
            reason = "stop" if first.get("finish_reason") == "stop" else "length"
            if reason == "stop" and ids and first.get("stop_reason") is None:
                ids = ids[:-1]  # the end-of-sequence token; local backends exclude it too
            return Generation(text, ids, reason), attempt

        results = self._map(one, list(enumerate(zip(plain_prompts, pref_prompts))))
        self.last_pair_attempts = [attempts for _, attempts in results]
        return [generation for generation, _ in results]

    def _pair_request(self, plain: str, pref: str, method: str, params: dict, broken: int, max_tokens: int,
                      prompts: list | None = None, rank: int = 0, stray: bool = False) -> tuple[dict, dict]:
        """One /completions call decoding (plain, pref) as a pair; `prompts` overrides what is sent, `stray`
        sends fingerprints no prompt matches (tests, the processor probe)."""
        plain_ids, pref_ids = self.tokenize(plain), self.tokenize(pref)
        prints = ("stray-plain", "stray-pref") if stray else (fingerprint(plain_ids), fingerprint(pref_ids))
        payload = {"prompt": prompts if prompts is not None else [plain_ids, pref_ids], "max_tokens": max_tokens,
                   "temperature": 0.0, "stop_token_ids": [broken], "return_token_ids": True,
                   "vllm_xargs": {PAIR_KEY: uuid.uuid4().hex, "accord_plain": prints[0],
                                  "accord_pref": prints[1], "accord_method": method,
                                  "accord_params": json.dumps(params, sort_keys=True),
                                  "accord_broken_token": broken}}
        if self.model:
            payload["model"] = self.model
        pin = {"X-data-parallel-rank": str(rank)} if self.data_parallel_size > 1 else None
        answer = self._post("/completions", payload, headers=pin)
        choices = sorted(answer.get("choices") or [], key=lambda c: c.get("index", 0))
        if len(choices) != (2 if prompts is None else len(prompts)):
            raise AccordError(f"the server answered a two-prompt call with {len(choices)} choice(s)")
        return (choices[0], choices[1]) if prompts is None else tuple(choices)

    def _broken_pair_token(self) -> int:
        ids = self.tokenize(BROKEN_PAIR_TEXT)
        if len(ids) != 1:
            raise AccordError(f"the server's tokenizer splits the broken-pair marker into {len(ids)} tokens")
        return ids[0]

    def _check_pair_processor(self, method: str, params: dict, broken: int) -> None:
        """Once per server: a pair whose rows match neither of its prompt fingerprints must come back failed
        (stop_reason == the broken-pair token); otherwise the server has not loaded accord's processor and
        would decode plain text. (Two rows, not one: accord's scheduler holds a lone row for seconds.)"""
        if self._pair_processor_checked:
            return
        probe = self.tokenize("Hi")
        answer = self._pair_request("Hi", "Hi", method, params, broken, 1, prompts=[probe, probe], stray=True)
        if any(choice.get("stop_reason") != broken for choice in answer):
            raise AccordError(f"{self.base_url} does not run accord's two-stream logits processor; start vLLM with "
                              "--logits-processors accord.lm.vllm_processor:TwoStreamProcessor "
                              f"--scheduler-cls {PAIR_SCHEDULER} (accord installed in the server's venv)")
        self._pair_processor_checked = True

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

    def _exact_choice_ids(self, choices: list[str]) -> list[int] | None:
        """First token id of each choice by the server's tokenizer, or None when this server has no
        exact reading (then choice_reading becomes "top_logprobs" for good)."""
        if self.choice_reading == "top_logprobs":
            return None
        if len(choices) > MAX_LOGPROB_TOKEN_IDS:
            raise AccordError(f"{len(choices)} choices; vLLM reads at most {MAX_LOGPROB_TOKEN_IDS} token ids per call")
        try:
            encoded = {choice: self.tokenize(choice) for choice in choices}
        except AccordError:  # no /tokenize: not vLLM
            if self.choice_reading == "exact":
                raise
            self.choice_reading = "top_logprobs"
            return None
        return first_token_ids(encoded.__getitem__, choices)

    @staticmethod
    def _token_id_logprobs(choice: dict) -> dict[int, float]:
        """{token id: log-prob} from an answer keyed 'token_id:N' (completions or chat format)."""
        logprobs = choice.get("logprobs") or {}
        if "content" in logprobs:
            first = (logprobs.get("content") or [{}])[0]
            pairs = [(item.get("token"), item.get("logprob")) for item in first.get("top_logprobs") or []]
        else:
            pairs = list(((logprobs.get("top_logprobs") or [{}])[0] or {}).items())
        found = {}
        for token, value in pairs:
            if isinstance(token, str) and token.startswith("token_id:") and value is not None:
                found[int(token.split(":", 1)[1])] = float(value)
        return found

    def choice_logprobs(self, prompts: list[str], choices: list[str], prefix: str = "") -> np.ndarray:
        if not prompts:
            raise AccordError("no prompts to score")
        if len(set(choices)) != len(choices):
            raise AccordError(f"choices {choices} are not distinct")
        exact_ids = self._exact_choice_ids(choices)

        def exact(prompt: str):
            choice = self._choice(self._request(prefix + prompt, 1, 0.0, logprobs=True, token_ids=exact_ids))
            found = self._token_id_logprobs(choice)
            if not all(i in found for i in exact_ids):
                return None
            # vLLM writes -inf as -9999; keep it -inf
            return np.array([found[i] if found[i] > -9999.0 else -np.inf for i in exact_ids]), "logprob_token_ids"

        def one(prompt: str):
            if exact_ids is not None:
                result = exact(prompt)
                if result is not None:
                    return result
                if self.choice_reading == "exact":
                    raise AccordError(f"{self.base_url} did not return the log-probabilities of token ids "
                                      f"{exact_ids} (logprob_token_ids is a vLLM extra)")
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
        if self.choice_reading == "auto":
            self.choice_reading = "exact" if "logprob_token_ids" in self.last_choice_sources else "top_logprobs"
        return np.stack([row for row, _ in results])


def server_method(combine) -> tuple[str, dict]:
    """(method name, keyword arguments) of a two-stream update a vLLM server can run, from the local
    combiner (a functools.partial of accord.decoding's amulet_logits / amulet_logits_iterative /
    linear_alignment_logits, as accord.decoding.methods.combiner builds it)."""
    name = getattr(getattr(combine, "func", None), "__name__", None)
    if not isinstance(combine, partial) or name not in SERVER_METHODS or combine.args:
        raise AccordError("this two-stream update cannot run inside a vLLM server; it runs Amulet "
                          f"({', '.join(SERVER_METHODS)}) given as functools.partial with keyword arguments")
    return SERVER_METHODS[name], {key: value for key, value in combine.keywords.items()}
