"""Exports a trained run for the Raspberry Pi: a frozen GraphDef and float32 / int8 TFLite models.

Command line (everything else comes from the run folder; no training flag is ever repeated):

    python freeze_graph.py --run_dir runs/N [--checkpoint FILE] [--out tf_files/N]
                           [--skip_int8] [--int8_mode dynamic|full] [--calibration_clips 300]
                           [--no_bias_correction] [--int8_waveform_layer]
                           [--check_clips 300] [--seed 0]
                           [--data_dir DIR ...] [--streaming] [--overwrite]

The clip length S (samples) is the model's: the length of its waveform input (16000 for a run of
the default 1 s clips; the run's `clip_duration_ms` otherwise). Every export takes clips of S
samples.

Reads `runs/N/best.keras` (or `--checkpoint`), `labels.txt` and `config.json` (the data folders
`data_dir` and their split settings, through `settings.settings_from_config` as train.py reads them). Writes, all or none, each atomically (`.tmp` then
rename; existing files are replaced only with `--overwrite`, checked before any work; an output
that is one of the run's files is an error):

- `<out>.pb`: frozen GraphDef with the TensorFlow speech_commands tutorial's tensor names:
  `wav_data` (string placeholder: a WAV file's bytes), `decoded_sample_data` (float32 [S, 1],
  the output of `tf.audio.decode_wav(desired_channels=1, desired_samples=S)`: zero-padded at
  the end or cut, as `audio.fit_clip`; an Identity, so it can be fed directly with samples) and
  `labels_softmax` (float32 [1, C] probabilities in `labels.txt` order). The graph's DecodeWav
  reads 16-bit PCM only and keeps the first channel of a multi-channel file; feed other files
  as samples to `decoded_sample_data:0` (make_submission_on_rpi.py does). The tensor and file names
  are runtime.py's (`runtime.export_paths`).
- `<out>.tflite`: float32 TFLite, input float32 [1, S] in [-1, 1], output [1, C].
- `<out>_int8.tflite`: post-training quantisation with float32 input and output as above.
  `--int8_mode dynamic` (default): int8 weights, activations quantised to int8 per inference
  from their measured range (TFLite's dynamic-range "hybrid" kernels). `--int8_mode full`: int8
  weights *and* fixed-scale int8 activations calibrated on `--calibration_clips` clips of the
  run's training split, for integer-only accelerators; the feature front end of a log-mel or
  MFCC model (framing, FFT, mel filterbank, log, DCT, feature normalisation) stays float, so the
  calibration starts after it. Why dynamic is the default: a fixed int8 scale for the raw
  waveform input leaves a quiet word a handful of levels (the input scale is 1/128 for clips
  that reach full scale), and the attention softmax over ~100 time steps gets steps of 1/256.
  In both modes the models' log-mel front end stays float (features.py says why it must), and
  the int8 weights come with bias correction (quantization.py): the mean shift their rounding
  causes in each layer's output, measured on `--calibration_clips` clips of the training split,
  is subtracted from the layer's bias (or its BatchNormalization's mean); `--no_bias_correction`
  leaves it out. The checks below compare the int8 export with the uncorrected Keras model.
  In dynamic mode the layer that reads the waveform of a raw-waveform model (`pi`, `raw_large`)
  stays float, so the waveform is not quantised (8-bit linear audio loses quiet speech; see
  quantization.py); `--int8_waveform_layer` quantises it too (and full mode always does: use
  `mu_law = true` models there).
- with `--streaming`, for a log-mel or MFCC model (stream_export.py; a raw-waveform model has no
  front end to cut off and writes none): `<out>_features.tflite` (the feature front end per
  frame: float32 [n, frame length] -> [n, bins], float), `<out>_classifier.tflite` and
  `<out>_classifier_int8.tflite` (dynamic-range int8) (the model from its feature normalisation
  on: [1, frames, bins] -> [1, C]) and `<out>_streaming.json` (frame length and step, frames,
  bins, multiply-adds): what spot_keywords.py needs to compute only the new frames of each hop.
- `<out>_labels.txt`: the labels, one per line (model output order).
- `<out>_report.json`: what the checks measured: per export its bytes, top-1 agreement with
  Keras and largest probability difference, the number of check clips, the int8 mode, the
  number of bias-corrected layers, the layers kept float (the streaming classifiers' figures are
  those of the front end and classifier run frame by frame) and `code`, the fingerprint of the
  export code (`runs.EXPORT_CODE`; the benchmarks export again when it changes).

Before anything is written, every export is run on `--check_clips` clips of the run's validation
split (training clips where there is none; batch 1, as on the Pi) and compared with the Keras
model: top-1 agreement and the largest probability difference are printed. A float export (.pb
or .tflite) whose top-1 label differs from Keras on more than 1% of the clips, or an int8 export
that agrees on fewer than `--min_int8_agreement` of them (default 97%), fails the run (exit
status 1, nothing written); `--allow_int8_disagreement` writes such an int8 file anyway, with a
warning. The splits come from `corpus.index_folder`, the split rule of
training (list files, else the speaker hash), without decoding the whole corpus.
"""

