"""``tuneplan import FILE``: another tool's config (axolotl, LLaMA-Factory, TRL) as a tuneplan job spec, so the
job planned for that stack can be launched with tuneplan's templates. Prints the spec (or writes it with
``--output``) and which keys of the file were not read."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from planner.errors import BadInput


def import_config(
    path: Path = typer.Argument(..., help="An axolotl YAML, a LLaMA-Factory YAML or a TRL SFTConfig/DPOConfig YAML."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the tuneplan spec here (never "
                                          "over an existing file)."),
) -> None:
    import yaml

    from planner.importers import foreign_format, import_config as convert, import_note
    from planner.spec import load_spec

    raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    if not isinstance(raw, dict):
        raise BadInput(f"{path}: not a YAML mapping (give an axolotl, LLaMA-Factory or TRL config file)")
    tool = foreign_format(raw)
    if tool is None:
        raise BadInput(f"{path}: already a tuneplan spec, or no tool's config this reads (axolotl, LLaMA-Factory, TRL)")
    spec, ignored = convert(raw, tool)
    load_spec(path)  # the converted spec must validate as a tuneplan spec, else one line says what is wrong
    text = yaml.safe_dump(spec, sort_keys=False)
    sys.stderr.write(f"note: {import_note(tool, spec, ignored)}\n")
    if output is None:
        sys.stdout.write(text)
        return
    if output.exists():
        raise BadInput(f"{output} exists: give a new file name (nothing is overwritten)")
    output.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {output}: tuneplan launch {output} runs it with tuneplan's templates\n")
