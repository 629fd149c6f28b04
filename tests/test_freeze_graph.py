"""freeze_graph.py: the frozen graph's tensor names and outputs, the TFLite exports, the checks.

The helpers here (a tiny tone dataset, a tiny `pi` run folder, `freeze`) are also used by
test_rpi.py and test_benchmark_model.py.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kws.data import audio
from kws.export import freeze_graph
from kws.data import labels
from kws.models import model
from kws.export import quantization
from kws import runs

WORDS = ("yes", "no", "up", "down")
TONE_HZ = {"yes": 300.0, "no": 700.0, "up": 1500.0, "down": 3000.0}


def tone(freq_hz, seconds=1.0, seed=0, amplitude=0.3):
    """float32 samples: a sine with noise, distinct per word so that BN statistics are not degenerate."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * freq_hz * t) + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def make_dataset(root, clips_per_word=6):
    """Tarball layout `root/<word>/spkNN_nohash_0.wav` with a validation list (a third of the speakers)."""
    validation = []
    for word in WORDS:
        os.makedirs(os.path.join(root, word))
        for i in range(clips_per_word):
            key = f"{word}/spk{i:02d}_nohash_0.wav"
            audio.write_wav(os.path.join(root, key), tone(TONE_HZ[word] * (1 + 0.05 * i), seed=i))
            if i % 3 == 0:
                validation.append(key)
    with open(os.path.join(root, "validation_list.txt"), "w") as f:
        f.write("\n".join(validation) + "\n")
    return str(root)


