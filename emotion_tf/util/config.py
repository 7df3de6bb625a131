"""One config source: frozen dataclasses, the absl flags derived from them, JSON files, overrides.

A config class declares each field once with `field(default, help, ...)`; everything else is
derived from that declaration:

  * `define_flags_for(cls)`: one absl flag per field (name, default and help from the field;
    enum choices and bounds from its metadata), defined in the calling binary's module so its
    `--help` lists them;
  * `resolve(cls, flag_values, config_file_section, overrides)`: dataclass defaults <
    `--config_file` (JSON) < flags given on the command line < `--params_override`;
  * `parse_params_override("train.learning_rate=1e-3,model.variant=concat")`: Model Garden style
    dotted overrides, values parsed as JSON where possible (numbers, booleans, lists).

Only binaries parse flags: this module reads a `FlagValues` handed to it and never the global
FLAGS on import (no module-level side effects).
"""

import dataclasses
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from absl import flags

HELP = "help"
CHOICES = "choices"
LOWER_BOUND = "lower_bound"
UPPER_BOUND = "upper_bound"
NO_FLAG = "no_flag"


class ConfigError(ValueError):
  """A config file, override or field value that cannot be used; names the source."""


def field(
  default: Any,
  help: str,
  *,
  choices: Sequence[str] | None = None,  # noqa: A002
  lower_bound: float | None = None,
  upper_bound: float | None = None,
  flag: bool = True,
) -> Any:
  """A dataclass field with the metadata its absl flag is derived from.

  Args:
    default: the one default (tuples for sequences, so the dataclass stays frozen/hashable).
    help: the flag's help text.
    choices: allowed values of a str field (an enum flag).
    lower_bound, upper_bound: numeric bounds the flag validates.
    flag: False = a config field without a command-line flag (set via --config_file or
      --params_override only).
  """
  metadata = {
    HELP: help,
    CHOICES: tuple(choices) if choices else None,
    LOWER_BOUND: lower_bound,
    UPPER_BOUND: upper_bound,
    NO_FLAG: not flag,
  }
  return dataclasses.field(default=default, metadata=metadata)


def flag_fields(cls: type[Any], exclude: Iterable[str] = ()) -> list[dataclasses.Field]:
  """The fields of `cls` that get a flag: declared with `field(...)`, flag=True, not excluded."""
  skip = set(exclude)
  return [
    f
    for f in dataclasses.fields(cls)
    if HELP in f.metadata and not f.metadata[NO_FLAG] and f.name not in skip
  ]


def _field_type(cls: type[Any], f: dataclasses.Field) -> type:
  default = f.default
  if isinstance(default, bool):
    return bool
  if isinstance(default, (tuple, list)):
    return tuple
  if isinstance(default, int):
    return int
  if isinstance(default, float):
    return float
  return str


def define_flags_for(
  cls: type[Any],
  *,
  exclude: Iterable[str] = (),
  prefix: str = "",
  flag_values: flags.FlagValues = flags.FLAGS,
  module_name: str | None = None,
) -> list[str]:
  """Defines one absl flag per flag field of `cls`; returns the flag names.

  Args:
    cls: a dataclass whose fields were declared with `field(...)`.
    exclude: field names that get no flag here (e.g. defined by the binary itself).
    prefix: prepended to every flag name (e.g. 'eval_').
    flag_values: where to define them (the global FLAGS by default).
    module_name: the module the flags belong to (its `--help` lists them); default: the
      module calling this function, as if it had called flags.DEFINE_* itself.
  """
  if module_name is None:
    caller = sys._getframe(1).f_globals.get("__name__", "")
    module_name = sys.argv[0] if caller == "__main__" else caller
  names = []
  for f in flag_fields(cls, exclude):
    name = prefix + f.name
    if name in flag_values:
      continue
    kind = _field_type(cls, f)
    meta = f.metadata
    kwargs = {"flag_values": flag_values, "module_name": module_name}
    bounds = {k: meta[k] for k in (LOWER_BOUND, UPPER_BOUND) if meta[k] is not None}
    if kind is bool:
      flags.DEFINE_boolean(name, f.default, meta[HELP], **kwargs)
    elif kind is int:
      flags.DEFINE_integer(name, f.default, meta[HELP], **bounds, **kwargs)
    elif kind is float:
      flags.DEFINE_float(name, f.default, meta[HELP], **bounds, **kwargs)
    elif kind is tuple:
      flags.DEFINE_list(name, [str(v) for v in f.default], meta[HELP], **kwargs)
    elif meta[CHOICES]:
      flags.DEFINE_enum(name, f.default, list(meta[CHOICES]), meta[HELP], **kwargs)
    else:
      flags.DEFINE_string(name, f.default, meta[HELP], **kwargs)
    names.append(name)
  return names


def _coerce(cls: type[Any], name: str, value: Any) -> Any:
  """`value` converted to the type of field `name`'s default (tuples stay tuples)."""
  by_name = {f.name: f for f in dataclasses.fields(cls)}
  if name not in by_name:
    raise ConfigError(f"{cls.__name__} has no field {name!r}; known: {sorted(by_name)}")
  f = by_name[name]
  if f.default is dataclasses.MISSING:
    return value
  kind = _field_type(cls, f)
  try:
    if kind is tuple:
      items = value.split(",") if isinstance(value, str) else list(value)
      element = type(f.default[0]) if f.default else str
      return tuple(element(v) for v in items if v != "")
    if kind is bool and isinstance(value, str):
      if value.lower() not in ("true", "false", "1", "0"):
        raise ValueError(f"not a boolean: {value!r}")
      return value.lower() in ("true", "1")
    return kind(value)
  except (TypeError, ValueError) as e:
    raise ConfigError(f"{cls.__name__}.{name}: cannot use {value!r} ({e})") from e


