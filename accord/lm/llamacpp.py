"""llama.cpp backend of the model layer (llama-cpp-python, low-level API): the same interface as the
transformers backend (accord.lm.base.LanguageModel), several times faster on CPU for quantized GGUF models.

One llama.cpp context holds every sequence of a call, each with its own sequence id and its own KV stream
(kv_unified off: in this llama.cpp version a unified cache shared by several sequences in one batch changes
their logits, by up to ~0.9 in log-prob on smollm2, while separate streams give each sequence exactly the
logits it gets alone). The context is sized per call (sequences x longest sequence) and reused:

- `generate`: the B prompts are B sequences; the prompts are evaluated in one `llama_decode`, then every
  step is one `llama_decode` of one new token per unfinished sequence.
- `generate_two_streams` (Linear Alignment, Amulet): the plain prompts are sequences 0..B-1 and the
  preference prompts B..2B-1; every step is one batched decode of 2B tokens, the raw logits of both
  halves (all of the vocabulary, as torch tensors [B, V]) go through `combine`, and the token chosen for a
  question is appended to both of its sequences. A preference prompt that shares a prefix with its plain
  prompt (the usual case: the preference is inserted late) copies that prefix's KV from the plain
  sequence instead of evaluating it again (`share_prefix`, on by default). llama.cpp's result for a token
  depends on the micro-batch (`n_ubatch` = 512 tokens) it is evaluated in (on qwen2.5-coder-0.5b, cutting a
  prompt at token 1062 instead of 1024 moved its next-token logits by up to 0.29, float32 KV cache
  included; with the default f16 cache, several prompts in one llama_decode move each other's by ~0.2). So
  each prompt of a two-stream call is prefilled in its own llama_decode, and only whole micro-batches of
  the shared prefix are copied: every token is evaluated in the micro-batch it is in when its prompt is
  evaluated alone, and sharing changes no logit, hence no token.
- `choice_logprobs(prompts, choices, prefix)`: the shared prefix is evaluated once as sequence 0, its KV
  cells are copied to sequences 1..N-1 (`llama_memory_seq_cp`), then all suffixes are evaluated in one
  decode.

Token choice (greedy / seeded temperature + top-p sampling) is done in torch on the raw logits, with the
same rules as the transformers backend. Calls whose sequences do not fit `max_cells` together are split
into groups that do; a prompt longer than the context (`n_ctx`, per sequence) is an AccordError; an answer
reaching it stops with finish_reason "length".

    lm = load_model("qwen2.5-coder-0.5b", backend="llamacpp")
    lm.generate([lm.chat_prompt("How do I learn Python?")], SamplingConfig(max_new_tokens=64))
"""

from __future__ import annotations

import codecs
import collections
import ctypes
import json
import os
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from accord.errors import AccordError
from accord.lm.base import (Generation, LogitsCombiner, SamplingConfig, TokenCallback, first_token_ids, item_generators,
                             item_keys, pick_tokens, shared_prefix_length)

DEFAULT_N_CTX = 4096
DEFAULT_N_SEQ_MAX = 64
DEFAULT_MAX_CELLS = 16384
CELL_BLOCK = 256
EXACT_CONTEXT = {"type_k": 0, "type_v": 0, "flash_attn_type": 0}
"""Context settings for float32 KV cache and attention (the default f16 KV cache / flash attention move
log-probs by ~1e-2; with these and float32 weights llama.cpp matches transformers float32 to ~1e-4)."""
END_OF_TURN_MARKERS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>")

_llama = None  # the llama_cpp module, imported on first use
_log_lines: collections.deque = collections.deque(maxlen=20)
_log_callback = None  # kept referenced: llama.cpp calls it from C


def _import_llama_cpp():
    global _llama
    if _llama is None:
        try:
            import llama_cpp
        except ImportError:
            raise AccordError("the llama.cpp backend needs llama-cpp-python: pip install llama-cpp-python") from None
        _llama = llama_cpp
    return _llama


def _silence_logs(llama_cpp) -> None:
    """Route llama.cpp / ggml logging into a small buffer (read for error messages) instead of stderr."""
    global _log_callback
    if _log_callback is not None:
        return

    @llama_cpp.llama_log_callback
    def sink(level, text, user_data):
        if level in (2, 3) and text:  # warnings and errors, kept for messages
            _log_lines.append(text.decode("utf-8", errors="replace").strip())

    _log_callback = sink
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))


