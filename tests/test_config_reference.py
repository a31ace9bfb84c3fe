"""The README's config reference against the config models: every documented key exists with the
documented default, and every key of every model is documented.

The format read here (README, "Config reference"): a `###`/`####` heading whose first `code` span
names a section, then a table whose first two columns are `key | default`. A key cell lists one or
more keys in `code` (`a` / `b`, or `a`, `b`; a later key without a dot shares the first one's
prefix, as in `model.n_layer` / `n_head`); `x.*` stands for every key of `x`. A default cell starts
with the value(s) in `code`, one per key (`12` / `12` / `768`) or one for all, or says `(required)`;
a cell that starts with words is prose and is not compared (for `x.*`, each `key: value` in it is).
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from gristmill.run_config import RunConfig
from pipelines.config import CurateConfig
from tokenizer.config import TokenizeConfig, TokenizerTrainConfig
from train.config import TrainConfig

README = Path(__file__).resolve().parents[1] / "README.md"
CODE = re.compile(r"`([^`]*)`")


def _finetune_config():
    from train.sft import FinetuneConfig  # torch: only this test needs it

    return FinetuneConfig


# Headings that name a whole config; every other section heading is a key path of the curate config.
ROOTS = {
    "gristmill run": lambda: RunConfig,
    "tokenizer": lambda: TokenizerTrainConfig,
    "tokenize": lambda: TokenizeConfig,
    "train": lambda: TrainConfig,
    "finetune": _finetune_config,
}


def reference_rows(text: str) -> list[tuple[str, str, str, str]]:
    """(root, section path, key cell, default cell) of every row of every key table in the reference."""
    body = text.split("\n## Config reference\n", 1)[1].split("\n## ", 1)[0]
    rows, section, header = [], None, None
    for line in body.splitlines():
        if line.startswith("###"):
            spans = CODE.findall(line)
            name = spans[0] if spans else None
            section = None if name is None else ((name, "") if name in ROOTS else ("curate", name))
            header = None
        elif line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if header is None:
                header = cells
                if header[0] == "key":
                    assert section is not None, f"a key table under a heading that names no section: {line}"
                    assert header[1].startswith("default"), line
            elif header[0] == "key" and not set(cells[0]) <= set("-: "):
                rows.append((*section, cells[0], cells[1].replace("\\|", "|")))
        else:
            header = None
    return rows


def split_keys(cell: str) -> list[str]:
    keys = CODE.findall(cell)
    assert keys and re.fullmatch(r"(`[^`]*`\s*[/,]?\s*)+", cell), f"key cell not a list of `key`s: {cell}"
    prefix = keys[0].rpartition(".")[0]
    return [keys[0]] + [k if "." in k or not prefix else f"{prefix}.{k}" for k in keys[1:]]


def leading_values(cell: str) -> list[str] | None:
    """The `code` values a default cell starts with; None when it starts with words."""
    match = re.match(r"((`[^`]*`)(\s*(/|,)\s*`[^`]*`)*)", cell)
    return CODE.findall(match.group(1)) if match else None


def model_of(annotation) -> type[BaseModel] | None:
    """The model a field holds (itself, in a list, or optional), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType):
        return next(filter(None, map(model_of, typing.get_args(annotation))), None)
    return None


def field_at(model: type[BaseModel], path: str):
    """The pydantic field at a dotted path (list items are walked through)."""
    field = None
    for part in path.split("."):
        assert model is not None and part in model.model_fields, f"{path}: no key '{part}' in {getattr(model, '__name__', model)}"
        field = model.model_fields[part]
        model = model_of(field.annotation)
    return field


def default_json(field):
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    return value


