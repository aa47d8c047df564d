"""What RunPod billed for one pod, from its billing API (``GET /v2/billing/pods?podId=…``, documented at
docs.runpod.io/api-reference-v2/billing/get-pod-billing-history: ``startTime``/``endTime``/``bucketSize``/
``podId``, answering ``{"records": [...], "metadata": ...}``; under the same endpoint as GraphQL, so
``RUNPOD_API_BASE_URL`` moves it too). An answer in a shape tuneplan does not read is an error that says
so (``BillUnreadable``), never a silent "no bill yet" forever.

RunPod's billing lags the pod by minutes to hours, and the bucket in progress is already listed with what it
holds so far. A figure read too early is too low, and the ledger prefers a billed figure to rate × time, so
an early figure would understate the run. So a figure comes back only when the records can be complete:
the pod's end is known, the settle time has passed since it, and the hourly records reach the hour the pod
ended in. Otherwise None (the ledger keeps rate × time; a later teardown/reap can ask again). Records are
read leniently: the total is ``totalAmount`` (v2) or ``amount`` (v1), in USD; the bucket start is ``time``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from providers.types import ProviderError

BILLING_PATH = "/v2/billing/pods"
LOOKBACK = timedelta(days=31)
BUCKET = timedelta(hours=1)
SETTLE = timedelta(hours=1)  # how long after a pod's end its bill is taken as final (RunPod states no figure)
END_SLACK = timedelta(minutes=10)  # the noted end is when we saw the pod gone, a little after it really ended
TOTAL_FIELDS = ("totalAmount", "amount", "total")
TIME_FIELDS = ("time", "startTime", "bucketStart")
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def pod_bill(api, pod_id: str, ended_at: datetime, now: datetime, settle: timedelta = SETTLE) -> Decimal | None:
    """The pod's billed total in USD, or None while RunPod's records may not yet cover its end."""
    if now < ended_at + settle:
        return None
    end_hour = ended_at.replace(minute=0, second=0, microsecond=0)
    params = {"podId": pod_id, "bucketSize": "hour",
              "startTime": (end_hour - LOOKBACK).strftime(STAMP), "endTime": (end_hour + BUCKET).strftime(STAMP)}
    answer = api.get(BILLING_PATH, params, "the pod billing query")
    records = answer.get("records") if isinstance(answer, dict) else answer
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise BillUnreadable(f"RunPod's billing answer is not a list of records ({_shape(answer)}); tuneplan cannot "
                             "read this bill")
    ours = [r for r in records if r.get("podId") in (None, pod_id)]
    if ours and not any(_amount(r) is not None and _bucket_start(r) is not None for r in ours):
        raise BillUnreadable(f"RunPod's billing records have no amount and time tuneplan reads (fields: "
                             f"{', '.join(sorted(ours[0]))[:200]}); tuneplan cannot read this bill")
    starts = [start for start in map(_bucket_start, ours) if start is not None]
    if not starts or max(starts) + BUCKET <= ended_at - END_SLACK:
        return None  # the hour the pod ended in is not billed yet
    amounts = [a for a in map(_amount, ours) if a is not None]
    return sum(amounts, Decimal(0)).quantize(Decimal("0.000001")) if amounts else None


class BillUnreadable(ProviderError):
    """RunPod answered the billing query in a shape this version does not read."""

    title = "bill unreadable"


def _shape(answer: object) -> str:
    if isinstance(answer, dict):
        return "an object with " + (", ".join(sorted(map(str, answer)))[:120] or "no keys")
    return type(answer).__name__


def _amount(record: dict[str, Any]) -> Decimal | None:
    for name in TOTAL_FIELDS:
        if record.get(name) is not None:
            try:
                return Decimal(str(record[name]))
            except InvalidOperation:
                return None
    return None


def _bucket_start(record: dict[str, Any]) -> datetime | None:
    for name in TIME_FIELDS:
        value = record.get(name)
        if isinstance(value, str) and value:
            try:
                start = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return None
            return start if start.tzinfo else start.replace(tzinfo=timezone.utc)
    return None
