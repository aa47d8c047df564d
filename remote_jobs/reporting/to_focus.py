"""The report as a FOCUS-style cost file (``report --format focus``): one CSV row per run per UTC day it used a
machine, in the column names of the FinOps Open Cost and Usage Specification that finance tools load.

Why per day: a run that starts on 31 October and ends on 1 November spent money in both months; cloud bills and
FOCUS files charge time where it was used. Each run's cost (the report's figure: the provider's bill where there
is one, else rate × time) is spread over the days of its machine's life (start, or creation, to teardown, or to
its end) in proportion to the seconds in each day, in cents, by largest remainder, so a run's rows add up to its
cost exactly and the file's total equals the report's. Open runs have no cost yet and get no rows (the report
shows them apart with what they have accrued).

Columns: BilledCost and EffectiveCost (the run's cost share), ListCost (the recorded rate × the hours of that
day: the price list the estimate used), BillingCurrency, ChargePeriodStart/End (ISO UTC), ChargeCategory
(Usage), ChargeDescription, ProviderName, ServiceName (the cloud), RegionName, ResourceId (the provider's own id
where known, else the run id), ResourceName (the job's name), SkuPriceId (the GPU), Tags (JSON: project, owner,
task, method, run_id), x_RunState.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from decimal import ROUND_DOWN, Decimal

from remote_jobs.clock import iso
from remote_jobs.money import cost_for
from remote_jobs.reporting.lines import RunLine
from remote_jobs.reporting.to_csv import cell_text

CENT = Decimal("0.01")
FOCUS_COLUMNS = ("BilledCost", "EffectiveCost", "ListCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd",
                 "ChargeCategory", "ChargeDescription", "ProviderName", "ServiceName", "RegionName", "ResourceId",
                 "ResourceName", "SkuPriceId", "Tags", "x_RunState")


def day_pieces(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at UTC midnights (one piece for an instant run)."""
    start, end = start.astimezone(timezone.utc), max(end, start).astimezone(timezone.utc)
    pieces, cursor = [], start
    while True:
        midnight = datetime(cursor.year, cursor.month, cursor.day, tzinfo=timezone.utc) + timedelta(days=1)
        if end <= midnight:
            pieces.append((cursor, end))
            return pieces
        pieces.append((cursor, midnight))
        cursor = midnight


def split_cents(total: Decimal, weights: list[float]) -> list[Decimal]:
    """``total`` (cents) in shares proportional to ``weights``, each in cents, adding up to ``total`` exactly."""
    cents = int((total / CENT).to_integral_value())
    weight_sum = sum(weights)
    if weight_sum <= 0:
        weights, weight_sum = [1.0] * len(weights), float(len(weights))
    exact = [Decimal(cents) * Decimal(repr(w)) / Decimal(repr(weight_sum)) for w in weights]
    floors = [int(e.to_integral_value(rounding=ROUND_DOWN)) for e in exact]
    left = cents - sum(floors)
    order = sorted(range(len(exact)), key=lambda i: (exact[i] - floors[i], -i), reverse=True)
    for i in order[:left]:
        floors[i] += 1
    return [Decimal(n) * CENT for n in floors]


def _life(line: RunLine) -> tuple[datetime, datetime] | None:
    r = line.record
    start = r.started_at or r.created_at
    end = r.torn_down_at or r.ended_at
    return (start, end) if start and end else None


def focus_rows(lines: list[RunLine]) -> list[dict[str, str]]:
    rows = []
    for line in lines:
        life = _life(line)
        if line.cost_usd is None or life is None:
            continue
        r = line.record
        pieces = day_pieces(*life)
        shares = split_cents(line.cost_usd, [(b - a).total_seconds() for a, b in pieces])
        tags = json.dumps({"project": r.project, "owner": r.owner, "task": r.task, "method": r.method,
                           "run_id": r.run_id}, sort_keys=True)
        resource = (r.handle.resource_id if r.handle and r.handle.resource_id else "") or r.run_id
        for (a, b), share in zip(pieces, shares, strict=True):
            listed = cost_for(r.price_usd_per_hour, (b - a).total_seconds())
            rows.append({
                "BilledCost": f"{share:f}", "EffectiveCost": f"{share:f}",
                "ListCost": "" if listed is None else f"{listed:f}", "BillingCurrency": "USD",
                "ChargePeriodStart": iso(a) or "", "ChargePeriodEnd": iso(b) or "", "ChargeCategory": "Usage",
                "ChargeDescription": cell_text("text", f"{r.gpus or 0}x {r.gpu or 'cpu'} for {r.task or 'a job'} "
                                                       f"({r.run_id})"),
                "ProviderName": cell_text("text", r.provider), "ServiceName": cell_text("text", r.cloud),
                "RegionName": cell_text("text", r.region), "ResourceId": cell_text("text", resource),
                "ResourceName": cell_text("text", r.name), "SkuPriceId": cell_text("text", r.gpu),
                "Tags": cell_text("text", tags), "x_RunState": r.state.value,
            })
    return rows


def to_focus(report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, FOCUS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(focus_rows(report.lines))
    return out.getvalue()
