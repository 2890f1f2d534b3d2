"""Two-stream decoding (Amulet, Linear Alignment) inside a vLLM server, as a V1 logits processor.

vLLM has no two-prompt decoding of its own. accord's client (accord.lm.openai_compat,
`OpenAICompatLM.generate_two_streams`) sends each question as ONE `/v1/completions` call with
`prompt: [plain, preference]`, greedy, and `vllm_xargs` naming the pair, the method and its parameters.
vLLM hands the two prompts to its engine one at a time; accord's scheduler (accord.lm.vllm_scheduler) lets
both into the engine in the same step, so at every step both rows sit in the same batch.
This processor finds the two rows of each pair, replaces both rows' logits by the method's per-token
update combine(plain_logits, pref_logits) (the same pure functions as the local backends:
accord.decoding.amulet.amulet_logits, amulet_logits_iterative, accord.decoding.linear_alignment), and so
greedy decoding appends the same token to both rows: the two streams advance in lock-step.

Nothing in vLLM guarantees the pairing (a full batch, preemption or chunked prefill can split a pair), so
every step checks it: both rows present, and the same generated tokens so far. A pair that fell out of step
is failed, never decoded on as plain text: from then on both of its rows may only produce the client's
`accord_broken_token`, which the client sends as a stop token and which healthy rows can never produce
(it is masked there). The client sees `stop_reason == accord_broken_token` and raises AccordError.

Serve it with either
    vllm serve MODEL --logits-processors accord.lm.vllm_processor:TwoStreamProcessor \
        --scheduler-cls accord.lm.vllm_scheduler.PairScheduler
(the processor may instead come from the `vllm.logits_processors` entry point that accord's package declares;
the scheduler is always named; accord installed in the server's venv). Per-request settings (vllm_xargs): accord_pair (pair id), accord_plain / accord_pref
(fingerprints of the two prompts' token ids: which row is which), accord_method (amulet, amulet_iterative,
la), accord_params (JSON of the method's keyword arguments), accord_broken_token (token id).

The pairing logic (`PairTracker`) is plain Python and importable without vLLM (unit-tested on its own);
only `TwoStreamProcessor` needs vLLM, and it is defined only when vLLM imports.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

PAIR_KEY = "accord_pair"
METHODS = ("amulet", "amulet_iterative", "la")


def fingerprint(token_ids) -> str:
    """A short stable fingerprint of a prompt's token ids (tells the plain row from the preference row)."""
    return hashlib.sha1(",".join(str(int(t)) for t in token_ids).encode()).hexdigest()[:16]


def combine_function(method: str, params: dict):
    """The per-token update of a two-stream method: f(plain_logits [n, V], pref_logits [n, V]) -> [n, V].

    The pure functions live one floor up (accord.decoding); they are imported here, inside the server
    process, by name from this fixed table (nothing else in accord.lm imports accord.decoding)."""
    from functools import partial

    if method == "amulet":
        from accord.decoding.amulet import amulet_logits
        return partial(amulet_logits, **params)
    if method == "amulet_iterative":
        from accord.decoding.amulet import amulet_logits_iterative
        return partial(amulet_logits_iterative, **params)
    if method == "la":
        from accord.decoding.linear_alignment import linear_alignment_logits
        return partial(linear_alignment_logits, **params)
    raise ValueError(f"accord: unknown two-stream method {method!r}; choose from {', '.join(METHODS)}")


def check_pair_args(extra_args: dict | None) -> None:
    """Reject a malformed pair request up front (vLLM turns ValueError into HTTP 400)."""
    if not extra_args or PAIR_KEY not in extra_args:
        return
    for key in ("accord_plain", "accord_pref", "accord_method", "accord_broken_token"):
        if key not in extra_args:
            raise ValueError(f"accord: a two-stream request needs vllm_xargs[{key!r}]")
    params = json.loads(extra_args.get("accord_params") or "{}")
    combine_function(extra_args["accord_method"], params)


@dataclass
class Row:
    pair: str
    role: str
    """"plain", "pref", or "stray" (its prompt matches neither fingerprint)."""
    output_ids: list
    """vLLM's live list of the row's generated token ids."""
    method: str
    params: dict
    broken_token: int


@dataclass
class Plan:
    pairs: list = field(default_factory=list)
    """(plain row index, preference row index, method, params as a sorted tuple, broken token)."""
    broken: list = field(default_factory=list)
    """(row index, broken token) of every row whose pair fell out of step."""
    masked: list = field(default_factory=list)
    """(row index, broken token) of healthy rows: the broken token is masked there."""


