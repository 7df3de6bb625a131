#!/usr/bin/env bash
# End-to-end demo on the built-in synthetic corpus (called by `make demo`).
#
#   bash scripts/demo.sh [RUN_DIR]
#
# corpus -> forced alignment of the Test transcripts -> Word2Vec -> Speech2Vec -> alignment -> TFRecords -> training of the
# disentangled-attention model -> evaluation (Devel, Test; raw and with Devel-tuned
# post-processing) -> AVEC 2017 eGeMAPS baseline ->
# SavedModel export ->
# wav-only export and its evaluation on wavs -> prediction for one recording -> CCC table.
# Every step's output lives in RUN_DIR;
# a rerun skips finished steps (and the binaries themselves resume).
# Sizes can be changed with environment variables (defaults: the demo size).
set -euo pipefail
cd "$(dirname "$0")/.."

RUN=${1:-runs/demo}
PY=${PY:-.venv/bin/python}
RECORDINGS=${RECORDINGS:-40}
SECONDS_PER_RECORDING=${SECONDS_PER_RECORDING:-60}
TEXT_SENTENCES=${TEXT_SENTENCES:-50000}
S2V_EPOCHS=${S2V_EPOCHS:-}
EXTRA_SPEECH_RECORDINGS=${EXTRA_SPEECH_RECORDINGS:-160}
TRAIN_VOICES=${TRAIN_VOICES:-en+m1,en+f2,en-us+m3,en+f4}
# Speech2Vec pretraining corpus: the Word2Vec text spoken by many voices (none of the corpus's
# Devel/Test voices); PRETRAIN_HOURS=0 leaves it out. The bench/README give larger sizes.
PRETRAIN_HOURS=${PRETRAIN_HOURS:-0.1}
PRETRAIN_VOICES=${PRETRAIN_VOICES:-en+m1,en+m3,en+m4,en+m6,en+m7,en+f2,en+f4,en+f5,en-us,en-gb,en-gb-x-rp,en-us-nyc,en-029,flite:slt,flite:kal16,flite:rms,flite:awb}
# Training settings: flags/demo_train.flags; TRAIN_STEPS / LEARNING_RATE override them when set.
TRAIN_STEPS=${TRAIN_STEPS:-}
LEARNING_RATE=${LEARNING_RATE:-}
SEED=${SEED:-0}
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd)
LOG="$RUN/demo.log"
START=$(date +%s)
echo "emotion_tf demo: run directory $RUN (log: $LOG)"

step() {  # step NAME DONE_MARKER COMMAND...
  local name=$1 marker=$2; shift 2
  if [ -e "$marker" ]; then
    echo "[skip] $name (done: $marker)"
    return
  fi
  local t0=$(date +%s)
  echo "[....] $name"
  if ! "$@" >>"$LOG" 2>&1; then
    echo "[FAIL] $name — last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    exit 1
  fi
  echo "[ ok ] $name ($(( $(date +%s) - t0 )) s)"
}

step "synthetic corpus: $RECORDINGS recordings x ${SECONDS_PER_RECORDING} s + text corpus" \
  "$RUN/corpus/corpus.json" \
  $PY -m data_prep.synthesize --out "$RUN/corpus" --recordings "$RECORDINGS" \
    --seconds "$SECONDS_PER_RECORDING" --seed "$SEED" --text_out "$RUN/text.txt" \
    --text_sentences "$TEXT_SENTENCES"

# What a user's own corpus goes through first: word timings from the sentence transcripts
# (align_words --method auto: acoustic model, else TTS + DTW, else uniform split). The demo
# trains on the generator's true timings; this step shows the aligner on its Test speakers.
step "forced alignment of the Test transcripts (align_words --method auto)" \
  "$RUN/aligned_word_timings/Test_01.methods.json" \
  $PY -m data_prep.align_words --corpus "$RUN/corpus" --partitions test --method auto \
    --out "$RUN/aligned_word_timings"

