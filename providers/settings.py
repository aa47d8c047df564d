"""The user's settings: one pydantic-settings model read from ``settings.yaml`` in the user config dir
(``TUNEPLAN_CONFIG_DIR`` overrides the folder) and from ``TUNEPLAN_*`` environment variables
(nested with ``__``, e.g. ``TUNEPLAN_ELECTRICITY__KWH_USD=0.25``). Environment beats the file.

What a user writes is validated strictly: an unknown key is rejected with a "did you mean" in one line
(``BadInput``, exit code 2). Keys are ``SecretStr`` and never printed. Planner functions never see this
model; the front ends pass them plain values taken from it.

Example ``settings.yaml``::

    electricity: {kwh_usd: 0.32}
    hardware:
      gpus: [{name: RTX 4090, note: under the desk}]
      mac: {chip: M3 Ultra, memory_gb: 192, note: Mac Studio}
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from planner.catalog.gpus import find_gpu
from planner.errors import BadInput, NotFound
from planner.recommend.local import chip_named
from planner.recommend.costs import DEFAULT_KWH_USD
from planner.validation import first_problem
from providers.paths import config_dir

SETTINGS_FILE = "settings.yaml"
PRICE_SOURCES = ("runpod", "skypilot", "modal")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class ElectricitySettings(_Section):
    kwh_usd: Decimal = Field(DEFAULT_KWH_USD, gt=0)
    """What one kWh costs where your machines run, in USD; local runs and rent-vs-buy pay it."""


class DeclaredGpu(_Section):
    name: str
    """The card: a canonical name or a common alias (RTX4090, "RTX 4090", A6000, H100)."""
    count: PositiveInt = 1
    """How many of these cards this machine has."""
    power_watts: PositiveFloat | None = None
    """Wall power of one card while training; default 90 % of its TDP."""
    note: str = ""
    """Where it is or what it is for ("under the desk"); shown beside it."""

    @field_validator("name")
    @classmethod
    def _canonical(cls, value: str) -> str:
        try:
            return find_gpu(value).name
        except NotFound as exc:
            raise ValueError(str(exc)) from None


class DeclaredMac(_Section):
    chip: str
    """The Apple chip, e.g. "M3 Ultra", "M4 Max" (the larger-GPU variant when a chip has two)."""
    memory_gb: PositiveFloat
    """Unified memory as Apple sells it, in GB (a Mac Studio M3 Ultra: 96 to 512)."""
    power_watts: PositiveFloat | None = None
    """Wall power with the GPU busy; default by chip tier (30/50/90/180 W)."""
    note: str = ""
    """What it is ("Mac Studio in the office"); shown beside it."""

    @field_validator("chip")
    @classmethod
    def _known_chip(cls, value: str) -> str:
        try:
            return chip_named(value).name
        except NotFound as exc:
            raise ValueError(str(exc)) from None


class HardwareSettings(_Section):
    detect: bool = True
    """Probe this machine (nvidia-smi, sysctl, /proc) for its GPUs, Apple chip, CPU and RAM."""
    include_cpu: bool = True
    """Offer this machine's CPU as a candidate."""
    gpus: list[DeclaredGpu] = Field(default_factory=list)
    """Cards you own that detection cannot see (another box, a card not yet installed); they replace a
    detected card of the same kind."""
    mac: DeclaredMac | None = None
    """A Mac you own, if this is not it (or to correct what detection found)."""


class RunpodSettings(_Section):
    api_key: SecretStr | None = None
    """RunPod API key for live prices; the RUNPOD_API_KEY environment variable wins. Never printed."""
    api_base_url: str | None = None
    """RunPod API endpoint; RUNPOD_API_BASE_URL wins. Default https://api.runpod.io."""
    cloud_type: Literal["secure", "community"] = "secure"
    """Where pods run when the plan does not say: secure (RunPod's data centres) or community (cheaper hosts)."""
    image: str = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"
    """Container image of a pod; it needs bash, python3 and OpenSSH's sshd (RunPod's pytorch images have them)."""
    container_disk_gb: PositiveInt = 50
    """Container disk of a pod in GB (bundle, model download, outputs); deleted with the pod."""
    volume_gb: int = Field(0, ge=0)
    """Pod volume in GB mounted at /workspace (0: none; tuneplan pulls outputs before the pod ends)."""
    pull_window_s: PositiveInt = 900
    """After the job ends, how long a pod waits for tuneplan to pull its outputs before it ends itself."""
    boot_timeout_s: PositiveInt = 1200
    """How long a started pod waits for its bundle before it ends itself (the launching CLI died)."""


