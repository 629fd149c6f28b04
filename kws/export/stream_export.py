"""Streaming exports: a log-mel/MFCC model cut into a per-frame feature front end and a classifier.

A keyword spotter slides the model's window (its clip length, one second by default) over a stream
every hop (spot_keywords.py, 100 ms by default). Recomputing the whole window repeats the features
of the audio already seen (0.9 s of a 1 s window); cut in two,
the model computes the features of the new audio only and keeps the rest:

- the front end: `LogMelSpectrogram` (+ `MFCC`) of the model's own settings, applied to single
  frames: float32 [n, frame_length_samples] -> [n, bins]. n is free, so one call computes every
  frame that a hop completes (5 frames of 20 ms for a DS-CNN at 100 ms);
- the classifier: the model from its `feature_norm` layer on: float32 [1, frames, bins] -> [1, C].

A window whose start lies on the frame grid (every hop that is a multiple of the frame step) gets
exactly the features the whole model computes, so the two parts give the whole model's output.

Library functions (freeze_graph.py `--streaming` writes the files, stream_models.py uses the
Keras parts directly):
- `split_model(keras_model)` -> `Split(front_end, classifier, spec)` or None for a model without a
  feature front end (the raw-waveform `pi` and `raw_large` models recompute their window);
- `tflite_front_end(split)`, `tflite_classifier(split, int8)`: TFLite flatbuffers (bytes); the
  classifier's int8 file is dynamic-range quantised (int8 weights, activations quantised per
  inference), the front end stays float (int8 kernels would flatten the power spectrum; see
  features.py);
- `Split.spec`: what the numpy-only runtime needs besides the two files, written as
  `N_streaming.json` (`window_samples`: the model's input length; frame length and step, frames and
  bins per window, multiply-adds);
- `predict_split(front_end, classifier, clips, spec)`: the two TFLite files' probabilities of
  clips of the window's length, frame by frame (freeze_graph.py checks the exports with it).

This module is a library: nothing runs at import.
"""

import collections

import keras
import numpy as np
import tensorflow as tf

from kws.data import audio
from kws.models import model
from kws.stream import streaming
from kws.models.features import MFCC, LogMelSpectrogram

CLASSIFIER_INPUT_LAYER = "feature_norm"  # model.py's first layer after the features
Split = collections.namedtuple("Split", "front_end classifier spec")


def split_model(keras_model):
    """`Split` of a model whose features come from model.py's `log_mel` (+ `mfcc`) layers, else None."""
    names = {layer.name for layer in keras_model.layers}
    if "log_mel" not in names or CLASSIFIER_INPUT_LAYER not in names:
        return None
    log_mel = keras_model.get_layer("log_mel")
    mfcc = keras_model.get_layer("mfcc") if "mfcc" in names else None
    frame = keras.Input((log_mel.frame_length_samples,), dtype="float32", name="frame")
    x = LogMelSpectrogram.from_config(log_mel.get_config())(frame)  # [n, 1, mel bins]
    if mfcc is not None:
        x = MFCC.from_config(mfcc.get_config())(x)
    features = keras.layers.Reshape((x.shape[-1],), name="features")(x)
    front_end = keras.Model(frame, features, name="front_end")
    norm_input = keras_model.get_layer(CLASSIFIER_INPUT_LAYER).input
    classifier = keras.Model(norm_input, keras_model.output, name="classifier")
    frames, bins = norm_input.shape[1], norm_input.shape[2]
    spec = {"window_samples": model.clip_samples_of(keras_model), "sample_rate": audio.SAMPLE_RATE,
            "frame_length_samples": log_mel.frame_length_samples, "frame_step_samples": log_mel.frame_step_samples,
            "frames": int(frames), "bins": int(bins),
            "front_end_macs_per_frame": _front_end_macs(log_mel, mfcc),
            "classifier_macs": model.count_macs(classifier)}
    return Split(front_end, classifier, spec)


def _front_end_macs(log_mel, mfcc):
    """Multiply-adds of one frame's features (the layers' own counts: window, FFT, power, mel, DCT)."""
    macs = log_mel.multiply_adds((1, log_mel.frame_length_samples))
    return int(macs + (mfcc.multiply_adds((1, 1, log_mel.num_mel_bins)) if mfcc is not None else 0))


def _frozen(keras_part, input_shape):
    """Concrete function of a Keras part, variables frozen, for the TFLite converter."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    @tf.function(input_signature=[tf.TensorSpec(input_shape, tf.float32, name="input")])
    def infer(x):
        return keras_part(x, training=False)

    return convert_variables_to_constants_v2(infer.get_concrete_function())


def tflite_converter(frozen_function):
    """The TFLite converter of a concrete function whose variables are constants. Its trackable object is
    an empty tf.Module: the converter saves that object with the function as a temporary SavedModel,
    and the Keras model there cost seconds per conversion for the same flatbuffer, byte for byte."""
    return tf.lite.TFLiteConverter.from_concrete_functions([frozen_function], tf.Module())


def tflite_front_end(split):
    """Float TFLite of the front end: [n, frame_length_samples] -> [n, bins] with n resizable."""
    return tflite_converter(_frozen(split.front_end, [None, split.spec["frame_length_samples"]])).convert()


def tflite_classifier(split, int8=False):
    """TFLite of the classifier [1, frames, bins] -> [1, C]; `int8`: dynamic-range int8 weights."""
    converter = tflite_converter(_frozen(split.classifier, [1, split.spec["frames"], split.spec["bins"]]))
    if int8:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def window_features(front_end_fn, clip, spec):
    """[frames, bins] features of a clip (spec["window_samples"] long) computed frame by frame with `front_end_fn`."""
    frames = streaming.frames_of(clip, spec["frame_length_samples"], spec["frame_step_samples"])
    return front_end_fn(frames[:spec["frames"]])


def predict_split(front_end_content, classifier_content, clips, spec):
    """Probabilities [n, C] of TFLite front end + classifier flatbuffers, clip by clip (the export check)."""
    from ai_edge_litert.interpreter import Interpreter

    def runner(content):
        interpreter = Interpreter(model_content=content, num_threads=1)
        (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()

        def run(x):
            interpreter.resize_tensor_input(inp["index"], x.shape)
            interpreter.allocate_tensors()
            interpreter.set_tensor(inp["index"], x)
            interpreter.invoke()
            return interpreter.get_tensor(out["index"]).copy()
        return run

    front_end, classifier = runner(front_end_content), runner(classifier_content)
    return np.concatenate([classifier(window_features(front_end, clip, spec)[None]) for clip in clips])
