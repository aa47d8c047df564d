"""Estimators: training memory (with its breakdown), FLOPs and time, inference memory and speed.

Pure functions of a :class:`~planner.estimate.setup.TrainingSetup` and an
:class:`~planner.arch.Architecture`; every assumption is a named constant in ``constants``.
"""