import argparse
import collections
import json
import logging
import os
import sys

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
from tqdm import tqdm

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.models import model
from kws.export import quantization
from kws import runs
from kws.export import runtime
from kws.export.runtime import DECODED_SAMPLE_DATA, LABELS_SOFTMAX, WAV_DATA  # the .pb's contract with its readers
from kws.training import settings
from kws.export import stream_export

log = logging.getLogger(__name__)

MAX_FLOAT_DISAGREEMENT = 0.01  # a float export may change the top-1 label of at most 1% of clips
# An int8 export loses a little precision; more than a few changed decisions means a broken one
# (the dense mel filterbank's int8 kernels once kept only 52% of a DS-CNN's decisions).
MIN_INT8_AGREEMENT = 0.97
# Keras layer names of the models' feature front ends (model.py); full int8 keeps them float.
FRONT_END_LAYERS = ("mu_law", "log_mel", "mfcc", "feature_norm")
KERAS_BATCH = 64


def frozen_graph_def(keras_model):
    """GraphDef wav_data -> decoded_sample_data -> labels_softmax with the variables as constants."""

    clip_samples = model.clip_samples_of(keras_model)

    @tf.function(input_signature=[tf.TensorSpec([], tf.string, name=WAV_DATA)])
    def serve(wav_data):
        decoded = tf.audio.decode_wav(wav_data, desired_channels=1, desired_samples=clip_samples)
        samples = tf.identity(decoded.audio, name=DECODED_SAMPLE_DATA)
        probs = keras_model(tf.reshape(samples, [1, clip_samples]), training=False)
        return tf.identity(probs, name=LABELS_SOFTMAX)

    graph_def = convert_variables_to_constants_v2(serve.get_concrete_function()).graph.as_graph_def()
    names = {node.name for node in graph_def.node}
    missing = {WAV_DATA, DECODED_SAMPLE_DATA, LABELS_SOFTMAX} - names
    if missing:  # tf.function uniquifies clashing names; the tensor names are a contract
        raise RuntimeError(f"frozen graph lacks the node(s) {sorted(missing)}: a model layer uses the name")
    return graph_def


def _frozen_waveform_function(keras_model):
    """Concrete function float32 [1, S] -> probabilities, variables frozen (the TFLite input)."""

    @tf.function(input_signature=[tf.TensorSpec([1, model.clip_samples_of(keras_model)], tf.float32,
                                                name="waveform")])
    def infer(waveform):
        return keras_model(waveform, training=False)

    # Frozen first: the int8 calibrator cannot run the resource-variable reads of a live function.
    return convert_variables_to_constants_v2(infer.get_concrete_function())


def tflite_float(keras_model):
    """Float32 TFLite flatbuffer (bytes)."""
    return stream_export.tflite_converter(_frozen_waveform_function(keras_model)).convert()


