"""The export's `stream` signature and live prediction chunk by chunk (`predict --stream`).

`stream` (a SavedModel signature, beside `serving_default`; emotion_tf.serving.export_lib):

    inputs   audio    [batch, samples]         float32, the chunk's waveform at sample_rate Hz
             semantic [batch, frames, d]       float32, the word vector of each of its frames
             state_h  [batch, lstm_units]      float32, LSTM state after the previous chunk
             state_c  [batch, lstm_units]      (zeros at the start of a recording)
    outputs  arousal, valence, liking [batch, frames] float32 in (-1, 1)
             state_h, state_c          [batch, lstm_units], to pass with the next chunk

The audio is cut or zero-padded at the end to frames * samples_per_frame, like
`serving_default`. It is `EmotionRecognitionModel.step`: a recording fed as consecutive chunks,
each with the state the previous one returned, gives the whole-recording output
(`emotion_tf.serving.inference`). The state width is the signature's own input shape
(`lstm_units`).

`stream_csv_rows` drives it from a wav file or stdin (raw PCM or a wav stream) and yields CSV
rows as each chunk is predicted.
"""

import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

import numpy as np
import tensorflow as tf

STREAM_SIGNATURE_KEY = "stream"
STATE_KEYS = ("state_h", "state_c")
RAW_FORMATS = {"f32": np.dtype("<f4"), "s16": np.dtype("<i2")}


class StreamInputError(ValueError):
  """An audio stream that cannot be read (bad header, unsupported encoding, wrong rate)."""


def stream_function(model) -> Callable[..., dict[str, tf.Tensor]]:
  """The `stream` computation of `model` (an EmotionRecognitionModel): see the module doc."""
  spf = int(model.config.samples_per_frame)
  label_names = tuple(model.config.label_names)

  def stream(audio, semantic, state_h, state_c) -> dict[str, tf.Tensor]:
    target = tf.shape(semantic)[1] * spf
    audio = audio[:, :target]
    audio = tf.pad(audio, [[0, 0], [0, tf.maximum(target - tf.shape(audio)[1], 0)]])
    y, (h, c) = model.step(
      {"audio": audio, "semantic": semantic}, (state_h, state_c), training=False
    )  # [B, F, 3]
    y = tf.cast(y, tf.float32)
    out = {name: tf.identity(y[:, :, i], name=name) for i, name in enumerate(label_names)}
    out["state_h"] = tf.identity(tf.cast(h, tf.float32), name="state_h")
    out["state_c"] = tf.identity(tf.cast(c, tf.float32), name="state_c")
    return out

  return stream


def stream_input_signature(semantic_dim: int, lstm_units: int):
  """[audio [None, None], semantic [None, None, d], state_h, state_c [None, units]] float32."""
  return [
    tf.TensorSpec([None, None], tf.float32, name="audio"),
    tf.TensorSpec([None, None, int(semantic_dim)], tf.float32, name="semantic"),
    tf.TensorSpec([None, int(lstm_units)], tf.float32, name="state_h"),
    tf.TensorSpec([None, int(lstm_units)], tf.float32, name="state_c"),
  ]


