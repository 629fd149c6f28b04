"""quantization.py: the int8 grid is TFLite's, and bias correction cancels the mean shift of rounding."""

import keras
import numpy as np
import pytest
from keras import layers

from kws.export import freeze_graph
from kws.models import model
from kws.export import quantization


def int8_weights(model_content):
    """{shape: dequantised float weights} of the int8 weights of a TFLite model's convolutions and
    fully connected layers (every output channel's largest weight at 127 steps, as int8_grid puts it)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_content)
    interpreter.allocate_tensors()
    details = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    weights = {}
    for op in interpreter._get_ops_details():
        detail = details.get(op["inputs"][1]) if len(op["inputs"]) > 1 else None
        if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") or detail["dtype"] != np.int8:
            continue
        q = interpreter.get_tensor(detail["index"]).astype(np.float64)
        params = detail["quantization_parameters"]
        axis = params["quantized_dimension"]
        scales = params["scales"].reshape([-1 if i == axis else 1 for i in range(q.ndim)])
        assert np.all(np.abs(q).max(axis=tuple(i for i in range(q.ndim) if i != axis)) == 127)
        weights[tuple(q.shape)] = q * scales
    return weights


def test_weights_on_the_int8_grid_are_stored_by_tflite_exactly():
    keras.utils.set_random_seed(0)
    waveform = keras.Input((16000,))
    x = layers.Reshape((50, 20, 16))(waveform)
    x = layers.DepthwiseConv2D(3, depth_multiplier=8, padding="same")(x)  # 3x3x16x8: outputs (in, multiplier)
    x = layers.Conv2D(16, 1)(x)
    x = layers.SeparableConv2D(64, 3, depth_multiplier=72)(x)  # depthwise 3x3x16x72, pointwise 1152x64
    x = layers.Dense(80)(layers.GlobalAveragePooling2D()(x))
    net = keras.Model(waveform, x)
    depthwise, conv, separable, dense = net.layers[2], net.layers[3], net.layers[4], net.layers[6]
    for layer in (depthwise, conv, separable, dense):
        for kernel, is_depthwise in quantization._kernels(layer):
            kernel.assign(quantization.int8_grid(kernel.numpy(), is_depthwise))

    stored = int8_weights(freeze_graph.tflite_int8(net))

    expected = {  # the Keras kernels in TFLite's layouts
        (1, 3, 3, 128): depthwise.kernel.numpy().reshape(1, 3, 3, 128),
        (16, 1, 1, 128): np.transpose(conv.kernel.numpy(), (3, 0, 1, 2)),
        (1, 3, 3, 1152): separable.depthwise_kernel.numpy().reshape(1, 3, 3, 1152),
        (64, 1, 1, 1152): np.transpose(separable.pointwise_kernel.numpy(), (3, 0, 1, 2)),
        (80, 64): dense.kernel.numpy().T,
    }
    assert set(stored) == set(expected)
    for shape, kernel in expected.items():
        np.testing.assert_allclose(stored[shape], kernel, rtol=1e-6, atol=1e-9)


def _dense_bn_dense():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((64,))
    x = layers.Dense(48, use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    outputs = layers.Dense(40)(layers.ReLU()(x))
    net = keras.Model(inputs, outputs)
    bn = net.layers[2]
    bn.moving_mean.assign(np.linspace(-1, 1, 48).astype(np.float32))
    bn.moving_variance.assign(np.linspace(0.5, 2, 48).astype(np.float32))
    return net, (64,)


def _separable_bn_dense():
    keras.utils.set_random_seed(2)
    inputs = keras.Input((32, 8))
    x = layers.SeparableConv1D(64, 3, depth_multiplier=16, use_bias=False)(inputs)  # 'valid': no padding
    x = layers.BatchNormalization(moving_variance_initializer="ones")(x)
    outputs = layers.Dense(48)(layers.ReLU()(x))  # on [batch, steps, 64]
    return keras.Model(inputs, outputs), (32, 8)


@pytest.mark.parametrize("make", [_dense_bn_dense, _separable_bn_dense])
def test_bias_correction_gives_the_rounded_model_the_float_models_mean_output(make):
    net, shape = make()
    # Inputs with a large common offset: the rounding errors of a row of weights add up
    x = (np.random.default_rng(0).random((500, *shape)) + 2.0).astype(np.float32)
    float_mean = net.predict_on_batch(x).reshape(-1, net.output.shape[-1]).mean(axis=0)

    corrected, count = quantization.bias_corrected_copy(net, x, min_weights=0)
    rounded_only = keras.models.clone_model(net)
    rounded_only.set_weights(net.get_weights())
    for layer in rounded_only.layers:
        for kernel, depthwise in quantization._kernels(layer) if isinstance(layer, quantization.QUANTISED) else ():
            kernel.assign(quantization.int8_grid(kernel.numpy(), depthwise))

    def mean_output(m):
        return m.predict_on_batch(x).reshape(-1, net.output.shape[-1]).mean(axis=0)

    assert count == 2
    shift_left = np.abs(mean_output(rounded_only) - float_mean).max()
    assert shift_left > 1e-3
    np.testing.assert_allclose(mean_output(corrected), float_mean, atol=shift_left / 50)
    for copy_layer, layer in zip(corrected.layers, net.layers):  # the copy's kernels on the grid, the model untouched
        if isinstance(layer, quantization.QUANTISED):
            for (got, depthwise), (kernel, _) in zip(quantization._kernels(copy_layer), quantization._kernels(layer)):
                np.testing.assert_array_equal(got.numpy(), quantization.int8_grid(kernel.numpy(), depthwise))
                assert not np.array_equal(got.numpy(), kernel.numpy())


def test_only_the_weights_tflite_quantises_are_corrected():
    net, _ = _dense_bn_dense()  # kernels of 64x48 = 3072 and 48x40 = 1920 values
    x = np.ones((4, 64), np.float32)
    assert [layer.name for layer in quantization.quantised_layers(net)] == [net.layers[1].name, net.layers[4].name]
    assert quantization.quantised_layers(net, min_weights=2000) == [net.layers[1]]
    assert quantization.bias_corrected_copy(net, x, min_weights=5000)[1] == 0


def _weight_tensors(model_content):
    """{(dtype name, shape): bytes} of the weights of a TFLite model's convolutions and fully connected layers."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_content)
    interpreter.allocate_tensors()
    details = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    found = {}
    for op in interpreter._get_ops_details():
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            detail = details[op["inputs"][1]]
            found[(detail["dtype"].__name__, tuple(detail["shape"]))] = interpreter.get_tensor(detail["index"]).tobytes()
    return found