step "Word2Vec (gensim skip-gram)" "$RUN/word2vec.vec" \
  $PY -m data_prep.train_word2vec --text "$RUN/text.txt" --out "$RUN/word2vec.vec" --seed "$SEED"

# Speech2Vec learns from speech alone; like Word2Vec's text corpus, it gets extra
# unlabelled recordings (Train speakers only, so Devel/Test speakers stay unseen).
step "unlabelled speech for Speech2Vec: $EXTRA_SPEECH_RECORDINGS recordings x ${SECONDS_PER_RECORDING} s" \
  "$RUN/extra_speech/corpus.json" \
  $PY -m data_prep.synthesize --out "$RUN/extra_speech" --recordings "$EXTRA_SPEECH_RECORDINGS" \
    --seconds "$SECONDS_PER_RECORDING" --seed "$((SEED + 1))" --voices "$TRAIN_VOICES"

PRETRAIN_FLAGS=()
if [ "$PRETRAIN_HOURS" != "0" ]; then
  step "Speech2Vec pretraining corpus: the Word2Vec text spoken, $PRETRAIN_HOURS h (speak_text)" \
    "$RUN/spoken_text/speak_text.json" \
    $PY -m data_prep.speak_text --text "$RUN/text.txt" --out "$RUN/spoken_text" \
      --hours "$PRETRAIN_HOURS" --voices "$PRETRAIN_VOICES" --seed "$SEED" --num_workers 2
  PRETRAIN_FLAGS=(--pretrain_corpus "$RUN/spoken_text")
fi

step "Speech2Vec (seq2seq skip-gram on word segments)" "$RUN/speech2vec/speech2vec.vec" \
  $PY -m data_prep.train_speech2vec --corpus "$RUN/corpus" \
    --word_timings "$RUN/corpus/word_timings" --extra_corpus "$RUN/extra_speech" \
    ${PRETRAIN_FLAGS[@]+"${PRETRAIN_FLAGS[@]}"} \
    --out "$RUN/speech2vec" --seed "$SEED" ${S2V_EPOCHS:+--epochs "$S2V_EPOCHS"}

# Both spaces come from transcribed data, so the dictionary is known (the same word in both):
# supervised Procrustes on it (--method supervised, the default; --method unsupervised is the
# paper's adversarial game + refinement, Eq. 1-3). P@1/P@5 on held-out words: alignment.json.
step "alignment of Speech2Vec to Word2Vec (Procrustes on the shared words)" \
  "$RUN/alignment/aligned_speech2vec.vec" \
  $PY -m data_prep.align_embeddings --speech "$RUN/speech2vec/speech2vec.vec" \
    --text "$RUN/word2vec.vec" --out "$RUN/alignment" --method supervised --seed "$SEED"

step "TFRecords (10 s chunks + aligned Speech2Vec per frame)" "$RUN/tfrecords/metadata.json" \
  $PY -m data_prep.write_tfrecords --corpus "$RUN/corpus" \
    --embeddings "$RUN/alignment/aligned_speech2vec.vec" --out "$RUN/tfrecords" \
    --word_timings "$RUN/corpus/word_timings"

step "training: flags/demo_train.flags${TRAIN_STEPS:+, $TRAIN_STEPS steps} (TensorBoard: $RUN/model/logs)" \
  "$RUN/model/last.keras" \
  $PY -m emotion_tf.train --flagfile flags/demo_train.flags --data_dir "$RUN/tfrecords" \
    --model_dir "$RUN/model" ${TRAIN_STEPS:+--train_steps "$TRAIN_STEPS"} \
    ${LEARNING_RATE:+--learning_rate "$LEARNING_RATE"} --seed "$SEED"

step "evaluation on Devel and Test" "$RUN/model/evaluation_best/evaluation.json" \
  $PY -m emotion_tf.evaluate --model_dir "$RUN/model" --data_dir "$RUN/tfrecords" \
    --partitions Devel,Test

