"""Consensus by selection against single drafts: the goal metric of the selected draft, of the first candidate
alone (a single sampled draft, same run, same tasks), and optionally of another run's drafts (e.g. greedy
single drafts) on the same tasks and goals.

    accord consensus run ... --temperature 0.7 --candidates 4 --out runs/sel
    accord consensus run ... --out runs/single                    # the same tasks, one greedy draft each
    python scripts/consensus_selection.py runs/sel --single runs/single [--json]

Voting goals' metric is the pass rate; Rawlsian and utilitarian are the min / mean score. Paired differences
with 95% bootstrap intervals (accord.stats). The selecting judge also scores the outcome, so the gain is
measured by the judge that chose (see accord/consensus/selection.py); rejudge both runs with another judge
(`accord consensus rejudge`) for a held-out view.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from accord.consensus.selection import summarize_selection
from accord.errors import AccordError
from accord.runs import ResultStore


def load(run_dir: str) -> tuple[dict, list[dict]]:
    path = Path(run_dir)
    if not (path / "run.json").is_file() or not (path / "results.jsonl").is_file():
        raise AccordError(f"{run_dir} is not a consensus run folder")
    return json.loads((path / "run.json").read_text())["settings"], ResultStore(path / "results.jsonl").records


def compare(selected_dir: str, single_dir: str | None) -> dict:
    settings, records = load(selected_dir)
    reading = settings.get("vote", "argmax")
    single = None
    if single_dir:
        other_settings, single = load(single_dir)
        if other_settings.get("vote", "argmax") != reading:
            raise AccordError("the two runs read votes differently (--vote); compare runs with the same reading")
    return {"reading": reading, "goals": summarize_selection(records, reading, single)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a consensus run made with --candidates > 1")
    parser.add_argument("--single", help="a single-draft run on the same tasks (optional)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        result = compare(args.run_dir, args.single)
    except AccordError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"goal metric ({result['reading']} reading); differences are paired, [95% bootstrap interval]")
    for goal, e in result["goals"].items():
        d = e["selected_minus_first"]
        line = (f"{goal:16s} n={e['n']:3d}  selected {e['selected']:.3f}  first candidate {e['first_candidate']:.3f}"
                f"  diff {d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]")
        if "single_run" in e:
            s = e["selected_minus_single_run"]
            line += f"  | single run {e['single_run']:.3f} (n={e['n_shared_with_single_run']}) diff {s[0]:+.3f} [{s[1]:+.3f}, {s[2]:+.3f}]"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
