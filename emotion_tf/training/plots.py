"""Gold-vs-prediction figures of one recording (evaluation PNGs and the TensorBoard image).

One PNG per recording: a panel per dimension (arousal, valence, liking) with the gold trace
(black) and the prediction (red) over time in seconds, the dimension name on the y axis, a
legend, and the recording's CCC (paper Eq. 8) of that dimension in the panel title; the figure
title names the recording and its mean CCC. matplotlib is imported only inside
`recording_png` and draws with the Agg canvas (no display, no pyplot global state).
"""

import io
import os
from collections.abc import Sequence

import numpy as np

from emotion_tf import FRAME_HOP_SECONDS, LABEL_NAMES
from emotion_tf.model.ccc import concordance_cc_numpy
from emotion_tf.util import fileio

FIGURE_SIZE = (10.0, 7.0)  # inches
DPI = 100  # -> 1000 x 700 pixels


def recording_png(
  gold: np.ndarray,
  pred: np.ndarray,
  label_names: Sequence[str] = LABEL_NAMES,
  hop_seconds: float = FRAME_HOP_SECONDS,
  title: str = "",
) -> bytes:
  """PNG bytes of the gold-vs-prediction figure of one recording.

  Args:
    gold, pred: float [frames, dims] (dims = len(label_names)), valid frames only.
    label_names: dimension names, one panel each.
    hop_seconds: frame hop; frame k is drawn at k * hop_seconds.
    title: the recording's name (figure title, followed by its mean CCC).

  Returns:
    PNG bytes of a FIGURE_SIZE * DPI (1000 x 700) RGBA image.
  """
  gold = np.asarray(gold, np.float64)
  pred = np.asarray(pred, np.float64)
  names = list(label_names)
  if gold.shape != pred.shape or gold.ndim != 2 or gold.shape[1] != len(names):
    raise ValueError(
      f"{title or 'recording'}: gold {gold.shape} and prediction {pred.shape} "
      f"must both be [frames, {len(names)}]"
    )
  if gold.shape[0] == 0:
    raise ValueError(f"{title or 'recording'}: no frames to plot")
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  ccc = (
    concordance_cc_numpy(gold, pred, axis=0) if gold.shape[0] > 1 else np.full(len(names), np.nan)
  )
  times = np.arange(gold.shape[0]) * hop_seconds
  fig = Figure(figsize=FIGURE_SIZE, dpi=DPI)
  FigureCanvasAgg(fig)
  axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
  for d, (ax, name) in enumerate(zip(axes, names, strict=False)):
    ax.plot(times, gold[:, d], color="black", linewidth=1.2, label="gold")
    ax.plot(times, pred[:, d], color="tab:red", linewidth=1.2, label="prediction")
    ax.axhline(0.0, color="0.8", linewidth=0.6, zorder=0)
    ax.set_ylabel(name)
    ax.set_title(f"{name}: CCC {ccc[d]:.3f}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
  axes[-1].set_xlabel("time (s)")
  axes[-1].set_xlim(times[0], max(times[-1], hop_seconds))
  fig.suptitle(f"{title + ': ' if title else ''}gold vs prediction (mean CCC {np.mean(ccc):.3f})")
  fig.tight_layout()
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=DPI)
  return buf.getvalue()


def write_recording_pngs(
  out_dir: str,
  labels: dict,
  predictions: dict,
  label_names: Sequence[str] = LABEL_NAMES,
  hop_seconds: float = FRAME_HOP_SECONDS,
  suffix: str | None = None,
) -> list:
  """Writes `<out_dir>/<recording_id>.png` for every recording, atomically.

  Args:
    labels, predictions: {recording_id: [frames, dims]} with the same ids.
    suffix: appended to each title (e.g. the partition).

  Returns:
    The written paths, sorted by recording id.
  """
  paths = []
  for rid in sorted(predictions):
    title = f"{rid} ({suffix})" if suffix else rid
    png = recording_png(labels[rid], predictions[rid], label_names, hop_seconds, title)
    path = os.path.join(out_dir, f"{rid}.png")
    fileio.atomic_write(path, png)
    paths.append(path)
  return paths