step "evaluation with post-processing (time shift + smoothing chosen on Devel)" \
  "$RUN/model/evaluation_best_postprocessed/evaluation.json" \
  $PY -m emotion_tf.evaluate --model_dir "$RUN/model" --data_dir "$RUN/tfrecords" \
    --partitions Devel,Test --postprocess devel --out "$RUN/model/evaluation_best_postprocessed"

step "AVEC 2017 baseline: eGeMAPS + ridge/SVR, tuned on Devel" "$RUN/baseline/evaluation.json" \
  $PY -m emotion_tf.baseline --corpus "$RUN/corpus" --out "$RUN/baseline" --partitions Devel,Test

step "SavedModel export" "$RUN/export/saved_model.pb" \
  $PY -m emotion_tf.export --model_dir "$RUN/model" --out "$RUN/export"

# The paper's setting: text used in training, discarded at evaluation. The export carries the
# Speech2Vec encoder, its normaliser and W; words are segmented from the wav, each segment
# embedded and snapped to the nearest aligned type vector (the recipe chosen on Devel, README).
step "wav-only SavedModel export (speech frontend, snapped to type vectors)" \
  "$RUN/export_wav_only/saved_model.pb" \
  $PY -m emotion_tf.export --model_dir "$RUN/model" --out "$RUN/export_wav_only" \
    --speech2vec_dir "$RUN/speech2vec" --alignment_dir "$RUN/alignment" --snap_to_types

step "wav-only evaluation on Devel and Test (no transcript at test time)" \
  "$RUN/evaluation_wav_only/evaluation.json" \
  $PY -m emotion_tf.evaluate --export "$RUN/export_wav_only" --corpus "$RUN/corpus" \
    --partitions Devel,Test --out "$RUN/evaluation_wav_only"

step "prediction for Test_01 (whole recording, one pass)" "$RUN/Test_01.predictions.csv" \
  $PY -m emotion_tf.predict --model "$RUN/export" --audio "$RUN/corpus/audio/Test_01.wav" \
    --word_timings "$RUN/corpus/word_timings/Test_01.csv" \
    --embeddings "$RUN/alignment/aligned_speech2vec.vec" --out "$RUN/Test_01.predictions.csv" \
    --postprocess "$RUN/model/evaluation_best_postprocessed/postprocess.json"

$PY - "$RUN" <<'PYEOF'
import json, sys
run = sys.argv[1]
rows = [("Disentangled attention", f"{run}/model/evaluation_best/evaluation.json"),
        ("  + post-processing", f"{run}/model/evaluation_best_postprocessed/evaluation.json"),
        ("Wav only (no transcript)", f"{run}/evaluation_wav_only/evaluation.json"),
        ("Baseline (eGeMAPS + ridge)", f"{run}/baseline/evaluation.json")]
names = ["arousal", "valence", "liking"]
print("\nCCC (all valid frames of a partition, AVEC) [95 % bootstrap CI over recordings]:")
print(f"{'model':<28}{'partition':<10}" + "".join(f"{n:>22}" for n in names + ["mean"]))
def cell(r, n):
    value = r["ccc_mean"] if n == "mean" else r["ccc"][n]
    ci = (r.get("ccc_ci") or {}).get(n)
    return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{value:.3f}"
for model, path in rows:
    summary = json.load(open(path))
    for part in ("devel", "test"):
        r = summary["partitions"][part]
        print(f"{model:<28}{part.capitalize():<10}"
              + "".join(f"{cell(r, n):>22}" for n in names + ["mean"]))
PYEOF
echo
echo "prediction CSV: $RUN/Test_01.predictions.csv"
echo "TensorBoard:    tensorboard --logdir $RUN/model/logs"
echo "ablations:      make ablate RUN_DIR=$RUN"
echo "demo wall time: $(( $(date +%s) - START )) s; run directory: $RUN"
