"""What a run costs: the GPU-hours plus the fixed costs every run pays (provisioning and setup, the
model download, storage), each as its own term. Money is Decimal throughout; hours come from the time
model as floats and are converted once, here.

Every assumption is a named constant. None of them is in the bundled price data; they are typical
values, and ``assumptions()`` lists them so the JSON shows every guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from planner.catalog.prices import PriceRow

CENT = Decimal("0.01")
HOURS_PER_MONTH = Decimal("730")
# Minutes from "launch" until the machine runs our script (boot, image pull), billed at its rate.
PROVISIONING_MINUTES = {"skypilot": 6, "runpod": 3, "modal": 1, "local": 0}
# Minutes to install the template's requirements (torch, transformers, peft, trl) on a fresh machine;
# Modal caches the built image after its first run.
SETUP_MINUTES = {"skypilot": 6, "runpod": 4, "modal": 2, "local": 0}
# A local run's own start: the interpreter, torch and transformers imports, the model load (a tiny model on a laptop
# CPU measures 8-10 s, a 7B model from disk longer): assumption, corrected by the team's runs (planner.learning).
LOCAL_STARTUP_S = 15.0
# Hugging Face Hub → cloud machine download speed, and the published weight format (bf16 safetensors).
DOWNLOAD_MB_S = 200.0
DOWNLOAD_BYTES_PER_PARAM = 2
# Disk a run needs besides the weights (OS image, Python environment, data) and how many weight-sized
# checkpoints it keeps (the templates keep two).
DISK_BASE_GB = 50.0
CHECKPOINT_COPIES = 2
# Attached-disk list prices per GB-month (AWS gp3 0.08, GCP pd-balanced 0.10, Azure standard SSD ~0.10).
# Lambda and RunPod include local NVMe in the instance price; Modal volumes are free up to 1 TiB.
STORAGE_USD_PER_GB_MONTH = {"aws": Decimal("0.08"), "gcp": Decimal("0.10"), "azure": Decimal("0.10")}
# Modal bills CPU and memory on top of the GPU: $0.0000131 per physical core-second and $0.00000222 per
# GiB-second (modal.com pricing, as listed by finops.apis.io), for what a training container reserves.
MODAL_USD_PER_CORE_SECOND = Decimal("0.0000131")
MODAL_USD_PER_GIB_SECOND = Decimal("0.00000222")
MODAL_CORES_PER_GPU = 4
MODAL_MEMORY_GIB_PER_GPU = 32
# GCP T4/V100 rows price only the GPU: an n1-standard-8 host (us-central1 list ≈ $0.38/h) per GPU.
GCP_N1_HOST_USD_PER_HOUR = Decimal("0.38")
# What a unit of energy costs when the user has not said (settings: electricity.kwh_usd).
DEFAULT_KWH_USD = Decimal("0.30")


def usd(value: Decimal) -> Decimal:
    """Round to cents (half up), the unit every shown amount uses."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def dec_hours(hours: float) -> Decimal:
    return Decimal(repr(round(hours, 6)))


@dataclass(frozen=True)
class RunCost:
    """Hourly rate, the fixed hours a run adds, and the cost terms (which sum to ``total``)."""

    usd_per_hour: Decimal
    fixed_hours: float
    terms: dict[str, Decimal]

    @property
    def total(self) -> Decimal:
        return sum(self.terms.values(), Decimal(0))


def host_usd_per_hour(row: PriceRow) -> Decimal:
    """CPU and memory that a "GPU only" price leaves out (Modal; GCP attach-style GPUs)."""
    if not row.gpu_only:
        return Decimal(0)
    if row.cloud == "modal":
        per_gpu = (MODAL_USD_PER_CORE_SECOND * MODAL_CORES_PER_GPU
                   + MODAL_USD_PER_GIB_SECOND * MODAL_MEMORY_GIB_PER_GPU) * 3600
        return per_gpu * row.gpus
    return GCP_N1_HOST_USD_PER_HOUR * row.gpus


def download_hours(params_total: int) -> float:
    return params_total * DOWNLOAD_BYTES_PER_PARAM / (DOWNLOAD_MB_S * 1e6) / 3600


def disk_gb(params_total: int) -> float:
    weights_gb = params_total * DOWNLOAD_BYTES_PER_PARAM / 1e9
    return DISK_BASE_GB + weights_gb * (1 + CHECKPOINT_COPIES)


def cloud_cost(row: PriceRow, spot: bool, train_hours: float, params_total: int,
               provisioning_hours: float | None = None) -> RunCost:
    """A rented run: training hours, boot + setup, the download, and disk for the whole wall time.
    ``provisioning_hours``: the boot time the team's runs measured, in place of the assumed minutes."""
    base = row.spot_usd_per_hour if spot and row.spot_usd_per_hour is not None else row.usd_per_hour
    host = host_usd_per_hour(row)
    rate = base + host.quantize(Decimal("0.0001")) if host else base
    boot = PROVISIONING_MINUTES[row.launcher] / 60 if provisioning_hours is None else provisioning_hours
    setup_hours = boot + SETUP_MINUTES[row.launcher] / 60
    fetch_hours = download_hours(params_total)
    wall = dec_hours(train_hours + setup_hours + fetch_hours)
    storage_rate = STORAGE_USD_PER_GB_MONTH.get(row.cloud, Decimal(0))
    terms = {
        "gpu_hours": usd(base * dec_hours(train_hours)),
        "host": usd(host * dec_hours(train_hours)),
        "provisioning": usd(rate * dec_hours(setup_hours)),
        "download": usd(rate * dec_hours(fetch_hours)),
        "storage": usd(storage_rate * Decimal(repr(round(disk_gb(params_total), 1))) * wall / HOURS_PER_MONTH),
    }
    return RunCost(rate, setup_hours + fetch_hours, terms)


def local_cost(watts: float, kwh_usd: Decimal, train_hours: float, startup_s: float = LOCAL_STARTUP_S) -> RunCost:
    """A run on hardware you own: electricity only (no boot, the download is on your own line), for the training
    and the job's own start (``startup_s``)."""
    rate = Decimal(repr(round(watts, 1))) / 1000 * kwh_usd
    startup_hours = startup_s / 3600
    terms = {"gpu_hours": usd(rate * dec_hours(train_hours)), "host": Decimal("0.00"),
             "provisioning": usd(rate * dec_hours(startup_hours)), "download": Decimal("0.00"),
             "storage": Decimal("0.00")}
    return RunCost(rate.quantize(Decimal("0.0001")), startup_hours, terms)


def assumptions() -> dict[str, object]:
    """The constants above, by name, for the JSON output."""
    return {
        "provisioning_minutes": PROVISIONING_MINUTES, "setup_minutes": SETUP_MINUTES,
        "local_startup_s": LOCAL_STARTUP_S,
        "download_mb_s": DOWNLOAD_MB_S, "download_bytes_per_param": DOWNLOAD_BYTES_PER_PARAM,
        "disk_base_gb": DISK_BASE_GB, "checkpoint_copies": CHECKPOINT_COPIES,
        "storage_usd_per_gb_month": {k: str(v) for k, v in STORAGE_USD_PER_GB_MONTH.items()},
        "modal_usd_per_core_second": str(MODAL_USD_PER_CORE_SECOND),
        "modal_usd_per_gib_second": str(MODAL_USD_PER_GIB_SECOND),
        "modal_cores_per_gpu": MODAL_CORES_PER_GPU, "modal_memory_gib_per_gpu": MODAL_MEMORY_GIB_PER_GPU,
        "gcp_n1_host_usd_per_hour": str(GCP_N1_HOST_USD_PER_HOUR),
    }
