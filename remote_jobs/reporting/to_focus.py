"""The report as a FOCUS-style cost file (``report --format focus``): one CSV row per run per UTC day it used a
machine, in the column names of the FinOps Open Cost and Usage Specification that finance tools load.

Why per day: a run that starts on 31 October and ends on 1 November spent money in both months; cloud bills and
FOCUS files charge time where it was used. The rows are the report's own day allocation (``allocate``: the
provider's bill where there is one, else rate × time including the idle time before teardown, spread over the
days of the machine's life by seconds, to a hundredth of a cent, by largest remainder), so a run's rows add up
to its cost and the file's total equals the report's. Open runs have no cost yet and get no rows (the report
shows them apart with what they have accrued).

Columns: BilledCost and EffectiveCost (the run's cost share), ListCost (the recorded rate × the machine's hours
that day: the price list the estimate used), BillingCurrency, ChargePeriodStart/End (the UTC day, ISO), ChargeCategory
(Usage), ChargeDescription, ProviderName, ServiceName (the cloud), RegionName, ResourceId (the provider's own id
where known, else the run id), ResourceName (the job's name), SkuPriceId (the GPU), Tags (JSON: the spec's
tags, project, owner, task, method, run_id), x_RunState.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from remote_jobs.clock import iso
from remote_jobs.money import cost_for
from remote_jobs.reporting.allocate import allocate, to_unit
from remote_jobs.reporting.to_csv import cell_text

FOCUS_COLUMNS = ("BilledCost", "EffectiveCost", "ListCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd",
                 "ChargeCategory", "ChargeDescription", "ProviderName", "ServiceName", "RegionName", "ResourceId",
                 "ResourceName", "SkuPriceId", "Tags", "x_RunState")


def focus_rows(report) -> list[dict[str, str]]:
    rows = []
    seen: set[str] = set()
    for line in report.lines:
        r = line.record
        if line.cost_usd is None or r.run_id in seen:
            continue
        seen.add(r.run_id)
        allocation = allocate(r, report.generated_at)
        life_start = r.started_at or r.created_at
        life_end = r.torn_down_at or r.ended_at or report.generated_at
        tags = cell_text("text", json.dumps(run_tags(r), sort_keys=True))
        resource = (r.handle.resource_id if r.handle and r.handle.resource_id else "") or r.run_id
        for day, share in sorted(allocation.by_day.get("cost", {}).items()):
            if not report.period.start <= day < report.period.end:
                continue
            following = day + timedelta(days=1)
            used_s = max(0.0, (min(following, life_end) - max(day, life_start)).total_seconds()) if life_start else 0.0
            listed = to_unit(cost_for(r.price_usd_per_hour, used_s))
            rows.append({
                "BilledCost": f"{share:f}", "EffectiveCost": f"{share:f}",
                "ListCost": "" if listed is None else f"{listed:f}", "BillingCurrency": "USD",
                "ChargePeriodStart": iso(day) or "", "ChargePeriodEnd": iso(following) or "", "ChargeCategory": "Usage",
                "ChargeDescription": cell_text("text", f"{r.gpus or 0}x {r.gpu or 'cpu'} for {r.task or 'a job'} "
                                                       f"({r.run_id})"),
                "ProviderName": cell_text("text", r.provider), "ServiceName": cell_text("text", r.cloud),
                "RegionName": cell_text("text", r.region), "ResourceId": cell_text("text", resource),
                "ResourceName": cell_text("text", r.name), "SkuPriceId": cell_text("text", r.gpu),
                "Tags": tags, "x_RunState": r.state.value,
            })
    return rows


def run_tags(record) -> dict[str, str]:
    """The run's tags for a cost file: the spec's own tags, then project, owner, task, method and run id."""
    return {**{str(k): str(v) for k, v in (record.tags or {}).items()}, "project": record.project,
            "owner": record.owner, "task": record.task, "method": record.method, "run_id": record.run_id}


def to_focus(report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, FOCUS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(focus_rows(report))
    return out.getvalue()
