"""``tuneplan models [SEARCH]`` and ``tuneplan gpus``: the bundled catalogs, so a user can see which names the
planner knows and what it assumes about each card (memory, bandwidth, throughput, prices with their dates)
without reading CSV files or guessing a name on the command line."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Optional

import typer
from rich.table import Table

from tuneplan.cli.output import console


def models(
    search: Optional[str] = typer.Argument(None, help="Only models whose id or family contains this text "
                                                      "(case-insensitive), e.g. llama, qwen, bert."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """List the bundled model catalog: size, architecture, context length, license and gating."""
    from planner.catalog.models import catalog_models

    needle = (search or "").strip().lower()
    rows = [m for m in catalog_models().values() if needle in m.hf_id.lower() or needle in m.family.lower()]
    rows.sort(key=lambda m: (m.family, m.params_total, m.hf_id))
    records = [{"hf_id": m.hf_id, "family": m.family, "kind": m.kind, "params": m.params_total,
                "architecture": m.config["model_type"], "max_seq_len": m.config["max_position_embeddings"],
                "license": m.license, "gated": m.gated} for m in rows]
    if as_json:
        sys.stdout.write(json.dumps({"search": search, "models": records}, indent=2) + "\n")
        return
    if not records:
        console.print(f"No catalog model matches '{search}'. Any Hub id also works: tuneplan plan --model "
                      "<org/name> reads its config.json (network, or the Hugging Face cache).")
        raise typer.Exit(1)
    table = Table(title=f"Models ({len(records)})", title_justify="left")
    for column, justify in (("Model", "left"), ("Params", "right"), ("Arch", "left"), ("Context", "right"),
                            ("Kind", "left"), ("License", "left")):
        table.add_column(column, justify=justify)
    for r in records:
        table.add_row(r["hf_id"], _params(r["params"]), r["architecture"], f"{r['max_seq_len']:,}", r["kind"],
                      r["license"] + (" (gated)" if r["gated"] else ""))
    console.print(table)


def gpus(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """List the GPUs and Apple chips the planner knows: memory, bandwidth, dense bf16 TFLOP/s, the price to buy
    and the cheapest hour to rent, each price with its source date."""
    from planner.catalog.devices import apple_chips
    from planner.catalog.gpus import gpu_catalog
    from providers.prices_refresh import current_prices

    cheapest: dict[str, object] = {}
    for row in current_prices():
        if row.gpus >= 1:
            per_gpu = row.usd_per_hour / row.gpus
            best = cheapest.get(row.gpu)
            if best is None or per_gpu < best[0]:
                cheapest[row.gpu] = (per_gpu, row)
    records = []
    for spec in gpu_catalog().values():
        rent = cheapest.get(spec.name)
        buy = spec.street_usd or spec.msrp_usd
        records.append({
            "gpu": spec.name, "vendor": spec.vendor, "memory_gib": round(spec.smi_memory_gib, 1),
            "bandwidth_gb_s": spec.bandwidth_gb_s, "bf16_tflops": spec.bf16_tflops, "tdp_watts": spec.tdp_watts,
            "buy_usd": buy, "buy_price": ("street" if spec.street_usd else "MSRP") if buy else None,
            "buy_price_date": spec.street_price_date or None,
            "rent_usd_per_gpu_hour": str(rent[0].quantize(Decimal("0.01"))) if rent else None,
            "rent_cloud": rent[1].cloud if rent else None,
            "rent_as_of": rent[1].as_of.isoformat() if rent else None,
        })
    chips = [{"chip": c.name, "max_memory_gb": c.max_memory_gb, "bandwidth_gb_s": c.bandwidth_gb_s,
              "fp32_tflops": c.fp32_tflops, "example_machine": c.example_machine,
              "price_usd": c.example_price_usd, "price_date": c.price_date or None} for c in apple_chips().values()]
    if as_json:
        sys.stdout.write(json.dumps({"gpus": records, "apple": chips}, indent=2) + "\n")
        return
    table = Table(title="GPUs (memory as nvidia-smi shows it; rent = cheapest offer per GPU-hour)",
                  title_justify="left")
    for column, justify in (("GPU", "left"), ("Memory", "right"), ("Bandwidth", "right"), ("bf16 TF/s", "right"),
                            ("Buy", "right"), ("Rent from", "right"), ("Rent price of", "left")):
        table.add_column(column, justify=justify)
    for r in sorted(records, key=lambda r: (-r["memory_gib"], r["gpu"])):
        buy = f"${r['buy_usd']:,.0f} {r['buy_price']}" if r["buy_usd"] else "-"
        if r["buy_usd"] and r["buy_price_date"]:
            buy += f" ({r['buy_price_date']})"
        rent = f"${r['rent_usd_per_gpu_hour']}/h" if r["rent_usd_per_gpu_hour"] else "not offered"
        table.add_row(r["gpu"], f"{r['memory_gib']:.1f} GiB", _maybe(r["bandwidth_gb_s"], "GB/s"),
                      _maybe(r["bf16_tflops"], ""), buy, rent,
                      f"{r['rent_cloud']} {r['rent_as_of']}" if r["rent_cloud"] else "")
    console.print(table)
    apple = Table(title="Apple silicon (unified memory: macOS keeps part of it)", title_justify="left")
    for column, justify in (("Chip", "left"), ("Max memory", "right"), ("Bandwidth", "right"),
                            ("fp32 TF/s", "right"), ("Example", "left")):
        apple.add_column(column, justify=justify)
    for c in chips:
        example = c["example_machine"] + (f", ${c['price_usd']:,.0f} ({c['price_date']})" if c["price_usd"] else "")
        apple.add_row(c["chip"], f"{c['max_memory_gb']:.0f} GB", f"{c['bandwidth_gb_s']:.0f} GB/s",
                      f"{c['fp32_tflops']:.1f}", example)
    console.print(apple)


def _params(count: int) -> str:
    return f"{count / 1e9:.1f}B" if count >= 1e9 else f"{count / 1e6:.0f}M"


def _maybe(value: float | None, unit: str) -> str:
    if value is None:
        return "?"
    return f"{value:,.0f} {unit}".strip() if value >= 100 else f"{value:g} {unit}".strip()
