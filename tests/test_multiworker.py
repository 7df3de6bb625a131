"""A 2-worker MultiWorkerMirroredStrategy job on loopback, and the train binary's flags."""
import json
import os
import socket
import subprocess
import sys

import pytest


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL_FLAGS = ["--lstm_units=8", "--fusion_units=8", "--epochs=1", "--log_every_steps=1"]


def free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  for s in socks:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in socks]
  for s in socks:
    s.close()
  return ports


def env_with(**extra):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="")
  env.update(extra)
  return env


def test_two_worker_job_on_loopback_finishes(tiny_tfrecords, tmp_path):
  ports = free_ports(2)
  cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
  model_dir = tmp_path / "model"
  procs = []
  for index in range(2):
    tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
    cmd = [sys.executable, "-m", "emotion_tf.train", f"--data_dir={tiny_tfrecords[0]}",
           f"--model_dir={model_dir}", "--batch_size=2", "--steps_per_epoch=2"] + SMALL_FLAGS
    procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env_with(TF_CONFIG=tf_config),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
  outputs = []
  for p in procs:
    try:
      out, _ = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
      for q in procs:
        q.kill()
      pytest.fail("multi-worker job did not finish in 240 s")
    outputs.append(out)
  for p, out in zip(procs, outputs):
    assert p.returncode == 0, out[-3000:]
  assert "MultiWorkerMirroredStrategy over 2 workers" in outputs[0]
  config = json.loads((model_dir / "config.json").read_text())
  assert config["strategy"] == "MultiWorkerMirroredStrategy" and config["num_replicas"] == 2
  assert (model_dir / "last.keras").exists() and (model_dir / "best.keras").exists()
  assert not (model_dir / ".workers" / "worker_1").exists()  # worker scratch cleaned up


def test_flagfile_and_validators(tiny_tfrecords, tmp_path):
  flagfile = tmp_path / "train.flags"
  flagfile.write_text(f"--data_dir={tiny_tfrecords[0]}\n--model_dir={tmp_path / 'm'}\n"
                      "--batch_size=0\n")
  run = subprocess.run([sys.executable, "-m", "emotion_tf.train", f"--flagfile={flagfile}"],
                       cwd=ROOT, env=env_with(), capture_output=True, text=True, timeout=120)
  assert run.returncode != 0
  assert "batch_size" in run.stderr and "0" in run.stderr
  run = subprocess.run([sys.executable, "-m", "emotion_tf.train", f"--model_dir={tmp_path}/m"],
                       cwd=ROOT, env=env_with(), capture_output=True, text=True, timeout=120)
  assert run.returncode != 0 and "--data_dir is required" in run.stderr
  flagfile.write_text(f"--data_dir={tiny_tfrecords[0]}\n--model_dir={tmp_path / 'm'}\n"
                      "--steps_per_epoch=1\n--variant=semantic\n" + "\n".join(SMALL_FLAGS) + "\n")
  run = subprocess.run([sys.executable, "-m", "emotion_tf.train", f"--flagfile={flagfile}"],
                       cwd=ROOT, env=env_with(), capture_output=True, text=True, timeout=180)
  assert run.returncode == 0, run.stderr[-3000:]
  config = json.loads((tmp_path / "m" / "config.json").read_text())
  assert config["model"]["variant"] == "semantic" and config["model"]["semantic_dim"] == 8
