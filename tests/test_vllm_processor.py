"""accord's vLLM logits processor without vLLM: the pairing of (plain, preference) rows through vLLM's
add / remove / move updates, detection of pairs out of step, the logits it writes (the same pure
functions as the local backends), and how the HTTP client names the method."""

from functools import partial

import pytest
import torch

from accord.decoding.amulet import AmuletConfig, amulet_logits
from accord.decoding.linear_alignment import linear_alignment_logits
from accord.decoding.methods import MethodConfig, combiner
from accord.errors import AccordError
from accord.lm.openai_compat import server_method
from accord.lm.vllm_processor import PairTracker, apply_plan, check_pair_args, fingerprint

PLAIN, PREF = [1, 2, 3], [1, 2, 9, 3]
BROKEN = 7


def pair_args(pair="p1", method="amulet", params='{"alpha": 2.0}', plain=PLAIN, pref=PREF):
    return {"accord_pair": pair, "accord_plain": fingerprint(plain), "accord_pref": fingerprint(pref),
            "accord_method": method, "accord_params": params, "accord_broken_token": BROKEN}


def test_pairs_rows_by_prompt_fingerprint_in_any_order_and_follows_moves():
    tracker = PairTracker()
    outputs = {}
    tracker.add(0, pair_args(), PREF, outputs.setdefault("a", []))
    tracker.add(1, None, [5, 5], [])  # an ordinary request: ignored
    tracker.add(2, pair_args(), PLAIN, outputs.setdefault("b", []))
    plan = tracker.plan()
    assert [(p[0], p[1], p[2]) for p in plan.pairs] == [(2, 0, "amulet")] and plan.broken == []
    tracker.move(2, 1, swap=True)  # the plain row goes to 1; row 1 (not accord's) to 2
    tracker.move(0, 3, swap=False)
    assert [(p[0], p[1]) for p in tracker.plan().pairs] == [(1, 3)]
    outputs["a"].append(11)
    outputs["b"].append(11)  # same token on both rows: still in step
    assert len(tracker.plan().pairs) == 1


@pytest.mark.parametrize("fault", ["lone row", "different tokens", "different lengths", "stray third row"])
def test_out_of_step_pairs_are_broken_and_stay_broken(fault):
    tracker = PairTracker()
    plain_out, pref_out = [4], [4]
    tracker.add(0, pair_args(), PLAIN, plain_out)
    if fault != "lone row":
        tracker.add(1, pair_args(), PREF, pref_out)
    if fault == "different tokens":
        pref_out[0] = 5
    if fault == "different lengths":
        pref_out.append(6)
    if fault == "stray third row":
        tracker.add(2, pair_args(), [8, 8], [4])
    plan = tracker.plan()
    assert plan.pairs == [] and {index for index, _ in plan.broken} >= {0}
    assert all(token == BROKEN for _, token in plan.broken)
    if fault == "different tokens":
        pref_out[0] = 4  # back in step: the pair stays failed
        assert tracker.plan().pairs == []
    tracker.remove(0), tracker.remove(1), tracker.remove(2)
    assert tracker.broken_pairs == set() and tracker.rows == {}


def test_every_row_of_a_pair_matching_no_fingerprint_is_broken():
    tracker = PairTracker()
    for index in range(3):  # three rows claim the pair; none is its plain or preference prompt
        tracker.add(index, pair_args(), [8, 8], [])
    plan = tracker.plan()
    assert plan.pairs == [] and sorted(plan.broken) == [(0, BROKEN), (1, BROKEN), (2, BROKEN)]


def test_identical_prompts_take_the_two_roles_in_arrival_order():
    tracker = PairTracker()
    tracker.add(4, pair_args(plain=PLAIN, pref=PLAIN), PLAIN, [])
    tracker.add(6, pair_args(plain=PLAIN, pref=PLAIN), PLAIN, [])
    assert [(p[0], p[1]) for p in tracker.plan().pairs] == [(4, 6)]


