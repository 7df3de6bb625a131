"""The paper's model and its ablation variants (Sec. 3, Fig. 1).

  audio [B, F*2205] --ParalinguisticCNN--> x_p [B, F, 1000] --.
                                                               fusion -> LSTM(256) -> Dense(3)+tanh
  semantic [B, F, d_s] ----------------------------> x_s -----'      -> [B, F, 3]

Variants (`ModelConfig.variant`):
  * 'paralinguistic': x = x_p                         (Table 2, "Paralinguistic")
  * 'semantic': x = x_s                               (Table 2, Word2Vec / Speech2Vec rows)
  * 'concat': x = [x_s, x_p]                          (Sec. 3.3, Table 3)
  * 'disentangled_attention': Eq. 4-7                 (Sec. 3.3, Table 3); with
    `paralinguistic_skip` x = [Eq. 4-7, W_p x_p + b_p] (not in the paper)

Options for the authors' TF1 graph (flags/original_code.json; BUILD.md "Paper, original code and
our defaults"): `cnn_mode='flat_stream'`, ReLU fusion layers of other sizes
(`fusion_projection_activation`, `fusion_dimension_units`, `fusion_dimension_activation`), a
peephole LSTM with cell clipping (`lstm_cell='peephole'`), `lstm_output_dropout`, and
interlocutor-aware frames (`interlocutor_frames`: 'audio' is [B, F*2*2205], packed by the reader
from the shards' subject_turn). The defaults are the paper's model.
"""

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from emotion_tf import LABEL_NAMES, SAMPLE_RATE, SAMPLES_PER_FRAME
from emotion_tf.model.layers import ConcatFusion, DisentangledAttentionFusion, ParalinguisticCNN
from emotion_tf.model.layers.paralinguistic import CNN_MODES
from emotion_tf.model.layers.peephole_lstm import peephole_lstm
from emotion_tf.model.layers.waveform_norm import WAVEFORM_NORMS, normalize_waveform
from emotion_tf.util import config as config_lib

