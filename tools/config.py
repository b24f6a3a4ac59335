"""The base of every stage's configuration: a frozen pydantic model whose validation errors are
:class:`~tools.errors.InputError` with a one-line message naming the field, the value and the rule.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from tools.errors import InputError

__all__ = ["FrozenConfig", "validation_message"]


def validation_message(owner: str, exc: ValidationError) -> str:
    """One line for the first error of ``exc``: ``"<owner> <field>=<value>: <rule>"``."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "value"
    return f"{owner} {where}={first.get('input')!r}: {first['msg']}"


class FrozenConfig(BaseModel):
    """Immutable, strict (unknown fields are errors) and raising InputError when invalid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InputError(validation_message(type(self).__name__, exc)) from None
