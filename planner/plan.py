"""``tuneplan plan``: one estimate of a job — memory with its breakdown, FLOPs, tokens, and for each
GPU whether it fits and how many hours it takes (the JSON contract of CONTRACTS §3)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from planner.catalog.gpus import GpuSpec, gpu_catalog
from planner.estimate import constants as K
from planner.estimate.assumptions import assumptions_used
from planner.estimate.devices import gpu_target
from planner.estimate.flops import flops_per_token
from planner.estimate.memory import BREAKDOWN_KEYS, MemoryEstimate, estimate_memory
from planner.estimate.params import trainable_params
from planner.estimate.setup import TrainingSetup
from planner.estimate.stacks import STACK_ASSUMES
from planner.estimate.timing import TimeEstimate, estimate_time, tokens_per_sequence
from planner.estimate.bounds import upper_gib
from planner.learning import Correction, correction_for
from planner.estimate.grpo import answers_per_generation, generation_bytes
from planner.fit_search import largest_micro_batch, largest_seq_len, nearest_changes, verdict
from planner.limits import check_model_job
from planner.models import ResolvedModel
from planner.units import GIB

if TYPE_CHECKING:  # serving estimates are only built for --inference: keep `plan`'s start-up small
    from planner.estimate.inference import InferenceEstimate

# When the data size is not given, the plan assumes this much data (and says so).
DEFAULT_EXAMPLES = 1000
DEFAULT_AVG_TOKENS = 512
DEFAULT_EPOCHS = 1.0


@dataclass(frozen=True)
class DataSize:
    """How much data the run trains on; ``assumed`` when the user gave none of it."""

    examples: int = DEFAULT_EXAMPLES
    avg_tokens: int = DEFAULT_AVG_TOKENS
    epochs: float = DEFAULT_EPOCHS
    assumed: bool = False

    @property
    def tokens(self) -> float:
        return self.examples * self.avg_tokens * self.epochs


@dataclass(frozen=True)
class GpuFit:
    gpu: str
    fits: bool
    memory_gib: float
    headroom_gib: float
    hours: float
    gpus: int
    tokens_per_s: float
    approximate: bool
    nodes: int = 1
    """Machines, each with ``gpus`` of this GPU."""
    verdict: str = "yes"
    """yes, tight (the estimate fits, its upper bound does not) or no: ``fits`` is true only for yes."""
    to_fit: dict | None = None
    """Where it does not fit: the nearest changes that make it fit (``fit_search.nearest_changes``)."""
    max_fit: dict | None = None
    """With ``--max-fit``: the largest micro-batch and sequence length that fit this card."""
    calibration: dict | None = None
    """The team's correction for this card (``planner.learning``), with the uncorrected hours."""