class SignatureRunner:
  """The `stream` signature of a loaded SavedModel as an `inference` runner."""

  def __init__(self, signature, samples_per_frame: int, label_names: Sequence[str]):
    self._fn = signature
    self.samples_per_frame = int(samples_per_frame)
    self.label_names = tuple(label_names)
    self.lstm_units = int(signature.structured_input_signature[1]["state_h"].shape[-1])

  def initial_state(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
    zeros = np.zeros((batch, self.lstm_units), np.float32)
    return zeros, zeros.copy()

  def step(self, audio: np.ndarray, semantic: np.ndarray, state):
    """audio [B, n * spf], semantic [B, n, d], (h, c) -> (y [B, n, 3], (h, c))."""
    out = self._fn(
      audio=tf.constant(audio, tf.float32),
      semantic=tf.constant(semantic, tf.float32),
      state_h=tf.constant(state[0], tf.float32),
      state_c=tf.constant(state[1], tf.float32),
    )
    y = np.stack([out[n].numpy() for n in self.label_names], axis=-1)
    return y, (out["state_h"].numpy(), out["state_c"].numpy())


# ------------------------------------------------------------------------ audio chunk readers


def wav_blocks(
  stream: BinaryIO, block_samples: int, name: str = "<stdin>"
) -> tuple[int, Iterator[np.ndarray]]:
  """(sample rate, iterator of mono float32 blocks of `block_samples`) of a RIFF/WAVE stream
  read sequentially (no seeking: works on a pipe). PCM 16/32-bit int or 32-bit float; channels
  are averaged; the last block may be shorter.

  Raises:
    StreamInputError: naming `name` for a stream that is not a PCM/float wav.
  """
  header = _read_exactly(stream, 12)
  if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
    raise StreamInputError(f"{name}: not a RIFF/WAVE stream")
  fmt = None
  while True:
    chunk = _read_exactly(stream, 8)
    if len(chunk) < 8:
      raise StreamInputError(f"{name}: wav stream ends before its data chunk")
    kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
    if kind == b"data":
      break
    body = _read_exactly(stream, size + (size & 1))
    if kind == b"fmt ":
      fmt = struct.unpack("<HHIIHH", body[:16])
  if fmt is None:
    raise StreamInputError(f"{name}: wav stream has no fmt chunk before its data")
  tag, channels, rate, _, _, bits = fmt
  dtype = {
    (1, 16): "<i2",
    (1, 32): "<i4",
    (3, 32): "<f4",
    (0xFFFE, 16): "<i2",
    (0xFFFE, 32): "<f4",
  }.get((tag, bits))
  if dtype is None:
    raise StreamInputError(
      f"{name}: wav encoding tag {tag} with {bits} bits is not supported "
      "(16/32-bit PCM or 32-bit float)"
    )
  return rate, _blocks(stream, np.dtype(dtype), channels, block_samples)


def raw_blocks(stream: BinaryIO, block_samples: int, fmt: str = "f32") -> Iterator[np.ndarray]:
  """Mono float32 blocks of raw little-endian PCM (`fmt` 'f32' or 's16') from `stream`."""
  return _blocks(stream, RAW_FORMATS[fmt], 1, block_samples)


def _blocks(
  stream: BinaryIO, dtype: np.dtype, channels: int, block_samples: int
) -> Iterator[np.ndarray]:
  frame_bytes = dtype.itemsize * channels
  while True:
    data = _read_exactly(stream, block_samples * frame_bytes)
    usable = len(data) - len(data) % frame_bytes
    if usable <= 0:
      return
    x = np.frombuffer(data[:usable], dtype).reshape(-1, channels).astype(np.float32)
    if dtype.kind == "i":
      x /= float(2 ** (8 * dtype.itemsize - 1))
    yield x.mean(axis=1)
    if len(data) < block_samples * frame_bytes:
      return


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
  """Up to `n` bytes, fewer only at the end of the stream (pipes return short reads)."""
  parts, got = [], 0
  while got < n:
    part = stream.read(n - got)
    if not part:
      break
    parts.append(part)
    got += len(part)
  return b"".join(parts)


def stream_predictions(
  runner, blocks: Iterator[np.ndarray], semantic_at: Callable[[int, int], np.ndarray]
) -> Iterator[tuple[int, np.ndarray]]:
  """(first frame index, y [n, 3]) per chunk of a live stream, the LSTM state carried.

  Args:
    runner: `inference.runner_for(...)` of the model (an export's `stream` signature).
    blocks: mono float32 sample blocks at the model's rate, any lengths; samples are
      buffered until whole 0.1 s frames are available (a trailing partial frame is dropped).
    semantic_at: (start, end) frame range -> semantic float32 [end - start, d].

  With annotation-delay compensation (`label_delay_frames` d > 0 on the runner) the rows of
  frame t are emitted once frame t + d has been heard (a latency of d frames), and the last d
  frames repeat the last output when the stream ends, so the rows equal `predict_frames` of
  the whole recording (`models.delay_compensate`).
  """
  spf = runner.samples_per_frame
  delay = int(getattr(runner, "label_delay_frames", 0))
  state = runner.initial_state(1)
  buffered = np.zeros(0, np.float32)
  frame = 0  # frames heard
  emitted = 0  # frames whose rows were yielded
  last = None
  for block in blocks:
    buffered = np.concatenate([buffered, block])
    n = buffered.shape[0] // spf
    if n == 0:
      continue
    audio, buffered = buffered[: n * spf], buffered[n * spf :]
    y, state = runner.step(audio[None], semantic_at(frame, frame + n)[None], state)
    frame += n
    last = y[0, -1:]
    # Output of frame f is the row of frame f - d: rows [frame - n - d, frame - d) are ready.
    rows = y[0, max(0, emitted + delay - (frame - n)) :]
    if rows.shape[0]:
      yield emitted, rows
      emitted += rows.shape[0]
  if delay and last is not None and emitted < frame:
    yield emitted, np.repeat(last, frame - emitted, axis=0)


def write_rows(out, name: str, first_frame: int, y: np.ndarray, hop_seconds: float) -> None:
  """Writes the CSV rows of frames first_frame.. (`prediction_csv.format_rows`) and flushes."""
  from emotion_tf.serving import prediction_csv

  out.write(prediction_csv.format_rows(name, y, hop_seconds, first_frame))
  out.flush()


def stdin_binary() -> BinaryIO | None:
  return getattr(sys.stdin, "buffer", None)


def word_semantic(
  timings, words, vectors, hop_seconds: float, oov: str = "zeros"
) -> Callable[[int, int], np.ndarray]:
  """(start, end) -> semantic [end - start, d] of a stream with known word timings: frame k
  gets the word at its centre, by `frames.semantic_frames` (zeros past the last word)."""
  from emotion_tf.data import frames as frames_lib

  dim = int(np.asarray(vectors).shape[1])
  last = max((t.end for t in timings), default=0.0)
  known = int(np.ceil(last / hop_seconds)) + 1
  table, _ = frames_lib.semantic_frames(timings, known, words, vectors, hop_seconds, oov)

  def semantic_at(start: int, end: int) -> np.ndarray:
    out = np.zeros((end - start, dim), np.float32)
    part = table[start : min(end, known)]
    out[: part.shape[0]] = part
    return out

  return semantic_at


def open_blocks(
  audio: str, sample_rate: int, block_samples: int, fmt: str = "wav"
) -> Iterator[np.ndarray]:
  """Mono float32 blocks at `sample_rate` of a wav file or of stdin (`audio` '-': a wav
  stream, or raw PCM with `fmt` 'f32' / 's16' at `sample_rate`).

  A wav file at another rate is decoded and resampled whole (`corpus.load_audio`) before it is
  cut into blocks; a stream at another rate is refused.

  Raises:
    StreamInputError: naming the input for an unreadable stream or a stream at another rate.
  """
  if audio == "-":
    stdin = stdin_binary()
    if stdin is None:
      raise StreamInputError("<stdin>: no binary standard input")
    if fmt in RAW_FORMATS:
      return raw_blocks(stdin, block_samples, fmt)
    rate, blocks = wav_blocks(stdin, block_samples)
    if rate != sample_rate:
      raise StreamInputError(
        f"<stdin>: wav stream at {rate} Hz; --stream from stdin needs the "
        f"model's rate {sample_rate} Hz (resample before piping)"
      )
    return blocks
  with open(audio, "rb") as f:
    head = f.read(12)
  if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
    f = open(audio, "rb")  # noqa: SIM115  (the generator closes it, `_closing`)
    rate, blocks = wav_blocks(f, block_samples, audio)
    if rate == sample_rate:
      return _closing(f, blocks)
    f.close()
  from emotion_tf.data import corpus

  whole = corpus.load_audio(audio, sample_rate)
  return iter([whole[i : i + block_samples] for i in range(0, whole.shape[0], block_samples)])


def _closing(f: BinaryIO, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
  try:
    yield from blocks
  finally:
    f.close()


def run_stream(
  predictor,
  audio: str,
  out,
  name: str,
  timings=None,
  embeddings=None,
  oov: str = "zeros",
  fmt: str = "wav",
  chunk_seconds: float = 1.0,
  header: bool = False,
) -> dict[str, float]:
  """`predict --stream`: predicts `audio` (a wav path, or '-' for stdin) chunk by chunk through
  the export's `stream` signature and writes each chunk's CSV rows to `out` as soon as they
  are computed (flushed).

  Args:
    predictor: a `predict_api.Predictor` (the loaded export and its embedding spaces).
    timings: word timings (known up front) or None = no words; embeddings: as
      `Predictor.embedding_space` (needed with timings).
    chunk_seconds: audio per model step (whole 0.1 s frames; 1.0 s = 10 frames).
  Returns:
    {'frames', 'seconds', 'chunks'}.
  Raises:
    StreamInputError: for an export without a `stream` signature, an export whose semantic
      input comes from its speech frontend (it segments whole recordings) without embeddings,
      or an unreadable stream.
  """
  model = predictor.model
  if not getattr(model, "has_stream", False):
    raise StreamInputError(
      f"{model.export_dir}: export has no 'stream' signature (written "
      "before it existed); re-export it with `python -m emotion_tf.export`"
    )
  if embeddings is None and predictor.frontend is not None:
    raise StreamInputError(
      f"{model.export_dir}: the export's speech frontend segments whole "
      "recordings; --stream needs --word_timings and --embeddings (or "
      "predict without --stream)"
    )
  words, vectors = predictor.embedding_space(embeddings)
  semantic_at = word_semantic(timings or [], words, vectors, model.hop_seconds, oov)
  frames_per_chunk = max(1, int(round(chunk_seconds / model.hop_seconds)))
  blocks = open_blocks(audio, model.sample_rate, frames_per_chunk * model.samples_per_frame, fmt)
  if header:
    from emotion_tf.serving import prediction_csv

    out.write(prediction_csv.header_line(model.label_names))
  frames = chunks = 0
  for first, y in stream_predictions(model, blocks, semantic_at):
    write_rows(out, name, first, y, model.hop_seconds)
    frames, chunks = first + y.shape[0], chunks + 1
  return {"frames": frames, "seconds": frames * model.hop_seconds, "chunks": chunks}
