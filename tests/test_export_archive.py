"""The ExportArchive SavedModel in fresh processes: saved_model_cli run, TFLite, signature metadata.

The reference is always the in-memory Keras model on audio cut/padded to frames * 2205 samples
(`tests.test_export.keras_outputs`); TFLite is compared with the SavedModel in the same process.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_export import SMALL, SPF, keras_outputs, run_python

from emotion_tf.model.models import build_model
from emotion_tf.serving import export_lib

NAMES = ["arousal", "valence", "liking"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  import keras

  keras.utils.set_random_seed(21)
  model = build_model(**SMALL)
  export_dir = str(tmp_path_factory.mktemp("archive") / "export")
  export_lib.export_saved_model(model, export_dir)
  return model, export_dir


def saved_model_cli(*args):
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  return subprocess.run(
    [cli] + list(args),
    capture_output=True,
    text=True,
    timeout=180,
    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    check=False,
  )


def test_saved_model_cli_run_matches_keras_model(exported, tmp_path):
  model, export_dir = exported
  rng = np.random.default_rng(5)
  # 3 frames; audio 200 samples short of 3 * 2205, so the signature zero-pads it. Values are
  # rounded to 3 decimals so the Python literal passed to --input_exprs is exact.
  audio = np.round(rng.normal(scale=0.1, size=(1, 3 * SPF - 200)), 3)
  semantic = np.round(rng.normal(size=(1, 3, 8)), 3)
  exprs = (
    f"audio={json.dumps(audio.tolist(), separators=(',', ':'))};"
    f"semantic={json.dumps(semantic.tolist(), separators=(',', ':'))}"
  )
  out_dir = str(tmp_path / "cli_out")
  r = saved_model_cli(
    "run",
    "--dir",
    export_dir,
    "--tag_set",
    "serve",
    "--signature_def",
    "serving_default",
    "--input_exprs",
    exprs,
    "--outdir",
    out_dir,
  )
  assert r.returncode == 0, r.stderr[-3000:]
  got = np.stack([np.load(os.path.join(out_dir, f"{n}.npy")) for n in NAMES], -1)
  want = keras_outputs(model, audio.astype(np.float32), semantic.astype(np.float32))
  assert got.shape == (1, 3, 3)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_signature_metadata_fresh_process(exported):
  _, export_dir = exported
  r = saved_model_cli(
    "show", "--dir", export_dir, "--tag_set", "serve", "--signature_def", "metadata"
  )
  assert r.returncode == 0, r.stderr[-3000:]
  for key in ("label_names", "sample_rate", "samples_per_frame", "hop_seconds", "semantic_dim"):
    assert f"outputs['{key}']" in r.stdout
  assert "DT_STRING" in r.stdout.split("outputs['label_names']")[1].split("name:")[0]
  script = textwrap.dedent(f"""
      import json, tensorflow as tf
      m = tf.saved_model.load({export_dir!r})
      meta = {{k: v.numpy() for k, v in m.signatures["metadata"]().items()}}
      print(json.dumps({{"label_names": [n.decode() for n in meta["label_names"]],
                         "sample_rate": int(meta["sample_rate"]),
                         "samples_per_frame": int(meta["samples_per_frame"]),
                         "hop_seconds": float(meta["hop_seconds"]),
                         "semantic_dim": int(meta["semantic_dim"]),
                         "outputs": sorted(m.signatures["serving_default"]
                                           .structured_outputs)}}))
  """)
  r = run_python(["-c", script])
  assert r.returncode == 0, r.stderr[-3000:]
  meta = json.loads(r.stdout.strip().splitlines()[-1])
  assert meta["label_names"] == NAMES and meta["outputs"] == sorted(NAMES)
  assert (meta["sample_rate"], meta["samples_per_frame"], meta["semantic_dim"]) == (22050, SPF, 8)
  assert meta["hop_seconds"] == pytest.approx(SPF / 22050)
  # The JSON asset and the signature agree.
  stored = export_lib.read_export_metadata(export_dir)
  assert stored["label_names"] == NAMES and stored["hop_seconds"] == meta["hop_seconds"]


def test_tflite_select_tf_ops_matches_saved_model(exported, tmp_path):
  model, export_dir = exported
  rng = np.random.default_rng(7)
  audio = rng.normal(scale=0.1, size=(2, 5 * SPF + 31)).astype(np.float32)  # cut to 5 frames
  semantic = rng.normal(size=(2, 5, 8)).astype(np.float32)
  np.savez(tmp_path / "in.npz", audio=audio, semantic=semantic)
  tflite_path = str(tmp_path / "model.tflite")
  script = textwrap.dedent(f"""
      import numpy as np, tensorflow as tf
      x = np.load({str(tmp_path / "in.npz")!r})
      conv = tf.lite.TFLiteConverter.from_saved_model({export_dir!r},
                                                       signature_keys=["serving_default"])
      conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                        tf.lite.OpsSet.SELECT_TF_OPS]
      blob = conv.convert()
      open({tflite_path!r}, "wb").write(blob)
      runner = tf.lite.Interpreter(model_path={tflite_path!r}).get_signature_runner(
          "serving_default")
      lite = runner(audio=x["audio"], semantic=x["semantic"])
      sm = tf.saved_model.load({export_dir!r}).signatures["serving_default"](
          audio=tf.constant(x["audio"]), semantic=tf.constant(x["semantic"]))
      np.savez({str(tmp_path / "out.npz")!r},
               lite=np.stack([lite[n] for n in {NAMES!r}], -1),
               sm=np.stack([sm[n].numpy() for n in {NAMES!r}], -1))
  """)
  r = run_python(["-c", script], timeout=300)
  # A converter crash (e.g. rc 134, LLVM ERROR) fails here instead of killing pytest.
  assert r.returncode == 0, f"rc {r.returncode}: {r.stderr[-3000:]}"
  got = np.load(tmp_path / "out.npz")
  assert os.path.getsize(tflite_path) > 0
  assert got["lite"].shape == got["sm"].shape == (2, 5, 3)
  np.testing.assert_allclose(got["lite"], got["sm"], rtol=0, atol=1e-5)
  np.testing.assert_allclose(got["sm"], keras_outputs(model, audio, semantic), rtol=1e-5, atol=1e-6)


def test_format1_export_without_metadata_signature_still_loads(tmp_path):
  """Exports written before the metadata signature (a tf.Module, constants as variables)."""
  import tensorflow as tf

  model = build_model(**SMALL)
  meta = export_lib.export_metadata(model)
  module = tf.Module()
  module.label_names = tf.Variable(NAMES, trainable=False, dtype=tf.string)
  module.sample_rate = tf.Variable(22050, trainable=False, dtype=tf.int64)
  module.samples_per_frame = tf.Variable(SPF, trainable=False, dtype=tf.int64)
  module.hop_seconds = tf.Variable(0.1, trainable=False, dtype=tf.float64)
  module.semantic_dim = tf.Variable(8, trainable=False, dtype=tf.int64)
  module.serve = tf.function(
    lambda audio, semantic: {
      n: tf.reduce_mean(semantic, -1) * (i + 1) for i, n in enumerate(NAMES)
    },
    input_signature=export_lib.serving_input_signature(8),
  )
  export_dir = str(tmp_path / "old")
  tf.saved_model.save(module, export_dir, signatures={"serving_default": module.serve})
  os.makedirs(os.path.join(export_dir, "assets"), exist_ok=True)
  with open(
    os.path.join(export_dir, "assets", export_lib.METADATA_FILENAME), "w", encoding="utf-8"
  ) as f:
    json.dump(meta, f)
  loaded = export_lib.ExportedModel(export_dir)
  assert loaded.label_names == tuple(NAMES) and loaded.samples_per_frame == SPF
  semantic = np.random.default_rng(0).normal(size=(1, 4, 8)).astype(np.float32)
  want = semantic.mean(-1)[..., None] * np.array([1.0, 2.0, 3.0])
  np.testing.assert_allclose(
    loaded(np.zeros((1, 0), np.float32), semantic), want, rtol=1e-5, atol=1e-6
  )
