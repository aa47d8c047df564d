"""tuneplan's front ends: the CLI (typer) and the TUI (textual). Thin: they compose planner,
providers and remote_jobs, and are the only place that imports rich or textual."""

__version__ = "0.1.0"
