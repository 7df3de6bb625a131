"""The `original_code` preset against independent references.

The authors' TF1 code (glam-imperial/semantic_speech_emotion_recognition) no longer runs, so the
references are NumPy implementations of its graph (models.py), its loss (train.py + losses.py)
and its interlocutor-aware frames (data_generator.py), and hand-computed examples.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from emotion_tf.data import corpus, pipeline, schema
from emotion_tf.data import frames as frames_lib
from emotion_tf.model import losses
from emotion_tf.model.layers.peephole_lstm import PeepholeLSTMCell
from emotion_tf.model.models import ModelConfig, build_model
from emotion_tf.training import train_lib
from emotion_tf.util import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESET = os.path.join(ROOT, "flags", "original_code.json")


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


# ------------------------------------------------------------------------- interlocutor frames


def test_subject_turns_and_packing_hand_example(tmp_path):
  # Turns as the original reads them (float32, ends rounded to 0.1 s, frames inclusive):
  #   0.25;0.54 -> round(0.25, 1) = 0.2 (float32 0.25 is exact; Python rounds half to even),
  #                round(0.54, 1) = 0.5 -> frames 2..5
  #   0.96;1.04 -> 1.0 .. 1.0          -> frame 10 only (label time t_10 = 1.0 s)
  path = tmp_path / "Train_01.csv"
  path.write_text("0.25;0.54\n0.96;1.04\n")
  turns = corpus.read_turns(str(path))
  st = frames_lib.subject_turn_frames(turns, 12)
  np.testing.assert_array_equal(st, [0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0])
  # Packing with hop 2 (frame k holds samples 2k, 2k+1): subject frames first half, others second.
  audio = np.arange(1, 25, dtype=np.float32)  # 12 frames x 2 samples
  expected = []
  for k in range(12):
    a = [2 * k + 1.0, 2 * k + 2.0]
    expected += (a + [0.0, 0.0]) if st[k] else ([0.0, 0.0] + a)
  np.testing.assert_array_equal(frames_lib.pack_interlocutor_frames(audio, st, 2), expected)
  packed_tf = pipeline.pack_interlocutor_frames(tf.constant(audio), tf.constant(st), 2)
  np.testing.assert_array_equal(packed_tf.numpy(), expected)


def _write_tiny_shards(directory, subject_turn, with_feature=True):
  """One Train shard of one 4-frame chunk (spf 3, d 2); returns its audio [12]."""
  os.makedirs(directory, exist_ok=True)
  audio = np.arange(1, 13, dtype=np.float32) / 16.0
  ex = schema.serialize_example(
    "Train_01",
    0,
    4,
    audio,
    np.zeros((4, 2), np.float32),
    np.zeros(4, np.int64),
    np.zeros((4, 3), np.float32),
    subject_turn=subject_turn if with_feature else None,
  )
  with tf.io.TFRecordWriter(os.path.join(directory, schema.shard_name("train", 0, 1))) as w:
    w.write(ex)
  meta = {"sample_rate": 30, "samples_per_frame": 3, "frames_per_chunk": 4, "semantic_dim": 2}
  if with_feature:
    meta[schema.SUBJECT_TURN] = True
  schema.write_metadata(str(directory), meta)
  return audio


def test_reader_packs_by_stored_subject_turn_and_refuses_old_shards(tmp_path):
  st = np.array([1, 0, 0, 1])
  audio = _write_tiny_shards(tmp_path / "new", st)
  inputs, _ = next(
    iter(pipeline.make_dataset(str(tmp_path / "new"), "train", 1, False, interlocutor_frames=True))
  )
  a = audio.reshape(4, 3)
  z = np.zeros(3, np.float32)
  want = np.concatenate([a[0], z, z, a[1], z, a[2], a[3], z])
  np.testing.assert_array_equal(inputs["audio"].numpy()[0], want)
  plain, _ = next(iter(pipeline.make_dataset(str(tmp_path / "new"), "train", 1, False)))
  np.testing.assert_array_equal(plain["audio"].numpy()[0], audio)
  # A shard without the feature reads as all ones; the interlocutor option refuses such data.
  _write_tiny_shards(tmp_path / "old", st, with_feature=False)
  ex = next(iter(tf.data.TFRecordDataset(pipeline.shard_files(str(tmp_path / "old"), "train"))))
  parsed = schema.parse_example(ex, 4, 3, 2)
  np.testing.assert_array_equal(parsed[schema.SUBJECT_TURN].numpy(), [1, 1, 1, 1])
  with pytest.raises(pipeline.DataDirError, match="subject_turn"):
    pipeline.make_dataset(str(tmp_path / "old"), "train", 1, False, interlocutor_frames=True)


def test_training_refuses_interlocutor_frames_on_old_shards(tmp_path):
  _write_tiny_shards(tmp_path / "old", np.ones(4), with_feature=False)
  model_config = ModelConfig(
    variant="semantic",
    semantic_dim=2,
    sample_rate=30,
    samples_per_frame=3,
    interlocutor_frames=True,
  )
  config = train_lib.TrainConfig(
    data_dir=str(tmp_path / "old"), model_dir=str(tmp_path / "m"), eval_partition=""
  )
  with pytest.raises(train_lib.TrainingSetupError, match="subject_turn"):
    train_lib.resolve_setup(config, model_config, 1)
  assert train_lib.resolve_setup(config, model_config.replace(interlocutor_frames=False), 1)


def test_writer_stores_subject_turn_from_turns(tiny_corpus, tiny_tfrecords):
  out, _ = tiny_tfrecords
  assert schema.read_metadata(out).subject_turn is True
  files = pipeline.shard_files(out, "devel")
  parsed = [schema.parse_example(e, semantic_dim=8) for e in tf.data.TFRecordDataset(files)]
  stored = np.concatenate(
    [p[schema.SUBJECT_TURN].numpy()[: int(p[schema.NUM_FRAMES])] for p in parsed]
  )
  turns = corpus.read_turns(os.path.join(tiny_corpus, "turns", "Devel_01.csv"))
  np.testing.assert_array_equal(stored, frames_lib.subject_turn_frames(turns, len(stored)))
  assert 0 < stored.sum() < len(stored)  # both halves are used


# --------------------------------------------------------------------------------- peephole LSTM


def _numpy_peephole(x, kernel, recurrent, bias, w_i, w_f, w_o, clip, forget_bias=1.0):
  """TF1 LSTMCell(use_peepholes=True, cell_clip) over x [B, T, d]; gate blocks [i, f, c, o]."""
  n = recurrent.shape[0]
  h = np.zeros((x.shape[0], n))
  c = np.zeros((x.shape[0], n))
  out, unclipped = [], []
  for t in range(x.shape[1]):
    z = x[:, t] @ kernel + h @ recurrent + bias
    zi, zf, zc, zo = z[:, :n], z[:, n : 2 * n], z[:, 2 * n : 3 * n], z[:, 3 * n :]
    i = _sigmoid(zi + w_i * c)
    f = _sigmoid(zf + forget_bias + w_f * c)
    c = f * c + i * np.tanh(zc)
    unclipped.append(c.copy())
    c = np.clip(c, -clip, clip)
    o = _sigmoid(zo + w_o * c)
    h = o * np.tanh(c)
    out.append(h)
  return np.stack(out, 1), np.stack(unclipped, 1)


@pytest.mark.parametrize("clip", [100.0, 0.6])
def test_peephole_cell_matches_numpy_equations(clip):
  rng = np.random.default_rng(1)
  units, dim = 4, 3
  layer = tf.keras.layers.RNN(PeepholeLSTMCell(units, cell_clip=clip), return_sequences=True)
  x = rng.normal(scale=2.0, size=(2, 6, dim)).astype(np.float32)
  layer.build((None, None, dim))
  cell = layer.cell
  for w in cell.weights:  # non-zero bias and peepholes, large enough for |c| to pass the clip
    w.assign(rng.normal(scale=1.5, size=w.shape).astype(np.float32))
  got = layer(x).numpy()
  want, unclipped = _numpy_peephole(
    x.astype(np.float64),
    *(
      w.numpy().astype(np.float64)
      for w in (
        cell.kernel,
        cell.recurrent_kernel,
        cell.bias,
        cell.peephole_i,
        cell.peephole_f,
        cell.peephole_o,
      )
    ),
    clip,
  )
  if clip < 1:
    assert np.abs(unclipped).max() > clip  # the clip binds in this case
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  restored = PeepholeLSTMCell.from_config(cell.get_config())
  assert (restored.units, restored.cell_clip, restored.forget_bias) == (units, clip, 1.0)


def test_peephole_cell_matches_tf1_lstmcell():
  """Against the cell the original code ran: TF1's LSTMCell(use_peepholes=True, cell_clip)
  (tf.contrib.rnn.LSTMCell is tf.nn.rnn_cell.LSTMCell), still bundled in TF 2.17."""
  try:
    from tensorflow.python.keras.layers.legacy_rnn import rnn_cell_impl
  except ImportError:
    pytest.skip("TF1's legacy LSTMCell is not bundled with this TensorFlow")
  rng = np.random.default_rng(6)
  units, dim, clip = 4, 3, 0.6
  ours = PeepholeLSTMCell(units, cell_clip=clip)
  ours.build((None, dim))
  for w in ours.weights:
    w.assign(rng.normal(scale=1.5, size=w.shape).astype(np.float32))
  tf1 = rnn_cell_impl.LSTMCell(units, use_peepholes=True, cell_clip=clip)
  x = rng.normal(scale=2.0, size=(5, 2, dim)).astype(np.float32)  # [T, B, d]
  tf1(tf.constant(x[0]), tf1.zero_state(2, tf.float32))  # builds its variables

  def tf1_order(m):  # ours [i, f, c, o] -> TF1 [i, j(c), f, o] along the last axis
    i, f, c, o = np.split(m, 4, axis=-1)
    return np.concatenate([i, c, f, o], axis=-1)

  values = {
    "kernel": tf1_order(
      np.concatenate([ours.kernel.numpy(), ours.recurrent_kernel.numpy()], axis=0)
    ),
    "bias": tf1_order(ours.bias.numpy()),
    "w_i_diag": ours.peephole_i.numpy(),
    "w_f_diag": ours.peephole_f.numpy(),
    "w_o_diag": ours.peephole_o.numpy(),
  }
  for v in tf1.weights:
    v.assign(values[v.name.split("/")[-1].split(":")[0]])
  state_tf1 = tf1.zero_state(2, tf.float32)
  state = [tf.zeros((2, units)), tf.zeros((2, units))]
  clipped = False
  for t in range(x.shape[0]):
    want, state_tf1 = tf1(tf.constant(x[t]), state_tf1)
    got, state = ours(tf.constant(x[t]), state)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state[1].numpy(), state_tf1.c.numpy(), rtol=1e-5, atol=1e-6)
    clipped = clipped or bool(np.isclose(np.abs(state[1].numpy()), clip).any())
  assert clipped  # the clip binds in this case


# ------------------------------------------------------------------------------- weighted loss


def _numpy_ccc(x, y):
  mx, my = x.mean(), y.mean()
  return 2 * ((x - mx) * (y - my)).mean() / (x.var() + y.var() + (mx - my) ** 2)


def test_original_loss_weighting_against_numpy():
  rng = np.random.default_rng(2)
  y = rng.uniform(-1, 1, (3, 7, 3)).astype(np.float32)
  p = (0.5 * y + rng.normal(scale=0.3, size=y.shape)).astype(np.float32)
  mask = np.ones((3, 7), np.float32)
  mask[2, 4:] = 0
  keep = mask.astype(bool)
  per_dim = [1 - _numpy_ccc(p[..., k][keep].astype(np.float64), y[..., k][keep]) for k in range(3)]
  want = {"mean": np.mean(per_dim), "original": per_dim[0] + per_dim[1] / 2 + per_dim[2] / 3}
  for weighting, value in want.items():
    got = losses.ConcordanceLoss(weighting=weighting)(y, p, sample_weight=mask)
    np.testing.assert_allclose(float(got), value, rtol=1e-5)
  assert abs(want["original"] - want["mean"]) > 0.1  # the two weightings differ here


def test_train_step_uses_the_configured_weighting():
  tf.keras.utils.set_random_seed(0)
  model = build_model(
    variant="semantic", semantic_dim=2, lstm_units=3, dropout=0.0, lstm_dropout=0.0
  )
  strategy = tf.distribute.get_strategy()
  rng = np.random.default_rng(3)
  inputs = {
    "semantic": rng.normal(size=(2, 5, 2)).astype(np.float32),
    "num_frames": np.array([5, 5], np.int32),
  }
  labels = rng.uniform(-1, 1, (2, 5, 3)).astype(np.float32)
  pred = model(inputs, training=False).numpy()  # no dropout: training=True is the same
  per_dim = [
    1 - _numpy_ccc(pred[..., k].ravel().astype(np.float64), labels[..., k].ravel())
    for k in range(3)
  ]
  step, _, _ = train_lib._step_functions(
    strategy, model, tf.keras.optimizers.SGD(0.0), 0.0, "original"
  )
  out = step((inputs, labels))
  np.testing.assert_allclose(
    float(out["loss"]), per_dim[0] + per_dim[1] / 2 + per_dim[2] / 3, rtol=1e-5
  )


# ---------------------------------------------------------------------- the original graph


def _conv_same(x, kernel, bias):
  """TF 'SAME' Conv1D + ReLU: x [L, c_in], kernel [k, c_in, c_out]."""
  k = kernel.shape[0]
  left = (k - 1) // 2
  xp = np.pad(x, ((left, k - 1 - left), (0, 0)))
  out = np.stack([np.einsum("kc,kco->o", xp[t : t + k], kernel) for t in range(x.shape[0])])
  return np.maximum(out + bias, 0.0)


def _max_pool(x, p):
  n = x.shape[0] // p
  return x[: n * p].reshape(n, p, -1).max(axis=1)


def _attention(x1, x2, q):
  scores = np.stack([x1 @ q, x2 @ q], -1) / np.sqrt(q.shape[0])
  e = np.exp(scores - scores.max(-1, keepdims=True))
  alpha = e / e.sum(-1, keepdims=True)
  return alpha[..., :1] * x1 + alpha[..., 1:] * x2


def _numpy_original_graph(model, audio, semantic):
  """models.py recurrent_model(audio_model2(...)) in NumPy with the Keras model's weights."""
  c = model.config
  cnn, fu = model.cnn, model.fusion
  batch, frames = semantic.shape[:2]
  feats = []
  for b in range(batch):
    h = audio[b][:, None]  # one stream [F * spf, 1]
    for conv, pool in zip(cnn._convs, cnn._pools, strict=False):
      h = _max_pool(_conv_same(h, conv.kernel.numpy(), conv.bias.numpy()), pool.pool_size[0])
    feats.append(h.reshape(frames, -1))  # row-major reshape, as tf.reshape
  x_p = np.stack(feats)

  def dense(layer, x, relu):
    y = x @ layer.kernel.numpy() + layer.bias.numpy()
    return np.maximum(y, 0.0) if relu else y

  s = dense(fu.project_s, semantic, True)
  p = dense(fu.project_p, x_p, True)
  sp = _attention(s, p, fu.attention_sp.query.numpy())
  net_1, net_2, net_3 = (dense(d, sp, True) for d in (fu.dense_a, fu.dense_l, fu.dense_v))
  fused = _attention(
    _attention(net_1, net_2, fu.attention_al.query.numpy()), net_3, fu.attention_zv.query.numpy()
  )
  cell = model.lstm.cell
  h, _ = _numpy_peephole(
    fused,
    *(
      w.numpy()
      for w in (
        cell.kernel,
        cell.recurrent_kernel,
        cell.bias,
        cell.peephole_i,
        cell.peephole_f,
        cell.peephole_o,
      )
    ),
    c.lstm_cell_clip,
  )
  return np.tanh(h @ model.head.kernel.numpy() + model.head.bias.numpy())


