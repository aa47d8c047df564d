"""Modal's GPU names: our allow-list, and the translation from canonical names (CONTRACTS §5).

Modal does not check a ``gpu=`` string on the client: a typo ("H100s", "A100-80G") is accepted and fails
remotely, or not at all. So every string that reaches ``app.function(gpu=...)`` is built and checked here,
from the names Modal documents (modal.com/docs/guide/gpu, read 2026-11-26) and the per-GPU counts it allows.
"""

from __future__ import annotations

from planner.errors import BadInput
from planner.suggest import did_you_mean

# Modal name -> most GPUs one container may hold (the GPU guide: A10 up to 4, the rest up to 8).
MODAL_GPUS: dict[str, int] = {
    "T4": 8, "L4": 8, "A10": 4, "L40S": 8, "A100-40GB": 8, "A100-80GB": 8, "RTX-PRO-6000": 8,
    "H100": 8, "H200": 8, "B200": 8,
}
CPU = "cpu"


def check_modal_gpu(value: str) -> tuple[str, int]:
    """``"H100"`` or ``"H100:4"`` -> ("H100", 4); an unknown name or a bad count is one line with a fix."""
    name, _, count_text = value.strip().partition(":")
    upper = name.upper()
    if upper not in MODAL_GPUS:
        raise BadInput(f"'{name}' is not a Modal GPU{did_you_mean(name, MODAL_GPUS)}; "
                       f"Modal offers: {', '.join(MODAL_GPUS)}")
    try:
        count = int(count_text) if count_text else 1
    except ValueError:
        raise BadInput(f"GPU count '{count_text}' in '{value}' is not a whole number") from None
    if not 1 <= count <= MODAL_GPUS[upper]:
        raise BadInput(f"Modal puts 1 to {MODAL_GPUS[upper]} {upper} GPUs in one container, not {count}")
    return upper, count


def modal_gpu(canonical: str, count: int) -> str | None:
    """The ``gpu=`` string for ``count`` of a canonical GPU; None for a CPU-only container.

    Raises:
        BadInput: Modal does not offer that GPU, or not that many in one container.
    """
    if canonical == CPU or count == 0:
        return None
    from planner.catalog.gpus import find_gpu, provider_gpu_name

    name = provider_gpu_name(find_gpu(canonical).name, "modal")
    if name is None:
        offered = canonical_offered()
        raise BadInput(f"Modal does not offer {canonical}{did_you_mean(canonical, offered)}; "
                       f"it offers {', '.join(offered)}")
    name, count = check_modal_gpu(f"{name}:{count}")
    return name if count == 1 else f"{name}:{count}"


def canonical_offered() -> list[str]:
    """Canonical names of the GPUs Modal offers (from the catalog's ``modal`` column, filtered by the allow-list)."""
    from planner.catalog.gpus import gpu_catalog

    return [name for name, spec in gpu_catalog().items() if spec.modal in MODAL_GPUS]
