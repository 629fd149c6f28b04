"""benchmarks/pi_real_speech.py end to end on a tiny synthetic corpus that stands in for the real data
(conftest's synth_corpus; one seed, one-epoch runs, the project's scripts called in-process): every
stage runs and the report holds every figure; a second run reuses what is done, and a change of the
export code exports again."""

import json
import os


from conftest import load_benchmark
from kws import runs

pi_real_speech = load_benchmark("pi_real_speech")

QUICK = ["--train_args", "--epochs", "1", "--steps_per_epoch", "3", "--batch_size", "16", "--max_minutes", "0"]


def test_pi_real_speech_trains_distils_exports_and_reports(synth_corpus, tmp_path, capsys, monkeypatch,
                                                           scripts_in_process):
    argv = ["--run_dir", str(tmp_path / "bench"), "--seeds", "0", "--synth_dir", str(synth_corpus),
            "--real_train", str(synth_corpus / "train"), "--real_test", str(synth_corpus / "test"), *QUICK]
    report = pi_real_speech.main(argv)
    assert set(report["students"]) == {"310", "320", "330"}
    for name, figures in report["students"].items():
        for key in ("keras", "float_tflite", "int8_tflite"):
            assert 0.0 < figures[key] <= 1.0, (name, key)
        assert figures["int8_agreement"] >= 0.9 and figures["bytes"] > 0 and figures["macs"] > 0  # tiny models
        assert os.path.isfile(tmp_path / "bench" / "students" / "tf_files" / f"{name}_int8.tflite")
    assert report["students"]["330"]["bytes"] <= 64 * 1024  # the micro student's budget
    with open(tmp_path / "bench" / "students" / "pi_real_speech.json") as f:
        assert json.load(f)["teacher"]["keras_tta"] == report["teacher"]["keras_tta"]
    table = capsys.readouterr().out
    assert "teacher ensemble (TTA)" in table and "int8/teacher" in table and "(24 clips)" in table

    best = tmp_path / "bench" / "students" / "310" / "best.keras"
    int8 = tmp_path / "bench" / "students" / "tf_files" / "310_int8.tflite"
    trained, exported = os.path.getmtime(best), os.path.getmtime(int8)
    pi_real_speech.main(argv)  # everything finished: reused, not retrained
    assert os.path.getmtime(best) == trained and os.path.getmtime(int8) == exported
    monkeypatch.setattr(runs, "EXPORT_CODE", ("freeze_graph.py",))  # as if the export code had changed
    pi_real_speech.main(["--students", "310", *argv])  # exported again (one student shows it)
    assert os.path.getmtime(best) == trained and os.path.getmtime(int8) > exported
