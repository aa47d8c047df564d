"""The Textual front end: ``tuneplan`` with no arguments opens it (``tuneplan.tui.app.make_app``).

It is a view over the same headless layers the CLI uses (planner, providers, remote_jobs); nothing here
computes an estimate, a price or a run state of its own. Importing this package imports nothing heavy.
"""
