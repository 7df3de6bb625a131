"""Bad-input catalogue of the model-side binaries: train, evaluate, export, predict,
ablate.

Every case runs the binary as a user would (a subprocess) and asserts the exit code (README
"Exit codes": 2 = bad input, found before anything changed), that the message names the file
and the problem, and that no good output was lost. One tiny model (trained in process on the
tiny shards of tests/data_fixtures.py) and its export serve the whole module; the CLI cases are
prepared and then run a few at a time by one module fixture. Unknown flags and missing required
flags of every binary are in tests/test_exit_codes.py.
"""

import collections
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types

import binary_runner
import numpy as np
import pytest
from data_fixtures import (
  tiny_corpus,  # noqa: F401
  tiny_tfrecords,  # noqa: F401
  tiny_vec,  # noqa: F401
  write_wav,
)

from emotion_tf.data.vectors import write_vec
from emotion_tf.data.word_timings import WordTiming, write_timings_csv
from emotion_tf.util import fileio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MISSING = "/nonexistent_emotion_tf_input"
TRUNCATED_SHARD = "train-00000-of-00002.tfrecord"

Case = collections.namedtuple("Case", "module args code needles check")
Case.__new__.__defaults__ = (None,)  # check(proc) -> None, asserts nothing was lost


def run_binary(module, args, timeout=300):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  return binary_runner.run_module(module, args, cwd=ROOT, env=env, timeout=timeout)


def tree(path):
  """{relative path: sha256} of every file under `path` (what 'nothing lost' compares)."""
  out = {}
  for d, _, files in os.walk(path):
    for f in files:
      p = os.path.join(d, f)
      out[os.path.relpath(p, path)] = fileio.file_sha256(p)
  return out


def edited_copy(src, dst, **changes):
  """A copy of the TFRecord directory `src` with metadata.json keys changed."""
  shutil.copytree(src, dst)
  path = os.path.join(dst, "metadata.json")
  with open(path, encoding="utf-8") as f:
    meta = json.load(f)
  meta.update(changes)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(meta, f)
  return dst


