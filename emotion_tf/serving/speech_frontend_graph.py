"""The wav-only speech frontend as one TensorFlow graph: waveform -> per-frame semantic input.

A wav-only export (`emotion_tf.export --speech2vec_dir ... --alignment_dir ...`) computes the
model's semantic input from the audio alone (paper Sec. 1, 3.1: text only trains the semantic
extractor). This module builds that computation from TF ops only, so it can live inside the
SavedModel as the `audio_only` signature (TF Serving, `saved_model_cli run`) and so the Python
prediction path (`inference.speech_token_frames` without word timings) runs the very same
graph: there is one implementation of wav-only prediction.

Per recording x [S] float32 at the frontend's rate (S = F * samples_per_frame):

  1. segmentation (`emotion_tf.semantic.segmenter`, same steps and constants): frame log energy
     e_t = 10 log10(mean(x^2) + 1e-12) in float64 (cumulative sums, `tf.math.cumsum`); voiced
     frames e_t > floor + max(min_snr_db, threshold_ratio (peak - floor)) with floor / peak
     numpy's linear-interpolation percentiles; short pauses closed and short runs dropped;
     long runs split at the minimum of the moving-average energy plus the typical-word-length
     tie-break, all pieces of one depth at once (`tf.while_loop`) -- the recursion's result;
  2. each segment [a, b) (samples, `tokens.segment_bounds` rounding) cut to the encoder's
     `max_samples`, padded into batches of `tokens.BATCH_SIZE` rows (`tf.while_loop`);
  3. s = Speech2Vec encoder(normalised MFCCs) -- the encoder SavedModel's own `embed_waveform`
     (MFCC `tf.signal`, truncation, resampling, MFCC normaliser), called as a function;
  4. v = unit(W unit(unit(s) - mu)) (Eq. 3; `alignment.apply_normalization`, `map_vectors`,
     float64 as there), zeros for segments without an MFCC frame; with a type codebook, the
     codebook row of highest cosine (`--snap_to_types`);
  5. frame k gets the vector of the segment covering its centre (k + 0.5) * hop
     (`tokens.fill_frames`), zeros where none.

Limits: `pad_s` > 0 of the segmenter is not supported (prediction uses the default 0). Every
row of a batch is segmented over its whole length (the noise floor is a percentile of the row),
so a batch must hold recordings of equal length; pass other recordings one at a time.
"""

import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from emotion_tf.semantic import segmenter as segmenter_lib
from emotion_tf.semantic import tokens

AUDIO_ONLY_SIGNATURE_KEY = "audio_only"
_MAX_SPLIT_DEPTH = 64  # halving 2**64 frames: more than any recording


@dataclasses.dataclass(frozen=True)
class SegmenterSizes:
  """`SegmenterConfig` in frames / samples, computed by the expressions `segmenter.segment` uses.

  win / hop: energy window and hop in samples; hop_s / window_s: the same in seconds;
  min_pause, min_word, width (smoothing), max_len (split above), typical: frames.
  """

  sample_rate: int
  win: int
  hop: int
  hop_s: float
  window_s: float
  min_pause: int
  min_word: int
  width: int
  max_len: int
  typical: int
  floor_q: float
  peak_q: float
  min_snr_db: float
  threshold_ratio: float

  @classmethod
  def from_config(cls, config: segmenter_lib.SegmenterConfig) -> "SegmenterSizes":
    if config.pad_s > 0:
      raise ValueError(
        f"segmenter pad_s={config.pad_s}: the graph segmenter supports "
        "pad_s = 0 only (the prediction default)"
      )
    sr = config.sample_rate
    win = max(int(round(config.window_s * sr)), 1)
    hop = max(int(round(config.hop_s * sr)), 1)
    hop_s = hop / sr
    return cls(
      sample_rate=sr,
      win=win,
      hop=hop,
      hop_s=hop_s,
      window_s=win / sr,
      min_pause=int(round(config.min_pause_s / hop_s)),
      min_word=max(int(round(config.min_word_s / hop_s)), 1),
      width=max(int(round(config.smooth_s / hop_s)), 1),
      max_len=max(int(round(config.split_above_s / hop_s)), 1),
      typical=max(int(round(config.typical_word_s / hop_s)), 1),
      floor_q=config.floor_percentile / 100.0,
      peak_q=config.peak_percentile / 100.0,
      min_snr_db=config.min_snr_db,
      threshold_ratio=config.threshold_ratio,
    )


