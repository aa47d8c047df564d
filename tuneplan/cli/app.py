"""The ``tuneplan`` command: sub-commands are registered here; errors become one clean line.

A mistake the user made (unknown model, bad flag value, impossible combination) prints
``error: <one line>`` and exits with code 2; no traceback reaches the terminal.
"""

from __future__ import annotations

import sys

import typer

from planner.errors import TuneplanError
from tuneplan.cli import (bills_cmd, budget_cmd, data_cmd, doctor_cmd, eval_cmd, gc_cmd, import_cmd, jobs_cmd, launch_cmd,
                          ledger_cmd,
                          lookup_cmd, plan_cmd, prices_cmd, reap_cmd, recommend_cmd, rent_cmd, push_cmd, report_cmd,
                          resume_cmd, settings_cmd, spec_cmd, sweep_cmd, tui_cmd)

HELP = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="tuneplan",
    help="Plan, price, launch and account for fine-tuning runs.",
    no_args_is_help=False,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish and PowerShell
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=HELP,
)
app.command("plan", help="Estimate GPU memory, FLOPs and hours for a fine-tuning job.")(plan_cmd.plan)

# --- prices, recommend, rent-vs-buy (issue 3) ---
app.add_typer(prices_cmd.prices_app, name="prices")
# --- the team ledger (issue 17) ---
app.add_typer(ledger_cmd.ledger_app, name="ledger")
app.add_typer(budget_cmd.budget_app, name="budget")
app.add_typer(settings_cmd.settings_app, name="settings")
# --- the weekly workflows (issue 26) ---
app.add_typer(spec_cmd.spec_app, name="spec")
app.add_typer(data_cmd.data_app, name="data")
app.add_typer(sweep_cmd.sweep_app, name="sweep")
app.command("eval", help="The base and the fine-tuned model side by side on held-out prompts (or their task "
            "metric), from a pulled run; stored with the run.")(eval_cmd.evaluate)
app.command("recommend", help="Rank every place a job could run: fits, hours, dollars, and why.")(
    recommend_cmd.recommend)
app.command("rent-vs-buy", help="Owning a GPU against renting the same work, month by month.")(rent_cmd.rent_vs_buy)

# --- launch, runs, ledger (issue 5) ---
app.command("launch", help="Plan, confirm, bundle and run a job; pull, verify, tear down, record.")(launch_cmd.launch)
app.command("jobs", help="The runs in the ledger, newest first.")(jobs_cmd.jobs)
app.command("logs", help="A run's output (-f to follow).")(jobs_cmd.logs)
app.command("watch", help="Re-attach to a run: progress until it ends, then pull, verify, tear down.")(jobs_cmd.watch)
app.command("pull", help="Fetch and verify a run's artifacts (idempotent).")(jobs_cmd.pull)
app.command("down", help="Stop a run and tear its machine down (idempotent); a finished run keeps its results.")(
    jobs_cmd.down)
app.command("resume", help="Continue a stopped run from the checkpoint kept when it stopped (a new, linked run).")(
    resume_cmd.resume)
app.command("push", help="Upload a run's pulled, verified outputs to the Hugging Face Hub (retries a failed push).")(
    push_cmd.push)
app.command("reap", help="Find machines the ledger says should be gone, or does not know; --yes ends them.")(
    reap_cmd.reap)
app.command("gc", help="List (and with --yes remove) what in the runs folder no ledger row needs.")(gc_cmd.gc)
app.command("report", help="Spending from the ledger: per run and totals, estimate vs actual.")(report_cmd.report)
app.command("bills", help="Ask the providers again for bills of finished runs that have none yet (they come late).")(
    bills_cmd.bills)

app.command("doctor", help="Check each launcher here; --online PROVIDER runs the smoke job there for cents and "
            "records what the real service did.")(doctor_cmd.doctor)

# --- looking things up (issue 21) ---
app.command("models", help="The bundled model catalog (size, architecture, context, license); SEARCH filters it.")(
    lookup_cmd.models)
app.command("gpus", help="The GPUs and Apple chips the planner knows: memory, bandwidth, buy and rent prices.")(
    lookup_cmd.gpus)

app.command("import", help="An axolotl, LLaMA-Factory or TRL config as a tuneplan job spec (keys not read are "
            "listed).")(import_cmd.import_config)

# --- the terminal app (issue 6); `tuneplan` with no arguments opens it too ---
app.command("tui", help="Open the terminal app: plan, compare, launch and watch from one screen set.")(tui_cmd.tui)


def version() -> str:
    """The installed tuneplan's version (the package metadata; the source tree's when run from a checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    from tuneplan import __version__

    try:
        return installed("tuneplan")
    except PackageNotFoundError:
        return __version__


def _print_version(wanted: bool) -> None:
    if wanted:
        sys.stdout.write(f"tuneplan {version()}\n")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(False, "--version", "-V", is_eager=True, callback=_print_version,
                                      help="Print the version and exit."),
) -> None:
    """Plan, price, launch and account for fine-tuning runs."""


def _warn_unknown_environment() -> None:
    """A misspelt TUNEPLAN_* variable is ignored: say so, with the closest name (never fatal)."""
    from tuneplan.cli.environment import unknown_variables

    for warning in unknown_variables():
        sys.stderr.write(f"warning: {warning}\n")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, turn expected failures into one line.

    With no arguments at all it opens the terminal app (``tuneplan tui``).
    """
    if argv is None:
        argv = sys.argv[1:]
    if not argv:
        argv = ["tui"]
    _warn_unknown_environment()
    try:
        code = app(args=argv, standalone_mode=False)
    except TuneplanError as exc:
        if exc.title == "detached":  # not a failure: the user stopped watching and the run goes on
            sys.stderr.write(f"{exc}\n")
            raise SystemExit(exc.exit_code) from None
        _fail(str(exc), exc.exit_code)
    except typer.Abort:
        _fail("aborted", 130)
    except typer.TyperException as exc:  # usage errors: unknown option, a value of the wrong type
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        _fail(" ".join(message.split()), getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    # Out of standalone mode, typer turns Ctrl-C (and typer.Exit) into a returned exit code.
    if code == 130:
        _fail("interrupted", 130)
    if isinstance(code, int) and not isinstance(code, bool) and code:
        raise SystemExit(code)


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
