"""model.py and features.py: every registered model builds, trains, saves and reloads; feature layers
match tf.signal; the Pi budget; parameter checking; the --list table; TFLite conversion."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kws.models import features
from kws.models import model

NUM_CLASSES = 12
BATCH = 2


@pytest.fixture(scope="module")
def waveforms():
    rng = np.random.default_rng(0)
    return rng.uniform(-0.5, 0.5, (2 * BATCH, 16000)).astype(np.float32)


@pytest.fixture(scope="module", params=sorted(model.MODELS))
def built(request):
    """(name, model) for each registry entry, built once per module with a fixed seed."""
    keras.utils.set_random_seed(0)
    yield request.param, model.build_model(request.param, NUM_CLASSES)
    keras.backend.clear_session()


def test_contract_names_and_probabilities(built, waveforms):
    name, net = built
    assert net.name == name
    assert net.inputs[0].name == "waveform" and tuple(net.input_shape) == (None, 16000)
    assert net.layers[-1].name == "probs"
    probs = np.asarray(net(waveforms[:BATCH], training=False))
    assert probs.shape == (BATCH, NUM_CLASSES)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_no_lambda_layers(built):
    _, net = built
    assert not [layer for layer in net.layers if isinstance(layer, keras.layers.Lambda)]


def test_trains_two_steps_then_reloads_identically(built, waveforms, tmp_path):
    _, net = built
    labels = keras.utils.to_categorical(np.arange(len(waveforms)) % NUM_CLASSES, NUM_CLASSES)
    # SGD: Keras' Adam makes a training graph of ~20,000 operations for bc_resnet, 10 s to build per model
    net.compile(optimizer="sgd", loss="categorical_crossentropy")
    history = net.fit(waveforms, labels, batch_size=BATCH, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    before = np.asarray(net(waveforms, training=False))  # called, not predict(): no graph to build (seconds)
    net.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(reloaded(waveforms, training=False)), before, atol=1e-6)


def test_pi_model_fits_the_raspberry_pi_budget():
    net = model.build_model("pi", NUM_CLASSES)
    assert net.count_params() <= 1_250_000
    assert model.float32_bytes(net) < 5_000_000


# bc_resnet's width is the paper's tau (default 6); the others multiply channels (default 1).
@pytest.mark.parametrize("name, narrow, wide", [("pi", 0.5, 1.25), ("raw_large", 0.5, 1.0), ("bc_resnet", 3, 6)])
def test_width_multiplier_changes_params(name, narrow, wide):
    narrow_params = model.build_model(name, NUM_CLASSES, width=narrow).count_params()
    wide_params = model.build_model(name, NUM_CLASSES, width=wide).count_params()
    assert narrow_params < wide_params


def test_ds_cnn_feature_choice_changes_input_bins():
    mfcc = model.build_model("ds_cnn", NUM_CLASSES, features="mfcc")
    logmel = model.build_model("ds_cnn", NUM_CLASSES, features="logmel")
    assert mfcc.get_layer("feature_norm").output.shape[1:] == (49, 10)
    assert logmel.get_layer("feature_norm").output.shape[1:] == (49, 40)
    with pytest.raises(ValueError, match="features must be"):
        model.build_model("ds_cnn", NUM_CLASSES, features="spectrogram")


def test_unknown_model_name_lists_known_names():
    with pytest.raises(ValueError, match="known models:.*bc_resnet.*pi"):
        model.build_model("resnet9000", NUM_CLASSES)


def test_unknown_param_names_it_and_the_accepted_ones():
    with pytest.raises(ValueError, match="no parameter.*depth.*accepts: width"):
        model.build_model("pi", NUM_CLASSES, depth=3)


def test_bad_num_classes():
    with pytest.raises(ValueError, match="num_classes"):
        model.build_model("pi", 1)


def test_list_prints_every_model(capsys):
    model.main(["--list", "--num_classes", "12"])
    out = capsys.readouterr().out
    for name in model.MODELS:
        assert f"\n{name} " in out
    assert "parameters" in out and "MMACs" in out


def test_count_macs_of_known_layers():
    inputs = keras.Input((16000,))
    x = keras.layers.Reshape((1000, 16))(inputs)
    x = keras.layers.Conv1D(8, 3)(x)  # 998 x 8 outputs, 3 x 16 each
    x = keras.layers.DepthwiseConv1D(5, padding="same")(x)  # 998 x 8 outputs, 5 each
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dense(4)(x)
    net = keras.Model(inputs, x)
    assert model.count_macs(net) == 998 * 8 * 3 * 16 + 998 * 8 * 5 + 8 * 4


def test_count_macs_of_tutorial_conv():
    # Two convolutions dominate: 98x40x64 outputs of 20x8x1 and 49x20x64 outputs of 10x4x64.
    convs = 98 * 40 * 64 * 160 + 49 * 20 * 64 * 10 * 4 * 64
    macs = model.count_macs(model.build_model("conv", NUM_CLASSES))
    assert convs < macs < convs * 1.02


@pytest.mark.parametrize("length, step", [(40, 20), (480, 160), (400, 160), (640, 320)])
def test_frame_matches_tf_signal(waveforms, length, step):
    framed = features.Frame(length, step)(waveforms)
    np.testing.assert_array_equal(framed, tf.signal.frame(waveforms, length, step).numpy())


def test_frame_rejects_too_short_signals():
    with pytest.raises(ValueError, match="shorter than one"):
        features.Frame(400, 160)(np.zeros((1, 100), np.float32))


def test_log_mel_matches_tf_signal(waveforms):
    layer = features.LogMelSpectrogram(frame_length_ms=30, frame_step_ms=10, num_mel_bins=40, fmin_hz=20.0)
    stft = tf.signal.stft(waveforms, 480, 160, fft_length=512, window_fn=tf.signal.hann_window)
    mel = tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 20.0, 8000.0)
    expected = tf.math.log(tf.matmul(tf.abs(stft) ** 2, mel) + 1e-6).numpy()
    np.testing.assert_allclose(layer(waveforms), expected, atol=1e-3)
    assert layer.compute_output_shape((None, 16000)) == (None, 98, 40)


def test_mfcc_matches_tf_signal_up_to_c0_scaling(waveforms):
    log_mel = features.LogMelSpectrogram(num_mel_bins=40)(waveforms)
    mfcc = np.asarray(features.MFCC(13)(log_mel))
    expected = tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :13].numpy()
    expected[..., 0] /= np.sqrt(2.0)  # tf.signal scales c0 like the others; the orthonormal DCT does not
    np.testing.assert_allclose(mfcc, expected, atol=1e-3)


@pytest.mark.parametrize("name", ["pi", "ds_cnn"])
def test_converts_to_tflite_float(name, waveforms):
    from ai_edge_litert.interpreter import Interpreter

    net = model.build_model(name, NUM_CLASSES)
    flatbuffer = tf.lite.TFLiteConverter.from_keras_model(net).convert()
    interpreter = Interpreter(model_content=flatbuffer)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], [1, 16000])
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], waveforms[:1])
    interpreter.invoke()
    probs = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(probs, np.asarray(net(waveforms[:1], training=False)), atol=1e-5)


def test_spec_augment_masks_spans_in_training_only():
    layer = features.SpecAugment(masks=2, time_fraction=0.1, bin_fraction=0.25, seed=3)
    x = np.ones((64, 50, 8), np.float32)
    np.testing.assert_array_equal(layer(x), x)  # inference: the identity
    masked = np.asarray(layer(x, training=True))
    assert set(np.unique(masked)) <= {0.0, 1.0}
    time_masked = (masked == 0).all(axis=2)  # whole frames zeroed
    band_masked = (masked == 0).all(axis=1)  # whole bins zeroed
    assert 0 < time_masked.sum(axis=1).max() <= 2 * 5 and 0 < band_masked.sum(axis=1).max() <= 2 * 2
    # every zero belongs to a masked frame or bin: nothing else is touched
    np.testing.assert_array_equal(masked == 0, time_masked[:, :, None] | band_masked[:, None, :])
    again = features.SpecAugment(masks=2, time_fraction=0.1, bin_fraction=0.25, seed=3)
    np.testing.assert_array_equal(np.asarray(again(x, training=True)), masked)  # same seed, same masks


def test_spec_augment_is_a_model_parameter_without_weights():
    plain = model.build_model("ds_cnn", 12, filters=8, num_blocks=1)
    augmented = model.build_model("ds_cnn", 12, filters=8, num_blocks=1, spec_augment=2)
    assert [w.shape for w in plain.weights] == [w.shape for w in augmented.weights]  # init_from still fits
    assert "spec_augment" in [layer.name for layer in augmented.layers]


def test_mu_law_companding_and_its_8_bit_resolution():
    x = np.array([[0.0, 1.0, -1.0, 0.001, -0.5]], np.float32)
    expected = np.sign(x) * np.log1p(255 * np.abs(x)) / np.log(256)
    np.testing.assert_allclose(features.MuLaw()(x), expected, rtol=1e-6)
    # why: a quiet word (peak 0.01) beside a full-scale click, rounded to 8 bits of the whole clip's range
    quiet = 0.01 * np.sin(np.linspace(0, 60, 1000)).astype(np.float32)
    clip = np.concatenate([quiet, [1.0]]).astype(np.float32)[None, :]
    linear_levels = np.unique(np.round(clip[0, :-1] * 127)).size
    mu_levels = np.unique(np.round(np.asarray(features.MuLaw()(clip))[0, :-1] * 127)).size
    assert linear_levels <= 3 and mu_levels >= 40


def test_raw_waveform_models_compand_their_input_by_default():
    for name in ("pi", "raw_large"):
        assert model.model_params(name)["mu_law"] is True
    net = model.build_model("pi", 12, width=0.25)
    assert [layer.name for layer in net.layers][:3] == ["waveform", "mu_law", "frame"]
    assert "mu_law" not in [layer.name for layer in model.build_model("pi", 12, width=0.25, mu_law=False).layers]


@pytest.mark.parametrize("bins", [40, 41, 7])
def test_bc_resnet_frequency_stride_equals_a_strided_same_conv(bins):
    """The stride-1 conv and slice give what a (3, 1) depthwise conv with stride 2 and 'same' padding gives."""
    inputs = keras.Input((bins, 4, 3))
    net = keras.Model(inputs, model._frequency_depthwise(inputs, 2))
    kernel = np.random.default_rng(1).standard_normal((3, 1, 3, 1)).astype(np.float32)
    net.layers[1].set_weights([kernel])
    x = np.random.default_rng(0).standard_normal((2, bins, 4, 3)).astype(np.float32)
    out = -(-bins // 2)
    total = max((out - 1) * 2 + 3 - bins, 0)
    padded = np.pad(x, ((0, 0), (total // 2, total - total // 2), (0, 0), (0, 0)))
    expected = np.stack([sum(padded[:, 2 * i + j] * kernel[j, 0, :, 0] for j in range(3)) for i in range(out)], axis=1)
    np.testing.assert_allclose(net(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def _feature_shape(net):
    """[frames, bins] of the model's feature layer (MFCC when it has one, else the log-mel)."""
    names = [layer.name for layer in net.layers]
    return tuple(net.get_layer("mfcc" if "mfcc" in names else "log_mel").output.shape[1:])


# The weight counts before the feature geometry became builder parameters: the defaults must rebuild
# the same models, so saved models and existing runs (config.json lists only the params given) still load.
@pytest.mark.parametrize("name, params, features_shape, changed", [
    ("ds_cnn", 24372, (49, 10), {"frame_step_ms": 10.0, "num_mfcc": 13}),
    ("bc_resnet", 202468, (98, 40), {"frame_length_ms": 25.0, "frame_step_ms": 20.0, "num_mel_bins": 80}),
])
def test_feature_geometry_is_a_builder_parameter(name, params, features_shape, changed):
    assert set(changed) <= set(model.model_params(name))
    default = model.build_model(name, NUM_CLASSES)
    assert default.count_params() == params and _feature_shape(default) == features_shape
    other = model.build_model(name, NUM_CLASSES, **changed)
    assert _feature_shape(other) != features_shape
    keras.backend.clear_session()
