"""Configs from YAML: `${VAR}` expansion, and dataclasses built strictly and typed by their annotations.

Every config class is built by `build`, so a config fails the same way everywhere: an unknown key is refused with
the known ones listed (and "did you mean" for a near miss), and a value takes the type its field declares, so
`episodes: ${N:-4}` is the integer 4, not the text "4", and `episodes: four` names the key, the value and the type
it needs. Command-line overrides go through `override`, which types them the same way and reruns the class's own
checks. An empty YAML block (`rules:` with nothing under it) is the empty mapping or list, i.e. the defaults; keys
starting with `x-` are ignored at every level: they are a place for YAML anchors.

Expansion lets one config serve a laptop and a cluster (`base_url: ${HAGGLE_BASE_URL:-http://127.0.0.1:8000/v1}`)
without templating tools. API keys are never expanded this way: configs name the variable that holds a key.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

T = TypeVar("T")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


class ConfigError(ValueError):
    """A config that cannot be used: the message says which key is wrong and what it needs."""


# A config the user wrote that cannot be used (missing file, YAML syntax, unknown or mistyped key; YAML syntax
# from loaders outside this module too, e.g. TRL's parser): the user's mistake, so the CLI and the training
# scripts print one line, `describe_config_error`, and exit 2; `haggle --debug` / HAGGLE_DEBUG=1 show the traceback.
CONFIG_ERRORS: tuple[type[BaseException], ...] = (ConfigError, FileNotFoundError, yaml.YAMLError)


def describe_config_error(error: BaseException) -> str:
    """One line: the loader's message, or for a YAML syntax error the file, line and column and what is wrong."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{mark.name}:{mark.line + 1}:{mark.column + 1}: YAML syntax error: {error.problem}"
    if isinstance(error, FileNotFoundError) and error.filename:
        return f"no such file: {error.filename}"
    return " ".join(str(error).split())


