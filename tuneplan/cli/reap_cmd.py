"""``tuneplan reap [--yes] [--all-owners] [--json]``: list what should not be running (or not be unrecorded), and
with ``--yes`` end it. The verdicts and the rules (our prefix and this owner/host's tags only) are in
``remote_jobs.reap``.

Exit code (for cron jobs and CI): 0 when nothing needs acting on (or ``--yes`` ended all of it), 1 when something
that should not be running is left running."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from planner.errors import BadInput
from tuneplan.cli.run_options import LEDGER_OPTION, RUNS_DIR_OPTION, clock, open_ledger, runs_root


def reap(
    yes: bool = typer.Option(False, "--yes", "-y", help="End what is listed as actionable (default: only list)."),
    all_owners: bool = typer.Option(False, "--all-owners", help="Also end resources of other owners or hosts."),
    unplaced: bool = typer.Option(False, "--unplaced", help="With --yes, also end machines no ledger on this machine "
                                  "knows without asking (otherwise each is asked about at a terminal, else left)."),
    owner: Optional[str] = typer.Option(None, "--owner", help="Whose resources are 'ours' (default: your user name)."),
    provider: list[str] = typer.Option([], "--provider", help="Also ask this provider (repeatable; default: local and "
                                       "every provider the ledger has runs on)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object: what was found, what was done."),
    ledger: Optional[str] = LEDGER_OPTION,
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    from providers.identity import current_owner, host_id
    from providers.plain_text import one_line
    from providers.registry import get_provider, names
    from remote_jobs import reap as reaper
    from tuneplan.cli.render_run import console

    at = clock()
    book = open_ledger(ledger, at)
    wanted = _providers_to_ask(book, provider, names())
    providers, unreachable = {}, []
    for name in wanted:
        try:
            providers[name] = get_provider(name)
        except (BadInput, ImportError) as exc:
            unreachable.append(f"  {name}: not asked ({' '.join(str(exc).split())})")
    say = (lambda text: None) if as_json else console.print
    for line in unreachable:
        say(line)
    root = runs_root(runs_dir)
    items = reaper.survey(book, list(providers.values()), owner or current_owner(), host_id(), all_owners, at, root)
    if not items:
        say("nothing to reap: every machine is accounted for")
    for item in items:
        mark = "→" if item.actionable else " "
        say(one_line(f"{mark} {item.verdict:<9} {item.provider}/{item.run_id}: {item.why}", 1000))
    actionable = [item for item in items if item.actionable]
    done: dict[str, str] = {}
    if not yes:
        if actionable:
            say(f"{len(actionable)} to act on: run again with --yes")
    else:
        for item in actionable:
            if item.verdict == "orphan" and not (unplaced or (not as_json and _confirm_unplaced(item))):
                say(f"  {item.run_id}: left running (no ledger here knows it; --unplaced ends such machines "
                    "without asking)")
                continue
            done[item.run_id] = reaper.act(item, book, providers[item.provider], at, root)
            say(one_line(f"  {item.run_id}: {done[item.run_id]}", 1000))
    left = [item for item in actionable if item.run_id not in done]
    if as_json:
        _print_json(items, done, unreachable)
    if left:
        raise typer.Exit(1)


def _print_json(items, done: dict[str, str], unreachable: list[str]) -> None:
    import json
    import sys

    from providers.plain_text import plain

    sys.stdout.write(json.dumps({
        "items": [{"provider": i.provider, "run_id": plain(i.run_id), "verdict": i.verdict, "why": plain(i.why),
                   "actionable": i.actionable, "resource_id": plain(i.resource.resource_id) if i.resource else None,
                   "done": plain(done[i.run_id]) if i.run_id in done else None} for i in items],
        "not_asked": [plain(line.strip()) for line in unreachable],
        "left_running": sum(1 for i in items if i.actionable and i.run_id not in done),
    }, indent=2) + "\n")


def _confirm_unplaced(item) -> bool:
    """A machine no ledger on this machine can place may be someone's live run: ask, at a terminal only."""
    import sys

    if not sys.stdin.isatty():
        return False
    return typer.confirm(f"End {item.provider}/{item.run_id}, which no ledger on this machine knows?", default=False)


def _providers_to_ask(book, flags: list[str], registered: list[str]) -> list[str]:
    """Local, the providers named with --provider, and every provider the ledger has a run on.

    Asking a provider nobody used would only cost time (SkyPilot would start its API server for it): every
    resource we launch has a ledger row first, so the ledger names every provider worth asking.
    """
    from planner.suggest import did_you_mean

    for name in flags:
        if name not in registered:
            raise BadInput(f"unknown provider '{name}'{did_you_mean(name, registered)}")
    used = {record.provider for record in book.runs()}
    return [name for name in registered if name == "local" or name in flags or name in used]
