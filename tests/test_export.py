"""SavedModel export: signature, metadata, fresh-process equality, CLI, reruns and bad input."""

import json
import os
import subprocess
import sys
import textwrap

import binary_runner
import numpy as np
import pytest

from emotion_tf.model import model_dir as model_dir_lib
from emotion_tf.model.models import build_model
from emotion_tf.serving import export_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = dict(semantic_dim=8, cnn_filters=(4, 6, 8), fusion_units=8, lstm_units=8)
SPF = 2205


def make_model_dir(path, seed=0, files=("best.keras",), **overrides):
  """A model directory as `emotion_tf.train` writes it: <which>.keras + model_config.json."""
  import keras

  keras.utils.set_random_seed(seed)
  model = build_model(**dict(SMALL, **overrides))
  os.makedirs(path, exist_ok=True)
  for name in files:
    model.save(os.path.join(path, name))
  with open(os.path.join(path, "model_config.json"), "w", encoding="utf-8") as f:
    f.write(model.config.to_json())
  return model


def run_python(args, timeout=180):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  if args[0] == "-m":  # a binary: forked from the warm interpreter (tests/binary_runner.py)
    return binary_runner.run_module(args[1], args[2:], cwd=ROOT, env=env, timeout=timeout)
  return subprocess.run(
    [sys.executable] + args,
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
    check=False,
  )


def keras_outputs(model, audio, semantic):
  """Reference: the Keras model on audio cut/padded to frames * 2205 samples."""
  frames = semantic.shape[1]
  fitted = np.zeros((audio.shape[0], frames * SPF), np.float32)
  n = min(audio.shape[1], frames * SPF)
  fitted[:, :n] = audio[:, :n]
  return model({"audio": fitted, "semantic": semantic}, training=False).numpy()


def test_in_process_export_matches_keras_pads_audio_and_stores_metadata(tmp_path):
  rng = np.random.default_rng(0)
  model = build_model(**SMALL)
  export_dir = str(tmp_path / "export")
  meta = export_lib.export_saved_model(model, export_dir, source={"path": "mem"})
  loaded = export_lib.ExportedModel(export_dir)
  assert loaded.label_names == ("arousal", "valence", "liking")
  assert (loaded.sample_rate, loaded.samples_per_frame, loaded.semantic_dim) == (22050, SPF, 8)
  assert loaded.hop_seconds == pytest.approx(0.1)
  assert export_lib.read_export_metadata(export_dir) == meta
  assert meta["model_config"] == model.config.to_dict() and meta["source"] == {"path": "mem"}
  semantic = rng.normal(size=(2, 4, 8)).astype(np.float32)
  for samples in (4 * SPF, 4 * SPF + 700, 2 * SPF + 3):  # exact, longer (cut), shorter (padded)
    audio = rng.normal(scale=0.1, size=(2, samples)).astype(np.float32)
    np.testing.assert_allclose(
      loaded(audio, semantic), keras_outputs(model, audio, semantic), rtol=1e-5, atol=1e-6
    )
  single = loaded(audio[0], semantic[0])
  assert single.shape == (4, 3)
  with pytest.raises(ValueError, match=r"semantic must be \[batch, frames, 8\]"):
    loaded(audio, semantic[..., :5])
  assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp")]


def test_semantic_only_variant_accepts_empty_audio(tmp_path):
  rng = np.random.default_rng(1)
  model = build_model(variant="semantic", **SMALL)
  export_lib.export_saved_model(model, str(tmp_path / "e"))
  loaded = export_lib.ExportedModel(str(tmp_path / "e"))
  semantic = rng.normal(size=(1, 3, 8)).astype(np.float32)
  want = model({"semantic": semantic}, training=False).numpy()
  np.testing.assert_allclose(
    loaded(np.zeros((1, 0), np.float32), semantic), want, rtol=1e-5, atol=1e-6
  )


