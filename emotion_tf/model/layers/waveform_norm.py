"""Waveform normalisation in front of the paralinguistic CNN (removes level, not emotion).

The raw-waveform CNN (paper Sec. 3.2) sees the recording level, which depends on the
microphone, its distance and the room as much as on the speaker's arousal. Inside the model, so
training, evaluation, prediction and the exported SavedModel apply the same normalisation:

  sequence_rms  x / RMS(x) over the valid samples of each input sequence (a 10 s chunk in
                training, the whole recording when predicting on whole recordings); keeps the
                loudness contour within the sequence.
  frame_rms     each 0.1 s frame / its own RMS (floored): no absolute or relative level left,
                only the waveform's shape.
"""

import tensorflow as tf

WAVEFORM_NORMS = ("none", "sequence_rms", "frame_rms")
SEQUENCE_FLOOR = 1e-5  # RMS below this (digital silence) is not amplified further
FRAME_FLOOR = 1e-3  # about -60 dBFS: quiet frames are not blown up to full scale


def normalize_waveform(
  audio: tf.Tensor, num_frames, samples_per_frame: int, mode: str
) -> tf.Tensor:
  """audio [batch, frames * spf] -> same shape, normalised by `mode` (module docstring).

  num_frames: optional [batch] valid frames; padded samples do not enter the RMS and stay zero.

  Raises:
    ValueError: an unknown mode.
  """
  if mode not in WAVEFORM_NORMS:
    raise ValueError(f"waveform_norm must be one of {WAVEFORM_NORMS}, got {mode!r}")
  if mode == "none":
    return audio
  length = tf.shape(audio)[1]
  if num_frames is None:
    mask = tf.ones_like(audio)
  else:
    valid = tf.cast(tf.reshape(num_frames, [-1]), tf.int32) * samples_per_frame
    mask = tf.cast(tf.range(length)[None, :] < valid[:, None], audio.dtype)
  audio = audio * mask
  if mode == "sequence_rms":
    power = tf.reduce_sum(tf.square(audio), 1, keepdims=True) / tf.maximum(
      tf.reduce_sum(mask, 1, keepdims=True), 1.0
    )
    return audio / tf.maximum(tf.sqrt(power), SEQUENCE_FLOOR)
  frames = tf.reshape(audio, [tf.shape(audio)[0], -1, samples_per_frame])
  rms = tf.sqrt(tf.reduce_mean(tf.square(frames), 2, keepdims=True))
  return tf.reshape(frames / tf.maximum(rms, FRAME_FLOOR), tf.shape(audio))
