"""kws/export/runtime.py: the exported files' names, the Pi 3 estimate, and its numpy-only import."""

import os
import subprocess
import sys

from kws.export import runtime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_export_names_are_freeze_graphs_files():
    paths = runtime.export_paths(os.path.join("tf_files", "N"))
    assert {kind: os.path.basename(path) for kind, path in paths.items()} == {
        "pb": "N.pb", "tflite": "N.tflite", "int8": "N_int8.tflite", "labels": "N_labels.txt",
        "report": "N_report.json", "features": "N_features.tflite", "classifier": "N_classifier.tflite",
        "classifier_int8": "N_classifier_int8.tflite", "streaming": "N_streaming.json"}
    for name in ("N.tflite", "N_int8.tflite", "N.pb"):
        assert runtime.default_labels_path(os.path.join("tf_files", name)) == os.path.join("tf_files", "N_labels.txt")
    assert runtime.streaming_files("d/N_int8.tflite") == {
        "spec": "d/N_streaming.json", "front_end": "d/N_features.tflite", "classifier": "d/N_classifier_int8.tflite"}
    assert runtime.streaming_files("d/N.tflite")["classifier"] == "d/N_classifier.tflite"
    assert runtime.head_marker_path("d/head.tflite") == "d/head_embeddings.json"
    assert (runtime.WAV_DATA, runtime.DECODED_SAMPLE_DATA, runtime.LABELS_SOFTMAX) == (
        "wav_data", "decoded_sample_data", "labels_softmax")  # the speech_commands tutorial's names


def test_pi3_estimate_counts_int8_kernels_twice_as_fast():
    assert runtime.pi3_ms(1e9) == 1000.0
    assert runtime.pi3_ms(0, 1e9) == 1000.0 / runtime.PI3_INT8_SPEEDUP


def test_import_runtime_pulls_in_neither_tensorflow_nor_keras():
    code = ("import sys; from kws.export import runtime; "
            "print('IMPORTED', sorted({k.split('.')[0] for k in sys.modules} & {'tensorflow', 'keras', 'scipy'}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rsplit("IMPORTED", 1)[1].strip() == "[]"