def test_the_layer_that_reads_the_waveform_stays_float_and_nothing_else_changes():
    keras.utils.set_random_seed(0)
    pi = model.build_model("pi", 12, width=0.25, mu_law=False)
    layer = quantization.waveform_layer(pi)
    assert layer is pi.layers[2] and isinstance(layer, layers.Conv1D)  # waveform, frame, then this convolution
    assert quantization.waveform_layer(model.build_model("ds_cnn", 12)) is None
    float_content, int8_content = freeze_graph.tflite_float(pi), freeze_graph.tflite_int8(pi)

    restored = quantization.restore_float_weights(int8_content, float_content, layer)

    before, after, floats = _weight_tensors(int8_content), _weight_tensors(restored), _weight_tensors(float_content)
    kernel = (16, 1, 3, 40)  # Conv1D 3 x 40 -> 16 as TFLite's CONV_2D
    assert ("int8", kernel) in before and ("int8", kernel) not in after
    assert after[("float32", kernel)] == floats[("float32", kernel)]
    assert {k: v for k, v in after.items() if k[1] != kernel} == {k: v for k, v in before.items() if k[1] != kernel}


def test_with_the_waveform_layer_float_a_quiet_word_under_a_click_keeps_its_features():
    keras.utils.set_random_seed(0)
    pi = model.build_model("pi", 12, width=0.25, mu_law=False)
    layer = quantization.waveform_layer(pi)
    first = keras.Model(pi.input, layer.output)  # the framed waveform through that layer
    clip = np.zeros((1, 16000), np.float32)
    clip[0, 100] = 1.0  # a click at full scale sets the clip's int8 range
    clip[0, 4000:12000] = 0.003 * np.sin(np.arange(8000) * 0.3)  # a "word" 50 dB below it
    float_content, int8_content = freeze_graph.tflite_float(first), freeze_graph.tflite_int8(first)
    restored = quantization.restore_float_weights(int8_content, float_content, layer)

    expected = freeze_graph.predict_tflite(float_content, clip)[0, 210:590]  # the frames of the word
    quantised_error = np.abs(freeze_graph.predict_tflite(int8_content, clip)[0, 210:590] - expected).max()
    assert quantised_error > 0.3 * np.abs(expected).max()  # int8 input: the word is mostly lost
    np.testing.assert_allclose(freeze_graph.predict_tflite(restored, clip)[0, 210:590], expected, rtol=1e-5, atol=1e-7)