class ModalSettings(_Section):
    volume: str = "tuneplan-runs"
    """The Modal Volume that holds every run's outputs and checkpoints (one folder per run, tp-<run id>)."""
    keep_outputs: bool = False
    """Keep a run's folder on the Volume after its artifacts were pulled and verified (default: delete it)."""
    cpu_cores: PositiveFloat = 4.0
    """CPU cores each GPU container reserves (billed per core-second on top of the GPU)."""
    memory_gib: PositiveInt = 32
    """Memory each GPU container reserves, GiB (billed per GiB-second on top of the GPU)."""


class PricesSettings(_Section):
    stale_after_days: PositiveInt = 30
    """A price older than this many days is marked stale."""
    refresh_timeout_s: PositiveFloat = 15.0
    """How long `tuneplan prices refresh` waits for each live source."""
    sources: list[Literal["runpod", "skypilot", "modal"]] = Field(default_factory=lambda: list(PRICE_SOURCES))
    """Which live sources `tuneplan prices refresh` asks."""
    modal_pricing_url: str = "https://modal.com/pricing"
    """Modal's published price table (read by `prices refresh`)."""
    skypilot_clouds: list[Literal["aws", "gcp", "azure", "lambda"]] = Field(
        default_factory=lambda: ["aws", "gcp", "azure", "lambda"])
    """Which clouds' SkyPilot catalogs `prices refresh` reads (a missing catalog is downloaded)."""


class RecommendSettings(_Section):
    providers: list[str] | None = None
    """Only these launchers or clouds (local, skypilot, runpod, modal, aws, gcp, azure, lambda) unless
    --providers says otherwise."""
    spot: bool = False
    """Consider spot/interruptible prices by default."""


class SkyPilotSettings(_Section):
    clouds: list[Literal["aws", "gcp", "azure", "lambda", "runpod"]] = Field(
        default_factory=lambda: ["aws", "gcp", "azure", "lambda", "runpod"])
    """Where SkyPilot may place a run (each GPU is named the way SkyPilot names it on that cloud)."""
    disk_gib: PositiveInt = 100
    """Disk per machine, in GiB."""
    image: str | None = None
    """A machine image or docker:<image> for the task (default: SkyPilot's)."""
    idle_minutes: PositiveInt = 15
    """A finished cluster deletes itself after this many idle minutes (autostop with down)."""
    bucket: str | None = None
    """Bucket for spot runs' outputs and checkpoints, e.g. s3://my-bucket/tuneplan (spot needs one)."""
    controller_usd_per_hour: Annotated[Decimal, Field(ge=0)] | None = None
    """What your jobs controller VM costs per hour (spot runs need it); default: a 4 vCPU / 16 GiB machine
    from SkyPilot's catalog ($0.20/h)."""


class BudgetSettings(_Section):
    monthly_usd: dict[str, Annotated[Decimal, Field(gt=0)]] = Field(default_factory=dict)
    """Monthly budget per project in USD, e.g. {support: 500, search: 1200}; `tuneplan report` shows spent,
    committed and remaining against it."""
    warn_pct: Decimal = Field(Decimal(80), gt=0, le=100)
    """The report warns when a project has spent or committed this share of its budget (and again at 100 %)."""


class PullSettings(_Section):
    max_gib: PositiveFloat = Field(200.0, le=100_000)
    """The most one pull may bring home (a run's outputs, or its checkpoints), in GiB. When the template's
    manifest is known first, the cap is its sizes plus 10 %, never more than this."""
    timeout_minutes: PositiveFloat = Field(120.0, le=7 * 24 * 60)
    """How long one pull may take, every retry included; past it the run fails and is torn down."""