# ---------------------------------------------------------------------------------- segmenter


def frame_energy_db(x: tf.Tensor, sizes: SegmenterSizes) -> tf.Tensor:
  """Log energy 10 log10(mean(x^2) + 1e-12) of frames t*hop .. t*hop + win: [S] -> [T] float64.

  T = 1 + (S - win) // hop frames (0 when S < win), as `segmenter.frame_energy_db`.
  """
  x = tf.cast(tf.reshape(x, [-1]), tf.float64)
  csum = tf.concat([tf.zeros([1], tf.float64), tf.math.cumsum(x * x)], 0)  # [S + 1]
  num = tf.maximum(tf.shape(x)[0] - sizes.win + 1, 0)
  starts = tf.range(0, num, sizes.hop)  # [T]
  power = (tf.gather(csum, starts + sizes.win) - tf.gather(csum, starts)) / float(sizes.win)
  return 10.0 * tf.math.log(power + 1e-12) / np.log(10.0)


def _percentile(sorted_values: tf.Tensor, q: float) -> tf.Tensor:
  """numpy's default (linear) percentile of a sorted non-empty [T] float64 vector at q in [0, 1].

  Position q (T - 1) between order statistics lo and lo + 1, interpolated as numpy's `_lerp`
  (a + (b - a) t, or b - (b - a)(1 - t) when t >= 0.5).
  """
  n = tf.shape(sorted_values)[0]
  pos = q * tf.cast(n - 1, tf.float64)
  lo = tf.cast(tf.floor(pos), tf.int32)
  hi = tf.minimum(lo + 1, n - 1)
  t = pos - tf.cast(lo, tf.float64)
  a, b = sorted_values[lo], sorted_values[hi]
  diff = b - a
  return tf.where(t >= 0.5, b - diff * (1.0 - t), a + diff * t)


def voiced_runs(energy: tf.Tensor, sizes: SegmenterSizes):
  """Steps 2-3 of `segmenter.segment`: the kept voiced runs [start, end) of energy [T] float64.

  Returns (starts, ends), int32 [R] each, in time order.
  """
  ordered = tf.sort(energy)
  floor = _percentile(ordered, sizes.floor_q)
  peak = _percentile(ordered, sizes.peak_q)
  threshold = floor + tf.maximum(
    tf.constant(sizes.min_snr_db, tf.float64), sizes.threshold_ratio * (peak - floor)
  )
  voiced = tf.cast(energy > threshold, tf.int32)
  padded = tf.pad(voiced, [[1, 1]])
  edges = padded[1:] - padded[:-1]  # [T + 1]
  starts = tf.cast(tf.reshape(tf.where(tf.equal(edges, 1)), [-1]), tf.int32)
  ends = tf.cast(tf.reshape(tf.where(tf.equal(edges, -1)), [-1]), tf.int32)
  # A run closer than min_pause frames to the previous one continues it.
  runs = tf.size(starts)
  new_group = starts[1:] - ends[:-1] >= sizes.min_pause  # [R - 1]
  starts = tf.boolean_mask(starts, tf.concat([[True], new_group], 0)[:runs])
  ends = tf.boolean_mask(ends, tf.concat([new_group, [True]], 0)[:runs])
  keep = ends - starts >= sizes.min_word
  return tf.boolean_mask(starts, keep), tf.boolean_mask(ends, keep)


def smoothed_energy(energy: tf.Tensor, width: int) -> tf.Tensor:
  """np.convolve(energy, ones(width) / width, mode='same') for T >= width: [T] float64.

  Output i averages energy[i - width // 2 .. i - width // 2 + width - 1], zeros outside.
  """
  left = width // 2
  padded = tf.pad(energy, [[left, width - 1 - left]])
  n = tf.shape(energy)[0]
  total = tf.zeros_like(energy)
  for j in range(width):
    total += padded[j : j + n] * (1.0 / width)
  return total