def same_value(documented: str, actual) -> bool:
    if actual is None or isinstance(actual, bool):
        return documented == {None: "null", True: "true", False: "false"}[actual]
    if isinstance(actual, (int, float)):
        try:
            return float(documented) == actual
        except ValueError:
            return False
    if isinstance(actual, str):
        return documented == actual
    if isinstance(actual, list) and all(isinstance(v, str) for v in actual):
        # `[US, GB, NO]` read as strings (YAML would make NO false); `. ? !` is a list of marks
        if documented.startswith("["):
            return [v.strip() for v in documented[1:-1].split(",") if v.strip()] == actual
        return documented.split() == actual
    return yaml.safe_load(documented) == actual


def check_row(root_model, section: str, key_cell: str, default_cell: str) -> tuple[list[str], list[str]]:
    """(keys the row documents, as paths from the root; problems found)."""
    problems, documented = [], []
    keys = [f"{section}.{k}" if section else k for k in split_keys(key_cell)]
    values = leading_values(default_cell)
    for i, key in enumerate(keys):
        wildcard = key.endswith(".*")
        path = key[:-2] if wildcard else key
        try:
            field = field_at(root_model, path)
        except AssertionError as err:
            problems.append(str(err))
            continue
        documented.append(path)
        if wildcard:
            sub = model_of(field.annotation)
            for pair in CODE.findall(default_cell):
                name, sep, value = pair.partition(": ")
                if sep:
                    target = field_at(root_model, name if name.split(".")[0] in root_model.model_fields else f"{path}.{name}")
                    if not same_value(value, default_json(target)):
                        problems.append(f"{key}: README says {pair}, the model has {default_json(target)!r}")
            assert sub is not None, key
            continue
        required = field.default is PydanticUndefined and field.default_factory is None
        if default_cell.startswith("(required)") != required:
            problems.append(f"{key}: README says {'required' if not required else default_cell!r}, the model {'requires it' if required else 'has a default'}")
        elif values is not None:
            if len(values) not in (1, len(keys)):
                problems.append(f"{key_cell}: {len(keys)} keys but {len(values)} defaults")
                continue
            value = values[i if len(values) == len(keys) else 0]
            if not same_value(value, default_json(field)):
                problems.append(f"{key}: README default `{value}`, the model's is {default_json(field)!r}")
    return documented, problems


def undocumented(model: type[BaseModel], documented: set[str], prefix: str = "") -> list[str]:
    """Keys of `model` that are neither documented nor inside a documented key."""
    missing = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        if path in documented:
            continue
        sub = model_of(field.annotation)
        if sub is not None and any(d.startswith(path + ".") for d in documented):
            missing += undocumented(sub, documented, path + ".")
        else:
            missing.append(path)
    return missing


def test_the_readme_config_reference_matches_the_models():
    rows = reference_rows(README.read_text(encoding="utf-8"))
    roots = {"curate": CurateConfig, **{name: load() for name, load in ROOTS.items()}}
    documented = {name: set() for name in roots}
    problems = []
    for root, section, key_cell, default_cell in rows:
        try:
            keys, found = check_row(roots[root], section, key_cell, default_cell)
        except AssertionError as err:
            keys, found = [], [str(err).splitlines()[0]]
        documented[root].update(keys)
        problems += [f"README {root}: {p}" for p in found]
    for root, model in roots.items():
        problems += [f"README {root}: key '{k}' is not documented" for k in undocumented(model, documented[root])]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("cell,expected", [
    ("`model.n_layer` / `n_head` / `n_embd`", ["model.n_layer", "model.n_head", "model.n_embd"]),
    ("`bands`, `rows`", ["bands", "rows"]),
])
def test_key_cells_are_read_as_documented(cell, expected):
    assert split_keys(cell) == expected


def test_a_wrong_default_or_an_unknown_key_is_caught():
    assert check_row(TrainConfig, "", "`seed`", "`1`")[1] == ["seed: README default `1`, the model's is 0"]
    assert "no key 'seeed'" in check_row(TrainConfig, "", "`seeed`", "`0`")[1][0]
    assert undocumented(TrainConfig, {"out_dir", "model", "data", "optimizer", "schedule", "checkpoint", "eval",
                                      "init_from", "device", "precision", "compile", "loss_chunk"}) == ["seed", "log_every"]
