"""Which keys a field belongs to, declared beside the field (``Annotated[type, SHARED]``): the keys a compare's
shared workers read when they start (``SHARED``: a method may not change them), keys in a shared section that each
run's driver reads (``PER_RUN``), and the keys ``rayrlhf train --resume`` may override (``RESUMABLE``)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel


@dataclass(frozen=True)
class Scope:
    name: str


SHARED, PER_RUN, RESUMABLE = Scope("shared"), Scope("per_run"), Scope("resumable")


def keys_in_scope(model: type[BaseModel], scope: Scope, prefix: str = "") -> list[str]:
    """Dotted keys of ``model``'s fields marked ``scope`` (a marked section counts as one key), in field order."""
    keys = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        if scope in info.metadata:
            keys.append(key)
        elif isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            keys += keys_in_scope(info.annotation, scope, key + ".")
    return keys
