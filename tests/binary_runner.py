"""`python -m <binary> ...` for the tests, without paying the TensorFlow import every time.

Most CLI tests run a binary in a child process (exit codes, one-line errors, outputs on disk).
Each such child used to spend ~3 s importing TensorFlow and Keras before parsing a flag. Here a
warm interpreter per test worker (it imports TensorFlow, Keras and the library, and runs no
TensorFlow op, so it holds no runtime threads) forks one child per call; the child changes to
the requested cwd and environment, points file descriptors 0/1/2 at files, and runs the module
as `__main__` (`runpy.run_module`, as `python -m` does). Exit status, stdout and stderr come back
as a `subprocess.CompletedProcess`. Timeouts kill the child and raise
`subprocess.TimeoutExpired`, as `subprocess.run` does.

`EMOTION_TF_TEST_FORK=0` runs every call as a plain `subprocess.run` instead (same results,
slower); tests that signal the process or run several cooperating processes keep using
`subprocess.Popen` directly.
"""

import atexit
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs in the warm interpreter: reads one JSON request per line, forks, reports pid then status.
_SERVER = r"""
import json, os, runpy, signal, sys, traceback
import numpy, scipy.signal
import tensorflow, keras
from absl import app, flags, logging
import emotion_tf.training.train_lib, emotion_tf.training.evaluate_lib
import emotion_tf.serving.export_lib, emotion_tf.serving.predict_api
requests = os.fdopen(int(sys.argv[1]), "r")
replies = os.fdopen(int(sys.argv[2]), "w")
for line in requests:
  req = json.loads(line)
  pid = os.fork()
  if pid == 0:
    code = 1
    try:
      os.chdir(req["cwd"])
      os.environ.clear()
      os.environ.update(req["env"])
      for fd, path, mode in ((0, req["stdin"], os.O_RDONLY),
                             (1, req["stdout"], os.O_WRONLY | os.O_TRUNC),
                             (2, req["stderr"], os.O_WRONLY | os.O_TRUNC)):
        os.dup2(os.open(path, mode), fd)
      signal.signal(signal.SIGINT, signal.default_int_handler)
      sys.argv = [req["module"]] + req["args"]
      sys.path[0] = req["cwd"]
      try:
        runpy.run_module(req["module"], run_name="__main__", alter_sys=True)
        code = 0
      except SystemExit as e:
        if e.code is None:
          code = 0
        elif isinstance(e.code, int):
          code = e.code
        else:
          print(e.code, file=sys.stderr)
          code = 1
      except BaseException:
        traceback.print_exc()
        code = 1
    finally:
      try:
        sys.stdout.flush()
        sys.stderr.flush()
      finally:
        os._exit(code)
  replies.write(json.dumps({"pid": pid}) + "\n")
  replies.flush()
  _, status = os.waitpid(pid, 0)
  replies.write(json.dumps({"status": os.waitstatus_to_exitcode(status)}) + "\n")
  replies.flush()
"""

_lock = threading.Lock()
_server = None


def _start_server():
  """The warm interpreter of this test process (started on first use, stopped at exit)."""
  global _server
  if _server is not None and _server["proc"].poll() is None:
    return _server
  req_r, req_w = os.pipe()
  rep_r, rep_w = os.pipe()
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  proc = subprocess.Popen(
    [sys.executable, "-c", _SERVER, str(req_r), str(rep_w)],
    cwd=ROOT,
    env=env,
    pass_fds=(req_r, rep_w),
    stdin=subprocess.DEVNULL,
  )
  os.close(req_r)
  os.close(rep_w)
  _server = {"proc": proc, "requests": os.fdopen(req_w, "w"), "replies": os.fdopen(rep_r, "r")}
  atexit.register(_stop_server)
  return _server


def _stop_server():
  global _server
  if _server is not None:
    _server["requests"].close()
    _server["proc"].wait(timeout=10)
    _server = None


def _read_reply(server, deadline, pid=None):
  """Next JSON reply, or None once `deadline` passes (the child is then killed)."""
  import select

  while True:
    left = None if deadline is None else deadline - time.monotonic()
    if left is not None and left <= 0:
      return None
    ready, _, _ = select.select([server["replies"]], [], [], left)
    if ready:
      line = server["replies"].readline()
      if not line:
        raise RuntimeError("the warm test interpreter died")
      return json.loads(line)


def run_module(module, args=(), *, cwd=ROOT, env=None, timeout=None, input=None):
  """Like `subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
  text=True, cwd=cwd, env=env, timeout=timeout, input=input)`."""
  args = [str(a) for a in args]
  env = dict(os.environ if env is None else env)
  env.setdefault("PYTHONPATH", ROOT)
  if os.environ.get("EMOTION_TF_TEST_FORK", "1") == "0" or not hasattr(os, "fork"):
    return subprocess.run(
      [sys.executable, "-m", module, *args],
      cwd=cwd,
      env=env,
      capture_output=True,
      text=True,
      timeout=timeout,
      input=input,
    )
  with tempfile.TemporaryDirectory() as tmp, _lock:
    paths = {k: os.path.join(tmp, k) for k in ("stdin", "stdout", "stderr")}
    for k, p in paths.items():
      with open(p, "w", encoding="utf-8") as f:
        f.write(input if (k == "stdin" and input) else "")
    server = _start_server()
    request = dict(module=module, args=args, cwd=os.path.abspath(cwd), env=env, **paths)
    server["requests"].write(json.dumps(request) + "\n")
    server["requests"].flush()
    deadline = None if timeout is None else time.monotonic() + timeout
    pid = _read_reply(server, None)["pid"]
    reply = _read_reply(server, deadline)
    timed_out = reply is None
    if timed_out:
      os.kill(pid, 9)
      reply = _read_reply(server, None)
    with open(paths["stdout"], encoding="utf-8", errors="replace") as f:
      out = f.read()
    with open(paths["stderr"], encoding="utf-8", errors="replace") as f:
      err = f.read()
  cmd = [sys.executable, "-m", module, *args]
  if timed_out:
    raise subprocess.TimeoutExpired(cmd, timeout, output=out, stderr=err)
  return subprocess.CompletedProcess(cmd, reply["status"], out, err)