class NotifySettings(_Section):
    webhook_url: SecretStr | None = None
    """A Slack-compatible incoming webhook that hears when a run ends (any final state), once per run. A secret:
    never printed. TUNEPLAN_NOTIFY__WEBHOOK_URL sets it without the file."""
    desktop: bool = True
    """Also a desktop notification (notify-send on Linux, osascript on macOS) where one can be shown."""


class Settings(BaseSettings):
    """Everything a user can set. Defaults < settings.yaml < TUNEPLAN_* environment."""

    model_config = SettingsConfigDict(env_prefix="TUNEPLAN_", env_nested_delimiter="__", extra="forbid",
                                      use_attribute_docstrings=True)
    _yaml_path: ClassVar[Path | None] = None

    electricity: ElectricitySettings = Field(default_factory=ElectricitySettings)
    """Energy price for local runs and rent-vs-buy."""
    hardware: HardwareSettings = Field(default_factory=HardwareSettings)
    """Which local hardware the recommender may use."""
    runpod: RunpodSettings = Field(default_factory=RunpodSettings)
    """RunPod credentials and endpoint for live prices."""
    modal: ModalSettings = Field(default_factory=ModalSettings)
    """Where Modal runs keep their outputs, and what each container reserves."""
    prices: PricesSettings = Field(default_factory=PricesSettings)
    """Price staleness and live refresh."""
    recommend: RecommendSettings = Field(default_factory=RecommendSettings)
    """Defaults for `tuneplan recommend`."""
    skypilot: SkyPilotSettings = Field(default_factory=SkyPilotSettings)
    """Where and how SkyPilot runs jobs (clouds, disk, autodown, the bucket for spot runs)."""
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    """Monthly budgets per project for `tuneplan report`."""
    pulls: PullSettings = Field(default_factory=PullSettings)
    """Limits on bringing a run's files home (what a remote machine sends is not trusted)."""
    notify: NotifySettings = Field(default_factory=NotifySettings)
    """Who hears when a run ends: a webhook, the desktop."""
    ledger_url: str | None = None
    """The ledger: sqlite:///path (default: the file in the data folder) or postgresql://user@host/db for a team
    ledger; TUNEPLAN_LEDGER_URL wins. Never a password here: PGPASSWORD, ~/.pgpass or a service file hold it."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        if cls._yaml_path is not None:
            sources += (YamlConfigSettingsSource(settings_cls, yaml_file=cls._yaml_path),)
        return sources


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def load_settings(path: Path | None = None) -> Settings:
    """The user's settings (defaults when there is no file); one clear line for any mistake."""
    path = path or settings_path()
    _check_yaml(path)
    Settings._yaml_path = path if path.is_file() else None
    try:
        return Settings()
    except ValidationError as exc:
        raise BadInput(f"{_where(path)}: {first_problem(exc, Settings)}") from None
    finally:
        Settings._yaml_path = None


def _where(path: Path) -> str:
    """Name the file, and the environment too when TUNEPLAN_* settings variables are set."""
    names = [name for name in os.environ if name.startswith("TUNEPLAN_") and "__" in name]
    return f"{path} (or {', '.join(sorted(names))})" if names else str(path)


def _check_yaml(path: Path) -> None:
    """Reject a file that is not a YAML mapping before pydantic-settings reads it."""
    if not path.is_file():
        return
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is not None and not isinstance(data, dict):
        raise BadInput(f"{path}: expected a mapping of settings at the top level")
    url = data.get("ledger_url") if isinstance(data, dict) else None
    if isinstance(url, str):
        from providers.secret_urls import has_password, mask_url

        if has_password(url):
            raise BadInput(f"{path}: ledger_url holds a password ({mask_url(url)}); settings never store one: "
                           "remove it and use PGPASSWORD, ~/.pgpass or a libpq service file")


