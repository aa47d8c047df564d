"""Pure planning for fine-tuning runs: catalogs, the job spec, memory/time/cost estimators.

This package must stay pure: no network, no subprocess, no clock reads, no torch, no textual or rich.
It may read its own bundled data files and files a user names (a config.json, a job YAML).
"""
