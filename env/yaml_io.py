"""YAML loading shared by every config: `${VAR}` and `${VAR:-default}` expand from the environment.

Expansion lets one config serve a laptop and a cluster (e.g. `base_url: ${HAGGLE_BASE_URL:-http://127.0.0.1:8000/v1}`)
without templating tools. API keys are never expanded this way: configs name the variable that holds a key.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_environment(value: Any) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is None:
                raise KeyError(f"config refers to ${{{name}}} but the environment variable {name} is not set")
            return default

        return _VARIABLE.sub(substitute, value)
    if isinstance(value, dict):
        return {key: expand_environment(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_environment(item) for item in value]
    return value


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    with path.open(encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(loaded).__name__}")
    return expand_environment(loaded)