class PairTracker:
    """Which batch rows form (plain, preference) pairs, following vLLM's add / remove / move updates."""

    def __init__(self):
        self.rows: dict[int, Row] = {}
        self.broken_pairs: set[str] = set()

    def add(self, index: int, extra_args: dict | None, prompt_ids, output_ids: list) -> None:
        self.rows.pop(index, None)
        if not extra_args or PAIR_KEY not in extra_args:
            return
        pair = str(extra_args[PAIR_KEY])
        print_ = fingerprint(prompt_ids or [])
        taken = {row.role for row in self.rows.values() if row.pair == pair}
        if print_ == extra_args.get("accord_plain") and "plain" not in taken:
            role = "plain"
        elif print_ == extra_args.get("accord_pref") and "pref" not in taken:
            role = "pref"
        else:
            role = "stray"
        params = json.loads(extra_args.get("accord_params") or "{}")
        self.rows[index] = Row(pair, role, output_ids, str(extra_args.get("accord_method")), params,
                               int(extra_args.get("accord_broken_token", -1)))

    def remove(self, index: int) -> None:
        row = self.rows.pop(index, None)
        if row is not None and not any(r.pair == row.pair for r in self.rows.values()):
            self.broken_pairs.discard(row.pair)  # the pair is gone: forget it

    def move(self, source: int, target: int, swap: bool) -> None:
        moving, other = self.rows.pop(source, None), self.rows.pop(target, None)
        if moving is not None:
            self.rows[target] = moving
        if swap and other is not None:
            self.rows[source] = other

    def plan(self) -> Plan:
        """The pairs to combine this step, and the rows of pairs that fell out of step."""
        by_pair: dict[str, list[tuple[str, int]]] = {}
        for index, row in self.rows.items():
            by_pair.setdefault(row.pair, []).append((row.role, index))
        plan = Plan()
        for pair, members in by_pair.items():
            roles = dict(members)  # add() gives "plain" and "pref" to one row each; "stray" may repeat
            plain, pref = roles.get("plain"), roles.get("pref")
            in_step = (plain is not None and pref is not None and "stray" not in roles
                       and list(self.rows[plain].output_ids) == list(self.rows[pref].output_ids)
                       and pair not in self.broken_pairs)
            if not in_step:
                self.broken_pairs.add(pair)
                plan.broken.extend((index, self.rows[index].broken_token) for _, index in members)
                continue
            row = self.rows[plain]
            plan.pairs.append((plain, pref, row.method, tuple(sorted(row.params.items())), row.broken_token))
            plan.masked.extend([(plain, row.broken_token), (pref, row.broken_token)])
        return plan


def apply_plan(plan: Plan, logits):
    """Write the combined logits into both rows of each healthy pair; broken rows may only emit their
    broken token. logits: torch [num_rows, V] float32, modified in place and returned."""
    import torch

    for plain, pref, method, params, _ in plan.pairs:
        if torch.equal(logits[plain], logits[pref]):
            # already combined: vLLM loads the processor twice when it is both installed (entry point) and
            # named with --logits-processors; rows with equal logits also pick the same token uncombined
            continue
        combine = combine_function(method, dict(params))
        combined = combine(logits[plain:plain + 1], logits[pref:pref + 1]).to(logits.dtype)
        logits[plain] = combined[0]
        logits[pref] = combined[0]
    for index, token in plan.masked:
        if 0 <= token < logits.shape[1]:
            logits[index, token] = float("-inf")
    for index, token in plan.broken:
        logits[index] = float("-inf")
        if 0 <= token < logits.shape[1]:
            logits[index, token] = 0.0
    return logits


try:
    from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality
except ImportError:  # vLLM is not installed (accord's own venv): the pairing logic above still imports
    LogitsProcessor = None

if LogitsProcessor is not None:

    class TwoStreamProcessor(LogitsProcessor):
        """vLLM V1 logits processor running accord's two-stream methods on paired requests."""

        def __init__(self, vllm_config, device, is_pin_memory: bool):
            self.tracker = PairTracker()

        @classmethod
        def validate_params(cls, sampling_params):
            check_pair_args(sampling_params.extra_args)
            if sampling_params.extra_args and PAIR_KEY in sampling_params.extra_args \
                    and sampling_params.temperature > 0:
                raise ValueError("accord: two-stream decoding in vLLM is greedy only (temperature 0)")

        def is_argmax_invariant(self) -> bool:
            return False

        def update_state(self, batch_update: BatchUpdate | None) -> None:
            if batch_update is None:
                return
            for index in batch_update.removed:
                self.tracker.remove(index)
            for index, params, prompt_ids, output_ids in batch_update.added:
                self.tracker.add(index, params.extra_args if params is not None else None, prompt_ids, output_ids)
            for source, target, direction in batch_update.moved:
                self.tracker.move(source, target, direction == MoveDirectionality.SWAP)

        def apply(self, logits):
            if not self.tracker.rows:
                return logits
            return apply_plan(self.tracker.plan(), logits)
