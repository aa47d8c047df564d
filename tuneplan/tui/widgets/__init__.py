"""Reusable widgets: the model picker, a labelled form field with its inline error, the memory bar."""