def test_cli_export_fresh_process_load_and_saved_model_cli(tmp_path):
  model_dir = str(tmp_path / "model")
  model = make_model_dir(model_dir, seed=3)
  export_dir = str(tmp_path / "export")
  r = run_python(["-m", "emotion_tf.export", "--model_dir", model_dir, "--out", export_dir])
  assert r.returncode == 0, r.stderr[-3000:]
  assert "exported" in r.stdout

  rng = np.random.default_rng(2)
  audio = rng.normal(scale=0.1, size=(2, 6 * SPF + 50)).astype(np.float32)
  semantic = rng.normal(size=(2, 6, 8)).astype(np.float32)
  np.savez(tmp_path / "inputs.npz", audio=audio, semantic=semantic)
  script = textwrap.dedent(f"""
      import numpy as np, tensorflow as tf
      x = np.load({str(tmp_path / "inputs.npz")!r})
      m = tf.saved_model.load({export_dir!r})
      out = m.signatures["serving_default"](audio=tf.constant(x["audio"]),
                                            semantic=tf.constant(x["semantic"]))
      names = [n.decode() for n in m.label_names.numpy()]
      np.savez({str(tmp_path / "outputs.npz")!r}, y=np.stack([out[n].numpy() for n in names], -1),
               names=np.array(names), rate=m.sample_rate.numpy(), dim=m.semantic_dim.numpy())
  """)
  r = run_python(["-c", script])
  assert r.returncode == 0, r.stderr[-3000:]
  got = np.load(tmp_path / "outputs.npz")
  assert list(got["names"]) == ["arousal", "valence", "liking"]
  assert int(got["rate"]) == 22050 and int(got["dim"]) == 8
  np.testing.assert_allclose(got["y"], keras_outputs(model, audio, semantic), rtol=1e-5, atol=1e-5)

  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  r = subprocess.run(
    [cli, "show", "--dir", export_dir, "--all"],
    capture_output=True,
    text=True,
    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    timeout=120,
    check=False,
  )
  assert r.returncode == 0, r.stderr[-3000:]
  sig = r.stdout.split("signature_def['serving_default']")[1]
  assert "inputs['audio']" in sig and "shape: (-1, -1)" in sig
  assert "inputs['semantic']" in sig and "shape: (-1, -1, 8)" in sig
  for name in ("arousal", "valence", "liking"):
    assert f"outputs['{name}']" in sig


def test_rerun_skips_same_model_and_replaces_changed_one(tmp_path):
  model_dir = str(tmp_path / "model")
  make_model_dir(model_dir, seed=4)
  out = str(tmp_path / "export")
  meta, exported = export_lib.export_from_model_dir(model_dir, out)
  assert exported and meta["source"]["which"] == "best"
  stamp = os.path.getmtime(os.path.join(out, "saved_model.pb"))
  _, exported = export_lib.export_from_model_dir(model_dir, out)
  assert not exported and os.path.getmtime(os.path.join(out, "saved_model.pb")) == stamp
  _, exported = export_lib.export_from_model_dir(model_dir, out, force=True)
  assert exported
  new_model = make_model_dir(model_dir, seed=5)  # retrained: different weights
  meta, exported = export_lib.export_from_model_dir(model_dir, out)
  assert exported and meta["source"]["sha256"] == export_lib.file_sha256(
    os.path.join(model_dir, "best.keras")
  )
  rng = np.random.default_rng(6)
  audio = rng.normal(size=(1, 2 * SPF)).astype(np.float32)
  semantic = rng.normal(size=(1, 2, 8)).astype(np.float32)
  np.testing.assert_allclose(
    export_lib.ExportedModel(out)(audio, semantic),
    keras_outputs(new_model, audio, semantic),
    rtol=1e-5,
    atol=1e-6,
  )
  assert sorted(os.listdir(tmp_path)) == ["export", "model"]


def test_model_dir_fallback_and_bad_inputs(tmp_path):
  with pytest.raises(model_dir_lib.ModelDirError, match="does not exist"):
    model_dir_lib.load_trained_model(str(tmp_path / "nope"))
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(model_dir_lib.ModelDirError, match="no best.keras or last.keras"):
    export_lib.export_from_model_dir(str(empty), str(tmp_path / "e"))
  last_only = str(tmp_path / "last_only")
  model = make_model_dir(last_only, files=("last.keras",))
  assert model_dir_lib.trained_model_path(last_only).endswith("last.keras")
  assert model_dir_lib.load_trained_model(last_only).config == model.config
  with open(os.path.join(last_only, "model_config.json"), "w", encoding="utf-8") as f:
    f.write(model.config.replace(lstm_units=16).to_json())
  with pytest.raises(model_dir_lib.ModelDirError, match="model_config.json: describes"):
    model_dir_lib.load_trained_model(last_only)
  with pytest.raises(export_lib.ExportError, match="not a SavedModel"):
    export_lib.read_export_metadata(str(empty))
  with pytest.raises(export_lib.ExportError, match="does not exist"):
    export_lib.ExportedModel(str(tmp_path / "missing_export"))
  # A plain SavedModel without emotion_tf metadata is refused with the file named.
  (tmp_path / "plain").mkdir()
  (tmp_path / "plain" / "saved_model.pb").write_bytes(b"")
  with pytest.raises(export_lib.ExportError, match="emotion_tf_export.json: missing"):
    export_lib.read_export_metadata(str(tmp_path / "plain"))
  bad = tmp_path / "badjson"
  (bad / "assets").mkdir(parents=True)
  (bad / "saved_model.pb").write_bytes(b"")
  (bad / "assets" / export_lib.METADATA_FILENAME).write_text("{\n oops")
  with pytest.raises(export_lib.ExportError, match=r"emotion_tf_export.json:2: invalid JSON"):
    export_lib.read_export_metadata(str(bad))
  json.dumps(export_lib.export_metadata(model))  # serialisable
