"""Score the memory and time estimators on measurement files (calibration CSV format).

Usage:
    .venv/bin/python bench/score_accuracy.py                        # the bundled public rows
    .venv/bin/python bench/score_accuracy.py --memory FILE --speed FILE --rows
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.accuracy import (  # noqa: E402
    MEMORY_TARGETS, SPEED_TARGETS, by_stack, memory_results, speed_results, summarize,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", default=str(ROOT / "tests/fixtures/measured-public.csv"))
    parser.add_argument("--speed", default=str(ROOT / "tests/fixtures/measured-speed-public.csv"))
    parser.add_argument("--rows", action="store_true", help="print every row")
    parser.add_argument("--by-stack", action="store_true", help="score each stack's rows on their own too")
    args = parser.parse_args()
    if args.memory:
        results = memory_results(args.memory)
        if args.rows:
            for r in results:
                print(f"  mem {r.case.row_id:>5} {r.case.label[:44]:44} {r.case.metric:10} "
                      f"measured {r.measured:7.2f} GiB  estimate {r.estimate:7.2f}  {r.error:+.0%}")
        s = summarize(results)
        print(f"memory ({len(results)} rows): median |error| {s.median_abs:.1%} (target ≤ {MEMORY_TARGETS['median_abs']:.0%}), "
              f"within ±25 % {s.share_within(0.25):.0%} (≥ {MEMORY_TARGETS['within_25']:.0%}), "
              f"under by >10 % {s.share_below(0.10):.0%} (≤ {MEMORY_TARGETS['under_10']:.0%})")
        if args.by_stack:
            for stack, part in by_stack(results).items():
                s = summarize(part)
                print(f"  memory {stack:10} {len(part):3} rows: median {s.median_abs:5.1%}, within ±25 % "
                      f"{s.share_within(0.25):4.0%}, under by >10 % {s.share_below(0.10):4.0%}")
    if args.speed:
        results = speed_results(args.speed)
        if args.rows:
            for r in results:
                print(f"  spd {r.case.row_id:>5} {r.case.label[:44]:44} measured {r.measured:8.0f} tok/s  "
                      f"estimate {r.estimate:8.0f}  {r.error:+.0%}")
        s = summarize(results)
        print(f"speed ({len(results)} rows): median |error| {s.median_abs:.1%} (target ≤ {SPEED_TARGETS['median_abs']:.0%}), "
              f"within ±25 % {s.share_within(0.25):.0%} (≥ {SPEED_TARGETS['within_25']:.0%}), "
              f"> 1.25× too fast {s.share_above(0.25):.0%} (≤ {SPEED_TARGETS['optimistic_25']:.0%})")
        if args.by_stack:
            for stack, part in by_stack(results).items():
                s = summarize(part)
                print(f"  speed  {stack:10} {len(part):3} rows: median {s.median_abs:5.1%}, within ±25 % "
                      f"{s.share_within(0.25):4.0%}, > 1.25× too fast {s.share_above(0.25):4.0%}")


if __name__ == "__main__":
    main()
