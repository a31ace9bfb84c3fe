"""The config base every section uses: strict models, YAML loading, `--set` overrides, errors for the user.

Every section forbids unknown keys, so a typo fails with the key's name and the
keys allowed there instead of being ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from gristmill.errors import GristmillError


class ConfigError(GristmillError):
    """A configuration problem, phrased for the person who wrote the file."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def parse(cls, data: dict, origin: str = "config"):
        """`data` validated as this section; errors name `origin`, the key path and the keys allowed there."""
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise ConfigError(describe_validation_error(err, cls, origin)) from None


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at the parent of `loc`, walking the models by field name."""
    current = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        inner = getattr(annotation, "__args__", None)
        candidates = [annotation, *(inner or ())]
        current = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if current is None:
            return []
    return sorted(current.model_fields)


def describe_validation_error(err: ValidationError, model: type[BaseModel], origin: str) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(model, e["loc"]))
            lines.append(f"{origin}: unknown key '{where}'; allowed keys here: {allowed}")
        else:
            lines.append(f"{origin}: '{where}': {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return data


def apply_override(data: dict, assignment: str) -> None:
    """Set `a.b.c=value` (value parsed as YAML; list items by index) in a raw config dict."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. data.batch_size=16")
    value = yaml.safe_load(raw) if raw else ""
    node = data
    parts = key.split(".")
    try:
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            node[int(parts[-1])] = value
        else:
            node[parts[-1]] = value
    except (IndexError, ValueError, TypeError, AttributeError):
        raise ConfigError(f"--set {assignment!r}: no such place in the config") from None


def with_overrides(config: Section, overrides: list[str], origin) -> Section:
    """`config` with `--set KEY=VALUE` assignments applied and validated again (the same model)."""
    if not overrides:
        return config
    data = config.model_dump()
    for assignment in overrides:
        apply_override(data, assignment)
    return type(config).parse(data, f"{origin} with --set")


def section_data(path: str | Path, name: str) -> dict:
    """The `name:` section of the YAML file at `path`, or the whole file when it is just that section."""
    data = load_yaml(path)
    section = data.get(name)
    return section if isinstance(section, dict) else data


def load_section(model: type[Section], path: str | Path | None, name: str, overrides: list[str] = ()) -> Section:
    """`model` from the `name:` section of `path` (the defaults when no file is given), then `--set` overrides."""
    origin = str(path) if path else "defaults"
    config = model.parse(section_data(path, name) if path else {}, origin)
    return with_overrides(config, overrides, origin)


def add_config_options(parser, name: str, example: str, required: bool = False, config_help: str | None = None) -> None:
    """The `--config FILE` and `--set KEY=VALUE` options of every command with a config section."""
    parser.add_argument(
        "--config", required=required, metavar="FILE",
        help=config_help or f"YAML file with a `{name}:` section, or the section itself (see README: Config reference)"
        + ("" if required else "; without it every key has its default"),
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help=f"override a key, value parsed as YAML (repeatable; list items by index), e.g. --set {example}",
    )
