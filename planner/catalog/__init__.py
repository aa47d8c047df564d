"""Bundled, offline catalogs built from dated public facts: models, GPUs, Apple chips, CPUs, prices."""