VARIANTS = ("paralinguistic", "semantic", "concat", "disentangled_attention")
LSTM_CELLS = ("keras", "peephole")
ACTIVATIONS = ("linear", "relu")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Hyperparameters of the model; defaults are the paper's (Sec. 3, 5.1).

  Where the paper is silent: `fusion_units` (d_u of Eq. 4) = 256, the LSTM size.
  """

  variant: str = config_lib.field(
    "disentangled_attention",
    "Model variant: paralinguistic, semantic, concat or disentangled_attention.",
    choices=VARIANTS,
  )
  semantic_dim: int = config_lib.field(100, "Semantic vector dimension d_s.", flag=False)
  sample_rate: int = config_lib.field(SAMPLE_RATE, "Audio sample rate (Hz).", flag=False)
  samples_per_frame: int = config_lib.field(
    SAMPLES_PER_FRAME, "Samples per 0.1 s frame.", flag=False
  )
  cnn_filters: tuple[int, ...] = config_lib.field(
    (50, 125, 125), "CNN filters per layer.", flag=False
  )
  cnn_kernel_sizes: tuple[int, ...] = config_lib.field((8, 6, 6), "CNN kernel sizes.", flag=False)
  cnn_pool_sizes: tuple[int, ...] = config_lib.field((10, 5, 5), "CNN max-pool sizes.", flag=False)
  fusion_units: int = config_lib.field(
    256, "d_u of the disentangled attention (Eq. 4).", lower_bound=1
  )
  lstm_units: int = config_lib.field(256, "LSTM units.", lower_bound=1)
  dropout: float = config_lib.field(
    0.5, "Dropout of the non-recurrent layers.", lower_bound=0.0, upper_bound=0.99
  )
  lstm_dropout: float = config_lib.field(
    0.5, "Dropout on the LSTM inputs.", lower_bound=0.0, upper_bound=0.99
  )
  # Options of the authors' TF1 graph (flags/original_code.json); defaults = the paper's model.
  cnn_mode: str = config_lib.field(
    "per_frame",
    "per_frame: the CNN sees each 0.1 s frame alone (Table 1); flat_stream: one "
    "stream over the whole sequence, as the original code.",
    choices=CNN_MODES,
    flag=False,
  )
  fusion_projection_activation: str = config_lib.field(
    "linear",
    "Activation of the Eq. 4 projections (original code: relu).",
    choices=ACTIVATIONS,
    flag=False,
  )
  fusion_dimension_units: int = config_lib.field(
    0,
    "Units of the three Eq. 6 layers (0 = fusion_units; original code: 512).",
    lower_bound=0,
    flag=False,
  )
  fusion_dimension_activation: str = config_lib.field(
    "linear",
    "Activation of the three Eq. 6 layers (original code: relu).",
    choices=ACTIVATIONS,
    flag=False,
  )
  lstm_cell: str = config_lib.field(
    "keras",
    "keras: cuDNN-eligible keras LSTM; peephole: TF1 LSTMCell with peepholes and "
    "cell clipping (original code; not cuDNN-eligible).",
    choices=LSTM_CELLS,
    flag=False,
  )
  lstm_cell_clip: float = config_lib.field(
    100.0, "Cell clip of the peephole LSTM (0 = off).", lower_bound=0.0, flag=False
  )
  lstm_output_dropout: float = config_lib.field(
    -1.0, "Dropout on the LSTM outputs (-1 = the value of dropout; original code: 0).", flag=False
  )
  interlocutor_frames: bool = config_lib.field(
    False,
    "Interlocutor-aware frames (original code): each frame is 2 x samples_per_frame "
    "samples, its audio in the first half inside a subject turn (turns/), else in the "
    "second; needs TFRecords with the subject_turn feature.",
  )
  waveform_norm: str = config_lib.field(
    "none",
    "Normalisation of the waveform in front of the CNN, inside the model "
    "(emotion_tf.model.layers.waveform_norm): sequence_rms = divide by the RMS of the input "
    "sequence's valid samples (chunk in training, recording in prediction), frame_rms = each "
    "0.1 s frame by its own RMS.",
    choices=WAVEFORM_NORMS,
  )
  paralinguistic_skip: bool = config_lib.field(
    False,
    "Disentangled attention only (not in the paper): the LSTM reads [x_fusion, x~_p], the "
    "Eq. 4 projection of the CNN features beside the fusion output, so the attentions "
    "cannot dilute prosody (DisentangledAttentionFusion).",
  )
  label_delay_frames: int = config_lib.field(
    0,
    "Annotation-delay compensation (frames of 0.1 s): the LSTM output at frame t is trained "
    "to predict the label of frame t - d and served as the prediction of frame t - d, so the "
    "unidirectional model hears d frames past the frame it rates (`delay_compensate`; "
    "0 = the paper's model).",
    lower_bound=0,
  )
  label_names: tuple[str, ...] = LABEL_NAMES

  def __post_init__(self):
    if self.variant not in VARIANTS:
      raise ValueError(
        f"unknown model variant {self.variant!r}; expected one of {', '.join(VARIANTS)}"
      )
    for name in ("cnn_filters", "cnn_kernel_sizes", "cnn_pool_sizes", "label_names"):
      object.__setattr__(self, name, tuple(getattr(self, name)))
    for name in ("semantic_dim", "sample_rate", "samples_per_frame", "fusion_units", "lstm_units"):
      if int(getattr(self, name)) <= 0:
        raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
    for name in ("dropout", "lstm_dropout"):
      if not 0.0 <= float(getattr(self, name)) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
    if self.lstm_output_dropout != -1.0 and not 0.0 <= self.lstm_output_dropout < 1.0:
      raise ValueError(
        f"lstm_output_dropout must be -1 or in [0, 1), got {self.lstm_output_dropout}"
      )
    for name, allowed in (
      ("cnn_mode", CNN_MODES),
      ("lstm_cell", LSTM_CELLS),
      ("fusion_projection_activation", ACTIVATIONS),
      ("fusion_dimension_activation", ACTIVATIONS),
      ("waveform_norm", WAVEFORM_NORMS),
    ):
      if getattr(self, name) not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
    if self.paralinguistic_skip and self.variant != "disentangled_attention":
      raise ValueError(
        f"paralinguistic_skip needs variant 'disentangled_attention' (the other variants "
        f"feed the CNN features to the LSTM directly), got {self.variant!r}"
      )
    if int(self.label_delay_frames) < 0:
      raise ValueError(f"label_delay_frames must be >= 0, got {self.label_delay_frames}")
    object.__setattr__(self, "label_delay_frames", int(self.label_delay_frames))
    if self.fusion_dimension_units < 0:
      raise ValueError(f"fusion_dimension_units must be >= 0, got {self.fusion_dimension_units}")
    if not self.label_names:
      raise ValueError("label_names must not be empty")

  @property
  def num_outputs(self) -> int:
    return len(self.label_names)

  @property
  def input_samples_per_frame(self) -> int:
    """Samples of one frame of the model's 'audio' input: 2 x samples_per_frame with
    interlocutor-aware frames (subject half, partner half), else samples_per_frame."""
    return self.samples_per_frame * (2 if self.interlocutor_frames else 1)

  @property
  def uses_audio(self) -> bool:
    return self.variant != "semantic"

  @property
  def uses_semantic(self) -> bool:
    return self.variant != "paralinguistic"

  def to_dict(self) -> dict[str, Any]:
    d = dataclasses.asdict(self)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, d: Mapping[str, Any]) -> "ModelConfig":
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
      raise ValueError(f"unknown ModelConfig fields {unknown}; known: {sorted(known)}")
    return cls(**dict(d))

  @classmethod
  def from_json(cls, text: str) -> "ModelConfig":
    return cls.from_dict(json.loads(text))

  def replace(self, **changes) -> "ModelConfig":
    return dataclasses.replace(self, **changes)


@keras.saving.register_keras_serializable(package="emotion_tf")
class EmotionRecognitionModel(keras.Model):
  """Semantic + paralinguistic emotion model (Fig. 1).

  Inputs (a dict):
    'audio':      [batch, frames * samples_per_frame] float32 raw waveform
                  (not needed by the 'semantic' variant);
    'semantic':   [batch, frames, semantic_dim] float32 word vectors per frame
                  (not needed by the 'paralinguistic' variant);
    'num_frames': optional [batch] int, valid frames per sequence; outputs of
                  padded frames are set to 0.
  Output: [batch, frames, 3] in (-1, 1): arousal, valence, liking.

  With `label_delay_frames` d > 0 the output of frame t is the LSTM output of frame t + d
  (`delay_compensate`; the last d valid frames repeat the last one), and `step` returns the
  LSTM outputs undelayed (the stream consumers compensate, `serving.inference`).

  Any number of frames works (train on 100-frame chunks, infer on whole
  recordings). The LSTM is unidirectional and padding is at the end, so padded
  frames never change the outputs of valid frames. The LSTM keeps the cuDNN
  defaults (tanh/sigmoid, no recurrent dropout); its dropout is applied to its
  inputs and outputs (Sec. 5.1).
  """

  def __init__(self, config=None, **kwargs):
    super().__init__(**kwargs)
    if config is None:
      config = ModelConfig()
    elif isinstance(config, Mapping):
      config = ModelConfig.from_dict(config)
    self.config = config
    c = config
    self.cnn = None
    self.fusion = None
    if c.uses_audio:
      self.cnn = ParalinguisticCNN(
        c.input_samples_per_frame,
        c.cnn_filters,
        c.cnn_kernel_sizes,
        c.cnn_pool_sizes,
        dropout=c.dropout,
        mode=c.cnn_mode,
        name="paralinguistic_cnn",
      )
      self.cnn.build((None, None))
    if c.variant == "paralinguistic":
      feature_dim = self.cnn.output_dim
    elif c.variant == "semantic":
      feature_dim = c.semantic_dim
    elif c.variant == "concat":
      self.fusion = ConcatFusion(name="concat_fusion")
      feature_dim = c.semantic_dim + self.cnn.output_dim
    else:
      self.fusion = DisentangledAttentionFusion(
        c.fusion_units,
        dimension_units=c.fusion_dimension_units,
        dimension_activation=c.fusion_dimension_activation,
        projection_activation=c.fusion_projection_activation,
        paralinguistic_skip=c.paralinguistic_skip,
        name="disentangled_attention_fusion",
      )
      self.fusion.build([(None, None, c.semantic_dim), (None, None, self.cnn.output_dim)])
      feature_dim = self.fusion.output_dim
    self.feature_dim = feature_dim
    self.input_dropout = keras.layers.Dropout(c.lstm_dropout, name="lstm_input_dropout")
    if c.lstm_cell == "peephole":
      self.lstm = peephole_lstm(c.lstm_units, cell_clip=c.lstm_cell_clip, name="lstm")
    else:
      self.lstm = keras.layers.LSTM(c.lstm_units, return_sequences=True, name="lstm")
    self.lstm.build((None, None, feature_dim))
    output_dropout = c.dropout if c.lstm_output_dropout == -1.0 else c.lstm_output_dropout
    self.output_dropout = keras.layers.Dropout(output_dropout, name="lstm_output_dropout")
    self.head = keras.layers.Dense(c.num_outputs, activation="tanh", name="prediction")
    self.head.build((None, None, c.lstm_units))
    self.built = True

  def _validate(self, inputs) -> None:
    c = self.config
    if not isinstance(inputs, Mapping):
      raise ValueError(
        f"model inputs must be a dict with keys 'audio'/'semantic'/'num_frames', "
        f"got {type(inputs).__name__}"
      )
    needed = (["audio"] if c.uses_audio else []) + (["semantic"] if c.uses_semantic else [])
    missing = [k for k in needed if k not in inputs]
    if missing:
      raise ValueError(f"variant {c.variant!r} needs inputs {needed}; missing {missing}")
    frames_audio = frames_sem = None
    if c.uses_audio:
      shape = inputs["audio"].shape
      if len(shape) != 2:
        raise ValueError(f"'audio' must be [batch, samples], got shape {tuple(shape)}")
      spf = c.input_samples_per_frame
      if shape[-1] is not None:
        if shape[-1] % spf:
          raise ValueError(
            f"'audio' length must be a multiple of {spf} samples "
            f"(0.1 s frames at {c.sample_rate} Hz), got {shape[-1]} samples"
          )
        frames_audio = shape[-1] // spf
    if c.uses_semantic:
      shape = inputs["semantic"].shape
      if len(shape) != 3:
        raise ValueError(
          f"'semantic' must be [batch, frames, {c.semantic_dim}], got shape {tuple(shape)}"
        )
      if shape[-1] is not None and shape[-1] != c.semantic_dim:
        raise ValueError(f"'semantic' dimension: expected {c.semantic_dim}, got {shape[-1]}")
      frames_sem = shape[1]
    if frames_audio is not None and frames_sem is not None and frames_audio != frames_sem:
      raise ValueError(
        f"frame counts differ: 'audio' has {frames_audio} frames "
        f"({frames_audio * c.input_samples_per_frame} samples) but 'semantic' has "
        f"{frames_sem}"
      )

  def call(self, inputs, training=None):
    x = self.lstm_inputs(inputs, training=training)  # [B, F, feature_dim]
    h = self.lstm(x, training=training)  # [B, F, lstm_units]
    h = self.output_dropout(h, training=training)
    y = self.head(h)  # [B, F, 3]
    num_frames = inputs.get("num_frames") if isinstance(inputs, Mapping) else None
    y = delay_compensate(y, self.config.label_delay_frames, num_frames)
    if num_frames is not None:
      mask = tf.sequence_mask(tf.reshape(num_frames, [-1]), tf.shape(y)[1], dtype=y.dtype)
      y = y * mask[:, :, None]
    return y

  def initial_state(self, batch_size) -> tuple[tf.Tensor, tf.Tensor]:
    """The LSTM state before the first frame: zeros (h [B, lstm_units], c [B, lstm_units])."""
    zeros = tf.zeros([batch_size, self.config.lstm_units], self.compute_dtype)
    return zeros, tf.identity(zeros)

  def step(self, inputs, state, training=False):
    """One chunk of a longer sequence: (inputs of F frames, LSTM state) -> (y, new state).

    Args:
      inputs: as `call` ('audio' [B, F * input_samples_per_frame], 'semantic' [B, F, d]);
        'num_frames' is ignored (a chunk is all valid frames).
      state: (h [B, lstm_units], c [B, lstm_units]) after the previous chunk, or
        `initial_state(B)` at the start of a recording.
    Returns:
      (y [B, F, 3], (h, c) after the chunk's last frame). y is the LSTM output of each frame,
      not delay-compensated (`label_delay_frames`): the caller shifts the stitched stream.

    The CNN (per_frame mode) and the fusion are per frame and the LSTM is the only recurrence,
    so running a recording's chunks in order, each from the state the previous one left, gives
    `call` on the whole recording (up to float rounding). In `cnn_mode='flat_stream'` the
    convolutions see only the chunk (zero-padded at its edges, as in training on 10 s chunks).
    """
    x = self.lstm_inputs(inputs, training=training)  # [B, F, feature_dim]
    state = [tf.cast(s, self.lstm.cell.compute_dtype) for s in state]
    _, h, new_state = self.lstm.inner_loop(
      sequences=x, initial_state=state, mask=None, training=training
    )  # h [B, F, lstm_units]
    h = self.output_dropout(tf.cast(h, self.compute_dtype), training=training)
    return self.head(h), tuple(tf.cast(s, self.compute_dtype) for s in new_state)

  def lstm_inputs(self, inputs, training=None):
    """Everything before the LSTM: CNN, fusion, input dropout -> x [B, F, feature_dim]."""
    self._validate(inputs)
    c = self.config
    if c.uses_audio:
      audio = normalize_waveform(
        tf.cast(inputs["audio"], tf.float32),
        inputs.get("num_frames"),
        c.input_samples_per_frame,
        c.waveform_norm,
      )
      x_p = self.cnn(tf.cast(audio, self.compute_dtype), training=training)
    if c.uses_semantic:
      x_s = tf.cast(inputs["semantic"], self.compute_dtype)
    if c.variant == "paralinguistic":
      x = x_p
    elif c.variant == "semantic":
      x = x_s
    else:
      x = self.fusion([x_s, x_p])
    return self.input_dropout(x, training=training)  # [B, F, feature_dim]

  def get_config(self):
    return {"config": self.config.to_dict(), "name": self.name}

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    return cls(ModelConfig.from_dict(config.pop("config")), **config)


def build_model(config: ModelConfig | None = None, **overrides) -> EmotionRecognitionModel:
  """Builds the model for `config` (a ModelConfig or dict), with keyword overrides.

  Raises ValueError for an unknown variant or invalid hyperparameters.
  """
  if config is None:
    config = ModelConfig(**overrides)
  else:
    if isinstance(config, Mapping):
      config = ModelConfig.from_dict(config)
    if overrides:
      config = config.replace(**overrides)
  return EmotionRecognitionModel(config, name=f"emotion_{config.variant}")


def frame_mask(num_frames: tf.Tensor, frames: int, label_delay_frames: int = 0) -> tf.Tensor:
  """[batch] valid-frame counts -> float32 mask [batch, frames] of the frames a loss or a CCC
  may use.

  With `label_delay_frames` d > 0 the last d valid frames are masked too: their delay-
  compensated outputs (`delay_compensate`) would be the output of a frame past the sequence's
  end, so a 10 s training chunk trains on frames [0, num_frames - d).
  """
  valid = tf.reshape(num_frames, [-1]) - int(label_delay_frames)
  return tf.sequence_mask(tf.maximum(valid, 0), frames, dtype=tf.float32)


def delay_compensate(y: tf.Tensor, frames: int, num_frames: tf.Tensor | None = None) -> tf.Tensor:
  """Annotation-delay compensation: y [B, F, k] -> [B, F, k], out[b, t] = y[b, min(t + d,
  n_b - 1)] with n_b the valid frames of sequence b (num_frames [B], or F).

  Raters respond to what they hear with a lag, so the label of frame t describes speech up to
  about t + d; a unidirectional LSTM whose output at t + d is read as the prediction of frame t
  has heard it (the AVEC "annotation delay"; `serving.postprocess` tunes the same shift after
  training, this trains for it). The numpy counterpart on one recording is
  `serving.postprocess.shift_frames(y, d)`. d = 0 returns y.
  """
  d = int(frames)
  if d == 0:
    return y
  f = tf.shape(y)[1]
  last = tf.fill([tf.shape(y)[0]], f) if num_frames is None else tf.reshape(num_frames, [-1])
  last = tf.maximum(tf.cast(last, tf.int32) - 1, 0)  # [B]
  idx = tf.minimum(tf.range(f)[None, :] + d, last[:, None])  # [B, F]
  return tf.gather(y, idx, axis=1, batch_dims=1)