def _tiny_original_config(**changes):
  preset = config_lib.read_config_file(PRESET)["model"]
  tiny = dict(
    preset,
    semantic_dim=3,
    samples_per_frame=5,
    cnn_filters=[3, 4, 6],
    cnn_pool_sizes=[2, 2, 5],
    fusion_units=6,
    fusion_dimension_units=4,
    lstm_units=5,
    lstm_cell_clip=0.5,
  )
  tiny.update(changes)
  return ModelConfig.from_dict(tiny)


def test_preset_forward_pass_matches_numpy_original_graph():
  tf.keras.utils.set_random_seed(4)
  config = _tiny_original_config()
  # spf 5 x 2 (interlocutor) = 10 samples per frame; pooling 20 -> each frame's 3 features
  # (10 x 6 / 20) span half a pooled step: frame vectors cross frame edges, as in models.py.
  assert config.input_samples_per_frame == 10
  model = build_model(config)
  assert model.cnn.output_dim == 3 and model.feature_dim == 4
  rng = np.random.default_rng(5)
  for w in model.weights:
    w.assign(rng.normal(scale=0.6, size=w.shape).astype(np.float32))
  frames = 4
  audio = rng.normal(size=(2, frames * 10)).astype(np.float32)
  semantic = rng.normal(size=(2, frames, 3)).astype(np.float32)
  got = model({"audio": audio, "semantic": semantic}, training=False).numpy()
  want = _numpy_original_graph(model, audio.astype(np.float64), semantic.astype(np.float64))
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  # A frame count the reshape cannot take (odd here) is zero-padded to the next multiple and
  # cropped: the same as running on the padded audio.
  odd = model({"audio": audio[:, :30], "semantic": semantic[:, :3]}, training=False).numpy()
  padded = np.concatenate([audio[:, :30], np.zeros((2, 10), np.float32)], axis=1)
  ref = _numpy_original_graph(
    model, padded.astype(np.float64), np.concatenate([semantic[:, :3], np.zeros((2, 1, 3))], axis=1)
  )
  np.testing.assert_allclose(odd, ref[:, :3], rtol=1e-4, atol=1e-5)


