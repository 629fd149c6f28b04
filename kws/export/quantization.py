"""Prepares a Keras model for int8 export: weights on TFLite's int8 grid, with bias correction.

Used by freeze_graph.py (read there what the exports are); nothing here reads or writes files.

Why: int8 weights are the float weights rounded to 255 levels per output channel. The rounding
errors of a layer add up, for each output channel, to a shift of its mean output
((W_int8 - W) times the mean input), the same for every clip, and it grows layer after layer. A
DS-CNN trained on real speech kept 98.6% of its decisions in int8; with this shift taken out, 99.2%
(README, "A Raspberry Pi model that is right on real voices"). The correction is the empirical
bias correction of Nagel et al., "Data-Free Quantization Through Weight Equalization and Bias
Correction" (ICCV 2019): the mean input of each quantised layer is measured on calibration clips
and the shift is subtracted from the layer's bias or, for a layer without one, added to the
moving mean of the BatchNormalization that follows it (which TFLite folds into the layer).

The weights are set to exactly the values TFLite will store (symmetric per output channel, the
largest weight at 127 steps), so the converter's own rounding changes nothing and the bias
matches the weights it was computed for.

The layer that reads the waveform of a raw-waveform model (`pi`, `raw_large`: the convolution
after model.py's `frame` layer) can stay float (`waveform_layer`, `restore_float_weights`). In
dynamic-range int8 its input is the waveform itself, quantised to 8 bits per clip: linear 8-bit
audio keeps ~48 dB below the clip's peak, so quiet speech gets a few levels. A `pi` trained on
the linear waveform kept 97.5% of its decisions in int8, 99.7% with this one layer float and
100% with bias correction too (its 7,680 weights cost 22 KB more). That is what lets the raw
models learn from the linear waveform, which they learn better than the mu-law companded one
(features.MuLaw).
"""

import keras
import numpy as np
from tensorflow.lite.python import schema_py_generated as tflite_schema
from tensorflow.lite.tools import flatbuffer_utils

# TFLite's dynamic-range quantiser leaves weight tensors of fewer values than this in float;
# full-integer quantisation quantises every weight tensor.
DYNAMIC_RANGE_MIN_WEIGHTS = 1024
DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
QUANTISED = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Dense) + DEPTHWISE + SEPARABLE
BATCH = 32
FRAME_LAYER = "frame"  # model.py's framing of the waveform in the raw-waveform models