@dataclass(frozen=True)
class Plan:
    """Everything ``tuneplan plan`` reports."""

    model: ResolvedModel
    setup: TrainingSetup
    data: DataSize
    memory: MemoryEstimate
    flops_per_token: float
    fits: dict[str, GpuFit]
    inference: "InferenceEstimate | None" = None
    notes: tuple[str, ...] = field(default=())

    @property
    def breakdown_gib(self) -> dict[str, float]:
        """Rounded components; the peak is defined as their sum so the two always agree."""
        return {key: round(self.memory.breakdown[key] / GIB, 2) for key in BREAKDOWN_KEYS}

    @property
    def peak_vram_gib(self) -> float:
        return round(sum(self.breakdown_gib.values()), 2)

    @property
    def prompt_tokens(self) -> int:
        """GRPO: the tokens of an average prompt (the data's rows are prompts), within the room the job leaves."""
        return min(self.data.avg_tokens, self.setup.seq_len - self.setup.completion_len)

    @property
    def trained_tokens(self) -> float:
        """Tokens the model trains on: the data's, or for GRPO every answer with its prompt (each answer counted
        at its full length, the most it can be)."""
        if self.setup.task != "grpo":
            return self.data.tokens
        answers = self.data.examples * self.data.epochs * self.setup.num_generations
        return answers * (self.prompt_tokens + self.setup.completion_len)

    def to_json(self) -> dict[str, Any]:
        arch = self.model.arch
        out: dict[str, Any] = {
            "model": {"id": self.model.model_id, "arch": arch.model_type, "source": self.model.source,
                      "gated": self.model.gated},
            "job": _setup_json(self.setup),
            "stack": self.setup.stack,
            "stack_assumes": STACK_ASSUMES[self.setup.stack],
            "nodes": self.setup.nodes,
            "params": {"total": self.memory.static.params_total,
                       "trainable": self.memory.static.params_trainable, "active": arch.active_params},
            "peak_vram_gib": self.peak_vram_gib,
            "peak_vram_upper_gib": upper_gib(self.peak_vram_gib, self.setup),
            "breakdown_gib": self.breakdown_gib,
            "peak_phase": self.memory.phase,
            "memory_views_gib": {"allocated": round(self.memory.allocated / GIB, 2),
                                 "reserved": round(self.memory.reserved / GIB, 2),
                                 "nvidia_smi": self.peak_vram_gib},
            "tokens": int(self.trained_tokens),
            "flops": self.flops_per_token * self.trained_tokens,
            "flops_per_token": self.flops_per_token,
            "data": {"examples": self.data.examples, "avg_tokens": self.data.avg_tokens,
                     "epochs": self.data.epochs, "assumed": self.data.assumed},
            "fits": {name: _fit_json(fit) for name, fit in self.fits.items()},
            "weights_by_dtype": weights_by_dtype(self.model),
            "assumptions": assumptions_used(self.setup),
            "notes": list(self.notes + self.memory.notes),
        }
        if self.inference is not None:
            out["inference"] = _inference_json(self.inference)
        if self.setup.task == "grpo":
            out["grpo"] = {"num_generations": self.setup.num_generations, "prompt_tokens": self.prompt_tokens,
                           "completion_tokens": self.setup.completion_len, "kl_coef": self.setup.kl_coef,
                           "answers": int(self.data.examples * self.data.epochs * self.setup.num_generations),
                           "answers_per_generation": answers_per_generation(self.setup),
                           "generation_gib": round(generation_bytes(arch, self.setup) / GIB, 2),
                           "reference_model": self.setup.kl_coef > 0 and self.setup.method == "full"}
        return out


def data_text(plan: dict[str, Any]) -> str:
    """What the plan trains on, in words: "7,473 examples × 120 × 1 epoch", or for GRPO the answers it generates."""
    data, grpo = plan["data"], plan.get("grpo")
    epochs = f"{data['epochs']:g} epoch{'' if data['epochs'] == 1 else 's'}"
    if grpo:
        return (f"{data['examples']:,} prompts × {grpo['num_generations']} answers × ({grpo['prompt_tokens']} prompt + "
                f"≤{grpo['completion_tokens']:,} answer tokens) × {epochs}")
    return f"{data['examples']:,} examples × {data['avg_tokens']} × {epochs}"


def _setup_json(setup: TrainingSetup) -> dict[str, Any]:
    keys = ("task", "method", "quant", "precision", "optimizer", "seq_len", "micro_batch", "grad_accum",
            "grad_ckpt", "attn", "packing", "lora_r", "kernels", "gpus", "nodes", "sharding", "stack")
    out = {key: getattr(setup, key) for key in keys}
    out["lora_targets"] = "all-linear" if setup.lora_targets is None else ",".join(setup.lora_targets)
    return out


