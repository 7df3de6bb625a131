"""Every bad input of issue 3 item 6: named error, others still written, exit 1, no partial shard."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from data_prep import write_tfrecords_lib
from emotion_tf.data import schema
from emotion_tf.semantic import vectors as vec_io
from data_fixtures import copy_recording

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _edit_lines(path, fn, encoding="utf-8"):
  with open(path, encoding=encoding) as f:
    lines = f.read().splitlines()
  with open(path, "w", encoding=encoding) as f:
    f.write("\n".join(fn(lines)) + "\n")


def _set_field(lines, row, field, value):
  parts = lines[row].split(";")
  parts[field] = value
  lines[row] = ";".join(parts)
  return lines


def _replace_line_bytes(path, index, data):
  with open(path, "rb") as f:
    lines = f.read().split(b"\n")
  lines[index] = data
  with open(path, "wb") as f:
    f.write(b"\n".join(lines))


# id -> (damage, expected error fragment).
CASES = {
    "Train_02": (lambda p: os.remove(p("audio", ".wav")), "Train_02.wav: audio file is missing"),
    "Train_03": (lambda p: os.remove(p("labels", ".csv")), "Train_03.csv: label file is missing"),
    "Train_04": (lambda p: open(p("audio", ".wav"), "r+b").truncate(30),
                 "Train_04.wav: corrupt or unsupported wav"),
    "Train_05": (lambda p: open(p("audio", ".wav"), "wb").close(),
                 "Train_05.wav: audio file is empty"),
    "Train_06": (lambda p: _edit_lines(p("labels", ".csv"), lambda ls: ls[:150]),
                 "Train_06.csv: labels cover 15.00 s but"),
    "Train_07": (lambda p: _edit_lines(p("labels", ".csv"), lambda ls: ls + [
        f"x;{k / 10:.1f};0;0;0" for k in range(240, 300)]), "gap +6.00 s beyond"),
    "Train_08": (lambda p: _edit_lines(p("labels", ".csv"), lambda ls: _set_field(ls, 9, 3, "nan")),
                 "Train_08.csv:10: valence is nan"),
    "Train_09": (lambda p: _edit_lines(p("labels", ".csv"), lambda ls: _set_field(ls, 4, 2, "1.7")),
                 "Train_09.csv:5: arousal 1.7 outside"),
    "Train_10": (lambda p: _edit_lines(p("transcriptions", ".csv"),
                                       lambda ls: ls[:1] + ["3.5;'no end time'"] + ls[1:]),
                 "Train_10.csv:2: malformed transcript line"),
    "Train_11": (lambda p: _replace_line_bytes(p("transcriptions", ".csv"), 2, b"1.0;2.0;'caf\xe9'"),
                 "Train_11.csv:3: not valid UTF-8"),
    "Train_12": (lambda p: open(p("labels", ".csv"), "ab").write(b"Train_12;24.0;0.1;0.1\xff;0\n"),
                 "Train_12.csv:241: not valid UTF-8"),
}


@pytest.fixture(scope="module")
def bad_corpus(tiny_corpus, tmp_path_factory):  # noqa: F811
  d = str(tmp_path_factory.mktemp("bad_corpus"))
  copy_recording(tiny_corpus, "Train_01", d, "Train_01")
  copy_recording(tiny_corpus, "Devel_01", d, "Devel_01")
  for rid, (damage, _) in CASES.items():
    copy_recording(tiny_corpus, "Train_02", d, rid)
    damage(lambda sub, ext, rid=rid: os.path.join(d, sub, rid + ext))
  return d


def _ids_in(path):
  return [schema.parse_example(r, 100, 2205, 8)["recording_id"].numpy().decode()
          for r in tf.data.TFRecordDataset(path)]


def test_each_bad_recording_is_named_and_the_others_written(bad_corpus, tiny_vec, tmp_path):  # noqa: F811
  out = str(tmp_path / "out")
  rep = write_tfrecords_lib.write_tfrecords(bad_corpus, tiny_vec[0], out, records_per_shard=5)
  assert not rep["ok"] and rep["failed"] == sorted(CASES)
  for rid, (_, fragment) in CASES.items():
    assert fragment in rep["errors"][rid], (rid, rep["errors"][rid])
  # Train shards (12 ids, 5 per shard -> 3): Train_01-04, Train_05-08, Train_09-12.
  files = sorted(f for f in os.listdir(out) if f.endswith(".tfrecord"))
  assert files == ["devel-00000-of-00001.tfrecord", "train-00000-of-00003.tfrecord",
                   "train-00001-of-00003.tfrecord", "train-00002-of-00003.tfrecord"]
  assert set(_ids_in(os.path.join(out, files[1]))) == {"Train_01"}
  assert _ids_in(os.path.join(out, files[2])) == [] and _ids_in(os.path.join(out, files[3])) == []
  assert set(_ids_in(os.path.join(out, files[0]))) == {"Devel_01"}
  leftovers = [f for f in os.listdir(out) if f.startswith(".")]
  assert leftovers == []  # no temp files, no part files
  side = json.load(open(os.path.join(out, files[1] + ".json"), encoding="utf-8"))
  assert not side["complete"] and sorted(side["failed"]) == ["Train_02", "Train_03", "Train_04"]
  meta = schema.read_metadata(out)
  assert not meta["complete"] and sorted(meta["failed_recordings"]) == sorted(CASES)
  # Incomplete shards are redone by the next run; the complete one is skipped.
  again = write_tfrecords_lib.write_tfrecords(bad_corpus, tiny_vec[0], out, records_per_shard=5)
  assert again["shards_skipped"] == ["devel-00000-of-00001.tfrecord"]
  assert len(again["shards_written"]) == 3


def test_cli_exits_nonzero_with_summary(bad_corpus, tiny_vec, tmp_path):  # noqa: F811
  out = tmp_path / "cli"
  res = subprocess.run(
      [sys.executable, "-m", "data_prep.write_tfrecords", "--corpus", bad_corpus,
       "--embeddings", tiny_vec[0], "--out", str(out), "--num_workers", "1"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert res.returncode == 1, res.stderr[-2000:]
  assert f"2 recordings written, {len(CASES)} failed" in res.stdout
  assert "FAILED Train_08: " in res.stdout and "Train_08.csv:10: valence is nan" in res.stdout
  assert json.load(open(out / "report.json", encoding="utf-8"))["failed"] == sorted(CASES)


def test_inconsistent_embedding_file(tiny_corpus, tmp_path):  # noqa: F811
  bad = tmp_path / "bad.vec"
  bad.write_text("3 4\nalpha 1 2 3 4\nbeta 1 2 3\ngamma 1 2 3 4\n", encoding="utf-8")
  with pytest.raises(vec_io.VecFormatError, match=r"bad.vec:3: word 'beta' has 3 values"):
    write_tfrecords_lib.write_tfrecords(tiny_corpus, str(bad), str(tmp_path / "o"))
  res = subprocess.run(
      [sys.executable, "-m", "data_prep.write_tfrecords", "--corpus", tiny_corpus,
       "--embeddings", str(bad), "--out", str(tmp_path / "o2")],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert res.returncode == 2 and "bad.vec:3:" in res.stderr
  assert not os.path.exists(tmp_path / "o2" / "metadata.json")
  nonutf = tmp_path / "nonutf.vec"
  nonutf.write_bytes(b"1 2\ncaf\xe9 1 2\n")
  with pytest.raises(vec_io.VecFormatError, match="nonutf.vec: not valid UTF-8"):
    write_tfrecords_lib.write_tfrecords(tiny_corpus, str(nonutf), str(tmp_path / "o3"))


def test_oov_policy_hash_is_deterministic(tiny_corpus, tiny_vec, tmp_path):  # noqa: F811
  vec_path, words, vectors = tiny_vec
  a = write_tfrecords_lib.write_tfrecords(tiny_corpus, vec_path, str(tmp_path / "a"), oov="hash",
                                      partitions=["devel"])
  b = write_tfrecords_lib.write_tfrecords(tiny_corpus, vec_path, str(tmp_path / "b"), oov="hash",
                                      partitions=["devel"])
  assert a["ok"] and b["ok"]
  name = "devel-00000-of-00001.tfrecord"
  blob = open(tmp_path / "a" / name, "rb").read()
  assert blob == open(tmp_path / "b" / name, "rb").read()
  vocab = schema.read_vocab(str(tmp_path / "a"))
  known = set(words)
  seen_oov = 0
  for raw in tf.data.TFRecordDataset(str(tmp_path / "a" / name)):
    ex = schema.parse_example(raw, 100, 2205, 8)
    for idx, vec in zip(ex["word_index"].numpy(), ex["semantic"].numpy()):
      w = vocab[idx]
      if idx and w not in known:
        seen_oov += 1
        np.testing.assert_allclose(vec, schema.oov_vector(w, 8, float(vectors.std())))
      elif not idx:
        assert not vec.any()
  assert a["recordings"][0]["oov_words"] > 0 and seen_oov > 0  # the fixture leaves words out
  with pytest.raises(ValueError, match="oov must be"):
    write_tfrecords_lib.write_tfrecords(tiny_corpus, vec_path, str(tmp_path / "c"), oov="random")