# -- YAML and the environment ---------------------------------------------------------------------------------
def expand_environment(value: Any) -> Any:
    """`${VAR}` and `${VAR:-default}` replaced in every string of `value`; an unset VAR without default fails."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is None:
                raise ConfigError(
                    f"config refers to ${{{name}}} but the environment variable {name} is not set"
                )
            return default

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, dict):
        return {key: expand_environment(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_environment(item) for item in value]
    return value


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file's top-level mapping, environment variables expanded."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    with path.open(encoding="utf-8") as handle:
        try:
            loaded = yaml.safe_load(handle) or {}
        except yaml.YAMLError as error:
            raise ConfigError(describe_config_error(error)) from error
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(loaded).__name__}")
    return expand_environment(loaded)


# -- strict dataclasses ---------------------------------------------------------------------------------------
def refuse_unknown(
    keys: Iterable[str], known: Iterable[str], *, what: str = "setting", where: str = ""
) -> None:
    """Raise if any of `keys` is not `known`: one line naming them, a near miss, and every known key."""
    known = sorted(known)
    unknown = sorted(str(key) for key in keys if key not in known)
    if not unknown:
        return
    near = [match for key in unknown for match in difflib.get_close_matches(key, known, n=1)]
    hint = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
    names = ", ".join(map(repr, unknown))
    plural = "s" if len(unknown) > 1 else ""
    raise ConfigError(f"{_prefix(where)}unknown {what}{plural} {names}{hint}; known: {', '.join(known)}")


def build(cls: type[T], mapping: Mapping[str, Any] | None, *, what: str = "setting", where: str = "") -> T:
    """An instance of the dataclass `cls` from a mapping: keys checked, values typed by the fields' annotations
    (nested dataclasses, lists, tuples, dicts, Optional, unions and Literal), then `cls`'s own checks run."""
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{_prefix(where)}expected a mapping of settings, got {mapping!r}")
    values = {key: value for key, value in mapping.items() if not str(key).startswith("x-")}
    init_fields = [field for field in dataclasses.fields(cls) if field.init]  # type: ignore[arg-type]
    refuse_unknown(values, [field.name for field in init_fields], what=what, where=where)
    missing = [
        field.name
        for field in init_fields
        if field.name not in values
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{_prefix(where)}missing required {what} {', '.join(map(repr, missing))}")
    hints = _field_types(cls)
    return _checked(
        cls, where, **{key: _convert(value, hints[key], _key(where, key)) for key, value in values.items()}
    )


def override(instance: T, **changes: Any) -> T:
    """`instance` with `changes` (e.g. from the command line) typed like the config's own values and checked
    again by the class: `dataclasses.replace`, never a field set behind the class's back."""
    cls = type(instance)
    refuse_unknown(changes, [field.name for field in dataclasses.fields(cls) if field.init])  # type: ignore[arg-type]
    hints = _field_types(cls)
    typed = {key: _convert(value, hints[key], key) for key, value in changes.items()}
    return _checked(lambda **fields: dataclasses.replace(instance, **fields), "", **typed)  # type: ignore[type-var]


def _checked(make: Callable[..., T], where: str, **fields: Any) -> T:
    """`make(**fields)`, a config class's own check (a ValueError from `__post_init__`) raised as the config
    mistake it is, so that every bad config reaches the user the same way."""
    try:
        return make(**fields)
    except ConfigError:
        raise
    except ValueError as error:
        raise ConfigError(f"{_prefix(where)}{error}") from error


def _field_types(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _key(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


def _convert(value: Any, annotation: Any, key: str) -> Any:
    """`value` as `annotation` says, or a `ConfigError` naming `key`, the value and the type it needs."""
    if annotation is Any:
        return value
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Union or origin is types.UnionType:
        return _convert_union(value, args, key)
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(f"{key} must be one of {', '.join(map(repr, args))}, got {value!r}")
    if dataclasses.is_dataclass(annotation):
        return value if isinstance(value, annotation) else build(annotation, value, where=key)  # type: ignore[arg-type]
    if annotation in (list, tuple, dict) or origin in (list, tuple, dict):
        return _convert_collection(value, origin or annotation, args, key)
    if annotation in _SCALARS:
        return _SCALARS[annotation](value, key)
    if isinstance(annotation, type) and isinstance(value, annotation):
        return value
    raise ConfigError(f"{key} must be {_describe(annotation)}, got {value!r}")


def _convert_union(value: Any, members: tuple[Any, ...], key: str) -> Any:
    if value is None and type(None) in members:
        return None
    members = tuple(member for member in members if member is not type(None))
    exact = [member for member in members if isinstance(member, type) and type(value) is member]
    for member in exact + [member for member in members if member not in exact]:
        try:
            return _convert(value, member, key)
        except ConfigError:
            continue
    wanted = " or ".join(_describe(member) for member in members)
    raise ConfigError(f"{key} must be {wanted}, got {value!r}")


def _convert_collection(value: Any, kind: type, args: tuple[Any, ...], key: str) -> Any:
    if value is None:  # an empty YAML block
        value = {} if kind is dict else []
    if kind is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        key_type, value_type = args or (Any, Any)
        return {
            _convert(name, key_type, key): _convert(item, value_type, _key(key, name))
            for name, item in value.items()
        }
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{key} must be a list, got {value!r}")
    if kind is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise ConfigError(f"{key} must be a list of {len(args)} items, got {value!r}")
        return tuple(
            _convert(item, arg, f"{key}[{i}]") for i, (item, arg) in enumerate(zip(value, args, strict=True))
        )
    item_type = args[0] if args else Any
    items = [_convert(item, item_type, f"{key}[{i}]") for i, item in enumerate(value)]
    return tuple(items) if kind is tuple else items


def _to_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{key} must be true or false, got {value!r}")


def _to_int(value: Any, key: str) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        if isinstance(value, int | str) and not isinstance(value, bool):
            return int(value)
    except ValueError:
        pass
    raise ConfigError(f"{key} must be an integer, got {value!r}")


def _to_float(value: Any, key: str) -> float:
    try:
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            return float(value)
    except ValueError:
        pass
    raise ConfigError(f"{key} must be a number, got {value!r}")


def _to_str(value: Any, key: str) -> str:
    """Text; a YAML number or boolean is taken as the text it was written as (`args: [--max_steps, 2]`)."""
    if isinstance(value, str | int | float):
        return str(value)
    raise ConfigError(f"{key} must be text, got {value!r}")


_SCALARS: dict[type, Any] = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def _describe(annotation: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "text", type(None): "null"}
    if annotation in names:
        return names[annotation]
    origin = get_origin(annotation)
    if origin in (list, tuple) or annotation in (list, tuple):
        return "a list"
    if origin is dict or annotation is dict or dataclasses.is_dataclass(annotation):
        return "a mapping"
    if origin is Literal:
        return f"one of {', '.join(map(repr, get_args(annotation)))}"
    return getattr(annotation, "__name__", str(annotation))
