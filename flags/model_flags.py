"""Model flags (`define_model_flags()`); defaults are emotion_tf.models.ModelConfig's."""

from absl import flags

from emotion_tf.models import ModelConfig
from emotion_tf.models import VARIANTS


def define_model_flags() -> None:
  """--variant, --semantic_dim, --fusion_units, --lstm_units, --dropout, --lstm_dropout."""
  if "variant" in flags.FLAGS:
    return
  d = ModelConfig()
  flags.DEFINE_enum("variant", d.variant, list(VARIANTS),
                    "Model variant: paralinguistic, semantic, concat or disentangled_attention.")
  flags.DEFINE_integer("semantic_dim", 0, "Semantic vector dimension d_s; 0 = read it from the "
                       "TFRecord metadata (or from --embeddings when given).", lower_bound=0)
  flags.DEFINE_integer("fusion_units", d.fusion_units, "d_u of the disentangled attention (Eq. 4).",
                       lower_bound=1)
  flags.DEFINE_integer("lstm_units", d.lstm_units, "LSTM units.", lower_bound=1)
  flags.DEFINE_float("dropout", d.dropout, "Dropout of the non-recurrent layers.",
                     lower_bound=0.0, upper_bound=0.99)
  flags.DEFINE_float("lstm_dropout", d.lstm_dropout, "Dropout on the LSTM inputs.",
                     lower_bound=0.0, upper_bound=0.99)