def test_apply_writes_the_local_update_into_both_rows_and_fails_broken_rows():
    torch.manual_seed(0)
    logits = torch.randn(4, 12)
    original = logits.clone()
    tracker = PairTracker()
    tracker.add(1, pair_args(params='{"alpha": 1.5, "eta": 8.0, "lam": 2.0, "iterations": 30}'), PLAIN, [])
    tracker.add(3, pair_args(params='{"alpha": 1.5, "eta": 8.0, "lam": 2.0, "iterations": 30}'), PREF, [])
    tracker.add(2, pair_args(pair="lonely", method="la", params='{"ratio": 2.0}'), PLAIN, [])
    out = apply_plan(tracker.plan(), logits)
    expected = amulet_logits(original[1:2], original[3:4], alpha=1.5, eta=8.0, lam=2.0, iterations=30)[0]
    expected[BROKEN] = float("-inf")  # a healthy row can never produce the broken-pair token
    assert torch.equal(out[1], expected) and torch.equal(out[3], expected)
    assert torch.equal(out[0], original[0])  # not accord's row: untouched
    assert out[2].argmax() == BROKEN and torch.isinf(out[2]).sum() == 11


def test_linear_alignment_row_matches_the_local_function():
    logits = torch.randn(2, 9)
    original = logits.clone()
    tracker = PairTracker()
    tracker.add(0, pair_args(method="la", params='{"ratio": 3.0}'), PLAIN, [])
    tracker.add(1, pair_args(method="la", params='{"ratio": 3.0}'), PREF, [])
    out = apply_plan(tracker.plan(), logits)
    expected = linear_alignment_logits(original[0:1], original[1:2], ratio=3.0)[0]
    expected[BROKEN] = float("-inf")
    assert torch.equal(out[0], expected)


def test_bad_pair_arguments_are_rejected_up_front():
    check_pair_args(None)
    check_pair_args({"other": 1})
    with pytest.raises(ValueError, match="accord_method"):
        check_pair_args({"accord_pair": "x", "accord_plain": "a", "accord_pref": "b", "accord_broken_token": 1})
    with pytest.raises(ValueError, match="unknown two-stream method"):
        check_pair_args(pair_args(method="cfg"))


def test_client_names_the_method_from_the_local_combiner():
    amulet = MethodConfig(method="amulet", preference="concise", amulet=AmuletConfig(alpha=1.0, iterations=10))
    assert server_method(combiner(amulet)) == ("amulet", {"alpha": 1.0, "eta": 10.0, "lam": 2.0, "iterations": 10})
    iterative = MethodConfig(method="amulet", preference="concise", amulet=AmuletConfig(form="iterative"))
    assert server_method(combiner(iterative))[0] == "amulet_iterative"
    assert server_method(combiner(MethodConfig(method="la", preference="x"))) == ("la", {"ratio": 2.0})
    with pytest.raises(AccordError, match="cannot run inside a vLLM server"):
        server_method(lambda plain, pref: pref)
    with pytest.raises(AccordError, match="cannot run inside a vLLM server"):
        server_method(partial(torch.add))


class FakeVLLM:
    """/tokenize (one token per character, id = code point) and /v1/completions answering logprob_token_ids
    with log p(id) = -id/100 and pair calls like a vLLM server WITHOUT accord's processor (the rows decode
    independently: different tokens, stop_reason None), or, with `processor`, like one running it: rows whose
    prompt matches neither fingerprint, and the first `out_of_step` pair calls, come back failed (stop
    reason 7, the broken-pair token)."""

    def __init__(self):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests = []
        self.processor = False  # True: answer pair calls like a server running accord's processor
        self.out_of_step = 0  # pair calls still to answer as decoded out of step
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                server.requests.append((self.path, payload, dict(self.headers)))
                if self.path == "/tokenize":
                    answer = {"tokens": [ord(c) for c in payload["prompt"]]}
                elif "vllm_xargs" in payload and server.processor:
                    xargs = payload["vllm_xargs"]
                    prints = {xargs["accord_plain"], xargs["accord_pref"]}
                    stray = any(fingerprint(prompt) not in prints for prompt in payload["prompt"])
                    failed = stray or server.out_of_step > 0
                    server.out_of_step -= 0 if stray else 1
                    answer = {"choices": [{"index": i, "text": "" if failed else "ab",
                                           "token_ids": [7] if failed else [5, 6],
                                           "finish_reason": "stop" if failed else "length",
                                           "stop_reason": 7 if failed else None}
                                          for i in range(len(payload["prompt"]))]}
                elif "vllm_xargs" in payload:
                    answer = {"choices": [{"index": i, "text": f"row{i}", "token_ids": [i], "finish_reason": "length",
                                           "stop_reason": None} for i in range(len(payload["prompt"]))]}
                else:
                    ids = payload.get("logprob_token_ids") or []
                    answer = {"choices": [{"index": 0, "text": "7", "finish_reason": "length", "logprobs": {
                        "tokens": ["token_id:55"], "token_logprobs": [-0.5],
                        "top_logprobs": [{f"token_id:{i}": -i / 100 for i in ids}]}}]}
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture()
def fake_vllm():
    fake = FakeVLLM()
    yield fake
    fake.httpd.shutdown()
    fake.httpd.server_close()


