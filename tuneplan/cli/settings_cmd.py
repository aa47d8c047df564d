"""``tuneplan settings``: the settings in effect (settings.yaml under TUNEPLAN_* environment) and where they come
from. Keys print as ``**********`` and a ledger URL with ``***`` in its password's place: this output is safe to
paste into an issue."""

from __future__ import annotations

import json

import typer

settings_app = typer.Typer(help="The settings in effect (secrets masked) and the file they are read from.",
                           invoke_without_command=True, add_completion=False, rich_markup_mode=None)


@settings_app.callback(invoke_without_command=True)
def settings(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Same as ``settings show``."""
    if ctx.invoked_subcommand is None:
        show(as_json)


@settings_app.command("env", help="Every TUNEPLAN_* environment variable, what it does, and which are set here.")
def env(as_json: bool = typer.Option(False, "--json")) -> None:
    import os

    from providers.plain_text import plain
    from tuneplan.cli.environment import VARIABLES, unknown_variables
    from tuneplan.cli.render_run import console

    rows = [{"name": name, "what": what, "set": name in os.environ} for name, what in VARIABLES.items()]
    if as_json:
        print(json.dumps({"variables": rows, "unknown": unknown_variables()}))
        return
    for row in rows:
        console.print(f"{'*' if row['set'] else ' '} {row['name']:<38} {row['what']}", markup=False)
    console.print("  TUNEPLAN_<SECTION>__<KEY>               any settings.yaml key, e.g. TUNEPLAN_ELECTRICITY__KWH_USD=0.25",
                  markup=False)
    for warning in unknown_variables():
        console.print(plain(f"warning: {warning}"), markup=False)


@settings_app.command("show", help="Print the settings in effect, secrets masked, and which ledger is used.")
def show(as_json: bool = typer.Option(False, "--json")) -> None:
    import yaml

    from providers.secret_urls import mask_url
    from providers.settings import load_settings, settings_path
    from remote_jobs.ledger_location import resolve_location
    from tuneplan.cli.render_run import console

    values = load_settings().model_dump(mode="json")  # SecretStr dumps as '**********'
    if values.get("ledger_url"):
        values["ledger_url"] = mask_url(values["ledger_url"])
    location = resolve_location()
    facts = {"file": str(settings_path()), "exists": settings_path().is_file(), "ledger_in_use": location.shown,
             "settings": values}
    if as_json:
        print(json.dumps(facts))
        return
    console.print(f"# {facts['file']}{'' if facts['exists'] else ' (not there: defaults)'}", markup=False)
    console.print(f"# ledger in use: {location.shown} ({location.kind})", markup=False)
    console.print(yaml.safe_dump(values, sort_keys=False).rstrip(), markup=False)
