"""The ``tuneplan`` console script. With no arguments at a terminal it opens the terminal app directly, without
loading the command-line parser (typer and every command module), so the first screen paints sooner;
without a terminal it prints the commands; anything else goes to ``tuneplan.cli.app.main``.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args and not (sys.stdin.isatty() and sys.stdout.isatty()):
        args = ["--help"]  # a script or CI calling plain `tuneplan` gets the commands, not a screen that never ends
    if args:
        from tuneplan.cli.app import main as cli_main

        cli_main(args)
        return
    from planner.errors import TuneplanError

    try:
        from tuneplan.tui.app import make_app

        make_app().run()
    except TuneplanError as exc:  # a bad settings file, a clock override: one line, as the CLI prints it
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
