"""Decoding speed of the test-time adaptation methods against plain greedy `model.generate`.

In one run, on the same model, questions and token counts (end-of-turn ignored so every method produces
exactly N tokens), it times:
  generate      transformers' own greedy `model.generate` of the plain prompts (the baseline)
  pref          accord's KV-cached decoder, one stream (Base/Pref cost)
  la            two streams, Linear Alignment
  amulet        two streams, Amulet closed form (the default)
  amulet-iter   two streams, Amulet's published 60-iteration loop
  reference     the paper-style Amulet loop without KV cache (whole sequence re-run per token), at batch 1,
                compared with accord's Amulet at batch 1
and prints tokens/s with ratios, writing everything to benchmarks/results/decoding.json.

When llama-cpp-python is installed (`--backends transformers,llamacpp`, the default then), the same run
also compares the backends on the model's GGUF file (benchmarks/llamacpp.py, the code it calls): plain
decoding and Amulet on the llama.cpp backend and on the transformers backend, and llama.cpp's own plain
generation as the anchor, stored under "backends" in the same JSON.

    python benchmarks/decoding.py                                   # qwen2.5-coder-0.5b, 64/128/256 tokens
    python benchmarks/decoding.py --model smollm2-135m --lengths 64 --reference-lengths 64
    python benchmarks/decoding.py --backends transformers       # without the llama.cpp comparison
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

import torch

from accord.decoding.methods import MethodConfig, build_prompts, combiner
from accord.decoding.reference import reference_decode
from accord.lm import load_model
from accord.lm.base import SamplingConfig
from accord.lm.hf import decode_streams
from accord.runs import versions

QUESTIONS = ["How do I learn Python?", "What are good habits for sleeping well?",
             "Explain photosynthesis to a child.", "How can a small team run better meetings?"]


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def save(results: dict, out: str) -> None:
    """Write what is measured so far (called after every row: a long run that is stopped keeps its rows)."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--lengths", default="64,128,256")
    parser.add_argument("--reference-lengths", default="256", help="lengths for the no-cache reference (batch 1)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--backends", default="transformers,llamacpp" if importlib.util.find_spec("llama_cpp")
                        else "transformers", help="add llamacpp to compare the backends (needs llama-cpp-python)")
    parser.add_argument("--out", default="benchmarks/results/decoding.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    lm = load_model(args.model, backend="transformers", dtype=args.dtype)
    config = MethodConfig(method="amulet", preference="concise")
    questions = (QUESTIONS * args.batch)[: args.batch]
    pairs = [build_prompts(lm, q, config) for q in questions]
    plain_ids, plain_mask = lm.encode([p for p, _ in pairs])
    both_ids, both_mask = lm.encode([p for p, _ in pairs] + [q for _, q in pairs])
    pad = lm.tokenizer.pad_token_id
    la = combiner(MethodConfig(method="la", preference="concise"))
    amulet = combiner(config)
    amulet_iter = combiner(MethodConfig(method="amulet", preference="concise",
                                        amulet=type(config.amulet)(form="iterative")))
    results = {"model": args.model, "dtype": str(lm.model.dtype), "batch": args.batch, "threads": torch.get_num_threads(),
               "machine": platform.processor() or platform.machine(), "versions": versions(), "rows": []}
    decode = lambda ids, mask, streams, combine, n: decode_streams(  # noqa: E731
        lm.model, ids, mask, streams, combine, SamplingConfig(max_new_tokens=n), set(), pad)
    decode(plain_ids, plain_mask, 1, None, 4)  # warm-up
    for length in [int(x) for x in args.lengths.split(",")]:
        row = {"new_tokens": length}
        row["generate"], _ = timed(lambda: lm.model.generate(input_ids=plain_ids, attention_mask=plain_mask,
                                                             max_new_tokens=length, min_new_tokens=length,
                                                             do_sample=False, pad_token_id=pad))
        row["pref"], _ = timed(lambda: decode(plain_ids, plain_mask, 1, None, length))
        row["la"], _ = timed(lambda: decode(both_ids, both_mask, 2, la, length))
        row["amulet"], _ = timed(lambda: decode(both_ids, both_mask, 2, amulet, length))
        row["amulet-iter"], _ = timed(lambda: decode(both_ids, both_mask, 2, amulet_iter, length))
        tokens = length * args.batch
        line = f"{length:4d} tokens x {args.batch}: " + "  ".join(
            f"{k} {tokens / row[k]:6.1f} tok/s ({row[k] / row['generate']:.2f}x)"
            for k in ("generate", "pref", "la", "amulet", "amulet-iter"))
        print(line, flush=True)
        row["amulet_over_generate"] = row["amulet"] / row["generate"]
        row["iterative_over_closed"] = row["amulet-iter"] / row["amulet"]
        results["rows"].append(row)
        save(results, args.out)
    encode = lambda text: lm.tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    plain_one, pref_one = pairs[0]
    one_ids, one_mask = lm.encode([plain_one, pref_one])
    for length in [int(x) for x in args.reference_lengths.split(",") if x]:
        ours, _ = timed(lambda: decode(one_ids, one_mask, 2, amulet, length))
        row = {"new_tokens": length, "batch": 1, "amulet": ours}
        results.setdefault("reference", []).append(row)
        save(results, args.out)
        print(f"{length:4d} tokens x 1: amulet {length / ours:6.1f} tok/s ({ours:.1f} s); no-cache reference "
              "running (slow on purpose)...", flush=True)
        ref, _ = timed(lambda: reference_decode(lm.model, encode(plain_one), encode(pref_one), amulet, length, set()))
        row.update(reference_no_cache=ref, speedup=ref / ours)
        print(f"{length:4d} tokens x 1: amulet {length / ours:6.1f} tok/s, no-cache reference "
              f"{length / ref:6.1f} tok/s -> {ref / ours:.1f}x faster", flush=True)
        save(results, args.out)
    if "llamacpp" in args.backends.split(","):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import llamacpp as backends_benchmark

        del lm
        print("backends (128 new tokens, all questions in one call, best of 2 rounds):", flush=True)
        backends = backends_benchmark.bench_model(args.model, 128, (QUESTIONS * args.batch)[: args.batch],
                                                  skip_transformers=False, rounds=2)
        for key, value in backends["ratios"].items():
            print(f"  {key:40s} {value:6.2f}x", flush=True)
        results["backends"] = backends
    save(results, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
