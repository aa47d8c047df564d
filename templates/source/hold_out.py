"""The evaluation split of the templates that report held-out scores (classify, embed): without data.eval a
seeded share of the training rows is kept aside.

``make templates`` copies the lines between the markers into the templates that name this part.
"""

from __future__ import annotations

import random

from templates.source.common import *  # noqa: F403 - the common part comes first in every template


# >>> hold-out
def hold_out(rows: list[dict], seed: int) -> tuple[list[dict], list[dict]]:
    """Without data.eval, a seeded 10 % (at least one row) is kept aside so the reported scores are honest."""
    if len(rows) < 2:
        raise BadInput("data.train: need at least 2 rows to hold some out for evaluation (or give data.eval)")
    rows = random.Random(seed).sample(rows, len(rows))
    cut = max(len(rows) // 10, 1)
    log(f"note: no data.eval; holding out {cut} train rows for evaluation")
    return rows[cut:], rows[:cut]
# <<< hold-out
