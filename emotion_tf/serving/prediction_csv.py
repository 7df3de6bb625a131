"""The prediction CSV (the labels contract of DESIGN.md), written by evaluate and predict.

Rows `name;time;arousal;valence;liking` at the frame hop, no header unless asked:
time = k * hop with as few decimals as the hop needs (0.0, 0.1, ... for 0.1 s, as in the label
files), values with 6 decimals.
"""

from collections.abc import Sequence

import numpy as np

from emotion_tf import FRAME_HOP_SECONDS, LABEL_NAMES
from emotion_tf.util import fileio

TIME_COLUMN = "time"


def format_rows(
  name: str, predictions: np.ndarray, hop_seconds: float = FRAME_HOP_SECONDS, first_frame: int = 0
) -> str:
  """Rows of frames first_frame, first_frame + 1, ... of `predictions` [frames, 3] (no header;
  a stream writes its chunks with increasing `first_frame`)."""
  predictions = np.asarray(predictions, np.float64)
  if predictions.ndim != 2 or predictions.shape[1] != len(LABEL_NAMES):
    raise ValueError(
      f"{name}: predictions must be [frames, {len(LABEL_NAMES)}], got {predictions.shape}"
    )
  decimals = next((d for d in range(1, 7) if abs(round(hop_seconds, d) - hop_seconds) < 1e-9), 6)
  rows = [
    f"{name};{(first_frame + k) * hop_seconds:.{decimals}f};" + ";".join(f"{v:.6f}" for v in row)
    for k, row in enumerate(predictions)
  ]
  return "\n".join(rows) + ("\n" if rows else "")


def header_line(label_names: Sequence[str] = LABEL_NAMES) -> str:
  """`name;time;arousal;valence;liking` and a newline."""
  return ";".join(["name", TIME_COLUMN] + list(label_names)) + "\n"


def format_prediction_csv(
  name: str,
  predictions: np.ndarray,
  hop_seconds: float = FRAME_HOP_SECONDS,
  label_names: Sequence[str] | None = None,
) -> str:
  """The whole CSV of one recording; with `label_names`, a header line naming the columns."""
  body = format_rows(name, predictions, hop_seconds)
  return header_line(label_names) + body if label_names else body


def write_prediction_csv(
  path: str,
  name: str,
  predictions: np.ndarray,
  hop_seconds: float = FRAME_HOP_SECONDS,
  label_names: Sequence[str] | None = None,
) -> None:
  """Writes `format_prediction_csv` atomically to `path`."""
  fileio.atomic_write_text(path, format_prediction_csv(name, predictions, hop_seconds, label_names))
