"""One clear line from a pydantic validation error, with "did you mean" for unknown keys.

Shared by everything a user writes (job specs, settings): the first problem, its key path, and the
allowed names at that path for a typo.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from planner.suggest import did_you_mean


def first_problem(exc: ValidationError, model: type[BaseModel]) -> str:
    """The first error of ``exc`` (raised validating ``model``) as one line for a person."""
    return problem_text(exc.errors()[0], model)


def all_problems(exc: ValidationError, model: type[BaseModel], most: int = 10) -> str:
    """Every error of ``exc`` at once, each as ``first_problem`` words it (a file with three mistakes is fixed in one
    round, not three): one line, separated by "; ", the first ``most`` of them."""
    texts = list(dict.fromkeys(problem_text(error, model) for error in exc.errors()))
    if len(texts) == 1:
        return texts[0]
    more = f"; and {len(texts) - most} more" if len(texts) > most else ""
    return f"{len(texts)} problems: " + "; ".join(texts[:most]) + more


def problem_text(error: dict, model: type[BaseModel]) -> str:
    """One pydantic error as a person reads it, with "did you mean" for an unknown key or value."""
    loc = [_key(part) for part in error["loc"]]
    where = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"unknown key '{where}'{did_you_mean(loc[-1], known_keys(model, loc[:-1]))}"
    if error["type"] == "missing":
        return f"missing required key '{where}'"
    if error["type"] == "literal_error":
        allowed = error.get("ctx", {}).get("expected", "")
        got = error.get("input")
        hint = did_you_mean(str(got), [a.strip(" '") for a in str(allowed).replace(" or ", ",").split(",")])
        return f"'{where}' must be one of {allowed}, got {_short(repr(got))}{hint}"
    return f"'{where}': {error['msg'].removeprefix('Value error, ')}"


def _key(part: object) -> str:
    """One step of a key path as it may be printed: a key a person wrote, else its repr (a key can hold a
    newline or a control character), short either way."""
    text = str(part)
    return _short(text if text.isprintable() else repr(text), 40)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def known_keys(model: type[BaseModel], path: list[str]) -> list[str]:
    """The field names allowed at a key path (list indices skipped), for 'did you mean'."""
    for part in path:
        if part.isdigit():
            continue
        field = model.model_fields.get(part)
        inner = _model_in(field.annotation) if field else None
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside an annotation like ``Section | None`` or ``list[Section]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def leaf_problem(model: type[BaseModel], dotted: str) -> str | None:
    """Why ``dotted`` (``training.learning_rate``) does not name one value of ``model``, with "did you mean" for a
    typo; None when it does. A sweep varies values, so a whole section (``lora``) is refused too."""
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            where = ".".join(parts[: depth + 1])
            return f"unknown key '{_short(where)}'{did_you_mean(part, list(model.model_fields))}"
        inner = _model_in(field.annotation)
        if inner is None:
            return None if depth == len(parts) - 1 else f"'{'.'.join(parts[: depth + 1])}' holds no keys"
        model = inner
    return f"'{_short(dotted)}' is a section, not one value: name a key inside it"