def _cuts(
  starts: tf.Tensor, ends: tf.Tensor, smooth: tf.Tensor, sizes: SegmenterSizes
) -> tf.Tensor:
  """Where `segmenter._split` cuts each run [a, b): argmin over c in [a + min_word, b - min_word)
  of smooth[c] + 0.5 |((c - a) + typical / 2) mod typical - typical / 2| / typical (first
  minimum). Runs must hold at least one candidate. Returns int32 [P]."""
  lo, hi = starts + sizes.min_word, ends - sizes.min_word
  cand = tf.ragged.range(lo, hi)  # [P, (n_p)]
  rows = tf.cast(cand.value_rowids(), tf.int32)
  c = cand.flat_values
  typical = float(sizes.typical)
  offset = tf.cast(c - tf.gather(starts, rows), tf.float64)
  dist = tf.abs(tf.math.floormod(offset + typical / 2, typical) - typical / 2) / max(typical, 1.0)
  score = tf.gather(smooth, c) + 0.5 * dist
  count = tf.shape(starts)[0]
  best = tf.math.unsorted_segment_min(score, rows, count)
  first = tf.where(score == tf.gather(best, rows), c, tf.int32.max)
  return tf.math.unsorted_segment_min(first, rows, count)


def split_runs(starts: tf.Tensor, ends: tf.Tensor, smooth: tf.Tensor, sizes: SegmenterSizes):
  """Step 4: runs longer than max_len frames split at `_cuts` until none is (with at least
  2 min_word + 1 frames to split). Every run of one depth is split at once; the pieces are
  `segmenter._split`'s, in time order. Returns (starts, ends) int32 [P]."""

  def splittable(a, b):
    return (b - a > sizes.max_len) & (b - a >= 2 * sizes.min_word + 1)

  def cond(a, b):
    return tf.reduce_any(splittable(a, b))

  def body(a, b):
    split = splittable(a, b)
    cut = _cuts(tf.boolean_mask(a, split), tf.boolean_mask(b, split), smooth, sizes)
    index = tf.cumsum(tf.cast(split, tf.int32), exclusive=True)
    right_end = tf.where(
      split, tf.gather(tf.concat([cut, [0]], 0), tf.where(split, index, tf.size(cut))), b
    )
    new_a = tf.concat([a, cut], 0)
    new_b = tf.concat([right_end, tf.boolean_mask(b, split)], 0)
    order = tf.argsort(new_a, stable=True)
    return tf.gather(new_a, order), tf.gather(new_b, order)

  return tf.while_loop(
    cond,
    body,
    (starts, ends),
    maximum_iterations=_MAX_SPLIT_DEPTH,
    shape_invariants=(tf.TensorShape([None]), tf.TensorShape([None])),
  )


def segment(x: tf.Tensor, sizes: SegmenterSizes) -> tf.Tensor:
  """Word-like segments of one recording (`segmenter.segment` with pad_s = 0).

  Args:
    x: [S] float32 mono at `sizes.sample_rate`.
  Returns:
    [n, 2] float64 (start, end) seconds in time order, non-overlapping, end > start.
  """
  energy = frame_energy_db(x, sizes)
  num = tf.shape(energy)[0]

  def runs():
    starts, ends = voiced_runs(energy, sizes)
    # np.convolve 'same' is as long as the longer input; shorter energies have no kept run.
    smooth = smoothed_energy(tf.pad(energy, [[0, tf.maximum(sizes.width - num, 0)]]), sizes.width)
    return split_runs(starts, ends, smooth, sizes)

  empty = tf.zeros([0], tf.int32)
  starts, ends = tf.cond(num > 0, runs, lambda: (empty, empty))
  total = tf.cast(tf.size(x), tf.float64) / float(sizes.sample_rate)
  # A run [a, b) of frames spans a*hop .. (b-1)*hop + window seconds.
  start = tf.cast(starts, tf.float64) * sizes.hop_s
  end = tf.minimum(tf.cast(ends - 1, tf.float64) * sizes.hop_s + sizes.window_s, total)
  previous_end = tf.concat([tf.constant([-np.inf], tf.float64), end[:-1]], 0)
  start = tf.where(start < previous_end, previous_end, start)
  keep = end > start
  return tf.stack([tf.boolean_mask(start, keep), tf.boolean_mask(end, keep)], axis=1)


