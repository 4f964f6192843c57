"""The dataclass functions statesync's code may call, for MicroPython (statesync's light
runtime). The rewrite expands `@dataclass` classes itself, recording their field names in
`__dataclass_fields__`, which these read."""

from _statesync_light import MISSING, FrozenInstanceError


class Field:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "Field(name={!r})".format(self.name)


def is_dataclass(obj):
    return hasattr(obj, "__dataclass_fields__")


def fields(obj):
    return tuple(Field(name) for name in obj.__dataclass_fields__)


def replace(obj, **changes):
    values = {name: getattr(obj, name) for name in obj.__dataclass_fields__}
    values.update(changes)
    return type(obj)(**values)


def asdict(obj):
    if is_dataclass(obj) and not isinstance(obj, type):
        return {name: asdict(getattr(obj, name)) for name in obj.__dataclass_fields__}
    if isinstance(obj, (list, tuple)):
        return type(obj)(asdict(v) for v in obj)
    if isinstance(obj, dict):
        return {asdict(k): asdict(v) for k, v in obj.items()}
    return obj


def dataclass(*args, **kwargs):
    raise NotImplementedError("@dataclass is expanded by the rewrite; this class was not")


def field(*args, **kwargs):
    raise NotImplementedError("dataclasses.field is expanded by the rewrite; this one was not")
