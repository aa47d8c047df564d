"""Rich rendering of a plan (the JSON payload, so the table and --json can never disagree)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from planner.plan import data_text
from tuneplan.cli.output import make_console, styled
from tuneplan.tui.formatting import count_text  # rich only: no Textual import

_LABELS = {
    "weights": "weights", "adapter": "adapter (LoRA)", "gradients": "gradients", "optimizer": "optimizer state",
    "activations": "activations", "logits": "logits / loss buffers", "overhead": "CUDA context + allocator",
}


def _hours(hours: float) -> str:
    if hours < 1:
        return f"{hours * 60:.0f} min"
    return f"{hours:.1f} h" if hours < 100 else f"{hours:,.0f} h"


def breakdown_table(plan: dict[str, Any]) -> Table:
    title = f"Peak memory per GPU: {plan['peak_vram_gib']:.2f} GiB"
    caption = f"peak at the {plan['peak_phase']}"
    if "peak_vram_upper_gib" in plan:
        caption += f"; up to {plan['peak_vram_upper_gib']:.2f} GiB (nine runs in ten)"
    table = Table(title=title, title_justify="left",
                  caption=caption, caption_justify="left", show_edge=False)
    table.add_column("component")
    table.add_column("GiB", justify="right")
    for key, value in plan["breakdown_gib"].items():
        if value:
            table.add_row(_LABELS.get(key, key), f"{value:.2f}")
    table.add_row("total (nvidia-smi view)", f"{plan['peak_vram_gib']:.2f}", style="bold")
    return table


_VERDICT_STYLE = {"yes": "green", "tight": "yellow", "no": "red"}


def fits_table(plan: dict[str, Any], limit: int = 12) -> Table:
    """Per card: fits yes / tight / no, headroom, speed and time. Cards that fit come first (fastest first);
    a time is shown only where the job fits."""
    gpus, nodes = plan["job"]["gpus"], plan.get("nodes", 1)
    shape = f"{gpus} GPU{'s' if gpus > 1 else ''} per run"
    if nodes > 1:
        shape = f"{nodes} nodes × {gpus} GPU{'s' if gpus > 1 else ''}, {plan['job']['sharding']}"
    order = {"yes": 0, "tight": 1, "no": 2}
    rows = sorted(plan["fits"].items(), key=lambda item: (order[_fit(item[1])], item[1]["hours"]))
    fitting = sum(1 for _, f in rows if _fit(f) == "yes")
    tight = sum(1 for _, f in rows if _fit(f) == "tight")
    title = (f"Fit per card ({shape}): fits on {fitting} of {len(rows)}" if fitting else
             f"Fit per card ({shape}): it fits on none of {len(rows)}") + (f", tight on {tight}" if tight else "")
    table = Table(title=title, title_justify="left", show_edge=False)
    for name, justify in (("GPU", "left"), ("fits", "left"), ("card GiB", "right"), ("headroom", "right"),
                          ("tokens/s", "right"), ("time", "right")):
        table.add_column(name, justify=justify)
    shown = rows if len(rows) <= limit else [r for r in rows if r[1]["fits"]][:limit] or rows[:limit]
    for name, fit in shown:
        verdict = _fit(fit)
        runs = verdict != "no"
        headroom = Text(f"{fit['headroom_gib']:+.1f}", style="" if runs else "red")
        approx = "~" if fit["approximate"] else ""
        speed, time = ((f"{approx}{fit['tokens_per_s']:,.0f}", f"{approx}{_hours(fit['hours'])}") if runs
                       else ("-", "-"))
        table.add_row(name, Text(verdict, style=_VERDICT_STYLE[verdict]), f"{fit['memory_gib']:.1f}", headroom,
                      speed, time, style="" if runs else "dim")
    hidden = len(rows) - len(shown)
    if hidden:
        table.caption = f"{hidden} more GPUs in --json ({len(rows) - fitting - tight} do not fit)"
    if tight:
        table.caption = ((table.caption + "; ") if table.caption else "") + \
            f"tight: the estimate fits, its upper bound ({plan['peak_vram_upper_gib']:.2f} GiB) does not"
    return table


def _fit(fit: dict[str, Any]) -> str:
    return fit.get("fit", "yes" if fit["fits"] else "no")


def to_fit_lines(plan: dict[str, Any], limit: int = 3) -> list[str]:
    """For the cards asked about that the job does not fit (at most ``limit``, largest first), what would."""
    misses = [(name, f) for name, f in plan["fits"].items() if not f["fits"] and f.get("to_fit")]
    if len(plan["fits"]) > limit and any(f["fits"] for f in plan["fits"].values()):
        return []  # every card was listed and some fit: the table answers it
    misses.sort(key=lambda item: -item[1]["memory_gib"])
    lines = []
    for name, fit in misses[:limit]:
        need = fit["memory_gib"] - fit["headroom_gib"]
        t = fit["to_fit"]
        lines.append((f"Does not fit on {name}: needs {need:.1f} GiB" if _fit(fit) == "no" else
                      f"Tight on {name}: needs {need:.1f} GiB, up to {plan['peak_vram_upper_gib']:.1f} GiB")
                     + f", the card has {fit['memory_gib']:.1f} GiB. What would fit safely:")
        job = plan["job"]
        if t["largest_micro_batch"] and t["largest_micro_batch"] != job["micro_batch"]:
            lines.append(f"  micro-batch {t['largest_micro_batch']} (at seq {job['seq_len']})")
        if t["largest_seq_len"]:
            lines.append(f"  sequence length up to {t['largest_seq_len']:,} (at micro-batch 1)")
        for change in t["changes"]:
            lines.append(f"  {change['what']}: {change['peak_gib']:.1f} GiB — "
                         + ("fits" if change["fits"] else "still too big"))
        if not t["largest_micro_batch"] and not t["largest_seq_len"] and not any(c["fits"] for c in t["changes"]):
            lines.append("  none of these alone: a bigger card, or several of these together")
    return lines


def max_fit_table(plan: dict[str, Any], limit: int = 14) -> Table | None:
    rows = [(name, f["max_fit"]) for name, f in plan["fits"].items() if f.get("max_fit")]
    if not rows:
        return None
    first = rows[0][1]
    table = Table(title=f"Largest that fits (micro-batch at seq {first['at_seq_len']:,}; sequence at micro-batch "
                        f"{first['at_micro_batch']})", title_justify="left", show_edge=False)
    for name, justify in (("GPU", "left"), ("card GiB", "right"), ("micro-batch", "right"), ("seq len", "right")):
        table.add_column(name, justify=justify)
    rows.sort(key=lambda item: -plan["fits"][item[0]]["memory_gib"])
    for name, m in rows[:limit]:
        table.add_row(name, f"{plan['fits'][name]['memory_gib']:.1f}", str(m["micro_batch"] or "-"),
                      f"{m['seq_len']:,}" if m["seq_len"] else "-")
    if len(rows) > limit:
        table.caption = f"{len(rows) - limit} more GPUs in --json"
    return table


def weights_table(plan: dict[str, Any]) -> Table:
    table = Table(title="Weights alone, by storage type (loading, not training)", title_justify="left",
                  show_edge=False)
    for name, justify in (("dtype", "left"), ("weights GiB", "right"), ("largest tensor GiB", "right")):
        table.add_column(name, justify=justify)
    for dtype, row in plan["weights_by_dtype"].items():
        table.add_row(dtype, f"{row['weights_gib']:.2f}", f"{row['largest_tensor_gib']:.3f}")
    return table


def inference_table(inf: dict[str, Any], limit: int = 12) -> Table:
    """Serving per device: the memory it gives a model, whether it fits (or on how many cards, tensor
    parallel), its speed and its price; devices that can serve it first, fastest first."""
    encoder = inf.get("encoder", False)
    table = Table(title=f"Serving at {inf['context']:,} tokens of context: {inf['total_gib']:.1f} GiB",
                  caption=f"weights {inf['weights_gib']:.1f} GiB + KV cache {inf['kv_cache_gib']:.2f} GiB + runtime"
                  + ("; an encoder keeps no KV cache and generates nothing: speed is sequences/s" if encoder else ""),
                  title_justify="left", caption_justify="left", show_edge=False)
    unit = "sequences_per_s" if encoder else "decode_tokens_per_s"
    for name, justify in (("device", "left"), ("memory", "right"), ("fits", "left"),
                          ("seq/s" if encoder else "decode tok/s", "right"), ("to buy", "right")):
        table.add_column(name, justify=justify)
    fits = inf.get("fits") or {}
    ranked = sorted(fits.items(), key=lambda item: (_serves(item[1]) is False, -item[1][unit]))
    macs = [r for r in ranked if r[0].startswith("Apple")][:3]
    names = list(dict.fromkeys([name for name, _ in (*ranked[:limit - 3], *macs)]))[:limit]
    for name in names:
        f = fits[name]
        memory = f"{f['memory_gib']:.0f} GiB" if f["memory_gib"] is not None else "your RAM"
        if f["fits"]:
            verdict = Text("yes")
        elif f["gpus"] > 1:
            verdict = Text(f"{f['gpus']}× TP, {f['per_gpu_gib']:.1f} GiB each", style="yellow")
        elif f["fits"] is None:
            verdict = Text(f"if {f['per_gpu_gib']:.0f} GiB free", style="dim")
        else:
            verdict = Text("no", style="red")
        speed = f"{f[unit]:,.1f}" if f[unit] else "-"
        price = f"${f['price_usd']:,.0f}" if f["price_usd"] else ""
        table.add_row(name, memory, verdict, speed, price)
    return table


def _serves(fit: dict[str, Any]) -> bool | None:
    return fit["fits"] or fit["gpus"] > 1


def serving_verdict(inf: dict[str, Any]) -> str:
    verdict = inf.get("verdict")
    if not verdict:
        return ""
    if not verdict["can_serve"]:
        return "Serving: no listed device holds it, not even 8 cards of one GPU"
    cheapest = verdict["cheapest_to_own"]
    own = (f"; cheapest to own: {cheapest['gpus']}× {cheapest['device']} (${cheapest['usd']:,.0f})"
           if cheapest and cheapest["gpus"] > 1 else
           f"; cheapest to own: {cheapest['device']} (${cheapest['usd']:,.0f})" if cheapest else "")
    return f"Serving: {len(verdict['can_serve'])} devices can serve it; fastest: {verdict['fastest']}{own}"


def local_lines(plan: dict) -> list[str]:
    """This machine's own options (CPU, Mac GPU, the cards in it), with the team's correction where one applied."""
    out = []
    plain = (plan.get("calibration") or {}).get("uncalibrated", {})
    for entry in plan.get("local", []):
        time = f"{entry['hours'] * 3600:,.0f} s" if entry["hours"] < 0.1 else f"{entry['hours']:,.2f} h"
        before = plain.get(f"local {entry['gpu']}")
        was = ""
        if entry.get("calibration") and before is not None:
            was = f" (plain estimate {before * 3600:,.0f} s)" if before < 0.1 else f" (plain estimate {before:,.2f} h)"
        fits = "" if entry["fits"] else ", does not fit"
        out.append(f"This machine, {entry['device']}: {time}{was}{fits}")
    return out


def print_plan(plan: dict[str, Any]) -> None:
    console = make_console()
    model, params, job = plan["model"], plan["params"], plan["job"]
    trainable_share = params["trainable"] / params["total"] * 100 if params["total"] else 0
    console.print(styled((model["id"], "bold"), f" ({model['arch']}, {count_text(params['total'])} params"
                  + (f", {count_text(params['active'])} active" if params["active"] != params["total"] else "")
                  + f") — {job['task']} {job['method']}, {job['quant'] if job['quant'] != 'none' else job['precision']}, "
                  f"seq {job['seq_len']} × batch {job['micro_batch']}, trainable {params['trainable']:,} "
                  f"({trainable_share:.2f} %), stack {plan.get('stack', 'tuneplan')}"))
    if plan.get("stack_assumes"):
        console.print(f"Stack: {plan['stack_assumes']}", style="dim")
    console.print(f"Training: {plan['tokens']:,} tokens ({data_text(plan)}), {plan['flops']:.3g} FLOPs")
    console.print(breakdown_table(plan))
    console.print(weights_table(plan))
    console.print(fits_table(plan))
    for line in local_lines(plan):
        console.print(line)
    for line in to_fit_lines(plan):
        console.print(line, style="" if line.startswith("  ") else "bold")
    table = max_fit_table(plan)
    if table is not None:
        console.print(table)
    if "inference" in plan:
        console.print(inference_table(plan["inference"]))
        if serving_verdict(plan["inference"]):
            console.print(serving_verdict(plan["inference"]), style="bold")
    if "trace" in plan:
        trace = plan["trace"]
        console.print(f"Traced step (meta device): tensor peak {trace['peak_gib']:.2f} GiB vs analytic "
                      f"{trace['analytic_tensor_gib']:.2f} GiB")
    for note in plan["notes"]:
        console.print(f"note: {note}", style="dim")