def test_preset_config_round_trip():
  sections = config_lib.read_config_file(PRESET)
  model_config = ModelConfig.from_dict(sections["model"])
  train_config = config_lib.build(train_lib.TrainConfig, sections["train"])
  assert model_config.cnn_filters == (50, 125, 250) and model_config.lstm_cell == "peephole"
  assert model_config.input_samples_per_frame == 4410
  assert (train_config.beta_1, train_config.beta_2, train_config.batch_size) == (0.9, 0.99, 5)
  assert train_config.loss_weighting == "original" and train_config.learning_rate == 5e-4
  assert ModelConfig.from_json(model_config.to_json()) == model_config
  model = build_model(model_config)
  # 4 410 samples per frame x 250 filters / 250 (pooling) = 4 410 features per frame (models.py).
  assert model.cnn.output_dim == 4410 and model.feature_dim == 512
  again = type(model).from_config(model.get_config())
  assert again.config == model_config
  assert ModelConfig() != model_config and ModelConfig().lstm_cell == "keras"


# ------------------------------------------------------------------------------ end to end


def test_train_binary_with_original_code_preset(tiny_tfrecords, tmp_path):
  data_dir, _ = tiny_tfrecords
  model_dir = str(tmp_path / "model")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "emotion_tf.train",
      "--config_file",
      PRESET,
      "--data_dir",
      data_dir,
      "--model_dir",
      model_dir,
      "--train_steps",
      "2",
      "--steps_per_epoch",
      "2",
    ],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
    written = json.load(f)
  assert written["model"]["lstm_cell"] == "peephole"
  assert written["training"]["loss_weighting"] == "original"
  assert re.search(r"eval CCC a=-?\d", proc.stderr), proc.stderr[-2000:]  # Devel evaluated
  assert os.path.exists(os.path.join(model_dir, "best.keras"))
  # evaluate's path packs the Test audio the same way (the model reads it from its config).
  from emotion_tf.model import model_dir as model_dir_lib
  from emotion_tf.training import evaluate_lib

  model = model_dir_lib.load_trained_model(model_dir, "best")
  assert model.config.interlocutor_frames
  summary = evaluate_lib.evaluate_partition(model, data_dir, "test", batch_size=5)
  assert summary["num_frames"] == 240 and np.isfinite(list(summary["ccc"].values())).all()


def test_export_refuses_interlocutor_model(tmp_path):
  from emotion_tf.serving import export_lib

  model = build_model(_tiny_original_config())
  target = tmp_path / "export"
  with pytest.raises(export_lib.ExportError, match="interlocutor_frames"):
    export_lib.export_saved_model(model, str(target))
  assert not target.exists() and os.listdir(tmp_path) == []