def test_exact_choice_reading_by_token_id(fake_vllm):
    import numpy as np

    from accord.lm.openai_compat import OpenAICompatLM

    lm = OpenAICompatLM(fake_vllm.url, model="m", timeout=5)
    rows = lm.choice_logprobs(["q1", "q2"], ["A", "Bee", "7"])
    assert np.allclose(rows, [[-0.65, -0.66, -0.55]] * 2)  # first token of each choice: ord("A")=65, "B"=66, "7"=55
    assert lm.last_choice_sources == ["logprob_token_ids"] * 2 and lm.settings()["choice_reading"] == "exact"
    sent = [p for path, p, _ in fake_vllm.requests if path == "/v1/completions"][0]
    assert sent["logprob_token_ids"] == [65, 66, 55] and sent["logprobs"] == 3 and sent["return_tokens_as_token_ids"]
    with pytest.raises(AccordError, match="do not start with distinct tokens"):
        lm.choice_logprobs(["q"], ["Ab", "Ac"])


def test_a_server_without_the_processor_is_refused(fake_vllm):
    from accord.lm.base import SamplingConfig
    from accord.lm.openai_compat import OpenAICompatLM

    lm = OpenAICompatLM(fake_vllm.url, model="m", timeout=5)
    config = MethodConfig(method="amulet", preference="concise")
    with pytest.raises(AccordError, match="does not run accord's two-stream logits processor"):
        lm.generate_two_streams(["p"], ["q"], combiner(config), SamplingConfig(max_new_tokens=4))
    probe = [p for path, p, _ in fake_vllm.requests if path == "/v1/completions"][0]
    assert len(probe["prompt"]) == 2 and probe["vllm_xargs"]["accord_method"] == "amulet"
    assert probe["vllm_xargs"]["accord_plain"] not in (fingerprint(row) for row in probe["prompt"])
    assert probe["stop_token_ids"] == [7] and probe["temperature"] == 0.0  # "\x07" is token 7 here


def test_server_options_in_the_model_spec():
    from accord.lm.openai_compat import OpenAICompatLM

    lm = OpenAICompatLM.from_spec("http://gpu1:8000/v1#qwen?concurrency=32&timeout=2.5&retries=0&choice_reading=exact")
    assert (lm.base_url, lm.model, lm.concurrency, lm.timeout, lm.retries, lm.choice_reading) == \
        ("http://gpu1:8000/v1", "qwen", 32, 2.5, 0, "exact")
    assert OpenAICompatLM.from_spec("http://h:1/v1?api=chat#m").api == "chat"
    with pytest.raises(AccordError, match="unknown server option 'bogus'"):
        OpenAICompatLM.from_spec("http://h:1/v1#m?bogus=1")
    with pytest.raises(AccordError, match="concurrency='x' is not a int"):
        OpenAICompatLM.from_spec("http://h:1/v1#m?concurrency=x")
    with pytest.raises(AccordError, match="choice_reading must be"):
        OpenAICompatLM.from_spec("http://h:1/v1#m?choice_reading=maybe")


def test_pairs_are_pinned_to_data_parallel_ranks(fake_vllm):
    from accord.lm.base import SamplingConfig
    from accord.lm.openai_compat import OpenAICompatLM

    fake_vllm.processor = True
    lm = OpenAICompatLM.from_spec(fake_vllm.url + "#m?data_parallel_size=2&concurrency=1")
    out = lm.generate_two_streams(["p1", "p2", "p3"], ["q1", "q2", "q3"],
                                  combiner(MethodConfig(method="la", preference="x")), SamplingConfig(max_new_tokens=2))
    assert [(g.text, g.token_ids, g.finish_reason) for g in out] == [("ab", [5, 6], "length")] * 3
    pairs = [(p, h) for path, p, h in fake_vllm.requests
             if path == "/v1/completions" and p["vllm_xargs"]["accord_plain"] != "stray-plain"]  # not the probe
    assert [h.get("X-Data-Parallel-Rank") for _, h in pairs] == ["0", "1", "0"]  # HTTP headers ignore case
    assert pairs[1][0]["prompt"] == [[ord(c) for c in "p2"], [ord(c) for c in "q2"]]
    assert pairs[1][0]["vllm_xargs"]["accord_plain"] == fingerprint([ord(c) for c in "p2"])


