"""The typed settings machinery, shared by the app's settings (service/settings.py) and
the server's (deploy/settings.py): a dataclass field knows its environment variable, its
parser and its meaning, and `EnvSettings.from_env` reads them all, refusing a bad one with
a `ConfigError` naming the variable. Nothing here runs at import time."""

from __future__ import annotations

import os
from dataclasses import field, fields
from typing import Any, Callable, Mapping, TypeVar

from bundle.errors import ConfigError

S = TypeVar("S", bound="EnvSettings")


def parse_bool(value: str) -> bool:
    """true/false, 1/0, yes/no, on/off (any case)."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def choice(*choices: str, case: Callable[[str], str] = str) -> Callable[[str], str]:
    """A parser accepting one of `choices` (after `case`)."""

    def parse(value: str) -> str:
        value = case(value.strip())
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def positive(kind: type) -> Callable[[str], Any]:
    """A parser for a number above zero."""

    def parse(value: str) -> Any:
        number = kind(value)
        if number <= 0:
            raise ValueError("expected a number above 0")
        return number

    return parse


def fraction(value: str) -> float:
    """A share above 0, at most 1."""
    number = float(value)
    if not 0 < number <= 1:
        raise ValueError("expected a number above 0 and at most 1")
    return number


def tristate(value: str) -> bool | None:
    """true/false, or empty for "decide from the platform"."""
    return None if value.strip() == "" else parse_bool(value)


def setting(
    env: str, default: Any, parse: Callable[[str], Any], doc: str, secret: bool = False
) -> Any:
    """A dataclass field that knows its environment variable, parser and meaning; a
    secret's value is never shown in an error."""
    metadata = {"env": env, "parse": parse, "doc": doc, "secret": secret}
    return field(default=default, metadata=metadata)


class EnvSettings:
    """Base of a frozen dataclass of `setting()` fields, read from the environment."""

    @classmethod
    def from_env(cls: type[S], environ: Mapping[str, str] | None = None) -> S:
        """Defaults overridden by every set environment variable; ConfigError names a
        variable that does not parse."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            env, parse = f.metadata["env"], f.metadata["parse"]
            raw = environ.get(env, "")
            if raw == "":
                continue
            try:
                values[f.name] = parse(raw)
            except ValueError as exc:
                shown = env if f.metadata["secret"] else f"{env}={raw!r}"
                raise ConfigError(f"{shown} is not valid: {exc}") from exc
        return cls(**values)


def documented(*classes: type) -> tuple[tuple[str, Any, str], ...]:
    """(variable, default, meaning) of every setting of `classes`, in field order."""
    return tuple(
        (f.metadata["env"], f.default, f.metadata["doc"])
        for cls in classes
        for f in fields(cls)
    )
