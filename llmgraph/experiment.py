"""Experiment files for ``llmgraph compare``: gold sets and systems, read from YAML and checked
against ``schemas/experiment.schema.json``; sweeps expand into one system per combination."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from llmgraph.errors import InputError
from llmgraph.formats import read_text
from llmgraph.validation import load_schema

SYSTEM_TYPES = ("llm", "span", "radgraph")
_PATH_KEYS = ("encoder", "train", "dev", "cache_dir")  # paths, relative to the experiment file


@dataclass(frozen=True)
class GoldSet:
    """One gold file to score every system on."""

    name: str
    path: Path
    labeler: str | None = None
    modality: str | None = None
    limit: int | None = None


@dataclass(frozen=True)
class SystemSpec:
    """One system: ``type`` llm, span or radgraph, with its settings as written (paths resolved)."""

    name: str
    type: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Experiment:
    """A parsed experiment file."""

    name: str
    path: Path
    gold: list[GoldSet]
    systems: list[SystemSpec]
    examples: Path | None = None
    examples_labeler: str | None = None
    label_set: str | None = None
    bootstrap: dict[str, Any] = field(default_factory=lambda: {"samples": 1000, "seed": 0, "confidence": 0.95})


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema("experiment.schema.json"))


def _where(path: list) -> str:
    where = ""
    for part in path:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where


def _check(raw: Any) -> None:
    """Schema errors as one line that names the key, e.g. ``systems[1]: unknown key 'promt'``."""
    if not isinstance(raw, dict):
        raise InputError("expected a YAML mapping with 'gold' and 'systems'")
    error = best_match(_validator().iter_errors(raw))
    if error is None:
        return
    deepest, choice = error, None
    while deepest.context:  # if/then/else, allOf, oneOf: the error of the branch that applied
        choice = deepest if deepest.validator == "oneOf" else choice
        deepest = best_match(deepest.context)
    where = _where(list(deepest.absolute_path))
    if deepest.validator in ("additionalProperties", "unevaluatedProperties"):
        known = set(deepest.schema.get("properties", {}))
        extra = sorted(key for key in deepest.instance if key not in known) if isinstance(deepest.instance, dict) else []
        message = f"unknown key {extra[0]!r}" if extra else deepest.message
    elif deepest.validator == "enum":
        message = f"unknown value {deepest.instance!r} (expected one of {', '.join(map(str, deepest.validator_value))})"
    elif deepest.validator == "const" and where.endswith(".type"):
        message = f"unknown system type {deepest.instance!r} (expected one of {', '.join(SYSTEM_TYPES)})"
    elif deepest.validator == "oneOf":  # more than one of the alternatives given
        options = [repr(branch["required"][0]) for branch in deepest.validator_value]
        message = f"give only one of {' or '.join(options)}"
    elif choice is not None and deepest.validator == "required":
        options = [repr(branch["required"][0]) for branch in choice.validator_value]
        message = f"needs exactly one of {' or '.join(options)}"
    else:
        message = deepest.message
    raise InputError(f"{where}: {message}" if where else message)


def _resolve(value: Any, base: Path, key: str, kind: str) -> Any:
    """Paths relative to the experiment file; an LLM ``model`` only when that path exists (else a model id)."""
    if not isinstance(value, str) or Path(value).is_absolute():
        return value
    if key in _PATH_KEYS or (key == "model" and kind == "span"):
        return str(base / value)
    if key == "model" and kind == "llm" and (base / value).exists():
        return str(base / value)
    return value


def _system(raw: dict[str, Any], defaults: dict[str, Any], base: Path) -> SystemSpec:
    kind = raw.get("type", "llm")
    settings = {key: value for key, value in raw.items() if key not in ("name", "type")}
    if kind == "llm":
        decoding = {**defaults.get("decoding", {}), **settings.get("decoding", {})}
        settings = {**defaults, **settings} | ({"decoding": decoding} if decoding else {})
    if isinstance(settings.get("train"), dict):
        settings["train"] = {key: _resolve(value, base, key, kind) for key, value in settings["train"].items()}
    return SystemSpec(raw["name"], kind, {key: _resolve(value, base, key, kind) for key, value in settings.items()})


def _expand(sweep: dict[str, Any]) -> list[dict[str, Any]]:
    """One raw system per combination of the ``vary`` lists, named by the ``name`` template."""
    keys = list(sweep["vary"])
    template = sweep.get("name") or "-".join(f"{{{key}}}" for key in keys)
    systems = []
    for values in itertools.product(*(sweep["vary"][key] for key in keys)):
        chosen = dict(zip(keys, values))
        label = {key: Path(str(value)).stem if key in ("model", "prompt") else value for key, value in chosen.items()}
        try:
            name = template.format(**label)
        except KeyError as error:
            raise InputError(f"sweeps: name template {template!r} names {error}, which the sweep does not vary") from None
        systems.append({"name": name.replace("/", "_"), **sweep.get("settings", {}), **chosen})
    return systems


def load_experiment(path: str | Path) -> Experiment:
    """Parse, validate and expand an experiment file; every problem is an ``InputError`` naming the file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(read_text(path))
    except yaml.YAMLError as error:
        raise InputError(f"not valid YAML ({str(error).splitlines()[0]})", path) from None
    try:
        _check(raw)
        base = path.parent
        defaults = raw.get("defaults", {})
        raws = [*raw.get("systems", []), *(s for sweep in raw.get("sweeps", []) for s in _expand(sweep))]
        systems = [_system(system, defaults, base) for system in raws]
        names = [system.name for system in systems]
        duplicate = next((name for name in names if names.count(name) > 1), None)
        if duplicate:
            raise InputError(f"systems: the name {duplicate!r} is used twice")
        gold = [GoldSet(g["name"], base / g["path"], None if g.get("labeler") is None else str(g["labeler"]),
                        g.get("modality"), g.get("limit")) for g in raw["gold"]]
        if len({g.name for g in gold}) < len(gold):
            raise InputError("gold: two gold sets have the same name")
    except InputError as error:
        raise error.at(path) from None
    bootstrap = {"samples": 1000, "seed": 0, "confidence": 0.95} | raw.get("bootstrap", {})
    examples = raw.get("examples")
    return Experiment(raw.get("name", path.stem), path, gold, systems,
                      base / examples if examples else None,
                      None if raw.get("examples_labeler") is None else str(raw["examples_labeler"]),
                      raw.get("label_set"), bootstrap)