# --------------------------------------------------------------------------- tokens and frames


def segment_sample_bounds(
  segments: tf.Tensor, num_samples: tf.Tensor, sample_rate: int
) -> tf.Tensor:
  """`tokens.segment_bounds`: [n, 2] float64 seconds -> [n, 2] int32 samples (a, b), a =
  round(start sr), b = round(end sr) (half to even, as Python's round), clipped to
  0 <= a <= b <= num_samples."""
  rounded = tf.cast(tf.round(segments * float(sample_rate)), tf.int32)
  a = tf.clip_by_value(rounded[:, 0], 0, num_samples)
  b = tf.clip_by_value(rounded[:, 1], a, num_samples)
  return tf.stack([a, b], axis=1)


def _unit(x: tf.Tensor) -> tf.Tensor:
  """Rows of x [n, d] divided by max(||row||, 1e-12) (`alignment._unit`)."""
  return x / tf.maximum(tf.sqrt(tf.reduce_sum(x * x, axis=1, keepdims=True)), 1e-12)


def fill_frames(
  segments: tf.Tensor, vectors: tf.Tensor, num_frames: tf.Tensor, hop_seconds: float
) -> tf.Tensor:
  """`tokens.fill_frames` for segments in time order that do not overlap (as `segment` gives):
  frame k takes the vector of the segment with start <= (k + 0.5) * hop < end, zeros where
  none (the latest such segment if several).

  Args:
    segments: [n, 2] float64 seconds; vectors: [n, d] float32; num_frames: F.
  Returns:
    [F, d] float32.
  """
  centres = (tf.cast(tf.range(num_frames), tf.float64) + 0.5) * hop_seconds  # [F]
  cover = (centres[:, tf.newaxis] >= segments[tf.newaxis, :, 0]) & (
    centres[:, tf.newaxis] < segments[tf.newaxis, :, 1]
  )  # [F, n]
  n = tf.shape(segments)[0]
  candidates = tf.where(cover, tf.range(n)[tf.newaxis, :], -1)  # [F, n]
  index = tf.reduce_max(tf.concat([candidates, -tf.ones([num_frames, 1], tf.int32)], 1), axis=1)
  padded = tf.concat([vectors, tf.zeros([1, tf.shape(vectors)[1]], vectors.dtype)], 0)
  return tf.gather(padded, tf.where(index < 0, n, index))