def test_choices_sharing_a_first_token_are_an_error_not_a_fallback(fake_vllm):
    from accord.lm.openai_compat import OpenAICompatLM

    lm = OpenAICompatLM(fake_vllm.url, model="m", timeout=5)
    with pytest.raises(AccordError, match="do not start with distinct tokens"):
        lm.choice_logprobs(["q"], ["Ab", "Ac"])
    assert lm.choice_reading == "auto"


def test_applying_twice_is_applying_once():
    """vLLM runs two instances when the processor is both installed and named on the command line."""
    logits = torch.randn(3, 10)
    once = logits.clone()
    tracker = PairTracker()
    tracker.add(0, pair_args(), PLAIN, [])
    tracker.add(2, pair_args(), PREF, [])
    tracker.add(1, pair_args(pair="alone"), PLAIN, [])
    apply_plan(tracker.plan(), once)
    twice = apply_plan(tracker.plan(), apply_plan(tracker.plan(), logits.clone()))
    assert torch.equal(once, twice)


def test_a_pair_out_of_step_is_sent_again_a_bounded_number_of_times(fake_vllm):
    from accord.lm.base import SamplingConfig
    from accord.lm.openai_compat import OpenAICompatLM

    fake_vllm.processor = True
    comb, sampling = combiner(MethodConfig(method="amulet", preference="x")), SamplingConfig(max_new_tokens=2)
    lm = OpenAICompatLM(fake_vllm.url, model="m", concurrency=1, pair_retries=2)
    fake_vllm.out_of_step = 2  # the first question fails twice, then comes back in step
    out = lm.generate_two_streams(["p1", "p2"], ["q1", "q2"], comb, sampling)
    assert [g.text for g in out] == ["ab", "ab"] and lm.last_pair_attempts == [3, 1]
    fake_vllm.out_of_step = 3  # more failures than retries: an error naming the pair scheduler, no answer
    with pytest.raises(AccordError, match="out of step in 3 call.*--scheduler-cls accord.lm.vllm_scheduler"):
        lm.generate_two_streams(["p1"], ["q1"], comb, sampling)
    lm = OpenAICompatLM.from_spec(fake_vllm.url + "#m?pair_retries=0&concurrency=1")
    fake_vllm.out_of_step = 1
    with pytest.raises(AccordError, match="out of step in 1 call"):
        lm.generate_two_streams(["p1"], ["q1"], comb, sampling)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Request:
    def __init__(self, request_id, pair=None):
        self.request_id = request_id
        self.sampling_params = type("Params", (), {"extra_args": {"accord_pair": pair} if pair else None})()


def test_pair_gate_lets_both_rows_in_together_and_a_lone_row_in_after_the_hold():
    from accord.lm.vllm_scheduler import PairGate, pair_of

    clock = Clock()
    gate = PairGate(hold_seconds=5.0, clock=clock)
    a1, b1, a2, b2, lone = (Request("a1", "A"), Request("b1", "B"), Request("a2", "A"), Request("b2", "B"),
                            Request("z", "Z"))
    assert [pair_of(r) for r in (a1, Request("x"))] == ["A", None]
    assert gate.arrive("A", a1) == [] and gate.arrive("B", b1) == [] and gate.arrive("Z", lone) == []
    assert gate.arrive("A", a2) == [a1, a2]  # the pair enters in one engine step, in arrival order
    clock.now = 4.9
    assert gate.expired() == [] and gate.arrive("B", b2) == [b1, b2]
    clock.now = 5.0
    assert gate.expired() == [lone] and gate.held == {}  # a lone row goes in alone: the processor fails it
    gate.arrive("C", Request("c1", "C")), gate.arrive("D", Request("d1", "D"))
    gate.drop({"c1"})  # aborted while held
    assert list(gate.held) == ["D"]
    gate.drop(None)
    assert gate.held == {}
