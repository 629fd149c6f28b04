"""runtime.py: the exported files' names, the numpy-only import, and no script imported by a library."""

import ast
import os
import subprocess
import sys

import runtime

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
    code = ("import sys, runtime; "
            "print('IMPORTED', sorted({k.split('.')[0] for k in sys.modules} & {'tensorflow', 'keras', 'scipy'}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rsplit("IMPORTED", 1)[1].strip() == "[]"


def _is_script(name):
    """True for a module with a top-level `if __name__ == "__main__":` block."""
    with open(os.path.join(ROOT, f"{name}.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    return any(isinstance(node, ast.If) and "__name__" in ast.unparse(node.test) for node in tree.body)


def _imported_modules(name):
    """Every top-level project module `name`.py imports, at its top or inside a function."""
    with open(os.path.join(ROOT, f"{name}.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return {module for module in found if os.path.isfile(os.path.join(ROOT, f"{module}.py"))}


def test_no_script_imports_another_for_the_runtime_spotting_and_tta():
    libraries = ("runtime", "tta", "streaming", "samples")
    assert {name: sorted(m for m in _imported_modules(name) if _is_script(m)) for name in libraries} == \
        {name: [] for name in libraries}
    # what these modules took from the Pi script, benchmark_model, spot_keywords and make_submission is a library's
    users = ("make_submission_on_rpi", "spot_keywords", "benchmark_model", "make_spotter", "mine_negatives",
             "make_submission", "stream_models", "oww_embeddings", "teachers")
    moved_from = {"make_submission_on_rpi", "benchmark_model", "spot_keywords", "make_submission"}
    assert {name: sorted(_imported_modules(name) & moved_from - {name}) for name in users} == {name: [] for name in users}
    assert not _is_script("runtime") and not _is_script("tta") and _is_script("make_submission_on_rpi")
