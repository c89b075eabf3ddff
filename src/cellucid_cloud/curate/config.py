"""Where ``cellucid-cloud curate`` finds the API and the curator's key.

In order: the ``--api-url``/``--api-key`` flags, the ``CELLUCID_API_URL``/``CELLUCID_API_KEY``
environment variables, then the config file (``--config``, ``CELLUCID_CONFIG``, or
``$XDG_CONFIG_HOME/cellucid-cloud/config.toml``). The file holds a secret, so it is written
with mode 600 and refused when anyone else may read or change it (as ssh does with its keys).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ConfigError", "Settings", "default_config_path", "resolve", "write_config"]


class ConfigError(Exception):
    """The settings are missing or unsafe; nothing was sent (exit 2)."""


@dataclass(frozen=True, slots=True)
class Settings:
    api_url: str
    api_key: str


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "cellucid-cloud" / "config.toml"


def resolve(api_url: str | None, api_key: str | None, config: Path) -> Settings:
    """The settings from flags or environment (already merged by the caller), completed from
    the config file when one is missing."""
    if not (api_url and api_key) and config.exists():
        stored = read_config(config)
        api_url = api_url or stored.get("api_url")
        api_key = api_key or stored.get("api_key")
    if not api_url:
        raise ConfigError(
            "no API URL: pass --api-url, set CELLUCID_API_URL, or run "
            "`cellucid-cloud curate configure`"
        )
    if not api_key:
        raise ConfigError(
            "no API key: set CELLUCID_API_KEY, pass --api-key, or run "
            "`cellucid-cloud curate configure`"
        )
    return Settings(api_url.rstrip("/"), api_key)


def read_config(path: Path) -> dict[str, str]:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path} may be read by others (mode {mode:03o}) and holds your API key; "
            f"refusing to use it: run `chmod 600 {path}`"
        )
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not a valid TOML file: {error}") from None
    return {key: str(document[key]) for key in ("api_url", "api_key") if key in document}


def write_config(path: Path, settings: Settings) -> None:
    """Write the file atomically, never readable by others, not even for an instant."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = "".join(
        f"{key} = {json.dumps(value, ensure_ascii=False)}\n"  # a JSON string is a TOML string
        for key, value in (("api_url", settings.api_url), ("api_key", settings.api_key))
    )
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
