"""Data contracts of emotion_tf: the TFRecord schema (`schema`) and the tf.data reader (`pipeline`).

Import the submodules explicitly (`from emotion_tf.data import pipeline`); this package imports
nothing itself.
"""