class SpeechFrontendGraph(tf.Module):
  """A loaded `tokens.SemanticFrontend` as TF state and one traced function.

  Attributes (saved with an export that tracks this module): `encoder` (the restored Speech2Vec
  encoder SavedModel), `alignment_w` [d_t, d_s], `speech_mean` [d_s], `unit_codebook` /
  `codebook` [V, d_t] (snap_to_types only), all non-trainable.
  `semantic_frames(audio [S] float32, num_frames [] int32)` -> (semantic [F, d_t] float32,
  segments [n, 2] float64 seconds).
  """

  def __init__(
    self,
    frontend: tokens.SemanticFrontend,
    hop_seconds: float,
    segmenter_config: segmenter_lib.SegmenterConfig | None = None,
  ):
    super().__init__(name="speech_frontend")
    config = segmenter_config or segmenter_lib.SegmenterConfig(sample_rate=frontend.sample_rate)
    if config.sample_rate != frontend.sample_rate:
      raise ValueError(
        f"{frontend.source}: segmenter at {config.sample_rate} Hz, encoder at "
        f"{frontend.sample_rate} Hz"
      )
    self.sizes = SegmenterSizes.from_config(config)
    self.hop_seconds = float(hop_seconds)
    self.sample_rate = int(frontend.sample_rate)
    self.max_samples = int(frontend.max_samples)
    self.dim = int(frontend.dim)
    self.encoder = frontend._module
    self._embed_fn = frontend.embed_fn
    self.alignment_w = tf.Variable(
      np.asarray(frontend.w, np.float64), trainable=False, name="alignment_w"
    )
    self.speech_mean = tf.Variable(
      np.asarray(frontend.speech_mean, np.float64), trainable=False, name="speech_mean"
    )
    self.codebook = self.unit_codebook = None
    if frontend.codebook is not None:
      book = np.asarray(frontend.codebook, np.float32)
      unit = book / np.maximum(np.linalg.norm(book, axis=1, keepdims=True), 1e-12)
      self.codebook = tf.Variable(book, trainable=False, name="codebook")
      self.unit_codebook = tf.Variable(unit, trainable=False, name="unit_codebook")
    self.semantic_frames = tf.function(
      self._semantic_frames,
      input_signature=[
        tf.TensorSpec([None], tf.float32, name="audio"),
        tf.TensorSpec([], tf.int32, name="num_frames"),
      ],
    )

  def _embed(self, x: tf.Tensor, bounds: tf.Tensor):
    """Encoder embeddings of segments [a, b) of x [S], cut to max_samples, in batches of
    `tokens.BATCH_SIZE` padded to their longest segment (`tokens.token_vectors`).
    Returns (embeddings [n, d_s] float32, MFCC frames [n] int32)."""
    lengths = tf.minimum(bounds[:, 1] - bounds[:, 0], self.max_samples)  # [n]
    n = tf.shape(bounds)[0]
    last = tf.maximum(tf.size(x) - 1, 0)
    x = tf.pad(x, [[0, 1]])  # a gather target even for empty audio

    def body(i, embeddings, frames):
      lo = i * tokens.BATCH_SIZE
      hi = tf.minimum(lo + tokens.BATCH_SIZE, n)
      length = lengths[lo:hi]
      width = tf.maximum(tf.reduce_max(tf.concat([length, [1]], 0)), 1)
      offsets = tf.range(width)[tf.newaxis, :]
      index = tf.minimum(bounds[lo:hi, 0][:, tf.newaxis] + offsets, last)
      batch = tf.where(offsets < length[:, tf.newaxis], tf.gather(x, index), 0.0)
      res = self._embed_fn(waveforms=batch, lengths=length)
      return (
        i + 1,
        embeddings.write(i, res["embedding"]),
        frames.write(i, tf.cast(res["num_frames"], tf.int32)),
      )

    steps = (n + tokens.BATCH_SIZE - 1) // tokens.BATCH_SIZE
    d_s = int(self.alignment_w.shape[1])
    _, embeddings, frames = tf.while_loop(
      lambda i, *_: i < steps,
      body,
      (
        0,
        tf.TensorArray(
          tf.float32, size=steps, infer_shape=False, element_shape=tf.TensorShape([None, d_s])
        ),
        tf.TensorArray(
          tf.int32, size=steps, infer_shape=False, element_shape=tf.TensorShape([None])
        ),
      ),
    )
    return (tf.reshape(embeddings.concat(), [-1, d_s]), tf.reshape(frames.concat(), [-1]))

  def token_vectors(self, x: tf.Tensor, segments: tf.Tensor) -> tf.Tensor:
    """`tokens.token_vectors`: [n, d_t] float32 unit(W unit(unit(s) - mu)) per segment
    (Eq. 3), zeros without an MFCC frame; snapped to the codebook row of highest cosine."""
    bounds = segment_sample_bounds(segments, tf.size(x), self.sample_rate)
    embeddings, frames = self._embed(x, bounds)
    centred = tf.cast(_unit(_unit(tf.cast(embeddings, tf.float64)) - self.speech_mean), tf.float32)
    vectors = tf.cast(
      _unit(tf.matmul(tf.cast(centred, tf.float64), self.alignment_w, transpose_b=True)), tf.float32
    )  # [n, d_t]
    if self.codebook is not None:
      nearest = tf.argmax(tf.matmul(vectors, self.unit_codebook, transpose_b=True), axis=1)
      vectors = tf.gather(self.codebook, nearest)
    return tf.where((frames > 0)[:, tf.newaxis], vectors, tf.zeros_like(vectors))

  def _semantic_frames(self, audio: tf.Tensor, num_frames: tf.Tensor):
    segments = segment(audio, self.sizes)  # [n, 2]
    vectors = self.token_vectors(audio, segments)  # [n, d_t]
    return fill_frames(segments, vectors, num_frames, self.hop_seconds), segments


