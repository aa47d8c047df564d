"""What RunPod billed for one pod, from its billing API (``GET /v2/billing/pods?podId=…``, under the same
endpoint as GraphQL, so ``RUNPOD_API_BASE_URL`` moves it too).

RunPod's billing lags the pod by minutes to hours, so "no record yet" is an answer (None: the ledger keeps
rate × time and a later ``tuneplan report`` can ask again), not an error. Records are read leniently: a
record's total is ``totalAmount`` (v2) or ``amount`` (v1), in USD.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

BILLING_PATH = "/v2/billing/pods"
LOOKBACK = timedelta(days=31)
TOTAL_FIELDS = ("totalAmount", "amount", "total")


def pod_bill(api, pod_id: str, now: datetime) -> Decimal | None:
    """The pod's billed total in USD over the last month, or None when RunPod has no record of it yet."""
    params = {"podId": pod_id, "bucketSize": "day", "grouping": "podId",
              "startTime": (now - LOOKBACK).strftime("%Y-%m-%dT00:00:00Z"), "endTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    answer = api.get(BILLING_PATH, params, "the pod billing query")
    records = answer.get("records") if isinstance(answer, dict) else answer
    amounts = [_amount(r) for r in records or [] if isinstance(r, dict) and r.get("podId") in (None, pod_id)]
    amounts = [a for a in amounts if a is not None]
    return sum(amounts, Decimal(0)).quantize(Decimal("0.000001")) if amounts else None


def _amount(record: dict[str, Any]) -> Decimal | None:
    for name in TOTAL_FIELDS:
        if record.get(name) is not None:
            try:
                return Decimal(str(record[name]))
            except InvalidOperation:
                return None
    return None