def front_end_nodes(float_model):
    """Output tensor names of the feature front end's operators (FRONT_END_LAYERS) in a TFLite model."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=float_model)
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    outputs = [names[i] for op in interpreter._get_ops_details() for i in op["outputs"] if i in names]
    return [name for name in outputs if any(f"/{layer}" in name for layer in FRONT_END_LAYERS)]


def tflite_int8(keras_model, calibration_clips=None, float_nodes=()):
    """Int8 TFLite with float32 input/output: int8 weights and dynamic-range activations, or, given
    calibration clips [n, S], int8 weights and calibrated fixed-scale int8 activations except in
    the operators that output `float_nodes` (tensor names; see `front_end_nodes`)."""
    converter = stream_export.tflite_converter(_frozen_waveform_function(keras_model))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if calibration_clips is None:
        return converter.convert()

    def representative_dataset():
        for clip in calibration_clips:
            yield [clip[None, :]]

    converter.representative_dataset = representative_dataset
    # Builtin float kernels stay allowed so an op without an int8 kernel (RFFT) falls back to float.
    if not float_nodes:
        return converter.convert()
    # Selective quantisation (TensorFlow's quantisation debugger): a power spectrum at one fixed
    # int8 scale keeps nothing of quiet bins, so the front end's operators stay float.
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=lambda: ([clip[None, :]] for clip in calibration_clips[:1]),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(float_nodes)))
    return debugger.get_nondebug_quantized_model()


Int8Export = collections.namedtuple("Int8Export", "content model corrected_layers float_layers")


def int8_export(keras_model, float_content, calibration, mode="dynamic", bias_correction=True,
                float_waveform_layer=True):
    """`Int8Export`: the int8 TFLite bytes (`mode` "dynamic" or "full"), the Keras model they were
    made from (the bias-corrected copy, or `keras_model`), how many layers were corrected and the
    names of the layers kept float. `float_content`: the float TFLite of `keras_model` (the source
    of the float waveform layer); `calibration`: training clips [n, S]."""
    full = mode == "full"
    float_layer = quantization.waveform_layer(keras_model) if float_waveform_layer and not full else None
    source, corrected = keras_model, 0
    if bias_correction:
        source, corrected = quantization.bias_corrected_copy(
            keras_model, calibration, min_weights=0 if full else quantization.DYNAMIC_RANGE_MIN_WEIGHTS,
            keep_float=[float_layer.name] if float_layer else ())
        log.info("int8 bias correction of %d layer(s), measured on %d training clips", corrected, len(calibration))
    content = tflite_int8(source, calibration, front_end_nodes(float_content)) if full else tflite_int8(source)
    if float_layer is None:
        return Int8Export(content, source, corrected, [])
    log.info("int8: %s, which reads the waveform, stays float", float_layer.name)
    return Int8Export(quantization.restore_float_weights(content, float_content, float_layer), source, corrected,
                      [float_layer.name])


def split_clip_paths(data_dirs, split, config, source=runs.CONFIG_FILE):
    """Sorted paths of the word clips of a split ("training" or "validation") of the data folders, split
    as the run's training split them (`config`: its config.json content, read from `source`)."""
    run_settings = settings.settings_from_config(config, source)
    folders = corpus.index_folders(data_dirs, run_settings["validation_percentage"],
                                   run_settings["testing_percentage"])
    paths = corpus.split_paths(folders, split)
    if not paths:
        raise cli.UserError(f"no {split} clips in {', '.join(data_dirs)}")
    return paths


def sample_clips(paths, count, seed, clip_samples=audio.CLIP_SAMPLES):
    """float32 [n, clip_samples] of up to `count` clips drawn without replacement (unreadable ones skipped)."""
    rng = np.random.default_rng(seed)
    chosen = [paths[i] for i in sorted(rng.choice(len(paths), size=min(count, len(paths)), replace=False))]
    clips = []
    for path in chosen:
        try:
            clips.append(audio.load_clip(path, clip_samples))
        except audio.WavError as e:
            log.warning("skipped: %s", e)
    if not clips:
        raise cli.UserError(f"none of the {len(chosen)} chosen clips could be read")
    return np.stack(clips)


def run_clips(data_dirs, split, config, source, count, seed, clip_samples):
    """float32 [n, clip_samples]: up to `count` clips of a split ("training": calibration, "validation":
    the export checks) of a run's data folders, split as its training split them; without a
    validation split, training clips (an export check needs clips, not necessarily unseen ones)."""
    try:
        paths = split_clip_paths(data_dirs, split, config, source)
    except ValueError as e:
        if split != "validation":
            raise
        log.warning("%s; checking the exports on training clips instead", e)
        paths = split_clip_paths(data_dirs, "training", config, source)
    return sample_clips(paths, count, seed, clip_samples)


def predict_keras(keras_model, clips):
    return np.concatenate([keras_model.predict_on_batch(clips[i:i + KERAS_BATCH])
                           for i in range(0, len(clips), KERAS_BATCH)])