def _fit_json(fit: GpuFit) -> dict[str, Any]:
    out = {"fits": fit.fits, "fit": fit.verdict, "memory_gib": fit.memory_gib, "headroom_gib": fit.headroom_gib,
           "hours": round(fit.hours, 3), "gpus": fit.gpus, "nodes": fit.nodes,
           "tokens_per_s": round(fit.tokens_per_s, 1), "approximate": fit.approximate}
    if fit.to_fit is not None:
        out["to_fit"] = fit.to_fit
    if fit.max_fit is not None:
        out["max_fit"] = fit.max_fit
    if fit.calibration is not None:
        out["calibration"] = fit.calibration
    return out


def weights_by_dtype(model: ResolvedModel) -> dict[str, dict[str, float]]:
    """The weights alone in each storage type, and the largest single tensor (the table ``accelerate
    estimate-memory`` users know): what loading, not training, needs."""
    from planner.estimate.inference import inference_weight_bytes

    arch = model.arch
    largest = max([arch.token_embedding_params, arch.lm_head_params,
                   *(lin.in_features * lin.out_features for lin in arch.layer_linears)])
    table = {}
    for name, quant, precision, per_param in (("fp32", "none", "fp32", 4), ("bf16/fp16", "none", "bf16", 2),
                                              ("int8", "int8", "bf16", 1), ("nf4", "nf4", "bf16", 0.5)):
        table[name] = {"weights_gib": round(inference_weight_bytes(arch, quant, precision) / GIB, 2),
                       "largest_tensor_gib": round(largest * per_param / GIB, 3)}
    return table


def _inference_json(inf: "InferenceEstimate") -> dict[str, Any]:
    out = {"context": inf.context, "weights_gib": round(inf.weight_bytes / GIB, 2),
           "kv_cache_gib": round(inf.kv_cache_bytes / GIB, 2), "total_gib": round(inf.total_bytes / GIB, 2),
           "encoder": inf.encoder, "decode_tokens_per_s": inf.decode_tokens_per_s,
           "prefill_tokens_per_s": inf.prefill_tokens_per_s}
    if inf.fits is not None:
        unit = "sequences_per_s" if inf.encoder else "decode_tokens_per_s"
        out["fits"] = {name: {"fits": f.fits, "memory_gib": f.memory_gib, "gpus": f.gpus,
                              "per_gpu_gib": f.per_gpu_gib, unit: f.tokens_per_s, "price_usd": f.price_usd}
                       for name, f in inf.fits.items()}
        out["verdict"] = inf.verdict()
    return out


def fit_on_gpu(model: ResolvedModel, setup: TrainingSetup, memory: MemoryEstimate, gpu: GpuSpec,
               data: DataSize, correction: Correction | None = None) -> GpuFit:
    """Does the run fit on ``setup.gpus`` of this GPU, and how long does it take there?"""
    peak = round(sum(round(memory.breakdown[k] / GIB, 2) for k in BREAKDOWN_KEYS), 2)
    time: TimeEstimate = estimate_time(model.arch, setup, gpu_target(gpu, setup.precision), data.tokens,
                                       data.avg_tokens)
    hours, tokens_per_s, calibration = time.hours, time.tokens_per_s, None
    if correction is not None:  # memory only ever up: a factor below 1 never calls a tight fit safe
        peak = round(peak * max(1.0, correction.memory_factor), 2)
        factor = correction.time.value if correction.time else 1.0
        hours, tokens_per_s = hours * factor, tokens_per_s / factor
        calibration = {**correction.to_json(), "uncalibrated_hours": round(time.hours, 3),
                       "uncalibrated_tokens_per_s": round(time.tokens_per_s, 1)}
    headroom = round(gpu.smi_memory_gib - peak, 2)
    fit = verdict(peak, gpu.smi_memory_gib, setup)
    return GpuFit(gpu.name, fit == "yes", gpu.smi_memory_gib, headroom, hours, setup.gpus,
                  tokens_per_s, time.approximate, setup.nodes, fit, calibration=calibration)


