"""emotion_tf.util.config: flags derived from the config dataclasses, config files, overrides."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest
from absl import flags

from emotion_tf.model.models import ModelConfig
from emotion_tf.training import evaluate_lib, train_lib
from emotion_tf.util import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fresh_flags(*classes):
  fv = flags.FlagValues()
  for cls in classes:
    config_lib.define_flags_for(cls, flag_values=fv)
  return fv


def test_flags_mirror_every_flag_field_default_and_help():
  fv = fresh_flags(train_lib.TrainConfig, ModelConfig)
  for cls in (train_lib.TrainConfig, ModelConfig):
    for f in dataclasses.fields(cls):
      if f.metadata.get(config_lib.NO_FLAG, True):
        assert f.name not in fv or cls is not ModelConfig
        continue
      default = [str(v) for v in f.default] if isinstance(f.default, tuple) else f.default
      assert fv[f.name].default == default, f.name
      assert fv[f.name].help.endswith(f.metadata[config_lib.HELP])
  assert fv["optimizer"].parser.enum_values == list(train_lib.OPTIMIZERS)
  assert "semantic_dim" not in fv and "cnn_filters" not in fv


def test_precedence_defaults_file_flags_override(tmp_path):
  fv = fresh_flags(train_lib.TrainConfig)
  fv(["prog", "--epochs=7", "--learning_rate=0.5"])
  path = tmp_path / "c.json"
  path.write_text(
    json.dumps({"training": {"epochs": 3, "seed": 9, "batch_size": 4}, "data": {"ignored": 1}})
  )
  files, overrides = config_lib.sections_of(
    str(path), "train.batch_size=6,train.seed=2", ("train", "model"), {"training": "train"}
  )
  cfg = config_lib.resolve(
    train_lib.TrainConfig, fv, file_section=files["train"], override_section=overrides["train"]
  )
  # default < file < command line < override
  assert cfg.epochs == 7 and cfg.learning_rate == 0.5  # flags beat the file
  assert cfg.seed == 2 and cfg.batch_size == 6  # overrides beat both
  assert cfg.clip_norm == train_lib.TrainConfig().clip_norm  # untouched default


def test_params_override_parsing_and_errors():
  got = config_lib.parse_params_override(
    'train.learning_rate=1e-3, model.variant=concat,eval.partitions=["Devel","Test"]'
  )
  assert got == {
    "train": {"learning_rate": 1e-3},
    "model": {"variant": "concat"},
    "eval": {"partitions": ["Devel", "Test"]},
  }
  with pytest.raises(config_lib.ConfigError, match="needs a section"):
    config_lib.parse_params_override("learning_rate=1")
  with pytest.raises(config_lib.ConfigError, match="unknown section"):
    config_lib.sections_of("", "optim.lr=1", ("train", "model"))
  with pytest.raises(config_lib.ConfigError, match="has no field 'lr'"):
    config_lib.build(train_lib.TrainConfig, {"lr": 1})
  with pytest.raises(config_lib.ConfigError, match="cannot use 'fast'"):
    config_lib.build(train_lib.TrainConfig, {"epochs": "fast"})


def test_batch_size_validated_by_the_config():
  with pytest.raises(train_lib.TrainingSetupError, match="batch_size must be positive, got 0"):
    config_lib.build(train_lib.TrainConfig, {"batch_size": 0})


def test_config_file_errors_name_the_file(tmp_path):
  bad = tmp_path / "bad.json"
  bad.write_text("{\n oops")
  with pytest.raises(config_lib.ConfigError, match=r"bad.json:2: invalid JSON"):
    config_lib.read_config_file(str(bad))
  with pytest.raises(config_lib.ConfigError, match="missing.json: cannot read"):
    config_lib.read_config_file(str(tmp_path / "missing.json"))


def test_paper_config_file_is_the_dataclass_defaults():
  files, _ = config_lib.sections_of(
    os.path.join(ROOT, "flags", "paper_train.json"), "", ("train", "model")
  )
  model = config_lib.build(ModelConfig, files["model"])
  train = config_lib.build(train_lib.TrainConfig, files["train"])
  assert model == ModelConfig() and train == train_lib.TrainConfig()


def test_tuple_fields_from_list_flags():
  fv = fresh_flags(evaluate_lib.EvalConfig)
  fv(["prog", "--partitions=Test"])
  assert config_lib.resolve(evaluate_lib.EvalConfig, fv).partitions == ("Test",)
  fv = fresh_flags(evaluate_lib.EvalConfig)
  fv(["prog"])
  assert config_lib.resolve(evaluate_lib.EvalConfig, fv) == evaluate_lib.EvalConfig()


def test_demo_flagfile_parses_into_the_configs():
  fv = fresh_flags(train_lib.TrainConfig, ModelConfig)
  fv(["prog", f"--flagfile={os.path.join(ROOT, 'flags', 'demo_train.flags')}", "--seed=4"])
  train = config_lib.resolve(train_lib.TrainConfig, fv)
  model = config_lib.resolve(ModelConfig, fv)
  assert (
    train.train_steps,
    train.steps_per_epoch,
    train.batch_size,
    train.learning_rate,
    train.seed,
  ) == (600, 30, 8, 1e-3, 4)
  assert model.variant == "disentangled_attention"
  assert (model.paralinguistic_skip, model.label_delay_frames) == (False, 0)


def test_generalise_flagfile_is_the_demo_settings_plus_skip_and_delay():
  def parse(name):
    fv = fresh_flags(train_lib.TrainConfig, ModelConfig)
    fv(["prog", f"--flagfile={os.path.join(ROOT, 'flags', name)}"])
    return config_lib.resolve(train_lib.TrainConfig, fv), config_lib.resolve(ModelConfig, fv)

  demo_train, demo_model = parse("demo_train.flags")
  train, model = parse("generalise_train.flags")
  assert train == demo_train
  assert model == dataclasses.replace(demo_model, paralinguistic_skip=True, label_delay_frames=5)


def test_train_binary_config_file_and_params_override(tiny_tfrecords, tmp_path):
  """The real binary: --config_file < command-line flags < --params_override, and the
  resolved config lands in <model_dir>/config.json (itself a valid --config_file)."""
  model_dir = tmp_path / "m"
  cmd = [
    sys.executable,
    "-m",
    "emotion_tf.train",
    f"--config_file={os.path.join(ROOT, 'flags', 'paper_train.json')}",
    f"--data_dir={tiny_tfrecords[0]}",
    f"--model_dir={model_dir}",
    "--epochs=5",
    "--params_override=train.epochs=1,train.steps_per_epoch=1,train.batch_size=2,"
    "model.variant=semantic,model.lstm_units=8,model.fusion_units=8",
  ]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
  r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr[-3000:]
  written = json.loads((model_dir / "config.json").read_text())
  assert written["training"]["epochs"] == 1 and written["training"]["batch_size"] == 2
  assert written["training"]["learning_rate"] == 1e-4  # from the config file
  assert written["model"]["variant"] == "semantic" and written["model"]["lstm_units"] == 8
  assert written["model"]["semantic_dim"] == 8  # read from the TFRecords
  files, _ = config_lib.sections_of(
    str(model_dir / "config.json"), "", ("train", "model"), {"training": "train"}
  )
  assert config_lib.build(train_lib.TrainConfig, files["train"]).steps_per_epoch == 1
  bad = subprocess.run(
    cmd[:3] + ["--data_dir=x", "--model_dir=y", "--params_override=optim.lr=1"],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert bad.returncode == 2 and "unknown section" in bad.stderr