def calibrate_batch_norm(keras_model, clips):
    """Moving statistics of every BatchNormalization set to the batch statistics of `clips`.

    An untrained model's activations shrink layer after layer to a constant output; with real
    statistics the outputs differ between clips, so label agreement means something. With
    momentum 0, one training-mode pass stores each layer's batch statistics as its moving ones.
    """
    norms = [layer for layer in keras_model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momentums = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    keras_model(clips, training=True)
    for layer, momentum in zip(norms, momentums):
        layer.momentum = momentum


def make_pi_run(run_dir, data_dir, width=0.25):
    """A run folder (best.keras, labels.txt, config.json) of an untrained tiny `pi` model."""
    os.makedirs(run_dir)
    keras.utils.set_random_seed(0)
    model_labels = labels.model_labels(labels.COMMAND_WORDS)
    pi = model.build_model("pi", len(model_labels), width=width)
    calibrate_batch_norm(pi, np.stack([tone(TONE_HZ[w], seed=9) for w in WORDS] * 2))
    kernel, bias = pi.get_layer("probs").get_weights()
    pi.get_layer("probs").set_weights([kernel * 5.0, bias])  # spread the probabilities apart
    pi.save(os.path.join(run_dir, runs.BEST_CHECKPOINT))
    labels.write_labels(os.path.join(run_dir, runs.LABELS_FILE), model_labels)
    runs.write_json(os.path.join(run_dir, runs.CONFIG_FILE),
                    {"name": "tiny", "seed": 0, "model": {"name": "pi", "params": {"width": width}},
                     "data": {"data_dir": [data_dir]}, "train": {}, "labels": model_labels})
    return str(run_dir)


def freeze(run_dir, out_prefix, *extra):
    return freeze_graph.main(["--run_dir", run_dir, "--out", str(out_prefix), "--calibration_clips", "12",
                              "--check_clips", "20", *extra])


_FROZEN = {}


def frozen_tiny_model(tmp_path_factory):
    """(run folder, {kind: path}) of a tiny pi run frozen into <tmp>/tf_files/tiny.*

    Made once per test session and shared by the test modules of the Pi path (read only).
    """
    if not _FROZEN:
        root = str(tmp_path_factory.mktemp("frozen_tiny_model"))
        data_dir = make_dataset(os.path.join(root, "data"))
        run_dir = make_pi_run(os.path.join(root, "runs", "tiny"), data_dir)
        _FROZEN["run"] = run_dir, freeze(run_dir, os.path.join(root, "tf_files", "tiny"))
    return _FROZEN["run"]


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    return frozen_tiny_model(tmp_path_factory)


def _session(pb_path):
    graph_def = tf.compat.v1.GraphDef()
    with open(pb_path, "rb") as f:
        graph_def.ParseFromString(f.read())
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    return graph_def, tf.compat.v1.Session(graph=graph)


def test_freeze_writes_every_export_and_the_labels(frozen):
    run_dir, paths = frozen
    assert sorted(paths) == ["int8", "labels", "pb", "report", "tflite"]
    assert all(os.path.getsize(p) > 0 for p in paths.values())
    with open(paths["report"]) as f:
        report = json.load(f)
    assert report["check_clips"] == 8 and report["int8_mode"] == "dynamic"  # the 8 validation clips of 24
    for kind in ("pb", "tflite", "int8"):
        assert report["exports"][kind]["bytes"] == os.path.getsize(paths[kind])
    assert report["exports"]["tflite"]["agreement"] == 1.0 and report["exports"]["int8"]["agreement"] >= 0.97
    assert labels.read_labels(paths["labels"]) == labels.read_labels(os.path.join(run_dir, "labels.txt"))
    assert not [n for n in os.listdir(os.path.dirname(paths["pb"])) if n.endswith(".tmp")]
    assert os.path.getsize(paths["int8"]) < 0.5 * os.path.getsize(paths["tflite"])


def test_graph_has_the_tutorial_tensor_names(frozen):
    graph_def, session = _session(frozen[1]["pb"])
    nodes = {n.name: n for n in graph_def.node}
    assert nodes["wav_data"].op == "Placeholder" and nodes["wav_data"].attr["dtype"].type == tf.string.as_datatype_enum
    assert nodes["decoded_sample_data"].op == "Identity"
    assert nodes["labels_softmax"].op == "Identity"
    assert session.graph.get_tensor_by_name("decoded_sample_data:0").shape.as_list() == [16000, 1]
    assert session.graph.get_tensor_by_name("labels_softmax:0").shape.as_list() == [1, 12]


def test_graph_fed_wav_bytes_equals_keras_on_the_decoded_clip(frozen, tmp_path):
    run_dir, paths = frozen
    keras_model, _, _ = runs.load_run(run_dir)
    _, session = _session(paths["pb"])
    for i, seconds in enumerate((1.0, 0.6, 1.3)):  # exact, zero-padded at the end, cut
        path = str(tmp_path / f"clip{i}.wav")
        audio.write_wav(path, tone(500.0 * (i + 1), seconds=seconds, seed=i))
        with open(path, "rb") as f:
            from_bytes = session.run("labels_softmax:0", {"wav_data:0": f.read()})
        clip = audio.load_clip(path)
        from_samples = session.run("labels_softmax:0", {"decoded_sample_data:0": clip[:, None]})
        expected = keras_model.predict_on_batch(clip[None, :])
        np.testing.assert_allclose(from_bytes, expected, atol=1e-4)
        np.testing.assert_allclose(from_samples, expected, atol=1e-4)


def test_tflite_exports_take_float_waveforms_and_agree_with_keras(frozen):
    from ai_edge_litert.interpreter import Interpreter

    run_dir, paths = frozen
    keras_model, _, _ = runs.load_run(run_dir)
    clips = np.stack([tone(TONE_HZ[w] * 1.1, seed=5) for w in WORDS])
    expected = keras_model.predict_on_batch(clips)
    for kind in ("tflite", "int8"):
        interpreter = Interpreter(model_path=paths[kind])
        interpreter.allocate_tensors()
        (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
        assert list(inp["shape"]) == [1, 16000] and inp["dtype"] == np.float32
        assert list(out["shape"]) == [1, 12] and out["dtype"] == np.float32
        got = []
        for clip in clips:
            interpreter.set_tensor(inp["index"], clip[None, :])
            interpreter.invoke()
            got.append(interpreter.get_tensor(out["index"])[0])
        if kind == "tflite":
            np.testing.assert_allclose(np.array(got), expected, atol=1e-4)
        else:  # quantised weights: int8 tensors feed the convolutions
            weight_types = {d["dtype"] for d in interpreter.get_tensor_details() if "conv" in d["name"].lower()}
            assert np.int8 in weight_types


def test_freeze_prints_agreement_and_can_skip_int8(frozen, tmp_path, capsys):
    paths = freeze(frozen[0], tmp_path / "no_int8", "--skip_int8")
    out = capsys.readouterr().out
    assert "int8" not in paths and not os.path.exists(tmp_path / "no_int8_int8.tflite")
    assert "no_int8.pb" in out and "no_int8.tflite" in out and "100.00%" in out


def test_a_float_export_that_disagrees_fails_and_writes_nothing(frozen, tmp_path, monkeypatch, capsys):
    def shuffled(content, clips):  # a broken converter: the probabilities of the wrong clips
        return np.roll(np.eye(12, dtype=np.float32)[np.arange(len(clips)) % 12], 1, axis=1)

    with open(frozen[1]["tflite"], "rb") as f:
        converted = f.read()
    monkeypatch.setattr(freeze_graph, "tflite_float", lambda keras_model: converted)  # the slow part
    monkeypatch.setattr(freeze_graph, "predict_tflite", shuffled)
    with pytest.raises(SystemExit) as stopped:
        freeze(frozen[0], tmp_path / "bad", "--skip_int8")
    assert stopped.value.code == 1
    assert "FAILED" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def _int8_disagrees(monkeypatch, frozen):
    """Freezing made cheap (the converted files of `frozen`), and the int8 file predicting other labels."""
    contents = {}
    for kind in ("tflite", "int8"):
        with open(frozen[1][kind], "rb") as f:
            contents[kind] = f.read()
    real_predict = freeze_graph.predict_tflite

    def predict(content, clips):
        probs = real_predict(content, clips)
        return np.roll(probs, 1, axis=1) if content == contents["int8"] else probs

    monkeypatch.setattr(freeze_graph, "tflite_float", lambda keras_model: contents["tflite"])
    monkeypatch.setattr(freeze_graph, "tflite_int8", lambda *args, **kwargs: contents["int8"])
    monkeypatch.setattr(quantization, "restore_float_weights", lambda content, *args: content)  # done in `frozen`
    monkeypatch.setattr(freeze_graph, "predict_tflite", predict)


def test_an_int8_export_that_disagrees_fails_unless_allowed(frozen, tmp_path, monkeypatch, capsys):
    _int8_disagrees(monkeypatch, frozen)
    with pytest.raises(SystemExit) as stopped:
        freeze(frozen[0], tmp_path / "bad")
    assert stopped.value.code == 1
    assert "int8 agrees with Keras on 0.00% of the check clips, below 97%" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []

    paths = freeze(frozen[0], tmp_path / "allowed", "--allow_int8_disagreement")
    with open(paths["report"]) as f:
        assert json.load(f)["exports"]["int8"]["agreement"] == 0.0
    assert os.path.isfile(paths["int8"])


def test_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        freeze_graph.main(["--run_dir", str(tmp_path), "--out", str(tmp_path / "x")])


def _activation_types(model_path):
    """dtypes of the tensors the model's operators produce (not its constants)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=model_path)
    interpreter.allocate_tensors()
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    return {details[i]["dtype"] for op in interpreter._get_ops_details() for i in op["outputs"] if i in details}


def test_int8_modes_dynamic_keeps_float_activations_full_quantises_them(frozen, tmp_path):
    dynamic = frozen[1]["int8"]  # the default mode
    # full int8 of the untrained tiny raw-waveform model keeps too few decisions to pass the gate
    full = freeze(frozen[0], tmp_path / "full", "--int8_mode", "full", "--allow_int8_disagreement")["int8"]
    assert np.int8 not in _activation_types(dynamic)
    assert np.int8 in _activation_types(full)


def _classifier_bias(model_path):
    """The float bias of the last fully connected operator (the `probs` layer) of a TFLite model."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=model_path)
    interpreter.allocate_tensors()
    last = [op for op in interpreter._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"][-1]
    weights, bias = last["inputs"][1:3]
    if bias < 0:  # the converter drops a bias of zeros
        return np.zeros(interpreter.get_tensor(weights).shape[0], np.float32)
    return interpreter.get_tensor(bias)


def test_the_int8_export_carries_the_bias_correction_of_its_rounded_weights(frozen, tmp_path):
    run_dir, paths = frozen
    keras_model, _, config = runs.load_run(run_dir)
    calibration = freeze_graph.sample_clips(freeze_graph.split_clip_paths(config["data"]["data_dir"], "training", config),
                                            12, 0)  # the clips `freeze` calibrates on
    waveform_layer = quantization.waveform_layer(keras_model).name  # stays float: not corrected
    corrected, count = quantization.bias_corrected_copy(keras_model, calibration, keep_float=[waveform_layer])
    original_bias = keras_model.get_layer("probs").bias.numpy()
    corrected_bias = corrected.get_layer("probs").bias.numpy()
    assert np.abs(corrected_bias - original_bias).max() > 1e-4  # a correction worth checking
    with open(paths["report"]) as f:
        report = json.load(f)
    assert report["bias_corrected_layers"] == count >= 2  # the tiny pi's separable convs and probs
    assert report["float_layers"] == [waveform_layer]

    np.testing.assert_allclose(_classifier_bias(paths["int8"]), corrected_bias, rtol=1e-6, atol=1e-7)
    plain = freeze(run_dir, tmp_path / "plain", "--no_bias_correction")
    np.testing.assert_allclose(_classifier_bias(plain["int8"]), original_bias, rtol=1e-6, atol=1e-7)
    with open(plain["report"]) as f:
        assert json.load(f)["bias_corrected_layers"] == 0
