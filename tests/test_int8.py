"""int8 exports keep the model's decisions, whatever the feature front end (raw, log-mel, MFCC).

The cause this guards against: TFLite's dynamic-range kernels quantise the input of a fully
connected layer to 8 bits per inference; a dense mel filterbank made the power spectrum that
input and cost log-mel and MFCC models about half of their decisions (features.py).
"""

import json

import keras
import numpy as np
import pytest

from kws.export import freeze_graph
from kws.submit import make_submission
from kws.export import make_submission_on_rpi
from kws.models import model
from kws import runs

# The trained models are conftest's tone_run models (raw waveform, log-mel, MFCC), trained once per
# test run on the tone corpus: confident models, so that a decision int8 flips is a fault, not a near-tie.
FRONT_ENDS = ("logmel", "mfcc", "raw")


@pytest.mark.parametrize("features", ["logmel", "mfcc"])
def test_the_feature_front_end_is_exact_in_dynamic_range_int8(features):
    keras.utils.set_random_seed(0)
    net = model.build_model("ds_cnn", 12, features=features, filters=16, num_blocks=1)
    front_end = keras.Model(net.input, net.get_layer(features.replace("logmel", "log_mel")).output)
    clips = np.random.default_rng(0).standard_normal((3, 16000)).astype(np.float32)
    clips *= np.float32([[0.5], [0.01], [0.0005]])  # loud, quiet and very quiet
    expected = freeze_graph.predict_tflite(freeze_graph.tflite_float(front_end), clips)
    got = freeze_graph.predict_tflite(freeze_graph.tflite_int8(front_end), clips)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_a_trained_model_keeps_99_percent_of_its_decisions_in_int8(front_end, tone_corpus, tone_run, tmp_path):
    run_dir, metrics = tone_run(front_end)
    assert metrics["best_val_accuracy"] > 0.5  # trained: far above the 1-in-6 of chance
    written = freeze_graph.main(["--run_dir", run_dir, "--out", str(tmp_path / "tf" / front_end),
                                 "--min_int8_agreement", "0.99"])
    with open(written["report"]) as f:
        report = json.load(f)
    assert report["exports"]["tflite"]["agreement"] == 1.0 and report["exports"]["int8"]["agreement"] >= 0.99
    assert len(report["float_layers"]) == (1 if front_end == "raw" else 0)  # the layer reading the waveform
    # beyond freeze_graph's own check on the validation clips: every clip of the corpus
    keras_model, _, _ = runs.load_run(run_dir)
    paths = [path for split in ("training", "validation")  # the tone corpus has no testing split
             for path in freeze_graph.split_clip_paths([tone_corpus[0]], split, {})]
    clips = freeze_graph.sample_clips(paths, len(paths), seed=0)
    with open(written["int8"], "rb") as f:
        int8_probs = freeze_graph.predict_tflite(f.read(), clips)
    same, _ = freeze_graph.agreement(freeze_graph.predict_keras(keras_model, clips), int8_probs)
    assert len(clips) == 240 and same >= 0.99, f"int8 keeps {same:.2%} of {len(clips)} decisions"
    # as it ships: the int8 file through the Pi script labels the test clips as the Keras model does
    test_dir = tone_corpus[1]
    make_submission.main(["--run_dir", run_dir, "--test_dir", test_dir, "--out", str(tmp_path / "keras.csv"),
                          "--no_progress"])
    make_submission_on_rpi.main(["--model", written["int8"], "--test_data", test_dir,
                                 "--submission_fn", str(tmp_path / "pi.csv")])
    keras_rows = (tmp_path / "keras.csv").read_text().splitlines()
    pi_rows = (tmp_path / "pi.csv").read_text().splitlines()
    assert len(pi_rows) == len(keras_rows) == 38
    assert sum(a == b for a, b in zip(keras_rows[1:], pi_rows[1:])) >= 36  # at most 1 clip differs


@pytest.mark.parametrize("features", ["logmel", "mfcc"])
def test_full_int8_keeps_the_front_end_float_and_passes_the_gate(features, tone_run, tmp_path):
    run_dir, _ = tone_run(features)  # the model of the test above: trained well enough to have no near-ties
    written = freeze_graph.main(["--run_dir", run_dir, "--out", str(tmp_path / "full"), "--int8_mode", "full",
                                 "--calibration_clips", "100"])
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=written["int8"])
    names = {t["index"]: (t["name"], t["dtype"]) for t in interpreter.get_tensor_details()}
    outputs = [names[i] for op in interpreter._get_ops_details() for i in op["outputs"] if i in names]
    front_end = [dtype for name, dtype in outputs if "/log_mel" in name or "/mfcc" in name]
    assert front_end and np.int8 not in front_end and np.float32 in front_end  # computed in float ...
    assert np.int8 in {dtype for name, dtype in outputs}  # ... and the classifier's activations in int8
    with open(written["report"]) as f:
        assert json.load(f)["exports"]["int8"]["agreement"] >= freeze_graph.MIN_INT8_AGREEMENT
