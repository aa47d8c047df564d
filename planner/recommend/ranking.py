"""Ordering and tagging candidates: the numbers decide.

Order: runs that fit, meet the deadline and stay within budget, cheapest first; then runs that fit but
miss a constraint, cheapest first; then runs that do not fit, closest to fitting first; last, the
configurations no training stack can run. Tags name the
cheapest run that fits, the fastest within budget, and the cheapest that meets the deadline.
"""

from __future__ import annotations

from dataclasses import replace

from planner.recommend.result import Candidate, Constraints

TAGS = ("cheapest", "fastest", "cheapest_within_deadline")


def assess(candidate: Candidate, constraints: Constraints) -> Candidate:
    """Mark whether a candidate meets the deadline and the budget (total and per hour)."""
    within = ((constraints.max_usd is None or candidate.usd <= constraints.max_usd)
              and (constraints.max_usd_per_hour is None or candidate.cost.usd_per_hour <= constraints.max_usd_per_hour))
    return replace(candidate, meets_deadline=candidate.fits and candidate.hours <= constraints.deadline,
                   within_budget=within)


def _order(candidate: Candidate) -> tuple:
    if not candidate.fits:
        impossible = candidate.peak_gib == 0  # no stack can run it (e.g. unsloth on several GPUs)
        return (3 if impossible else 2, -candidate.headroom_gib, candidate.hours)
    group = 0 if candidate.meets_deadline and candidate.within_budget else 1
    return (group, candidate.usd, candidate.hours, candidate.device)


def rank(candidates: list[Candidate], constraints: Constraints) -> list[Candidate]:
    """Assess, sort and tag every candidate."""
    ranked = sorted((assess(c, constraints) for c in candidates), key=_order)
    fitting = [c for c in ranked if c.fits and not c.tight] or [c for c in ranked if c.fits]  # safe fits first
    picks = {
        "cheapest": _best(fitting, lambda c: (c.usd, c.hours)),
        "fastest": _best([c for c in fitting if c.within_budget], lambda c: (c.hours, c.usd)),
        "cheapest_within_deadline": _best([c for c in fitting if c.meets_deadline], lambda c: (c.usd, c.hours)),
    }
    tagged = []
    for candidate in ranked:
        tags = tuple(tag for tag in TAGS if picks[tag] is candidate)
        tagged.append(replace(candidate, tags=tags) if tags else candidate)
    return tagged


def _best(candidates: list[Candidate], key) -> Candidate | None:
    return min(candidates, key=key) if candidates else None