def predict_graph(graph_def, clips):
    """Probabilities of the frozen graph fed each clip as WAV bytes (so DecodeWav is checked too)."""
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        return np.concatenate([session.run(f"{LABELS_SOFTMAX}:0", {f"{WAV_DATA}:0": audio.wav_bytes(clip)})
                               for clip in tqdm(clips, desc="check .pb", leave=False)])


def predict_tflite(model_content, clips):
    """Probabilities of a TFLite flatbuffer, one clip at a time."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_content, num_threads=1)
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    probs = []
    for clip in tqdm(clips, desc="check .tflite", leave=False):
        interpreter.set_tensor(input_index, clip[None, :])
        interpreter.invoke()
        probs.append(interpreter.get_tensor(output_index).copy())
    return np.concatenate(probs)


def agreement(reference_probs, probs):
    """(fraction of clips with the same top-1 label, largest absolute probability difference)."""
    same = np.argmax(reference_probs, axis=1) == np.argmax(probs, axis=1)
    return float(same.mean()), float(np.abs(reference_probs - probs).max())


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", required=True, help="run folder written by train.py")
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint file (path, or name inside the run folder; default: best.keras)")
    parser.add_argument("--out", default=None,
                        help="output prefix (default: tf_files/<run folder name>) -> <out>.pb, <out>.tflite, ...")
    parser.add_argument("--skip_int8", action="store_true", help="do not write the int8 TFLite model")
    parser.add_argument("--int8_mode", choices=("dynamic", "full"), default="dynamic",
                        help="dynamic: int8 weights, activations quantised per inference; full: int8 weights "
                             "and calibrated int8 activations (integer-only hardware) (default: dynamic)")
    parser.add_argument("--calibration_clips", type=int, default=300,
                        help="training clips that measure the int8 bias correction and calibrate --int8_mode full "
                             "(default: 300)")
    parser.add_argument("--int8_waveform_layer", action="store_true",
                        help="also store in int8 the layer that reads the waveform of a raw-waveform model "
                             "(default: float, in dynamic mode; quantization.py says why)")
    parser.add_argument("--no_bias_correction", action="store_true",
                        help="export the int8 weights as rounded, without correcting the mean shift they cause")
    parser.add_argument("--check_clips", type=int, default=300,
                        help="validation clips on which each export is compared with Keras (default: 300)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clip sampling (default: 0)")
    parser.add_argument("--data_dir", nargs="+", default=None,
                        help="dataset folder(s) for calibration and checks (default: the run's data.data_dir)")
    parser.add_argument("--min_int8_agreement", type=float, default=MIN_INT8_AGREEMENT,
                        help="fail when the int8 export agrees with Keras on fewer check clips than this "
                             f"(default: {MIN_INT8_AGREEMENT})")
    parser.add_argument("--streaming", action="store_true",
                        help="also write the streaming export of a log-mel/MFCC model (front end per frame, "
                             "classifier) for spot_keywords.py")
    parser.add_argument("--allow_int8_disagreement", action="store_true",
                        help="write an int8 export below --min_int8_agreement anyway (with a warning)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    args = parser.parse_args(argv)
    if args.calibration_clips < 1 or args.check_clips < 1:
        parser.error("--calibration_clips and --check_clips must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out_prefix = cli.out_prefix(args.out or os.path.join("tf_files", os.path.basename(os.path.normpath(args.run_dir))),
                                suffix="")
    paths = runtime.export_paths(out_prefix)
    runs.check_run_dir(args.run_dir)
    streaming_kinds = ("features", "classifier", "classifier_int8", "streaming")
    planned = [path for kind, path in paths.items()
               if not (kind.endswith("int8") and args.skip_int8) and (args.streaming or kind not in streaming_kinds)]
    cli.check_outputs(planned, runs.run_files(args.run_dir, args.checkpoint), args.overwrite)
    keras_model, labels, config = runs.load_run(args.run_dir, args.checkpoint)
    config_path = os.path.join(args.run_dir, runs.CONFIG_FILE)
    data_dirs = args.data_dir or settings.settings_from_config(config, config_path)["data_dir"]
    clip_samples = model.clip_samples_of(keras_model)  # the run's clip length, as trained

    exports = {"pb": frozen_graph_def(keras_model).SerializeToString(), "tflite": tflite_float(keras_model)}
    int8 = None
    if not args.skip_int8:
        calibration = run_clips(data_dirs, "training", config, config_path, args.calibration_clips, args.seed,
                                clip_samples)
        int8 = int8_export(keras_model, exports["tflite"], calibration, args.int8_mode,
                           bias_correction=not args.no_bias_correction, float_waveform_layer=not args.int8_waveform_layer)
        exports["int8"] = int8.content
    split = stream_export.split_model(keras_model) if args.streaming else None
    if split is not None:
        exports["features"] = stream_export.tflite_front_end(split)
        exports["classifier"] = stream_export.tflite_classifier(split)
        if not args.skip_int8:
            exports["classifier_int8"] = stream_export.tflite_classifier(stream_export.split_model(int8.model), int8=True)
    elif args.streaming:
        log.info("a raw-waveform model has no feature front end to split: no streaming export (spot_keywords.py "
                 "runs the whole model every hop)")

    check = run_clips(data_dirs, "validation", config, config_path, args.check_clips, args.seed, clip_samples)
    report = check_exports(keras_model, exports, check, paths, split.spec if split else None)
    report.update(int8_mode=None if args.skip_int8 else args.int8_mode, check_clips=len(check),
                  bias_corrected_layers=None if int8 is None else int8.corrected_layers,
                  float_layers=[] if int8 is None else int8.float_layers,
                  code=runs.code_fingerprint(runs.EXPORT_CODE))
    failed = export_failures(report["exports"], args.min_int8_agreement)
    if failed and not (args.allow_int8_disagreement and all(kind.endswith("int8") for kind, _ in failed)):
        print("FAILED: " + "; ".join(problem for _, problem in failed) + "; nothing written", file=sys.stderr)
        sys.exit(1)
    for _, problem in failed:
        log.warning("written anyway (--allow_int8_disagreement): %s", problem)

    contents = {**exports, "labels": "".join(f"{label}\n" for label in labels).encode("utf-8"),
                "report": (json.dumps(report, indent=2) + "\n").encode("utf-8")}
    if split is not None:
        contents["streaming"] = (json.dumps(split.spec, indent=2) + "\n").encode("utf-8")
    cli.write_all({paths[kind]: cli.bytes_writer(content) for kind, content in contents.items()})
    written = {kind: paths[kind] for kind in contents}
    print("wrote " + ", ".join(written.values()))
    return written


def _export_probs(kind, content, exports, check, spec):
    """Probabilities of one export on the check clips (a streaming classifier after the front end)."""
    if kind == "pb":
        return predict_graph(tf.compat.v1.GraphDef.FromString(content), check)
    if kind.startswith("classifier"):
        return stream_export.predict_split(exports["features"], content, check, spec)
    return predict_tflite(content, check)


def check_exports(keras_model, exports, check, paths, spec=None):
    """{"exports": {kind: {bytes, agreement, max_prob_diff}}} of each export against Keras on `check`; prints a table.

    The streaming front end gives features, not labels: it is checked within its classifiers' rows."""
    reference = predict_keras(keras_model, check)
    results = {}
    print(f"{'export':<30}{'bytes':>12}{'top-1 agreement':>18}{'max |dp|':>11}   ({len(check)} check clips)")
    for kind, content in exports.items():
        if kind == "features":
            print(f"{os.path.basename(paths[kind]):<30}{len(content):>12,}{'(with the classifiers)':>29}")
            continue
        probs = _export_probs(kind, content, exports, check, spec)
        same, max_diff = agreement(reference, probs)
        results[kind] = {"file": os.path.basename(paths[kind]), "bytes": len(content), "agreement": same,
                         "max_prob_diff": max_diff}
        print(f"{os.path.basename(paths[kind]):<30}{len(content):>12,}{same:>18.2%}{max_diff:>11.1e}")
    return {"exports": results}


def export_failures(results, min_int8_agreement):
    """[(kind, problem)] of the exports that disagree with Keras beyond their limits."""
    failed = []
    for kind, result in results.items():
        if kind.endswith("int8") and result["agreement"] < min_int8_agreement:
            failed.append((kind, f"{kind} agrees with Keras on {result['agreement']:.2%} of the check clips, below "
                                 f"{min_int8_agreement:.0%} (--allow_int8_disagreement to write it anyway)"))
        elif not kind.endswith("int8") and 1.0 - result["agreement"] > MAX_FLOAT_DISAGREEMENT:
            failed.append((kind, f"{kind} changes the label of {1.0 - result['agreement']:.2%} of the check clips, "
                                 f"more than {MAX_FLOAT_DISAGREEMENT:.0%}"))
    return failed