def explicit_flag_values(
  cls: type[Any],
  flag_values: flags.FlagValues = flags.FLAGS,
  *,
  prefix: str = "",
  exclude: Iterable[str] = (),
) -> dict[str, Any]:
  """{field: value} of the flag fields of `cls` that were given on the command line."""
  out = {}
  for f in flag_fields(cls, exclude):
    name = prefix + f.name
    if name in flag_values and flag_values[name].present:
      out[f.name] = flag_values[name].value
  return out


def parse_params_override(text: str) -> dict[str, dict[str, Any]]:
  """'train.learning_rate=1e-3,model.variant=concat' -> {'train': {...}, 'model': {...}}.

  Values are JSON where they parse as JSON (1e-3, true, [1,2]) and strings otherwise; a list
  value is written in brackets (commas inside brackets do not split).
  """
  out: dict[str, dict[str, Any]] = {}
  for item in _split_top_level(text):
    if "=" not in item:
      raise ConfigError(f"--params_override: {item!r} is not section.field=value")
    key, raw = item.split("=", 1)
    if "." not in key:
      raise ConfigError(f"--params_override: {key!r} needs a section, e.g. train.{key}")
    section, name = key.strip().split(".", 1)
    try:
      value = json.loads(raw)
    except json.JSONDecodeError:
      value = raw.strip()
    out.setdefault(section, {})[name] = value
  return out


def _split_top_level(text: str) -> list[str]:
  items, depth, current = [], 0, ""
  for ch in text:
    depth += {"[": 1, "]": -1}.get(ch, 0)
    if ch == "," and depth == 0:
      items.append(current)
      current = ""
    else:
      current += ch
  items.append(current)
  return [i.strip() for i in items if i.strip()]


def read_config_file(path: str) -> dict[str, dict[str, Any]]:
  """The sections of a JSON config file (e.g. a model_dir's config.json): {section: {...}}."""
  try:
    with open(path, encoding="utf-8") as f:
      data = json.load(f)
  except OSError as e:
    raise ConfigError(f"{path}: cannot read the config file ({e})") from e
  except json.JSONDecodeError as e:
    raise ConfigError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from e
  if not isinstance(data, dict):
    raise ConfigError(f"{path}: a config file is a JSON object of sections")
  return data


def check_finite(cls: type[Any], values: Mapping[str, Any], prefix: str = "") -> None:
  """Refuses NaN and +-inf in the float fields of `cls` (a NaN passes every bound check:
  `nan < 0` is False), naming the flag.

  Raises:
    ConfigError: '--learning_rate: nan is not a finite number (TrainConfig.learning_rate)'.
  """
  for f in dataclasses.fields(cls):
    if f.name in values and _field_type(cls, f) is float:
      value = values[f.name]
      if isinstance(value, (int, float)) and not math.isfinite(value):
        raise ConfigError(
          f"--{prefix}{f.name}: {value} is not a finite number "
          f"({cls.__name__}.{f.name}); give a finite value"
        )


def build(cls: type[Any], *layers: Mapping[str, Any], prefix: str = "") -> Any:
  """An instance of `cls` from its defaults updated by `layers` in order (later wins).

  Float fields must be finite (`check_finite`; `prefix` is that of their flags).
  """
  values: dict[str, Any] = {}
  for layer in layers:
    for name, value in (layer or {}).items():
      values[name] = _coerce(cls, name, value)
  check_finite(cls, values, prefix)
  try:
    return cls(**values)
  except TypeError as e:
    raise ConfigError(f"{cls.__name__}: {e}") from e


def resolve(
  cls: type[Any],
  flag_values: flags.FlagValues = flags.FLAGS,
  *,
  file_section: Mapping[str, Any] | None = None,
  override_section: Mapping[str, Any] | None = None,
  required: Mapping[str, Any] | None = None,
  prefix: str = "",
  exclude: Iterable[str] = (),
) -> Any:
  """`cls` from defaults < config file section < command-line flags < --params_override.

  Args:
    required: values the binary computed itself (e.g. paths), applied after the flags.
    file_section: the config file's section for `cls` (unknown keys are an error).
  """
  from_flags = explicit_flag_values(cls, flag_values, prefix=prefix, exclude=exclude)
  return build(
    cls, file_section or {}, from_flags, required or {}, override_section or {}, prefix=prefix
  )


def to_dict(config: Any) -> dict[str, Any]:
  """JSON-ready dict of a config dataclass (tuples as lists)."""
  return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def sections_of(
  path: str, overrides: str, known: tuple[str, ...], aliases: Mapping[str, str] | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
  """(file sections, override sections) restricted to `known` section names.

  `aliases` maps an alternative section name to a known one (e.g. 'training' -> 'train', the
  key older model_dir/config.json files use). Unknown override sections are an error; unknown
  file sections (e.g. 'data', 'strategy' of a written config.json) are ignored.
  """
  aliases = dict(aliases or {})
  file_sections: dict[str, dict[str, Any]] = {}
  if path:
    for name, section in read_config_file(path).items():
      name = aliases.get(name, name)
      if name in known and isinstance(section, dict):
        file_sections[name] = section
  override_sections = {aliases.get(k, k): v for k, v in parse_params_override(overrides).items()}
  unknown = sorted(set(override_sections) - set(known))
  if unknown:
    raise ConfigError(f"--params_override: unknown section(s) {unknown}; known: {list(known)}")
  return file_sections, override_sections
