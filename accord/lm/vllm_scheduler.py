"""Bring the two rows of a two-stream pair (Amulet, LA) into a vLLM engine in the same step: a V1 scheduler.

Why it is needed (read in vLLM 0.32's source, and measured: docs/serving.md). The completions endpoint loops
over the prompts of one call and hands each to the engine on its own (OpenAIServingCompletion creates one
`engine_client.generate` per prompt; each `AsyncLLM.add_request` sends its own message to the engine-core
process). An idle engine core blocks on its input queue, takes the first request, drains whatever else has
already arrived, and steps (`EngineCore._process_input_queue`, then `_process_engine_step`). On a loaded
machine the second prompt of the pair arrives after that step has begun, so the first row is prefilled
and sampled alone, and accord's logits processor (accord.lm.vllm_processor) has to fail the pair.

What this does. `PairScheduler` is vLLM's scheduler with one change at the door: a request that names a pair
(vllm_xargs `accord_pair`) is held outside the waiting queue until the other row of its pair arrives; then
both enter the waiting queue together, in one engine step, and are prefilled and sampled in the same batch.
A held row whose partner does not come within `hold_seconds` (env ACCORD_VLLM_PAIR_HOLD_S, default 5) is let
in alone, and the processor fails it as a lone row; an aborted held row (client gone) is dropped. While a
row is held the scheduler reports work, so the engine keeps polling its input queue instead of blocking.

It only decides when rows enter. The processor still checks the pair at every step (a full batch or the
token budget can still split a pair's prefill) and fails a pair that fell out of step; the client retries
such a pair a bounded number of times (accord.lm.openai_compat).

    vllm serve MODEL --logits-processors accord.lm.vllm_processor:TwoStreamProcessor \
        --scheduler-cls accord.lm.vllm_scheduler.PairScheduler

It subclasses vLLM's synchronous `Scheduler` (the one vLLM uses on CPU). On a GPU, where vLLM defaults to
async scheduling, naming it turns async scheduling off (vLLM logs a warning); not measured here.

`PairGate` (the holding logic) is plain Python, importable and tested without vLLM.
"""

from __future__ import annotations

import os
import time

from accord.lm.vllm_processor import PAIR_KEY

HOLD_SECONDS = float(os.environ.get("ACCORD_VLLM_PAIR_HOLD_S", "5"))


def pair_of(request) -> str | None:
    """The pair id a vLLM request names (vllm_xargs accord_pair), or None."""
    params = getattr(request, "sampling_params", None)
    extra = getattr(params, "extra_args", None) or {}
    return str(extra[PAIR_KEY]) if PAIR_KEY in extra else None


class PairGate:
    """Holds the first row of each pair until the second arrives. Requests are anything with a request_id;
    `clock` is injectable for tests."""

    def __init__(self, hold_seconds: float = HOLD_SECONDS, clock=time.monotonic):
        self.hold_seconds = hold_seconds
        self.clock = clock
        self.held: dict[str, tuple[object, float]] = {}
        """pair id -> (the row waiting for its partner, the time it is let in alone)."""

    def arrive(self, pair: str, request) -> list:
        """The requests to add to the scheduler now: none (held) or both rows of the pair."""
        partner = self.held.pop(pair, None)
        if partner is None:
            self.held[pair] = (request, self.clock() + self.hold_seconds)
            return []
        return [partner[0], request]

    def expired(self) -> list:
        """Held rows whose partner did not come in time (let in alone: the processor fails them)."""
        now = self.clock()
        late = [pair for pair, (_, deadline) in self.held.items() if deadline <= now]
        return [self.held.pop(pair)[0] for pair in late]

    def drop(self, request_ids) -> None:
        """Forget held rows that were aborted (request_ids None: all of them)."""
        for pair, (request, _) in list(self.held.items()):
            if request_ids is None or request.request_id in request_ids:
                del self.held[pair]


try:
    from vllm.v1.core.sched.scheduler import Scheduler
except ImportError:  # vLLM is not installed (accord's own venv): PairGate above still imports
    Scheduler = None

if Scheduler is not None:

    class PairScheduler(Scheduler):
        """vLLM's scheduler, letting the two rows of each accord pair into the waiting queue together."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.pair_gate = PairGate()

        def add_request(self, request) -> None:
            pair = pair_of(request)
            if pair is None or request.request_id in self.requests:  # not a pair row, or a streaming update
                return super().add_request(request)
            for row in self.pair_gate.arrive(pair, request):
                super().add_request(row)

        def schedule(self, *args, **kwargs):
            for row in self.pair_gate.expired():
                super().add_request(row)
            return super().schedule(*args, **kwargs)

        def finish_requests(self, request_ids, finished_status):
            if request_ids is not None:
                request_ids = [request_ids] if isinstance(request_ids, str) else list(request_ids)
            self.pair_gate.drop(None if request_ids is None else set(request_ids))
            return super().finish_requests(request_ids, finished_status)

        def has_requests(self) -> bool:
            return bool(self.pair_gate.held) or super().has_requests()
