"""Mutation testing of the modules that hold the methods' logic, with cosmic-ray (pip install cosmic-ray):
how many small single-point bugs (an operator, a number, a comparison, a boolean flipped) the targeted tests
catch. A standing measurement, not part of CI.

For each target (a module, the functions in it that hold logic, and its fast test files) the script makes a
cosmic-ray session, draws a seeded random sample of the mutants, and runs each through
`cosmic-ray mutate-and-test` on a private copy of the source (`git archive REV`: the working tree is never
touched). A mutant is *killed* when the tests fail, *survived* when they pass; a timeout counts as killed
(cosmic-ray's convention). Every target's unmutated tests must pass first, or the target is skipped.

    python scripts/mutation.py                                 # HEAD, 12 mutants per target
    python scripts/mutation.py --rev 7d648ec --sample 12 --out /tmp/mutation-before.jsonl
    python scripts/mutation.py --only stats,runs --sample 0    # every mutant of two targets
    python scripts/mutation.py --report /tmp/mutation.jsonl    # the table again, and the survivors' diffs

Results are appended to --out (JSONL, one line per mutant; a rerun skips mutants already there), then a
table of the kill share per target is printed. Heavy: run it under the shared lock with a time cap
(`flock /tmp/accord-heavy.lock timeout 1500 python scripts/mutation.py ...`). See docs/testing.md.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAST = "-x -q -p no:cacheprovider -W ignore"

TARGETS = {
    # name: (module, functions mutated (None: all), test files (missing ones are left out), -k expression)
    "mpo": ("accord/train/mpo.py",
            ["sequence_kl_surrogate", "sampled_logprobs", "mpo_loss", "mirror_targets", "mirror_loss", "refresh",
             "win_rate", "train_step", "token_logprobs", "next_token_logprobs"],
            ["tests/test_mpo.py", "tests/test_behaviour.py"],
            "not demo and not geometry and not command_line and not lora and not judge and not style "
            "and not orientation and not report and not summary and not bootstrap and not one_shot"),
    "judges": ("accord/train/judges.py", ["call_judge", "_p_first", "batch", "response_style", "style_cycle_judge"],
               ["tests/test_mpo.py", "tests/test_behaviour.py"], "judge or style"),
    "sampling": ("accord/lm/base.py", ["item_seed", "item_keys", "item_generators", "pick_tokens", "first_token_ids",
                                       "normalize_choices"],
                 ["tests/test_sampling.py", "tests/test_decoder.py"],
                 "sampl or seed or top_p or temperature or greedy or choice or bad_requests or keys"),
    "stats": ("accord/stats.py", None,
              ["tests/test_behaviour.py", "tests/test_consensus.py", "tests/test_values.py"], "bootstrap or summary"),
    "consensus-report": ("accord/consensus/report.py", ["_pearson", "seat_favour", "summarize"],
                         ["tests/test_consensus.py", "tests/test_behaviour.py"], "summary or favour or bootstrap"),
    "values-report": ("accord/values/report.py", ["summarize_records", "summarize"],
                      ["tests/test_values.py", "tests/test_behaviour.py"], "report"),
    "runs": ("accord/runs.py", ["sha256_file", "sha256_files", "_load", "append", "write_run_metadata"],
             ["tests/test_behaviour.py", "tests/test_cli_happy.py", "tests/test_consensus.py"],
             "batch_mode or resume or store or hash"),
    "llamacpp-batching": ("accord/lm/llamacpp.py", ["_groups", "_generate", "_run_streams"],
                          ["tests/test_llamacpp_tiny.py", "tests/test_llamacpp.py"],
                          "groups or batch or seeded or sampling"),
}


def export(rev: str, into: Path) -> None:
    """The tree of `rev` (tracked files only) under `into`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def test_command(tree: Path, files: list[str], keyword: str | None, timeout: int) -> str | None:
    present = [f for f in files if (tree / f).is_file()]
    if not present:
        return None
    select = f" -k '{keyword}'" if keyword else ""
    return f"timeout {timeout} {sys.executable} -m pytest {FAST} {' '.join(present)}{select}"