def int8_grid(kernel, depthwise):
    """`kernel` rounded to symmetric int8 per output channel, as TFLite stores it: an output channel
    is the last axis, or the last two (input channel x multiplier) of a depthwise kernel."""
    reduce_axes = tuple(range(kernel.ndim - (2 if depthwise else 1)))
    scale = np.abs(kernel).max(axis=reduce_axes, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    return (np.round(kernel / scale) * scale).astype(kernel.dtype)


def _kernels(layer):
    """[(weight variable, is depthwise)] of a layer: TFLite stores each as its own tensor."""
    if isinstance(layer, SEPARABLE):
        return [(layer.depthwise_kernel, True), (layer.pointwise_kernel, False)]
    return [(layer.kernel, isinstance(layer, DEPTHWISE))]


def _mean_output(kernels, mean_input):
    """The mean output (before bias) of a layer with these kernels ([(array, is depthwise)], applied
    in turn) for an input whose channels have means `mean_input` (zero padding at the edges ignored)."""
    x = np.asarray(mean_input, np.float64)
    for kernel, depthwise in kernels:
        if depthwise:  # [..., in, multiplier] -> outputs in the order (in, multiplier)
            x = (kernel.reshape(-1, *kernel.shape[-2:]).sum(axis=0) * x[:, None]).reshape(-1)
        else:
            x = x @ kernel.reshape(-1, *kernel.shape[-2:]).sum(axis=0)
    return x


def _following_batch_norm(layer):
    """The BatchNormalization that is the only consumer of `layer`'s output, or None."""
    consumers = layer._outbound_nodes  # Keras has no public accessor for a layer's consumers
    if len(consumers) == 1 and isinstance(consumers[0].operation, keras.layers.BatchNormalization):
        return consumers[0].operation
    return None


def _stored_in_int8(layer, min_weights):
    """Whether an int8 export stores a kernel of `layer` (used once in the graph) in int8."""
    return (isinstance(layer, QUANTISED) and len(layer._inbound_nodes) == 1
            and any(int(np.prod(kernel.shape)) >= min_weights for kernel, _ in _kernels(layer)))


def quantised_layers(keras_model, min_weights=DYNAMIC_RANGE_MIN_WEIGHTS):
    """The layers with a kernel an int8 export stores in int8."""
    return [layer for layer in keras_model.layers if _stored_in_int8(layer, min_weights)]


def mean_inputs(keras_model, layers, clips):
    """Per layer, the mean over `clips` (and every time step / position) of each input channel."""
    probe = keras.Model(keras_model.inputs, [layer.input for layer in layers])
    sums = [0.0] * len(layers)
    for start in range(0, len(clips), BATCH):
        outputs = probe.predict_on_batch(clips[start:start + BATCH])
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for i, x in enumerate(outputs):
            sums[i] = sums[i] + np.asarray(x, np.float64).reshape(-1, x.shape[-1]).mean(axis=0) * len(x)
    return [s / len(clips) for s in sums]


def bias_corrected_copy(keras_model, clips, min_weights=DYNAMIC_RANGE_MIN_WEIGHTS, keep_float=()):
    """A copy of `keras_model` whose int8-stored kernels are on the int8 grid and whose biases (or
    following BatchNormalization means) cancel the mean shift that grid causes on `clips`
    (float32 [n, clip samples]); the layers named in `keep_float` are left as they are. Returns (copy,
    number of layers corrected); the model is unchanged."""
    copy = keras.models.clone_model(keras_model)
    copy.set_weights(keras_model.get_weights())
    layers = [layer for layer in quantised_layers(copy, min_weights) if layer.name not in keep_float]
    if not layers:
        return copy, 0
    corrected = 0
    for layer, mean_input in zip(layers, mean_inputs(copy, layers, clips)):
        kernels = [(kernel.numpy(), depthwise) for kernel, depthwise in _kernels(layer)]
        stored = [(int8_grid(kernel, depthwise) if kernel.size >= min_weights else kernel, depthwise)
                  for kernel, depthwise in kernels]
        shift = (_mean_output(stored, mean_input) - _mean_output(kernels, mean_input)).astype(np.float32)
        batch_norm = _following_batch_norm(layer)
        if layer.use_bias:
            layer.bias.assign(layer.bias.numpy() - shift)
            corrected += 1
        elif batch_norm is not None:  # BN(y - shift) with moving mean m == BN(y) with moving mean m + shift
            batch_norm.moving_mean.assign(batch_norm.moving_mean.numpy() + shift)
            corrected += 1
        for (variable, _), (kernel, _) in zip(_kernels(layer), stored):
            variable.assign(kernel)
    return copy, corrected


def waveform_layer(keras_model, min_weights=DYNAMIC_RANGE_MIN_WEIGHTS):
    """The layer that reads the framed waveform of a raw-waveform model, if an int8 export would
    store its kernel in int8; else None (models with a log-mel front end have none)."""
    if FRAME_LAYER not in {layer.name for layer in keras_model.layers}:
        return None
    consumers = keras_model.get_layer(FRAME_LAYER)._outbound_nodes
    layer = consumers[0].operation if len(consumers) == 1 else None
    return layer if layer is not None and _stored_in_int8(layer, min_weights) else None


def _tflite_kernel_shape(layer):
    """The shape TFLite gives `layer`'s kernel (Conv1D becomes a CONV_2D of height 1)."""
    shape = list(layer.kernel.shape)
    if isinstance(layer, keras.layers.Conv1D):
        return [shape[2], 1, shape[0], shape[1]]
    if isinstance(layer, keras.layers.Conv2D):
        return [shape[3], shape[0], shape[1], shape[2]]
    if isinstance(layer, keras.layers.Dense):
        return [shape[1], shape[0]]
    raise ValueError(f"{layer.name}: cannot keep a {type(layer).__name__} float in an int8 export")


def _weights_tensor(model, tensor_type, shape, layer):
    """The one tensor of a TFLite model object of this type and shape (a layer's kernel)."""
    found = [t for t in model.subgraphs[0].tensors if t.type == tensor_type and list(t.shape) == shape]
    if len(found) != 1:
        raise RuntimeError(f"{layer.name}: expected one {shape} weight tensor in the TFLite model, found {len(found)}")
    return found[0]


def restore_float_weights(int8_content, float_content, layer):
    """`int8_content` (a dynamic-range int8 TFLite model) with `layer`'s int8 kernel replaced by its
    float32 kernel from `float_content` (the float TFLite export of the same model: the kernel with
    its BatchNormalization folded in, as the int8 model's bias expects). The operator then runs
    in float; nothing else changes."""
    shape = _tflite_kernel_shape(layer)
    float_model = flatbuffer_utils.read_model_from_bytearray(float_content)
    source = _weights_tensor(float_model, tflite_schema.TensorType.FLOAT32, shape, layer)
    model = flatbuffer_utils.read_model_from_bytearray(int8_content)
    target = _weights_tensor(model, tflite_schema.TensorType.INT8, shape, layer)
    target.type = tflite_schema.TensorType.FLOAT32
    target.quantization = None
    model.buffers[target.buffer].data = float_model.buffers[source.buffer].data
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
