"""The OpenAI-compatible HTTP backend against a small fake server on 127.0.0.1 (http.server in a thread):
completions and chat APIs, digit scores from top_logprobs, the single-answer fallback, retries with
backoff, timeouts, concurrency, and the consensus judge on top of it."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from accord.consensus.data import SAMPLE_DIR, load_tasks
from accord.consensus.judge import DIGITS, judge_resolution
from accord.errors import AccordError
from accord.lm.base import SamplingConfig
from accord.lm.openai_compat import OpenAICompatLM

# The fake model: digit 7 most likely, then 6, then 2; text answers echo the prompt length.
TOP = {"7": -0.4, " 6": -1.5, "2": -2.5, "x": -3.0}
GATHER_WAIT = 3.0  # seconds a request is held waiting for others (only reached when requests are serialized)


class FakeServer:
    def __init__(self):
        self.mode = "logprobs"  # logprobs | chosen_only | none | garbage
        self.fail_first = 0  # answer 503 to this many requests
        self.delay = 0.0
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.gather = 0  # hold the first requests until this many are in flight (or GATHER_WAIT passes)
        self.changed = threading.Condition(self.lock)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length))
                if not self.path.endswith("completions"):  # no /tokenize: not a vLLM server
                    self.send_error(404, "not found")
                    return
                with server.lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), **payload})
                    fail = server.fail_first > 0
                    server.fail_first -= 1 if fail else 0
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    server.changed.notify_all()
                    if server.changed.wait_for(lambda: server.in_flight >= server.gather, timeout=GATHER_WAIT):
                        server.gather = 0  # gathered once: let everything through from now on
                try:
                    if server.delay:
                        time.sleep(server.delay)
                    if fail:
                        self.send_error(503, "busy")
                        return
                    body = json.dumps(server.answer(self.path, payload)).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)
                finally:
                    with server.lock:
                        server.in_flight -= 1
                        server.changed.notify_all()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, path, payload):
        chat = path.endswith("/chat/completions")
        prompt = json.dumps(payload["messages"]) if chat else payload["prompt"]
        wants_logprobs = payload.get("logprobs") not in (None, False)
        if payload["max_tokens"] == 1:
            text = {"logprobs": "7", "chosen_only": "7", "none": "5", "garbage": "maybe"}[self.mode]
        else:
            text = f"len={len(prompt)}"
        choice = {"index": 0, "finish_reason": "stop"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        if wants_logprobs and self.mode == "logprobs":
            if chat:
                choice["logprobs"] = {"content": [{"token": "7", "logprob": TOP["7"], "top_logprobs": [
                    {"token": t, "logprob": v} for t, v in TOP.items()]}]}
            else:
                choice["logprobs"] = {"tokens": ["7"], "token_logprobs": [TOP["7"]], "top_logprobs": [dict(TOP)]}
        if wants_logprobs and self.mode == "chosen_only":  # the sampled token's log-prob, no alternatives
            if chat:
                choice["logprobs"] = {"content": [{"token": "7", "logprob": TOP["7"], "top_logprobs": []}]}
            else:
                choice["logprobs"] = {"tokens": ["7"], "token_logprobs": [TOP["7"]], "top_logprobs": None}
        return {"id": "x", "object": "text_completion", "choices": [choice]}


@pytest.fixture()
def server():
    fake = FakeServer()
    fake.thread.start()
    yield fake
    fake.httpd.shutdown()
    fake.httpd.server_close()


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_choice_logprobs_from_top_logprobs(server, api):
    lm = OpenAICompatLM(server.url, model="fake", api=api, timeout=5)
    rows = lm.choice_logprobs(["a", "b", "c"], DIGITS, prefix="shared ")
    assert rows.shape == (3, 10) and lm.last_choice_sources == ["top_logprobs"] * 3
    assert rows[0, 7] == pytest.approx(-0.4) and rows[0, 6] == pytest.approx(-1.5) and rows[0, 2] == pytest.approx(-2.5)
    assert np.isneginf(rows[0, 0])
    sent = server.requests[0]
    assert sent["path"] == f"/v1/{'chat/' if api == 'chat' else ''}completions" and sent["max_tokens"] == 1
    assert sent["model"] == "fake" and sent["temperature"] == 0.0
    if api == "completions":
        assert sent["prompt"].startswith("shared ") and sent["logprobs"] == 20
    else:
        assert sent["top_logprobs"] == 20 and sent["messages"][-1]["content"].startswith("shared ")


def test_fallback_to_single_answer_is_flagged(server):
    lm = OpenAICompatLM(server.url, timeout=5)
    server.mode = "none"
    rows = lm.choice_logprobs(["a", "b"], DIGITS)
    assert lm.last_choice_sources == ["answer", "answer"] and rows[0, 5] == 0 and np.isneginf(rows[0, 4])
    server.mode = "garbage"
    rows = lm.choice_logprobs(["a"], DIGITS)
    assert lm.last_choice_sources == ["unusable"] and np.isneginf(rows).all()


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_chosen_token_logprob_is_read_when_no_alternatives_come(server, api):
    server.mode = "chosen_only"
    lm = OpenAICompatLM(server.url, api=api, timeout=5)
    rows = lm.choice_logprobs(["a"], DIGITS)
    assert lm.last_choice_sources == ["top_logprobs"]
    assert rows[0, 7] == pytest.approx(TOP["7"]) and np.isneginf(np.delete(rows[0], 7)).all()


def test_api_key_header(server, monkeypatch):
    OpenAICompatLM(server.url, timeout=5).generate(["hi"], SamplingConfig(max_new_tokens=4))
    assert "Authorization" not in server.requests[-1]["headers"]  # no key set: none sent
    monkeypatch.setenv("ACCORD_API_KEY", "secret-1")
    OpenAICompatLM(server.url, timeout=5).choice_logprobs(["a"], DIGITS)
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer secret-1"
    OpenAICompatLM(server.url, api="chat", api_key="secret-2", timeout=5).generate(["hi"], SamplingConfig())
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer secret-2"  # an explicit key wins
    assert server.requests[-1]["headers"]["Content-Type"] == "application/json"


def test_judge_over_http_records_distribution_and_sources(server):
    task = load_tasks(SAMPLE_DIR, 4)[0]
    lm = OpenAICompatLM(server.url, timeout=5)
    votes, _ = judge_resolution(lm, task, "The European Parliament agrees.")
    assert [v.score for v in votes] == [7] * 4 and all(v.source == "top_logprobs" for v in votes)
    probs = np.exp([-0.4, -1.5, -2.5]) / np.exp([-0.4, -1.5, -2.5]).sum()
    assert votes[0].expected == pytest.approx(float(probs @ [7, 6, 2]))
    assert len(server.requests) == 4  # one per party
    server.mode = "garbage"
    votes, _ = judge_resolution(lm, task, "The European Parliament agrees.")
    assert all(v.score is None and v.source == "unusable" for v in votes)


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_generate_in_order_with_concurrency(server, api):
    server.gather = 4  # the server holds requests until 4 are in flight: only concurrent requests get there
    lm = OpenAICompatLM(server.url, api=api, concurrency=4, timeout=10)
    prompts = [lm.chat_prompt("q" * n, system="s") for n in range(1, 9)]
    out = lm.generate(prompts, SamplingConfig(max_new_tokens=16))
    assert len(out) == 8 and server.max_in_flight == 4  # concurrent, and never more than `concurrency`
    if api == "completions":
        assert [g.text for g in out] == [f"len={len(p)}" for p in prompts]
        assert prompts[0].endswith("<|im_start|>assistant\n")
    else:
        messages = OpenAICompatLM.prompt_messages(prompts[2] + "prefill")
        assert messages == [{"role": "system", "content": "s"}, {"role": "user", "content": "qqq"}]
    assert all(g.finish_reason == "stop" for g in out)


def test_sampling_seed_sent_for_a_prompt_does_not_depend_on_the_batch(server):
    lm = OpenAICompatLM(server.url, concurrency=1, timeout=5)
    sampling = SamplingConfig(max_new_tokens=4, temperature=1.0, seed=3)
    lm.generate(["a", "b", "a"], sampling)
    lm.generate(["b"], sampling)
    seeds = [request["seed"] for request in server.requests]
    assert seeds[1] == seeds[3] and len(set(seeds[:3])) == 3  # "b" alone = "b" second; a repeated "a" differs


def test_retries_with_backoff_then_succeeds(server):
    server.fail_first = 2
    lm = OpenAICompatLM(server.url, retries=3, backoff=0.01, timeout=5)
    assert lm.generate(["hi"], SamplingConfig(max_new_tokens=4))[0].text == "len=2"
    assert len(server.requests) == 3


def test_gives_up_after_retries(server):
    server.fail_first = 10
    lm = OpenAICompatLM(server.url, retries=1, backoff=0.01, timeout=5)
    with pytest.raises(AccordError, match="after 2 attempt.*HTTP 503"):
        lm.generate(["hi"], SamplingConfig(max_new_tokens=4))


def test_timeout_and_unreachable(server):
    server.delay = 1.0
    lm = OpenAICompatLM(server.url, retries=0, timeout=0.2)
    with pytest.raises(AccordError, match="failed after 1 attempt"):
        lm.generate(["hi"], SamplingConfig(max_new_tokens=4))
    closed = OpenAICompatLM("http://127.0.0.1:9/v1", retries=0, timeout=1)
    with pytest.raises(AccordError, match="failed"):
        closed.choice_logprobs(["x"], DIGITS)


def test_two_streams_and_bad_specs():
    lm = OpenAICompatLM.from_spec("http://127.0.0.1:9/v1#m?api=chat")
    assert lm.model == "m" and lm.api == "chat"
    lm = OpenAICompatLM.from_spec("http://127.0.0.1:9/v1?api=chat#m")
    assert lm.model == "m" and lm.api == "chat" and lm.base_url == "http://127.0.0.1:9/v1"
    with pytest.raises(AccordError, match="two-stream"):
        lm.generate_two_streams(["a"], ["b"], None, SamplingConfig())
    with pytest.raises(AccordError, match="http"):
        OpenAICompatLM("ftp://x")


def test_load_model_serves_http_names_and_openai_backend(server):
    from accord.lm import load_model

    lm = load_model(server.url + "#judge")
    assert isinstance(lm, OpenAICompatLM) and lm.model == "judge" and lm.backend == "openai"
    assert load_model(server.url, backend="openai").base_url == lm.base_url
    assert lm.choice_logprobs(["Rate it"], DIGITS).shape == (1, 10)