def _last_log(default: str = "") -> str:
    lines = [line for line in _log_lines if line]
    return lines[-1] if lines else default


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)



def _render_template(template: str, messages: list[dict], bos_token: str, eos_token: str) -> str:
    """A Hugging Face style chat template (jinja2) rendered the way transformers renders it."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        compiled = env.from_string(template)
        return compiled.render(messages=messages, add_generation_prompt=True, bos_token=bos_token,
                               eos_token=eos_token)
    except jinja2.exceptions.TemplateError as error:
        raise AccordError(f"the model's chat template failed: {error}") from None


class LlamaCppLM:
    """A GGUF model run by llama.cpp behind the model-layer interface (see accord.lm.base)."""

    backend = "llamacpp"

    def __init__(self, path: str | Path, name: str | None = None, n_ctx: int = DEFAULT_N_CTX,
                 n_threads: int | None = None, n_seq_max: int = DEFAULT_N_SEQ_MAX, max_cells: int = DEFAULT_MAX_CELLS,
                 context_overrides: dict | None = None, verbose: bool = False):
        llama_cpp = _import_llama_cpp()
        self._lib = llama_cpp
        path = Path(path)
        if not path.is_file():
            raise AccordError(f"GGUF file not found: {path}")
        self.name = name or path.stem
        self.source = str(path)
        if not verbose:
            _silence_logs(llama_cpp)
        _log_lines.clear()
        llama_cpp.llama_backend_init()
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = 0
        self._model = llama_cpp.llama_model_load_from_file(str(path).encode("utf-8"), model_params)
        if not self._model:
            raise AccordError(f"llama.cpp cannot load {path}: {_last_log('not a GGUF model it can read')}")
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        n_ctx_train = int(llama_cpp.llama_model_n_ctx_train(self._model))
        if n_ctx <= 0:
            raise AccordError(f"n_ctx must be > 0, got {n_ctx}")
        self.n_ctx = min(int(n_ctx), n_ctx_train) if n_ctx_train > 0 else int(n_ctx)
        """Most tokens one sequence (prompt + answer) may hold."""
        self.n_seq_max = max(2, min(int(n_seq_max), int(llama_cpp.llama_max_parallel_sequences())))
        self.n_threads = n_threads or int(os.environ.get("ACCORD_LLAMACPP_THREADS", 0) or 0) or cpu_count()

        self.max_cells = max(int(max_cells), self.n_ctx)
        """Most KV cells (all sequences of one group together) a context may hold."""
        self.share_prefix = True
        """Two-stream decoding: the second stream copies the KV of the prompt prefix it shares with the first."""
        self.keep_prefix = False
        """Keep sequence 0's prompt KV between calls: a single-prompt `generate` or a `choice_logprobs` prefix
        that starts with the tokens kept from the last call evaluates only the rest (off by default; an agent
        that sends the same instructions every decision turns it on)."""
        self._kept: list[int] = []  # tokens whose KV sequence 0 holds at positions 0.. (with keep_prefix)
        self.context_overrides: dict = dict(context_overrides or {})
        """Extra llama_context_params fields, e.g. EXACT_CONTEXT (float32 KV cache, no flash attention)."""
        self._ctx = None
        self._ctx_shape = (0, 0)  # (sequences, cells per sequence) of the live context
        self._capacity = 0
        self._memory = None
        self._template = self._chat_template()
        self.stop_ids = self._stop_ids()

    # ---- set-up ------------------------------------------------------------------------------------
    def _ensure_context(self, sequences: int, cells: int) -> None:
        """A context with room for `sequences` sequences of up to `cells` tokens each (reused when it fits).

        Each sequence has its own KV stream (kv_unified off): several sequences decoded in one batch give
        the same logits as each one alone.
        """
        llama_cpp = self._lib
        cells = -(-cells // CELL_BLOCK) * CELL_BLOCK
        have_seqs, have_cells = self._ctx_shape
        if self._ctx and have_seqs >= sequences and have_cells >= cells:
            return
        want = (max(sequences, have_seqs), max(cells, have_cells))
        if want[0] * want[1] > self.max_cells:
            want = (sequences, cells)
        if self._ctx:
            llama_cpp.llama_free(self._ctx)
            self._ctx, self._ctx_shape = None, (0, 0)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = want[0] * want[1]
        params.n_batch = params.n_ctx
        params.n_ubatch = min(512, params.n_ctx)
        self._ubatch = params.n_ubatch
        params.n_seq_max = want[0]
        params.kv_unified = False
        params.n_threads = self.n_threads
        params.n_threads_batch = self.n_threads
        params.no_perf = True
        for key, value in self.context_overrides.items():
            setattr(params, key, value)
        self._ctx = llama_cpp.llama_init_from_model(self._model, params)
        if not self._ctx:
            raise AccordError(f"llama.cpp cannot create a context of {params.n_ctx} tokens for {self.source}: "
                              f"{_last_log('unknown reason')}")
        self._ctx_shape = want
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._kept = []
        if self._capacity < params.n_ctx:
            self._init_batch(params.n_ctx)

    def _init_batch(self, capacity: int) -> None:
        """A llama_batch whose arrays are numpy buffers owned here (filled with vectorized writes)."""
        llama_cpp = self._lib
        self._capacity = capacity
        self._tok = np.zeros(capacity, dtype=np.int32)
        self._pos = np.zeros(capacity, dtype=np.int32)
        self._nseq = np.ones(capacity, dtype=np.int32)
        self._seq = np.zeros(capacity, dtype=np.int32)
        self._out = np.zeros(capacity, dtype=np.int8)
        seq_ptr_type = ctypes.POINTER(llama_cpp.llama_seq_id)
        base = self._seq.ctypes.data
        self._seq_ptrs = (seq_ptr_type * capacity)(*[ctypes.cast(base + 4 * i, seq_ptr_type) for i in range(capacity)])
        self._batch = llama_cpp.llama_batch(
            n_tokens=0,
            token=self._tok.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token)),
            embd=None,
            pos=self._pos.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_pos)),
            n_seq_id=self._nseq.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)),
            seq_id=ctypes.cast(self._seq_ptrs, ctypes.POINTER(seq_ptr_type)),
            logits=self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)),
        )

    def _token_text(self, token_id: int) -> str:
        buffer = ctypes.create_string_buffer(256)
        n = self._lib.llama_token_to_piece(self._vocab, token_id, buffer, 256, 0, True)
        return buffer.raw[:max(n, 0)].decode("utf-8", errors="replace")

    def _chat_template(self) -> str | None:
        raw = self._lib.llama_model_chat_template(self._model, None)
        return raw.decode("utf-8") if raw else None

    def _stop_ids(self) -> set[int]:
        """End-of-generation tokens of the vocabulary (EOS, EOT, ...) plus common end-of-turn markers."""
        llama_cpp = self._lib
        ids = {t for t in range(self.n_vocab) if llama_cpp.llama_vocab_is_eog(self._vocab, t)}
        for marker in END_OF_TURN_MARKERS:
            encoded = self.tokenize(marker)
            if len(encoded) == 1 and self._token_text(encoded[0]) == marker:
                ids.add(encoded[0])
        return ids

    def close(self) -> None:
        """Free the context and the model (also done when the object is garbage collected)."""
        llama_cpp = self._lib
        if getattr(self, "_ctx", None):
            llama_cpp.llama_free(self._ctx)
            self._ctx = None
        if getattr(self, "_model", None):
            llama_cpp.llama_model_free(self._model)
            self._model = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    # ---- text <-> tokens ---------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text`; special tokens written in the text are parsed, no BOS is added (the chat
        template carries what the model needs), as the transformers backend does."""
        data = text.encode("utf-8")
        size = len(data) + 8
        buffer = (self._lib.llama_token * size)()
        n = self._lib.llama_tokenize(self._vocab, data, len(data), buffer, size, False, True)
        if n < 0:
            size = -n
            buffer = (self._lib.llama_token * size)()
            n = self._lib.llama_tokenize(self._vocab, data, len(data), buffer, size, False, True)
        if n < 0:
            raise AccordError("llama.cpp could not tokenize the text")
        return list(buffer[:n])

    def detokenize(self, token_ids: list[int]) -> str:
        """The text of `token_ids`, special tokens left out."""
        if not token_ids:
            return ""
        tokens = (self._lib.llama_token * len(token_ids))(*token_ids)
        size = 8 * len(token_ids) + 16
        for _ in range(2):
            buffer = ctypes.create_string_buffer(size)
            n = self._lib.llama_detokenize(self._vocab, tokens, len(token_ids), buffer, size, False, False)
            if n >= 0:
                return buffer.raw[:n].decode("utf-8", errors="replace")
            size = -n + 16
        raise AccordError("llama.cpp could not detokenize the tokens")

    def _piece(self, token_id: int) -> bytes:
        buffer = ctypes.create_string_buffer(64)
        n = self._lib.llama_token_to_piece(self._vocab, token_id, buffer, 64, 0, False)
        if n < 0:
            buffer = ctypes.create_string_buffer(-n)
            n = self._lib.llama_token_to_piece(self._vocab, token_id, buffer, -n, 0, False)
        return buffer.raw[:max(n, 0)]

    # ---- prompts -----------------------------------------------------------------------------------
    def chat_prompt(self, user: str, system: str | None = None) -> str:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        if self._template:
            bos = self._lib.llama_vocab_bos(self._vocab)
            eos = self._lib.llama_vocab_eos(self._vocab)
            return _render_template(self._template, messages, self._token_text(bos) if bos >= 0 else "",
                                    self._token_text(eos) if eos >= 0 else "")
        head = f"System: {system}\n" if system else ""
        return f"{head}User: {user}\nAssistant:"

    # ---- the engine --------------------------------------------------------------------------------
    def _clear(self) -> None:
        self._kept = []
        if self._memory:
            self._lib.llama_memory_clear(self._memory, False)

    def _reuse_kept(self, ids: list[int], limit: int) -> int:
        """With `keep_prefix`: keep the KV of the longest head (at most `limit` tokens) that `ids` shares
        with the tokens kept from the last call, drop every other cell, and return its length; otherwise
        clear and return 0."""
        n = min(shared_prefix_length(self._kept, ids), limit) if self.keep_prefix else 0
        if n == 0:
            self._clear()
            return 0
        self._lib.llama_memory_seq_rm(self._memory, 0, n, -1)
        for seq in range(1, self._ctx_shape[0]):
            self._lib.llama_memory_seq_rm(self._memory, seq, -1, -1)
        self._kept = list(ids[:n])
        return n

    def _decode(self, tokens, positions, seq_ids, outputs) -> torch.Tensor:
        """One llama_decode of a batch; returns the raw logits [n_outputs, V] of the rows flagged in `outputs`
        (in batch order)."""
        n = len(tokens)
        if n == 0:
            return torch.empty(0, self.n_vocab)
        if n > self._capacity:
            raise AccordError(f"a batch of {n} tokens exceeds the context of {self._capacity} tokens")
        self._tok[:n] = tokens
        self._pos[:n] = positions
        self._seq[:n] = seq_ids
        self._nseq[:n] = 1
        self._out[:n] = outputs
        self._batch.n_tokens = n
        code = self._lib.llama_decode(self._ctx, self._batch)
        if code != 0:
            reason = {1: "no room left in the context (KV cache)", 2: "aborted", -1: "invalid batch"}.get(code, "")
            raise AccordError(f"llama.cpp decode failed (code {code}{': ' + reason if reason else ''}); "
                              f"{_last_log('')}".rstrip("; "))
        rows = np.flatnonzero(np.asarray(outputs, dtype=bool))
        logits = torch.empty(len(rows), self.n_vocab, dtype=torch.float32)
        target = logits.numpy()
        for k, i in enumerate(rows):
            pointer = self._lib.llama_get_logits_ith(self._ctx, int(i))
            if not pointer:
                raise AccordError(f"llama.cpp returned no logits for batch row {i}")
            target[k] = np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))
        return logits

    def _prefill(self, sequences: list[list[int]], start: int | list[int] = 0, first_seq: int = 0) -> torch.Tensor:
        """Evaluate each token list as its own sequence (ids first_seq, first_seq+1, ...) from position
        `start` (one for all, or one per sequence); returns the logits after each one's last token:
        [len(sequences), V]."""
        tokens, positions, seq_ids, outputs = [], [], [], []
        for offset, ids in enumerate(sequences):
            begin = start[offset] if isinstance(start, list) else start
            tokens.extend(ids)
            positions.extend(range(begin, begin + len(ids)))
            seq_ids.extend([first_seq + offset] * len(ids))
            outputs.extend([0] * (len(ids) - 1) + [1])
        return self._decode(tokens, positions, seq_ids, outputs)

    def _encode_prompts(self, prompts: list[str]) -> list[list[int]]:
        if not prompts:
            raise AccordError("no prompts given")
        encoded = [self.tokenize(p) for p in prompts]
        for ids in encoded:
            if not ids:
                raise AccordError("a prompt is empty")
            if len(ids) >= self.n_ctx:
                raise AccordError(f"a prompt of {len(ids)} tokens does not fit the context of {self.n_ctx} tokens "
                                  "(llama.cpp backend, n_ctx); shorten it or load the model with a larger n_ctx")
        return encoded

    def _groups(self, cells: list[int], per_item_sequences: int) -> list[tuple[list[int], int]]:
        """Split items (questions / prompts), each `per_item_sequences` sequences of up to cells[i] tokens, into
        consecutive groups that one context holds: (item indices, cells per sequence) per group."""
        groups: list[tuple[list[int], int]] = []
        current: list[int] = []
        widest = 0
        max_items = max(1, self.n_seq_max // per_item_sequences)

        def size(items: int, width: int) -> int:
            return items * per_item_sequences * (-(-width // CELL_BLOCK) * CELL_BLOCK)

        for index, need in enumerate(cells):
            if current and (len(current) >= max_items or size(len(current) + 1, max(widest, need)) > self.max_cells):
                groups.append((current, widest))
                current, widest = [], 0
            current.append(index)
            widest = max(widest, need)
        if current:
            groups.append((current, widest))
        return groups

    def _prefill_alone(self, sequences: list[list[int]], start: list[int] | None = None,
                       first_seq: int = 0) -> torch.Tensor:
        """`_prefill` of each sequence in its own llama_decode: every token is evaluated in the micro-batch it
        is in when its prompt is evaluated alone (llama.cpp's results depend on a micro-batch's composition)."""
        start = start or [0] * len(sequences)
        return torch.cat([self._prefill([ids], start=begin, first_seq=first_seq + offset)
                          for offset, (ids, begin) in enumerate(zip(sequences, start))])

    def _prefill_streams(self, prompt_ids: list[list[int]], num_streams: int) -> torch.Tensor:
        """Prefill rows s*B + q. With two streams each prompt is evaluated alone (`_prefill_alone`), so a
        row's logits do not depend on the other prompts of the call. With `share_prefix`, the second stream of
        each question reuses the KV of the tokens it shares with the first: the first stream is evaluated, its
        KV stream copied (llama_memory_seq_cp; across streams llama.cpp copies a whole stream) and cut back to
        the shared prefix (llama_memory_seq_rm), and only the rest of the second prompt is evaluated. The
        shared prefix is rounded down to whole micro-batches (n_ubatch), so every token of the second prompt
        is evaluated in the micro-batch it would be in alone (see the module docstring): the logits, and so
        the tokens, are the same as without sharing. At least one token of each prompt is evaluated."""
        if num_streams != 2:
            return self._prefill(prompt_ids)
        batch = len(prompt_ids) // 2
        first, second = prompt_ids[:batch], prompt_ids[batch:]
        logits_first = self._prefill_alone(first)
        if not self.share_prefix:
            return torch.cat([logits_first, self._prefill_alone(second, first_seq=batch)])
        shared = [min(shared_prefix_length(a, b), len(b) - 1) // self._ubatch * self._ubatch
                  for a, b in zip(first, second)]
        for q, n in enumerate(shared):
            if n > 0:
                self._lib.llama_memory_seq_cp(self._memory, q, batch + q, -1, -1)
                self._lib.llama_memory_seq_rm(self._memory, batch + q, n, -1)
        logits_second = self._prefill_alone([ids[n:] for ids, n in zip(second, shared)], start=shared, first_seq=batch)
        return torch.cat([logits_first, logits_second])

    def _run_streams(self, prompt_ids: list[list[int]], num_streams: int, combine: LogitsCombiner | None,
                     sampling: SamplingConfig, generators, on_token) -> tuple[list[list[int]], list[str]]:
        """Lock-step decoding of B questions with `num_streams` sequences each (rows s*B + q)."""
        rows = len(prompt_ids)
        batch = rows // num_streams
        if rows == 1:  # one prompt: with keep_prefix, only what differs from the last call's prompt is evaluated
            kept = self._reuse_kept(prompt_ids[0], len(prompt_ids[0]) - 1)
            logits = self._prefill([prompt_ids[0][kept:]], start=kept)
            self._kept = list(prompt_ids[0]) if self.keep_prefix else []
        else:
            self._clear()
            logits = self._prefill_streams(prompt_ids, num_streams)
        positions = [len(ids) for ids in prompt_ids]
        longest = [max(positions[s * batch + q] for s in range(num_streams)) for q in range(batch)]
        budget = [min(sampling.max_new_tokens, self.n_ctx - length) for length in longest]
        tokens: list[list[int]] = [[] for _ in range(batch)]
        finish = ["length"] * batch
        done = [False] * batch
        decoders = [codecs.getincrementaldecoder("utf-8")(errors="replace") for _ in range(batch)]
        stop = self.stop_ids
        for step in range(sampling.max_new_tokens):
            scores = logits if num_streams == 1 else combine(logits[:batch], logits[batch:])
            chosen = pick_tokens(scores, sampling, generators).tolist()
            for q in range(batch):
                if done[q]:
                    continue
                token_id = int(chosen[q])
                if token_id in stop:
                    finish[q], done[q] = "stop", True
                    continue
                tokens[q].append(token_id)
                if on_token is not None:
                    on_token(q, decoders[q].decode(self._piece(token_id)))
                if len(tokens[q]) >= budget[q]:
                    done[q] = True
            active = [q for q in range(batch) if not done[q]]
            if not active:
                break
            step_rows = [s * batch + q for s in range(num_streams) for q in active]
            step_logits = self._decode([chosen[row % batch] for row in step_rows], [positions[row] for row in step_rows],
                                       step_rows, [1] * len(step_rows))
            for row in step_rows:
                positions[row] += 1
            logits[step_rows] = step_logits
        return tokens, finish

    def _generate(self, prompts: list[str], num_streams: int, combine: LogitsCombiner | None,
                  sampling: SamplingConfig, on_token: TokenCallback | None) -> list[Generation]:
        if sampling.max_new_tokens <= 0:
            raise AccordError(f"max_new_tokens must be > 0, got {sampling.max_new_tokens}")
        encoded = self._encode_prompts(prompts)
        questions = len(encoded) // num_streams
        generators = None
        if sampling.temperature > 0:  # each question samples from its own generator, keyed by its prompt tokens
            keys = ["|".join(",".join(map(str, encoded[s * questions + q])) for s in range(num_streams))
                    for q in range(questions)]
            generators = item_generators(item_keys(keys), sampling)
        cells = [max(min(len(encoded[s * questions + q]) + sampling.max_new_tokens, self.n_ctx)
                     for s in range(num_streams)) for q in range(questions)]
        results: list[Generation | None] = [None] * questions
        for group, width in self._groups(cells, num_streams):
            self._ensure_context(num_streams * len(group), width)
            group_ids = [encoded[s * questions + q] for s in range(num_streams) for q in group]
            callback = None
            if on_token is not None:
                callback = lambda row, text, group=group: on_token(group[row], text)  # noqa: E731
            group_generators = None if generators is None else [generators[q] for q in group]
            tokens, finish = self._run_streams(group_ids, num_streams, combine, sampling, group_generators, callback)
            for local, q in enumerate(group):
                results[q] = Generation(self.detokenize(tokens[local]), tokens[local], finish[local])
        if not self._kept:
            self._clear()
        return results

    # ---- generation --------------------------------------------------------------------------------
    def generate(self, prompts: list[str], sampling: SamplingConfig,
                 on_token: TokenCallback | None = None) -> list[Generation]:
        return self._generate(list(prompts), 1, None, sampling, on_token)

    def generate_two_streams(self, plain_prompts: list[str], pref_prompts: list[str], combine: LogitsCombiner,
                             sampling: SamplingConfig, on_token: TokenCallback | None = None) -> list[Generation]:
        if len(plain_prompts) != len(pref_prompts):
            raise AccordError("plain and preference prompts must pair up one to one")
        return self._generate(list(plain_prompts) + list(pref_prompts), 2, combine, sampling, on_token)

    def generate_beam(self, prompts: list[str], num_beams: int, sampling: SamplingConfig,
                      on_token: TokenCallback | None = None) -> list[Generation]:
        """Beam search (accord.lm.beam) of each prompt. The live beams are sequences 0..K-1 or K..2K-1 in
        turn: each step copies every chosen parent's KV stream into a free sequence (llama_memory_seq_cp)
        and decodes the K new tokens in one batch. A streamed answer arrives whole, when its search ends."""
        from accord.lm.beam import beam_search

        if 2 * num_beams > self.n_seq_max:
            raise AccordError(f"{num_beams} beams need {2 * num_beams} sequences; this model was loaded with "
                              f"n_seq_max={self.n_seq_max}")
        results = []
        for row, ids in enumerate(self._encode_prompts(list(prompts))):
            self._ensure_context(2 * num_beams, min(len(ids) + sampling.max_new_tokens, self.n_ctx))
            self._clear()
            first = self._prefill([ids])[0]
            budget = max(1, min(sampling.max_new_tokens, self.n_ctx - len(ids)))
            state = {"live": [0], "spare": list(range(1, 2 * num_beams)), "position": len(ids)}

            def extend(parents: list[int], tokens: list[int]) -> torch.Tensor:
                live, free = state["live"], state["spare"][:len(parents)]
                for seq, parent in zip(free, parents):
                    self._lib.llama_memory_seq_rm(self._memory, seq, -1, -1)
                    self._lib.llama_memory_seq_cp(self._memory, live[parent], seq, -1, -1)
                state["live"], state["spare"] = free, state["spare"][len(parents):] + live
                logits = self._decode(tokens, [state["position"]] * len(tokens), free, [1] * len(tokens))
                state["position"] += 1
                return logits

            tokens, reason = beam_search(first, extend, num_beams, budget, self.stop_ids)
            results.append(Generation(self.detokenize(tokens), tokens, reason))
            if on_token is not None:
                on_token(row, results[-1].text)
        self._clear()
        return results

    # ---- constrained choice ------------------------------------------------------------------------
    def choice_token_ids(self, choices: list[str]) -> list[int]:
        return first_token_ids(self.tokenize, choices)

    def choice_logprobs(self, prompts: list[str], choices: list[str], prefix: str = "") -> np.ndarray:
        """log p(first token of each choice | prefix + prompt) for each prompt: [len(prompts), len(choices)].

        The `prefix` is evaluated once per group of prompts as sequence 0; its KV cells are then copied to
        the other sequences (llama_memory_seq_cp) before all suffixes are evaluated in one decode.
        """
        choice_ids = torch.tensor(self.choice_token_ids(choices))
        if not prompts:
            raise AccordError("no prompts to score")
        prefix_ids = self.tokenize(prefix) if prefix else []
        suffixes = [self.tokenize(p) for p in prompts]
        for ids in suffixes:
            if not ids:
                raise AccordError("a prompt to score is empty")
            if len(prefix_ids) + len(ids) > self.n_ctx:
                raise AccordError(f"a prompt of {len(prefix_ids) + len(ids)} tokens does not fit the context of "
                                  f"{self.n_ctx} tokens (llama.cpp backend, n_ctx)")
        if len(prefix_ids) >= self.n_ctx:
            raise AccordError(f"the shared prefix of {len(prefix_ids)} tokens does not fit the context of "
                              f"{self.n_ctx} tokens (llama.cpp backend, n_ctx)")
        out = np.zeros((len(prompts), len(choices)), dtype=np.float32)
        groups = self._groups([len(prefix_ids) + len(ids) for ids in suffixes], 1)
        for group, width in groups:
            self._ensure_context(len(group), width)
            if prefix_ids:
                kept = self._reuse_kept(prefix_ids, len(prefix_ids))
                if kept < len(prefix_ids):
                    self._prefill([prefix_ids[kept:]], start=kept)
                self._kept = list(prefix_ids) if self.keep_prefix else []
                for seq in range(1, len(group)):
                    self._lib.llama_memory_seq_cp(self._memory, 0, seq, -1, -1)
            else:
                self._clear()
            logits = self._prefill([suffixes[i] for i in group], start=len(prefix_ids))
            out[group] = torch.log_softmax(logits, dim=-1)[:, choice_ids].numpy()
        if not self._kept:
            self._clear()
        return out
