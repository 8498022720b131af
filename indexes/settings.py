"""User settings: a TOML file in the user config dir, and the default source they give.

Why: `--source ~/src/pytorch` repeated on every command is the first thing a contributor tires of.
The source a command uses, in order: `--source S`; `TORCHATLAS_SOURCE`; `source = "..."` in
`<user config dir>/torchatlas/config.toml` (`torchatlas config set source PATH`); the installed
torch. `TORCHATLAS_CONFIG` names another config file (tests, shared machines).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from .errors import AtlasError

KEYS = {"source": "the default PyTorch source: 'installed' or a path to a checkout / release tree"}


class BadSetting(AtlasError):
    """An unknown key, or a config file that is not valid TOML (exit 2)."""


def config_path() -> Path:
    env = os.environ.get("TORCHATLAS_CONFIG")
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_config_dir("torchatlas")) / "config.toml"


def read_settings() -> dict[str, str]:
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise BadSetting(f"cannot read the config file: {e}", where=str(path)) from None
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BadSetting(f"not valid TOML: {e}", where=str(path),
                         hint="fix it, or remove it and run `torchatlas config set source PATH`") from None
    return {k: str(v) for k, v in data.items() if isinstance(v, (str, int, float, bool))}


def write_setting(key: str, value: str | None) -> Path:
    """Set (or, with None, remove) one key; the file is rewritten whole, atomically."""
    if key not in KEYS:
        import difflib
        close = difflib.get_close_matches(key, list(KEYS), n=1)
        raise BadSetting(f"unknown setting {key!r}", hint=f"did you mean {close[0]}?" if close else
                         f"known: {', '.join(KEYS)}")
    settings = read_settings()
    if value is None:
        settings.pop(key, None)
    else:
        settings[key] = value
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text("".join(f"{k} = {_toml_string(v)}\n" for k, v in sorted(settings.items())), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _toml_string(value: str) -> str:
    return '"' + re.sub(r'(["\\])', r"\\\1", value).replace("\n", "\\n") + '"'


def default_source() -> tuple[str, str]:
    """(spec, where it came from) for a command given no --source."""
    env = os.environ.get("TORCHATLAS_SOURCE", "").strip()
    if env:
        return env, "TORCHATLAS_SOURCE"
    configured = read_settings().get("source", "").strip()
    if configured:
        return configured, str(config_path())
    return "installed", "the default"
