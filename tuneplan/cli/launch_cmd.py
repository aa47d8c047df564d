"""``tuneplan launch job.yaml``: plan → confirm → check → bundle → record → launch → watch → pull → verify →
tear down → record. The steps live in ``remote_jobs``; this module shows them and asks the question.

Exit codes: 0 when the run succeeded, 1 when it ended any other way (the reason is printed), 2 for a
mistake in what was asked (nothing was started), 130 after Ctrl-C (it asks whether to stop the run: yes tears
it down after pulling its latest checkpoint, no leaves it running under its hard limit).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from planner.errors import BadInput, TuneplanError
from tuneplan.cli.run_options import LEDGER_OPTION, RUNS_DIR_OPTION, clock, open_ledger, runs_root


class RunDidNotSucceed(TuneplanError):
    title = "run did not succeed"
    exit_code = 1


def launch(
    spec_arg: Optional[Path] = typer.Argument(None, metavar="[SPEC]", help="The job spec YAML (or --spec)."),
    spec: Optional[Path] = typer.Option(None, "--spec", help="The job spec YAML."),
    provider: Optional[str] = typer.Option(
        None, "--provider", help="local, runpod, modal or skypilot (default: the spec's resources.provider)."),
    set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                   help="Override a spec field, e.g. training.max_steps=10 (repeatable)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before launching."),
    allow_over_budget: bool = typer.Option(False, "--allow-over-budget",
                                           help="Launch even when the estimate exceeds resources.max_total_usd."),
    nodes: Optional[int] = typer.Option(None, "--nodes", min=1, max=64,
                                        help="Machines in one distributed run (resources.nodes; SkyPilot only)."),
    max_hours: Optional[float] = typer.Option(None, "--max-hours",
                                              help="Hard runtime limit (default: estimate × 3 + 10 min, within budget)."),
    validate: bool = typer.Option(True, "--validate/--no-validate", help="Run the template's --validate-only here first."),
    detach: bool = typer.Option(False, "--detach", help="Return once launched; `tuneplan watch RUN` later."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Build the bundle and print what the provider would be "
                                 "asked to create (SkyPilot task YAML, Modal App, RunPod pod request) instead of "
                                 "launching: nothing starts, no run is recorded."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="With --dry-run: write the task file here."),
    sweep: list[str] = typer.Option([], "--sweep", metavar="KEY=V1,V2",
                                    help="Run the job once per value (repeatable: every combination), e.g. "
                                    "lora.r=8,16; adds to the spec's sweep: section."),
    parallel: Optional[int] = typer.Option(None, "--parallel", min=1, max=16, help="A sweep's runs at once "
                                           "(default: 1 on this machine, 4 on rented ones)."),
    calibration: bool = typer.Option(True, "--calibration/--no-calibration", help="Correct the estimate with what "
                                     "the team's past runs of this kind measured (default), or not."),
    ledger: Optional[str] = LEDGER_OPTION,
    runs_dir: Optional[Path] = RUNS_DIR_OPTION,
) -> None:
    from providers.registry import get_provider
    from remote_jobs import launch as steps

    path = _spec_path(spec_arg, spec)
    overrides = _overrides(set_)
    if nodes is not None:
        from planner.spec import deep_merge

        overrides = deep_merge(overrides, {"resources": {"nodes": nodes}})
    if sweep:
        from planner.sweep import parse_flags

        overrides = {**overrides, "sweep": parse_flags(sweep)}  # merged with the spec's own sweep: by load_spec
    job = _load(path, overrides)
    at, root = clock(), runs_root(runs_dir)
    book = None if dry_run else open_ledger(ledger, at).checked().writable()  # a run that cannot be recorded never starts
    if max_hours is not None and max_hours <= 0:
        raise BadInput(f"--max-hours must be positive, got {max_hours:g}")
    learned = ({} if not calibration else _corrections(book, at) if book is not None else None)  # None: the default
    answers = LaunchAnswers(yes, allow_over_budget, validate, detach, dry_run, output)
    if job.sweep:
        from tuneplan.cli.sweep_cmd import launch_sweep

        if detach or output is not None:
            raise BadInput("a sweep is followed to its end (its table of results): drop --detach/--output")
        asked = {k: v for k, v in {"set": _overrides(set_), "provider": provider, "max_hours": max_hours}.items() if v}
        return launch_sweep(job, path, provider, at, max_hours, learned, book, root, answers, parallel, asked)
    if parallel is not None:
        raise BadInput("--parallel is for a sweep: add --sweep KEY=V1,V2 or a sweep: section to the spec")
    choice = steps.choose_provider(job, path, provider, at, learned)
    chosen = get_provider(choice.name)
    _check_dry_run(chosen, dry_run, output)
    request = steps.prepare(job, path, chosen, at, max_hours, prefer=choice.prefer, corrections=learned)
    if request.estimate.calibration:
        request.notes.append(request.estimate.calibration["source"] + " (--no-calibration for the plain estimate)")
    request.overrides = {k: v for k, v in {"set": overrides, "provider": provider, "max_hours": max_hours}.items() if v}
    if choice.said:
        request.notes.insert(0, choice.said)
    run_request(request, book, root, answers)


def _corrections(book, at) -> dict:
    from remote_jobs.learned import corrections

    return corrections(book, at.now())


@dataclass(frozen=True)
class LaunchAnswers:
    """What the command line already answered for a launch (or a resume)."""

    yes: bool = False
    allow_over_budget: bool = False
    validate: bool = True
    detach: bool = False
    dry_run: bool = False
    output: Optional[Path] = None


def run_request(request, book, root: Path, answers: LaunchAnswers, build=None) -> None:
    """Show the plan, confirm, bundle (``build`` makes the bundle, else the job does), record, launch, watch."""
    from remote_jobs import launch as steps
    from tuneplan.cli import render_run as show

    show.print_plan(request)
    try:
        steps.refuse_over_budget(request, answers.allow_over_budget)
        if book is not None:
            steps.check_team_budget(request, book)
    except BadInput as exc:
        if not answers.dry_run:
            raise
        request.notes.append(f"a real launch would refuse this: {exc}")  # nothing starts: show the task anyway
    show.print_outgoing(request)
    if not answers.dry_run:
        check_credentials(request)  # before anything is bundled or recorded: a run that cannot start is no run
        _confirm(request, answers.yes)
    if answers.validate:
        show.console.print("checking the job with the template's --validate-only …")
    shown = len(request.notes)
    bundle = steps.bundle_and_validate(request, root, answers.validate, build)
    for note in request.notes[shown:]:
        show.console.print(show.styled(("note:", "yellow"), f" {note}"))
    show.console.print(f"bundle: {len(bundle.files)} files, {show.size(bundle.bytes)}, sha256 {bundle.sha256[:16]}… "
                       f"({bundle.tarball})")
    if answers.dry_run:
        steps.note_dry_run(root / request.run_id, request.run_id)
        _write_task(request.provider, bundle, request.plan, answers.output)
        return
    with show.PlainEvents() if answers.detach else show.LiveProgress() as live:
        run = steps.start(request, bundle, book, book.clock, root, live)
        if answers.detach:
            live.print(f"launched; follow it with: tuneplan watch {run.run_id}")
            return
        from remote_jobs.watch import watch

        record = watch(run, on_interrupt=_ask_to_stop(run.run_id, live))
        live.final(record)
    _finish(record)


def check_credentials(request) -> None:
    check = request.provider.check()
    if not check.ok:
        fix = f"; {check.fix}" if check.fix else ""
        raise BadInput(f"{request.provider.name}: {check.message}{fix} (nothing was started or recorded)")


def _spec_path(positional: Optional[Path], option: Optional[Path]) -> Path:
    if positional is not None and option is not None and positional != option:
        raise BadInput("give the spec once: as an argument or as --spec")
    path = positional or option
    if path is None:
        raise BadInput("give a job spec: tuneplan launch examples/tiny-smoke.yaml")
    return path


def _load(path: Path, overrides: dict):
    from planner.spec import load_spec

    return load_spec(path, overrides)


def _overrides(sets: list[str]) -> dict:
    """``--set a.b=value`` pairs as one nested dict (values read as JSON where they parse)."""
    import json

    from planner.spec import deep_merge

    overrides: dict = {}
    for item in sets:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--set needs KEY=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        for part in reversed(key.strip().split(".")):
            value = {part: value}
        overrides = deep_merge(overrides, value)
    return overrides


def _check_dry_run(chosen, dry_run: bool, output: Optional[Path]) -> None:
    """--dry-run needs a provider that can write its task as a file; --output only makes sense with it."""
    if output is not None and not dry_run:
        raise BadInput("--output writes the task file of a dry run: add --dry-run")
    if dry_run and not callable(getattr(chosen, "render_task", None)):
        raise BadInput(f"the {chosen.name} provider has nothing to create: --dry-run shows what skypilot, modal or "
                       "runpod would be asked for (--provider …)")


def _write_task(chosen, bundle, plan, output: Optional[Path]) -> None:
    """The provider's task file (``render_task(bundle, plan)``), to ``output`` or stdout; nothing is launched."""
    from tuneplan.cli import render_run as show

    text = chosen.render_task(bundle, plan)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    hint = getattr(chosen, "launch_hint", None)
    show.console.print(f"wrote {output} (dry run: nothing was launched or recorded)")
    if callable(hint):
        show.console.print(hint(output, plan))


def _confirm(request, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise BadInput("not asking on a non-interactive input: add --yes to launch")
    if not typer.confirm(f"Launch {request.run_id} on {request.provider.name}?", default=True):
        raise typer.Abort()


def _ask_to_stop(run_id: str, live):
    """Ctrl-C during a launch: ask (at a terminal) whether to stop the run; without one, stop it."""
    def ask() -> bool:
        if not sys.stdin.isatty():
            return True
        if getattr(live, "started", False):
            live.progress.stop()
        return typer.confirm(f"\nStop {run_id} and tear its machine down (its latest checkpoint is kept)? "
                             "No leaves it running under its hard limit", default=False)
    return ask


def _finish(record) -> None:
    from tuneplan.cli import render_run as show

    show.print_record(record)
    if record.state.value != "succeeded":
        raise RunDidNotSucceed(f"run {record.run_id} ended {record.state.value}: {record.failure_reason or 'no reason given'}")