def frontend_graph(frontend: tokens.SemanticFrontend, hop_seconds: float) -> SpeechFrontendGraph:
  """The `SpeechFrontendGraph` of a loaded frontend, built once per hop and kept on it."""
  key = float(hop_seconds)
  if key not in frontend.graphs:
    frontend.graphs[key] = SpeechFrontendGraph(frontend, key)
  return frontend.graphs[key]


def audio_only_function(
  serve: Callable[..., dict[str, tf.Tensor]], graph: SpeechFrontendGraph, samples_per_frame: int
) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
  """The `audio_only` computation: audio [B, S] -> {label: [B, F], 'semantic': [B, F, d]}.

  F = S // samples_per_frame whole frames; the audio is cut to F * samples_per_frame samples
  (as `predict` cuts a wav), each row gets `graph.semantic_frames`, and `serve` (the
  `serving_default` computation, `export_lib.serving_function`) runs on (audio, semantic).
  """
  spf = int(samples_per_frame)

  def audio_only(audio: tf.Tensor) -> dict[str, tf.Tensor]:
    frames = tf.shape(audio)[1] // spf
    fitted = audio[:, : frames * spf]  # [B, F * spf]
    semantic = tf.map_fn(
      lambda row: graph.semantic_frames(row, frames)[0],
      fitted,
      fn_output_signature=tf.TensorSpec([None, graph.dim], tf.float32),
    )
    out = dict(serve(fitted, semantic))
    out["semantic"] = tf.identity(semantic, name="semantic")
    return out

  return audio_only


def audio_only_input_signature():
  """[audio [None, None] float32]."""
  return [tf.TensorSpec([None, None], tf.float32, name="audio")]


def add_audio_only_endpoint(
  archive,
  serve: Callable[..., dict[str, tf.Tensor]],
  frontend: tokens.SemanticFrontend,
  sample_rate: int,
  samples_per_frame: int,
  semantic_dim: int,
) -> SpeechFrontendGraph:
  """Registers the `audio_only` signature on a `keras.export.ExportArchive`.

  Args:
    archive: the ExportArchive being written; serve: `export_lib.serving_function(model)`.
    frontend: the loaded frontend (`tokens.load_frontend_dirs`); sample_rate,
      samples_per_frame, semantic_dim: the model's.
  Returns:
    the `SpeechFrontendGraph`; the caller keeps it on the archive's saved object so its
    variables and the encoder are saved.
  Raises:
    tokens.FrontendError: naming the encoder when its rate or W's dimension differ from the
      model's.
  """
  if int(frontend.sample_rate) != int(sample_rate) or frontend.dim != int(semantic_dim):
    raise tokens.FrontendError(
      f"{frontend.source}: the frontend takes {frontend.sample_rate} Hz audio and gives "
      f"{frontend.dim}-d vectors; the model takes {sample_rate} Hz and {semantic_dim}-d"
    )
  graph = SpeechFrontendGraph(frontend, samples_per_frame / float(sample_rate))
  archive.add_endpoint(
    AUDIO_ONLY_SIGNATURE_KEY,
    audio_only_function(serve, graph, samples_per_frame),
    input_signature=audio_only_input_signature(),
  )
  return graph


def audio_only_record(
  speech2vec_dir: str, alignment_dir: str, snap_to_types: bool = False
) -> dict[str, object]:
  """What the export's metadata records of its `audio_only` signature (source.audio_only):
  {'signature', 'bundle_sha256' (`tokens.bundle_sha256` of the frontend files),
  'snap_to_types'}. Raises tokens.FrontendError naming a missing frontend file."""
  files = tokens.frontend_files(speech2vec_dir, alignment_dir, snap_to_types)
  return {
    "signature": AUDIO_ONLY_SIGNATURE_KEY,
    "bundle_sha256": tokens.bundle_sha256(tokens.files_sha256(files)),
    "snap_to_types": bool(snap_to_types),
  }