def annotation_spans(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """((line, column), (end line, end column)) of the type annotations of a module with `from __future__
    import annotations`: annotations are never evaluated there, so mutants in them are equivalent."""
    tree = ast.parse(path.read_text())
    lazy = any(isinstance(node, ast.ImportFrom) and node.module == "__future__" and
               any(alias.name == "annotations" for alias in node.names) for node in tree.body)
    spans = []
    if not lazy:
        return spans
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotations.append(node.returns)
            arguments = node.args
            for arg in arguments.posonlyargs + arguments.args + arguments.kwonlyargs + [arguments.vararg,
                                                                                         arguments.kwarg]:
                annotations.append(getattr(arg, "annotation", None))
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for annotation in filter(None, annotations):
            spans.append(((annotation.lineno, annotation.col_offset),
                          (annotation.end_lineno, annotation.end_col_offset)))
    return spans


def mutants(tree: Path, module: str, functions: list[str] | None, command: str) -> list[dict]:
    """Every mutation cosmic-ray would make in `module` (restricted to `functions`), annotations left out."""
    config = tree / "cosmic-ray.toml"
    config.write_text(f'[cosmic-ray]\nmodule-path = "{module}"\ntimeout = 600.0\nexcluded-modules = []\n'
                      f'test-command = "{command}"\n\n[cosmic-ray.distributor]\nname = "local"\n')
    session = tree / "session.sqlite"
    session.unlink(missing_ok=True)
    subprocess.run(["cosmic-ray", "init", str(config), str(session)], cwd=tree, check=True, capture_output=True)
    dump = subprocess.run(["cosmic-ray", "dump", str(session)], cwd=tree, check=True, capture_output=True, text=True)
    skip = annotation_spans(tree / module)
    found = []
    for line in dump.stdout.splitlines():
        item = json.loads(line)[0]
        for mutation in item["mutations"]:
            in_annotation = any(start <= tuple(mutation["start_pos"]) < end for start, end in skip)
            if (functions is None or mutation.get("definition_name") in functions) and not in_annotation:
                found.append({k: mutation[k] for k in ("module_path", "operator_name", "occurrence", "start_pos",
                                                       "definition_name")})
    return sorted(found, key=lambda m: (m["operator_name"], m["occurrence"]))  # the dump's order is random


def run_mutant(tree: Path, mutant: dict, command: str, timeout: int) -> dict:
    start = time.time()
    try:
        done = subprocess.run(["cosmic-ray", "mutate-and-test", mutant["module_path"], mutant["operator_name"],
                               str(mutant["occurrence"]), command], cwd=tree, capture_output=True, text=True,
                              timeout=timeout + 60)
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:  # cosmic-ray restores the file only when it finishes: restore it here
        result = {"test_outcome": "killed", "worker_outcome": "timeout", "diff": ""}
        shutil.copy(tree / ".original" / mutant["module_path"], tree / mutant["module_path"])
    return {"outcome": result.get("test_outcome"), "worker": result.get("worker_outcome"),
            "diff": "\n".join((result.get("diff") or "").splitlines()[3:]), "seconds": round(time.time() - start, 1)}


def report(rows: list[dict], show_survivors: bool = False) -> str:
    lines = [f"{'target':18s} {'rev':9s} {'mutants':>7s} {'killed':>6s} {'share':>6s}"]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["target"], row["rev"]), []).append(row)
    for (target, rev), items in sorted(groups.items()):
        killed = sum(r["outcome"] == "killed" for r in items)
        counted = sum(r["outcome"] in ("killed", "survived") for r in items)
        share = f"{killed / counted:6.0%}" if counted else "     -"
        lines.append(f"{target:18s} {rev:9s} {counted:7d} {killed:6d} {share}")
    if show_survivors:
        for row in rows:
            if row["outcome"] == "survived":
                lines.append(f"\n# survived: {row['target']} {row['rev']} {row['operator_name']} "
                             f"#{row['occurrence']} in {row['definition_name']} line {row['start_pos'][0]}\n{row['diff']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", default="HEAD", help="git revision whose code and tests are measured (default HEAD)")
    parser.add_argument("--only", help="comma-separated targets (default all): " + ", ".join(TARGETS))
    parser.add_argument("--sample", type=int, default=12, help="mutants drawn per target (0 = all; default 12)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    parser.add_argument("--timeout", type=int, default=240, help="seconds one mutant's tests may take (default 240)")
    parser.add_argument("--out", default="mutation.jsonl", help="results, appended (default mutation.jsonl)")
    parser.add_argument("--report", help="only print the table (and survivors) of this results file")
    args = parser.parse_args(argv)
    if args.report:
        print(report([json.loads(line) for line in Path(args.report).read_text().splitlines()], show_survivors=True))
        return 0
    if shutil.which("cosmic-ray") is None:
        print("mutation: cosmic-ray is not installed: pip install cosmic-ray", file=sys.stderr)
        return 2
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.rev], check=True, capture_output=True,
                         text=True).stdout.strip()
    out = Path(args.out)
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.is_file() else []
    done = {(r["target"], r["rev"], r["operator_name"], r["occurrence"]) for r in rows}
    names = args.only.split(",") if args.only else list(TARGETS)
    with tempfile.TemporaryDirectory(prefix=f"mutation-{rev}-") as tmp:
        tree = Path(tmp)
        export(rev, tree)
        shutil.copytree(tree / "accord", tree / ".original" / "accord")
        for name in names:
            module, functions, files, keyword = TARGETS[name]
            command = test_command(tree, files, keyword, args.timeout)
            if command is None or not (tree / module).is_file():
                print(f"{name}: no tests or no module at {rev}; skipped", file=sys.stderr)
                continue
            baseline = subprocess.run(command, shell=True, cwd=tree, capture_output=True, text=True)
            if baseline.returncode != 0:
                print(f"{name}: the unmutated tests fail at {rev}; skipped\n{baseline.stdout[-600:]}", file=sys.stderr)
                continue
            found = mutants(tree, module, functions, command)
            chosen = found if args.sample <= 0 else random.Random(f"{args.seed}|{name}").sample(
                found, min(args.sample, len(found)))
            print(f"{name}: {len(chosen)} of {len(found)} mutants ({command.split('pytest')[1].strip()})",
                  file=sys.stderr)
            for mutant in chosen:
                if (name, rev, mutant["operator_name"], mutant["occurrence"]) in done:
                    continue
                row = {"target": name, "rev": rev, **mutant, **run_mutant(tree, mutant, command, args.timeout)}
                with out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                rows.append(row)
                print(f"  {row['outcome']:9s} {row['seconds']:6.1f}s {mutant['operator_name']} #{mutant['occurrence']} "
                      f"in {mutant['definition_name']}", file=sys.stderr)
    print(report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
