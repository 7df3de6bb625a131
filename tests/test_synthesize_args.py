"""data_prep.synthesize robustness: bad arguments exit 2 before any work; writing resumes."""

import os
import subprocess
import sys

import pytest
from data_fixtures import tree_bytes

from data_prep import synthesize_lib as synthesize
from emotion_tf.util import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args):
  return subprocess.run(
    [sys.executable, "-m", "data_prep.synthesize", "--num_workers", "1", "--seconds", "3", *args],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=120,
  )


@pytest.mark.parametrize(
  "args,message",
  [
    (["--recordings", "0"], "--recordings must be at least 1, got 0"),
    (["--seconds", "-5"], "--seconds must be at least 2"),
    (
      ["--voices", "en+m1,en+f2,bogusvoice,en+nosuchvariant"],
      "espeak-ng does not know bogusvoice, en+nosuchvariant",
    ),
    (["--design", "radio"], "--design"),
    (["--split", "2,x,1"], "--split must be three integers"),
    (["--voices", "en+m1,en+m1,en+f2"], "voices must be distinct"),
  ],
)
def test_bad_arguments_exit_2_and_write_nothing(tmp_path, args, message):
  out = tmp_path / "corpus"
  count = [] if {"--recordings", "--split"} & set(args) else ["--recordings", "3"]
  res = _run("--out", str(out), *count, *args)
  assert res.returncode == cli.EXIT_BAD_INPUT, res.stderr
  assert message in res.stderr and "Traceback" not in res.stderr
  assert not out.exists()


def test_out_under_a_regular_file(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("keep me", encoding="utf-8")
  for flag, path in (("--out", blocker / "corpus"), ("--text_out", blocker / "t.txt")):
    extra = ["--out", str(tmp_path / "c")] if flag == "--text_out" else []
    res = _run(*extra, flag, str(path), "--recordings", "3")
    assert res.returncode == 2, res.stderr
    assert f"{blocker} is a regular file" in res.stderr and "Traceback" not in res.stderr
    assert blocker.read_text(encoding="utf-8") == "keep me"
  assert not (tmp_path / "c").exists()


def test_unknown_voice_leaves_an_existing_corpus_untouched(tmp_path):
  out = str(tmp_path / "c")
  synthesize.synthesize_corpus(out, 3, 3.0, seed=1, num_workers=1)
  before = tree_bytes(out)
  res = _run("--out", out, "--recordings", "3", "--seed", "2", "--voices", "en+m1,en+f2,en+zzz")
  assert res.returncode == 2 and "en+zzz" in res.stderr
  assert tree_bytes(out) == before


def test_foreign_recordings_in_out_are_refused(tmp_path):
  out = str(tmp_path / "c")
  synthesize.synthesize_corpus(out, 4, 3.0, seed=1, num_workers=1)
  before = tree_bytes(out)
  with pytest.raises(cli.InputError, match="Train_02"):
    synthesize.synthesize_corpus(out, 3, 3.0, seed=1, num_workers=1)
  from data_prep import synthesize_podcast

  with pytest.raises(cli.InputError, match="word_timings"):
    synthesize_podcast.synthesize_corpus(out, 4, 3.0, seed=1, num_workers=1)
  assert tree_bytes(out) == before


def test_interrupted_run_resumes_and_verifies_content(tmp_path, monkeypatch):
  ref, out = str(tmp_path / "ref"), str(tmp_path / "out")
  synthesize.synthesize_corpus(ref, 3, 3.0, seed=5, num_workers=1)
  real = synthesize.synthesize_recording
  done = []

  def dies_on_second(spec, *args):
    if done:
      raise KeyboardInterrupt
    done.append(spec.recording_id)
    return real(spec, *args)

  monkeypatch.setattr(synthesize, "synthesize_recording", dies_on_second)
  with pytest.raises(KeyboardInterrupt):
    synthesize.synthesize_corpus(out, 3, 3.0, seed=5, num_workers=1)
  assert not os.path.exists(os.path.join(out, "corpus.json"))  # incomplete corpus is marked
  assert os.listdir(os.path.join(out, synthesize.PROGRESS_DIR)) == [done[0] + ".json"]
  monkeypatch.setattr(synthesize, "synthesize_recording", real)
  # A finished recording whose file was damaged since is regenerated, not trusted.
  label = os.path.join(out, "labels", done[0] + ".csv")
  with open(label, "a", encoding="utf-8") as f:
    f.write("junk\n")
  res = synthesize.synthesize_corpus(out, 3, 3.0, seed=5, num_workers=1)
  assert res["resumed"] == 0 and tree_bytes(out) == tree_bytes(ref)
  # Interrupted again after one recording: the rerun skips it (verified) and finishes the rest.
  os.remove(os.path.join(out, "corpus.json"))
  done.clear()
  monkeypatch.setattr(synthesize, "synthesize_recording", dies_on_second)
  with pytest.raises(KeyboardInterrupt):
    synthesize.synthesize_corpus(out, 3, 3.0, seed=5, num_workers=1)
  monkeypatch.setattr(synthesize, "synthesize_recording", real)
  res = synthesize.synthesize_corpus(out, 3, 3.0, seed=5, num_workers=1)
  assert res["resumed"] == 1 and tree_bytes(out) == tree_bytes(ref)
  assert not os.path.exists(os.path.join(out, synthesize.PROGRESS_DIR))