@pytest.fixture(scope="module")
def env(tiny_tfrecords, tiny_vec, tmp_path_factory):  # noqa: F811
  """A trained tiny model dir, its export, inputs for predict and edited TFRecord copies."""
  import tensorflow as tf

  from emotion_tf.model.models import ModelConfig
  from emotion_tf.serving import export_lib
  from emotion_tf.training import train_lib

  root = tmp_path_factory.mktemp("bad_inputs_model")
  data_dir = tiny_tfrecords[0]
  model_dir = str(root / "model")
  small = ModelConfig(semantic_dim=8, cnn_filters=(4, 6, 8), fusion_units=8, lstm_units=8)
  train_lib.train(
    train_lib.TrainConfig(
      data_dir=data_dir,
      model_dir=model_dir,
      epochs=1,
      batch_size=2,
      steps_per_epoch=1,
      eval_partition="devel",
      seed=1,
    ),
    small,
    strategy=tf.distribute.MirroredStrategy(["/cpu:0"]),
  )
  export_dir = str(root / "export")
  export_lib.export_from_model_dir(model_dir, export_dir)

  rng = np.random.default_rng(0)
  wav = str(root / "Rec_01.wav")
  write_wav(wav, rng.normal(scale=0.2, size=24000).clip(-1, 1), 16000)  # 1.5 s -> 15 frames
  words = tiny_vec[1]
  timings = str(root / "Rec_01.csv")
  write_timings_csv(timings, [WordTiming(0.1, 0.5, words[0]), WordTiming(0.6, 1.2, words[1])])
  other_space = str(root / "other_space.vec")  # same words and dimension, other values
  write_vec(other_space, words, rng.normal(size=tiny_vec[2].shape).astype(np.float32))
  dim5 = str(root / "dim5.vec")
  write_vec(dim5, words[:3], np.ones((3, 5), np.float32))
  malformed = root / "malformed.vec"
  malformed.write_text(f"2 8\n{words[0]} " + " ".join(["0.5"] * 8) + f"\n{words[1]} 0.1 oops\n")
  corrupt_wav = root / "corrupt.wav"
  corrupt_wav.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")

  truncated = str(root / "tfr_truncated")
  shutil.copytree(data_dir, truncated)
  shard = os.path.join(truncated, TRUNCATED_SHARD)
  with open(shard, "r+b") as f:
    f.truncate(os.path.getsize(shard) // 2)
  incomplete = edited_copy(
    data_dir,
    str(root / "tfr_incomplete"),
    complete=False,
    failed_recordings={"Train_02": "Train_02.wav: truncated wav data"},
  )
  return dict(
    root=str(root),
    data_dir=data_dir,
    model_dir=model_dir,
    export_dir=export_dir,
    wav=wav,
    timings=timings,
    vec=tiny_vec[0],
    other_space=other_space,
    dim5=dim5,
    malformed=str(malformed),
    corrupt_wav=str(corrupt_wav),
    truncated=truncated,
    truncated_size=os.path.getsize(shard),
    incomplete=incomplete,
    semantic_dim_16=edited_copy(data_dir, str(root / "tfr_dim16"), semantic_dim=16),
    frames_50=edited_copy(data_dir, str(root / "tfr_fpc50"), frames_per_chunk=50),
    model_tree=tree(model_dir),
    export_tree=tree(export_dir),
    small=small,
  )


def build_cases(e):
  """name -> Case; files the cases must not touch are prepared here."""
  r, m, d = e["root"], e["model_dir"], e["data_dir"]
  train = ["--batch_size", "2", "--epochs", "1"]

  def model_dir_intact(_):
    assert tree(m) == e["model_tree"]

  def not_created(path):
    def check(_):
      assert not os.path.exists(path), path

    return check

  def unchanged(path, content):
    def check(_):
      with open(path, encoding="utf-8") as f:
        assert f.read() == content

    return check

  def shard_kept(_):
    assert os.path.getsize(os.path.join(e["truncated"], TRUNCATED_SHARD)) == e["truncated_size"]
    assert not os.path.exists(os.path.join(r, "t_trunc", "best.keras"))

  # --out targets export must refuse, with what they hold.
  unrelated = os.path.join(r, "unrelated")
  os.makedirs(unrelated)
  with open(os.path.join(unrelated, "notes.txt"), "w", encoding="utf-8") as f:
    f.write("my notes\n")
  a_file = os.path.join(r, "a_file")
  with open(a_file, "w", encoding="utf-8") as f:
    f.write("keep me\n")
  export_plus = os.path.join(r, "export_plus")
  shutil.copytree(e["export_dir"], export_plus)
  with open(os.path.join(export_plus, "README.txt"), "w", encoding="utf-8") as f:
    f.write("my readme\n")
  earlier = os.path.join(r, "earlier_export")
  shutil.copytree(e["export_dir"], earlier)
  empty_model_dir = os.path.join(r, "empty_model_dir")
  os.makedirs(empty_model_dir)
  previous_csv = os.path.join(r, "previous.csv")
  with open(previous_csv, "w", encoding="utf-8") as f:
    f.write("Rec_01;0.0;0.1;0.2;0.3\n")

  def export_replaced(_):
    from emotion_tf.serving import export_lib

    meta = export_lib.read_export_metadata(earlier)
    assert meta["source"]["embeddings"]["sha256"] == fileio.file_sha256(e["vec"])
    assert not [n for n in os.listdir(r) if n.startswith((".new-", ".old-"))]
    model_dir_intact(None)

  def csv_rows(path, frames):
    def check(_):
      with open(path, encoding="utf-8") as f:
        assert len(f.read().splitlines()) == frames

    return check

  predict = ["--model", e["export_dir"], "--audio", e["wav"]]
  words = ["--word_timings", e["timings"]]
  vec_sha, other_sha = fileio.file_sha256(e["vec"]), fileio.file_sha256(e["other_space"])
  return {
    # ------------------------------------------------------------------------------ train
    "train_missing_data_dir": Case(
      "emotion_tf.train",
      ["--data_dir", MISSING, "--model_dir", f"{r}/t1"] + train,
      2,
      [f"{MISSING}/metadata.json: missing"],
    ),
    "train_wrong_partition": Case(
      "emotion_tf.train",
      ["--data_dir", d, "--model_dir", f"{r}/t2", "--train_partition", "Trian"] + train,
      2,
      [d, "no shards", "'trian'"],
    ),
    "train_missing_embeddings": Case(
      "emotion_tf.train",
      ["--data_dir", d, "--model_dir", f"{r}/t3", "--embeddings", f"{MISSING}.vec"] + train,
      2,
      [f"{MISSING}.vec", "cannot read"],
    ),
    "train_missing_flagfile": Case(
      "emotion_tf.train", [f"--flagfile={MISSING}.cfg"], 2, [f"{MISSING}.cfg"]
    ),
    "train_truncated_shard": Case(
      "emotion_tf.train",
      ["--data_dir", e["truncated"], "--model_dir", f"{r}/t_trunc"] + train,
      2,
      [
        os.path.join(e["truncated"], TRUNCATED_SHARD),
        "(truncated record at ",
        "python -m data_prep.write_tfrecords",
        f"--out {e['truncated']}",
        "--force",
      ],
      shard_kept,
    ),
    "train_edited_metadata": Case(
      "emotion_tf.train",
      ["--data_dir", e["semantic_dim_16"], "--model_dir", f"{r}/t4"] + train,
      2,
      [
        os.path.join(e["semantic_dim_16"], TRUNCATED_SHARD),
        "field 'semantic'",
        "expected 6400 bytes",
        "found 3200",
        "holds semantic_dim 8",
        os.path.join(e["semantic_dim_16"], "metadata.json"),
      ],
    ),
    "train_incomplete": Case(
      "emotion_tf.train",
      ["--data_dir", e["incomplete"], "--model_dir", f"{r}/t5"] + train,
      2,
      [
        os.path.join(e["incomplete"], "metadata.json"),
        "incomplete",
        "Train_02",
        "truncated wav data",
        "--allow_incomplete",
      ],
    ),
    # --------------------------------------------------------------------------- evaluate
    "evaluate_missing_model_dir": Case(
      "emotion_tf.evaluate",
      ["--model_dir", MISSING, "--data_dir", d, "--out", f"{r}/e1"],
      2,
      [f"{MISSING}: model directory does not exist"],
      not_created(f"{r}/e1"),
    ),
    "evaluate_missing_data_dir": Case(
      "emotion_tf.evaluate",
      ["--model_dir", m, "--data_dir", MISSING, "--out", f"{r}/e2"],
      2,
      [f"{MISSING}/metadata.json: missing"],
      not_created(f"{r}/e2"),
    ),
    "evaluate_wrong_partition": Case(
      "emotion_tf.evaluate",
      ["--model_dir", m, "--data_dir", d, "--partitions", "Dvel", "--out", f"{r}/e3"],
      2,
      [d, "no shards", "dvel"],
      not_created(f"{r}/e3"),
    ),
    "evaluate_truncated_shard": Case(
      "emotion_tf.evaluate",
      ["--model_dir", m, "--data_dir", e["truncated"], "--partitions", "Train", "--out", f"{r}/e4"],
      2,
      [os.path.join(e["truncated"], TRUNCATED_SHARD), "truncated", "--force"],
      not_created(f"{r}/e4"),
    ),
    "evaluate_edited_metadata": Case(
      "emotion_tf.evaluate",
      ["--model_dir", m, "--data_dir", e["frames_50"], "--partitions", "Train", "--out", f"{r}/e5"],
      2,
      [
        "field 'word_index'",
        "expected 50 values = frames_per_chunk 50",
        "found 100",
        "holds frames_per_chunk 100",
        os.path.join(e["frames_50"], TRUNCATED_SHARD),
      ],
      not_created(f"{r}/e5"),
    ),
    "evaluate_incomplete": Case(
      "emotion_tf.evaluate",
      [
        "--model_dir",
        m,
        "--data_dir",
        e["incomplete"],
        "--partitions",
        "Train",
        "--out",
        f"{r}/e6",
      ],
      2,
      ["incomplete", "Train_02", "--allow_incomplete"],
      not_created(f"{r}/e6"),
    ),
    # ----------------------------------------------------------------------------- export
    "export_out_is_model_dir": Case(
      "emotion_tf.export",
      ["--model_dir", m, "--out", m],
      2,
      [m, "is the model directory itself"],
      model_dir_intact,
    ),
    "export_out_holds_model_dir": Case(
      "emotion_tf.export",
      ["--model_dir", m, "--out", r],
      2,
      [r, "contains the model directory"],
      model_dir_intact,
    ),
    "export_out_inside_model_dir": Case(
      "emotion_tf.export",
      ["--model_dir", m, "--out", os.path.join(m, "logs")],
      2,
      ["lies inside the model directory"],
      model_dir_intact,
    ),
    "export_out_unrelated_dir": Case(
      "emotion_tf.export",
      ["--model_dir", m, "--out", unrelated],
      2,
      [unrelated, "not an emotion_tf export", "notes.txt"],
      unchanged(os.path.join(unrelated, "notes.txt"), "my notes\n"),
    ),
    "export_out_is_file": Case(
      "emotion_tf.export",
      ["--model_dir", m, "--out", a_file],
      2,
      [a_file, "not a directory"],
      unchanged(a_file, "keep me\n"),
    ),
    "export_out_export_plus_files": Case(
      "emotion_tf.export",
      ["--model_dir", m, "--out", export_plus],
      2,
      [export_plus, "plus other files", "README.txt"],
      unchanged(os.path.join(export_plus, "README.txt"), "my readme\n"),
    ),
    "export_replaces_earlier_export": Case(
      "emotion_tf.export",
      ["--model_dir", m, "--out", earlier, "--force"],
      0,
      ["exported"],
      export_replaced,
    ),
    "export_missing_model_dir": Case(
      "emotion_tf.export",
      ["--model_dir", MISSING, "--out", f"{r}/x1"],
      2,
      [f"{MISSING}: model directory does not exist"],
      not_created(f"{r}/x1"),
    ),
    "export_no_trained_model": Case(
      "emotion_tf.export",
      ["--model_dir", empty_model_dir, "--out", f"{r}/x2"],
      2,
      [empty_model_dir, "no best.keras or last.keras"],
      not_created(f"{r}/x2"),
    ),
    # ---------------------------------------------------------------------------- predict
    "predict_missing_export": Case(
      "emotion_tf.predict",
      ["--model", MISSING, "--audio", e["wav"], "--out", previous_csv],
      2,
      [f"{MISSING}: export directory does not exist"],
      unchanged(previous_csv, "Rec_01;0.0;0.1;0.2;0.3\n"),
    ),
    "predict_missing_wav": Case(
      "emotion_tf.predict",
      ["--model", e["export_dir"], "--audio", f"{MISSING}.wav", "--out", previous_csv],
      2,
      [f"{MISSING}.wav: audio file is missing"],
      unchanged(previous_csv, "Rec_01;0.0;0.1;0.2;0.3\n"),
    ),
    "predict_corrupt_wav": Case(
      "emotion_tf.predict",
      ["--model", e["export_dir"], "--audio", e["corrupt_wav"], "--out", previous_csv],
      2,
      [e["corrupt_wav"], "corrupt or unsupported wav"],
      unchanged(previous_csv, "Rec_01;0.0;0.1;0.2;0.3\n"),
    ),
    "predict_malformed_vec": Case(
      "emotion_tf.predict",
      predict + words + ["--embeddings", e["malformed"], "--out", f"{r}/p1.csv"],
      2,
      [e["malformed"] + ":3"],
      not_created(f"{r}/p1.csv"),
    ),
    "predict_dimension_mismatch": Case(
      "emotion_tf.predict",
      predict + words + ["--embeddings", e["dim5"], "--out", f"{r}/p2.csv"],
      2,
      [e["dim5"], "dimension 5", "dimension 8"],
      not_created(f"{r}/p2.csv"),
    ),
    "predict_other_embedding_space": Case(
      "emotion_tf.predict",
      predict + words + ["--embeddings", e["other_space"], "--out", f"{r}/p3.csv"],
      2,
      [e["other_space"], other_sha, e["vec"], vec_sha, "--allow_embeddings_mismatch"],
      not_created(f"{r}/p3.csv"),
    ),
    "predict_other_embedding_space_allowed": Case(
      "emotion_tf.predict",
      predict
      + words
      + ["--embeddings", e["other_space"], "--out", f"{r}/p4.csv", "--allow_embeddings_mismatch"],
      0,
      [other_sha, vec_sha, "predicting anyway"],
      csv_rows(f"{r}/p4.csv", 15),
    ),
    "predict_trained_embedding_space": Case(
      "emotion_tf.predict",
      predict + words + ["--embeddings", e["vec"], "--out", f"{r}/p5.csv"],
      0,
      ["wrote", "15 frames"],
      csv_rows(f"{r}/p5.csv", 15),
    ),
    # ----------------------------------------------------------------------------- ablate
    "ablate_unknown_row": Case(
      "emotion_tf.ablate",
      ["--data_dir", d, "--rows", "nosuch_row", "--out", f"{r}/a1"],
      2,
      ["--rows: unknown row(s) nosuch_row", "paralinguistic"],
      not_created(f"{r}/a1"),
    ),
  }


CASES = sorted(
  [
    "train_missing_data_dir",
    "train_wrong_partition",
    "train_missing_embeddings",
    "train_missing_flagfile",
    "train_truncated_shard",
    "train_edited_metadata",
    "train_incomplete",
    "evaluate_missing_model_dir",
    "evaluate_missing_data_dir",
    "evaluate_wrong_partition",
    "evaluate_truncated_shard",
    "evaluate_edited_metadata",
    "evaluate_incomplete",
    "export_out_is_model_dir",
    "export_out_holds_model_dir",
    "export_out_inside_model_dir",
    "export_out_unrelated_dir",
    "export_out_is_file",
    "export_out_export_plus_files",
    "export_replaces_earlier_export",
    "export_missing_model_dir",
    "export_no_trained_model",
    "predict_missing_export",
    "predict_missing_wav",
    "predict_corrupt_wav",
    "predict_malformed_vec",
    "predict_dimension_mismatch",
    "predict_other_embedding_space",
    "predict_other_embedding_space_allowed",
    "predict_trained_embedding_space",
    "ablate_unknown_row",
  ]
)


@pytest.fixture(scope="module")
def results(env):
  cases = build_cases(env)
  assert sorted(cases) == CASES
  # export_replaces_earlier_export changes files under root: run it after the others that
  # compare root's content.
  late = {"export_replaces_earlier_export"}
  with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
    futures = {
      name: pool.submit(run_binary, c.module, c.args)
      for name, c in cases.items()
      if name not in late
    }
    out = {name: (cases[name], f.result()) for name, f in futures.items()}
  for name in late:
    out[name] = (cases[name], run_binary(cases[name].module, cases[name].args))
  return out


@pytest.mark.parametrize("name", CASES)
def test_cli_case(results, name):
  case, proc = results[name]
  output = proc.stdout + proc.stderr
  assert proc.returncode == case.code, (proc.returncode, output[-3000:])
  for needle in case.needles:
    assert needle in output, (needle, output[-3000:])
  assert "Traceback" not in output, output[-3000:]
  if case.check is not None:
    case.check(proc)


# ----------------------------------------------------------------- library-level companions


def test_allow_incomplete_warns_and_other_partitions_pass(env):
  from emotion_tf.data import (
    pipeline,
    schema,
  )

  meta = schema.read_metadata(env["incomplete"])
  message = pipeline.check_complete(env["incomplete"], meta, ["train"], allow_incomplete=True)
  assert "Train_02" in message and "truncated wav data" in message
  assert pipeline.check_complete(env["incomplete"], meta, ["devel", "test"]) is None
  assert pipeline.missing_recordings(env["incomplete"], meta) == (
    [("Train_02", "Train_02.wav: truncated wav data")],
    [],
  )
  # A shard planned but never written is named with the recordings its sidecar lists.
  gone = edited_copy(env["data_dir"], os.path.join(env["root"], "tfr_gone"), complete=False)
  meta = schema.read_metadata(gone)
  meta.partitions["test"]["shards"] = []
  os.remove(os.path.join(gone, "test-00000-of-00001.tfrecord"))
  recordings, shards = pipeline.missing_recordings(gone, meta, ["test"])
  assert shards == ["test-00000-of-00001.tfrecord"] and [r for r, _ in recordings] == ["Test_01"]


def test_shard_checks_name_the_field(env, tmp_path):
  from emotion_tf.data import (
    pipeline,
    schema,
  )

  files = pipeline.validate_shards(env["data_dir"], "train")
  assert [os.path.basename(f) for f in files] == [TRUNCATED_SHARD, "train-00001-of-00002.tfrecord"]
  meta = schema.read_metadata(env["data_dir"]).replace(samples_per_frame=1000)
  with pytest.raises(
    pipeline.DataDirError,
    match=r"field 'audio' .* expected 400000 bytes .* found 882000; the shard "
    r"holds samples_per_frame 2205",
  ):
    pipeline.validate_shards(env["data_dir"], "train", meta)
  junk = tmp_path / "junk"
  junk.mkdir()
  shutil.copy(os.path.join(env["data_dir"], "metadata.json"), junk / "metadata.json")
  (junk / schema.shard_name("train", 0, 1)).write_bytes(b"not a tfrecord at all")
  with pytest.raises(pipeline.DataDirError, match=r"train-00000-of-00001.tfrecord: corrupt"):
    pipeline.validate_shards(str(junk), "train")
  # One flipped byte inside a record (same length): the record's CRC names it.
  flipped = tmp_path / "flipped"
  shutil.copytree(env["data_dir"], flipped)
  shard = flipped / "devel-00000-of-00001.tfrecord"
  data = bytearray(shard.read_bytes())
  data[len(data) // 2] ^= 0xFF
  shard.write_bytes(bytes(data))
  with pytest.raises(
    pipeline.DataDirError,
    match=r"devel-00000-of-00001.tfrecord: corrupt or truncated TFRecord shard "
    r"\(corrupted record at \d+\)\. Rewrite it with `python -m "
    r"data_prep.write_tfrecords .*--force`",
  ):
    pipeline.validate_shards(str(flipped), "devel")


def test_resume_with_other_embeddings_is_refused(env):
  from emotion_tf.training import train_lib

  with open(os.path.join(env["model_dir"], "config.json"), encoding="utf-8") as f:
    recorded = json.load(f)["embeddings"]
  assert recorded["sha256"] == fileio.file_sha256(env["vec"])  # what the shards were written with
  config = train_lib.TrainConfig(
    data_dir=env["data_dir"],
    model_dir=env["model_dir"],
    embeddings=env["other_space"],
    batch_size=2,
  )
  with pytest.raises(
    train_lib.TrainingSetupError,
    match=r"config.json: the model directory holds a run trained on the "
    r"embeddings .*tiny.vec",
  ):
    train_lib.resolve_setup(config, env["small"], 1)
  assert tree(env["model_dir"]) == env["model_tree"]


def test_export_without_embeddings_hash_warns(env):
  from emotion_tf.serving import (
    export_lib,
    predict_lib,
  )

  meta = export_lib.read_export_metadata(env["export_dir"])
  assert export_lib.export_embeddings(meta)["sha256"] == fileio.file_sha256(env["vec"])
  old = dict(meta, source={k: v for k, v in meta["source"].items() if k != "embeddings"})
  old_export = types.SimpleNamespace(metadata=old, export_dir="old_export")
  warning = predict_lib.check_embeddings_match(old_export, env["other_space"])
  assert "old_export: the export records no embeddings sha256" in warning
  assert (
    predict_lib.check_embeddings_match(
      types.SimpleNamespace(metadata=meta, export_dir="x"), env["vec"]
    )
    is None
  )
  with pytest.raises(predict_lib.PredictionInputError, match="other_space.vec: sha256 "):
    predict_lib.check_embeddings_match(
      types.SimpleNamespace(metadata=meta, export_dir="x"), env["other_space"]
    )
  audio_only = dict(meta, variant="paralinguistic")  # ignores the semantic values
  assert (
    predict_lib.check_embeddings_match(
      types.SimpleNamespace(metadata=audio_only, export_dir="x"), env["other_space"]
    )
    is None
  )


def latest_backup_step(model_dir):
  """Step of the newest backup checkpoint (`backup/checkpoint` names ckpt-<step>), or 0."""
  try:
    with open(os.path.join(model_dir, "backup", "checkpoint"), encoding="utf-8") as f:
      first = f.readline()
  except OSError:
    return 0
  digits = first.strip().rstrip('"').rsplit("-", 1)[-1]
  return int(digits) if digits.isdigit() else 0


def interrupt_after_backup(args, env_vars, model_dir, sig, after_step):
  """Starts the binary, sends `sig` once a backup newer than `after_step` exists."""
  log = os.path.join(os.path.dirname(model_dir), f"train-{sig}.log")  # no pipe to fill up
  with open(log, "w", encoding="utf-8") as err:
    # SIGINT as for a terminal's foreground job, also when the tests run in a background job
    # (which starts children with SIGINT ignored).
    proc = subprocess.Popen(
      args,
      cwd=ROOT,
      env=env_vars,
      stdout=err,
      stderr=err,
      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 300
    while (
      latest_backup_step(model_dir) <= after_step and proc.poll() is None and time.time() < deadline
    ):
      time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be interrupted"
    step = latest_backup_step(model_dir)
    proc.send_signal(sig)
    proc.wait(timeout=300)
  with open(log, encoding="utf-8") as f:
    return proc.returncode, f.read(), step


def test_ctrl_c_then_kill_9_during_training_then_rerun_resumes(env, tmp_path):
  """The train binary stopped by Ctrl-C (exit 130, one line), rerun and killed with SIGKILL
  after a newer backup, rerun again: the run finishes from the last backup (the exactness
  of resumed weights is tests/test_training.py's)."""
  model_dir = str(tmp_path / "model")
  args = [
    sys.executable,
    "-m",
    "emotion_tf.train",
    "--data_dir",
    env["data_dir"],
    "--model_dir",
    model_dir,
    "--batch_size",
    "2",
    "--epochs",
    "3",
    "--steps_per_epoch",
    "2",
    "--backup_every_steps",
    "1",
    "--eval_partition",
    "",
    "--lstm_units",
    "8",
    "--fusion_units",
    "8",
    "--variant",
    "concat",
    "--seed",
    "2",
  ]
  env_vars = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  code, stderr, first = interrupt_after_backup(args, env_vars, model_dir, signal.SIGINT, 0)
  assert code == 130, stderr[-3000:]
  assert "interrupted" in stderr and "Traceback" not in stderr, stderr[-3000:]
  assert latest_backup_step(model_dir) >= first >= 1
  code, _, second = interrupt_after_backup(
    args, env_vars, model_dir, signal.SIGKILL, latest_backup_step(model_dir)
  )
  assert code == -signal.SIGKILL and second > first
  rerun = subprocess.run(
    args, cwd=ROOT, env=env_vars, capture_output=True, text=True, timeout=300, check=False
  )
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  assert "resumed from" in rerun.stderr and "done: 6 steps, 3 epochs" in rerun.stderr
  assert os.path.exists(os.path.join(model_dir, "last.keras"))
  assert not [n for n in os.listdir(model_dir) if n.startswith(".tmp")]
