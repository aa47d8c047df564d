"""What a spot run on SkyPilot bills besides its own machine: the managed-jobs controller VM.

Spot runs are managed jobs, and managed jobs need SkyPilot's jobs controller, a VM of its own. SkyPilot
0.14.1 sizes it ``cpus: 4+, memory: 4x, disk_size: 50`` (sky/jobs/constants.py CONTROLLER_RESOURCES) and
stops it (does not delete it) after 10 idle minutes (CONTROLLER_AUTOSTOP, ``down: False``), so it bills
while the run lasts plus those 10 minutes, and its 50 GB disk stays after that. Its rate is the cheapest
4 vCPU / 16 GiB machine in SkyPilot's own catalog that we hold (catalogs/v8/lambda/vms.csv,
``cpu_4x_general``); ``skypilot.controller_usd_per_hour`` overrides it for a team whose controller runs
elsewhere. The charge is an upper bound for one run: runs that overlap share one controller.
"""

from __future__ import annotations

from decimal import Decimal

from providers.types import Overhead

CONTROLLER_IDLE_S = 600.0  # sky/jobs/constants.py CONTROLLER_AUTOSTOP idle_minutes
CONTROLLER_DISK_GB = 50  # sky/jobs/constants.py CONTROLLER_RESOURCES disk_size
CONTROLLER_USD_PER_HOUR = Decimal("0.20")
CONTROLLER_SOURCE = ("github skypilot-org/skypilot-catalog catalogs/v8/lambda/vms.csv @0f407038: cpu_4x_general, "
                     "4 vCPU 16 GiB, us-east-1 (controller size: sky/jobs/constants.py, SkyPilot 0.14.1)")
CONTROLLER_AS_OF = "2026-09-25"
WHAT = "SkyPilot jobs controller VM (4 vCPU, 16 GiB; bills during the run and 10 idle minutes after)"


def controller_overhead(usd_per_hour: Decimal | None = None) -> Overhead:
    if usd_per_hour is not None:
        return Overhead(WHAT, usd_per_hour, CONTROLLER_IDLE_S, "settings: skypilot.controller_usd_per_hour", "")
    return Overhead(WHAT, CONTROLLER_USD_PER_HOUR, CONTROLLER_IDLE_S, CONTROLLER_SOURCE, CONTROLLER_AS_OF)


def disk_note() -> str:
    return (f"the jobs controller stops after 10 idle minutes but keeps its {CONTROLLER_DISK_GB} GB disk (billed "
            "by the cloud while stopped): `sky down` its cluster when no spot runs are planned")