def make_plan(model: ResolvedModel, setup: TrainingSetup, data: DataSize, gpus: list[GpuSpec] | None = None,
              inference_context: int | None = None, max_fit: bool = False, corrections: dict | None = None) -> Plan:
    """The full estimate for a job on a list of GPUs (every catalog GPU by default): per card a verdict, the
    nearest changes where it does not fit, and with ``max_fit`` the largest batch and sequence that do."""
    limits_notes = check_model_job(model, setup)
    memory = estimate_memory(model.arch, setup)
    fits = {gpu.name: fit_on_gpu(model, setup, memory, gpu, data,
                                 correction_for(corrections, gpu.name, setup.method, setup.task, setup.stack))
            for gpu in (gpus or gpu_catalog().values())}
    for name, fit in fits.items():
        card = fit.memory_gib
        if fit.verdict != "yes":
            fits[name] = replace(fit, to_fit=nearest_changes(model.arch, setup, card))
        if max_fit:
            fits[name] = replace(fits[name], max_fit={
                "micro_batch": largest_micro_batch(model.arch, setup, card),
                "seq_len": largest_seq_len(model.arch, setup, card), "at_seq_len": setup.seq_len,
                "at_micro_batch": setup.micro_batch})
    per_token = flops_per_token(model.arch, setup, int(tokens_per_sequence(setup, data.avg_tokens))).total
    notes: tuple[str, ...] = limits_notes
    if data.assumed:
        notes += (f"no data size given: assumed {data.examples:,} examples × {data.avg_tokens} tokens × "
                  f"{data.epochs:g} epoch{'' if data.epochs == 1 else 's'}; pass --examples/--avg-tokens/--epochs "
                  "for real hours",)
    if not setup.packing and setup.micro_batch > 1:
        notes += ("memory assumes a batch padded to --seq-len (the longest batch); time assumes padding to "
                  "the longest sequence of each batch",)
    if trainable_params(model.arch, setup) == 0:
        notes += ("nothing trains with these settings",)
    inference = None
    if inference_context:
        inference = inference_for(model, setup, inference_context, list(fits))
    return Plan(model, setup, data, memory, per_token, fits, inference, notes)


def inference_for(model: ResolvedModel, setup: TrainingSetup, context: int, gpu_names: list[str]) -> "InferenceEstimate":
    """Serving estimate on the chosen GPUs, every Apple chip and every typical CPU."""
    from planner.catalog.devices import apple_chips, cpus
    from planner.estimate.devices import cpu_target, mac_target
    from planner.estimate.inference import estimate_inference

    from planner.recommend.local import MAC_GPU_MEMORY_FRACTION

    precision = "fp16" if setup.precision == "fp32" else K.COMPUTE_DTYPE[setup.precision]
    gpus = [gpu_catalog()[name] for name in gpu_names]
    chips = list(apple_chips().values())
    targets = [gpu_target(gpu, "bf16") for gpu in gpus]
    targets += [mac_target(chip) for chip in chips]
    targets += [cpu_target(cpu) for cpu in cpus().values()]
    usable: dict[str, float | None] = {gpu.name: gpu.smi_memory_gib for gpu in gpus}
    # (price, usable GiB of the configuration that price buys; None: the device as listed)
    prices: dict[str, tuple[float, float | None]] = {gpu.name: (gpu.street_usd or gpu.msrp_usd, None) for gpu in gpus
                                                     if gpu.street_usd or gpu.msrp_usd}
    for chip in chips:  # Apple "64 GB" is 64 GiB; macOS keeps about a quarter
        target = mac_target(chip)
        usable[target.name] = round(chip.max_memory_gb * MAC_GPU_MEMORY_FRACTION, 2)
        if chip.example_price_usd and chip.example_memory_gb:  # the base Mac's price, for its own memory only
            prices[target.name] = (chip.example_price_usd, chip.example_memory_gb * MAC_GPU_MEMORY_FRACTION)
    return estimate_inference(model.arch, setup.quant, precision, context, targets, usable, prices)
