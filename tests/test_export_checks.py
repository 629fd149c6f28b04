"""freeze_graph.py runs every export it writes and compares it with the Keras model: a wrong frozen
graph (another model's weights) fails the run and nothing is written."""

import os

import keras
import numpy as np
import pytest

from kws.export import freeze_graph
from kws.models import model
from test_freeze_graph import calibrate_batch_norm, freeze, frozen_tiny_model, tone


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    return frozen_tiny_model(tmp_path_factory)


def test_a_frozen_graph_of_another_model_fails_the_export(frozen, tmp_path, monkeypatch, capsys):
    keras.utils.set_random_seed(123)
    impostor = model.build_model("pi", 12, width=0.25)
    calibrate_batch_norm(impostor, np.stack([tone(f, seed=3) for f in (300.0, 700.0, 1500.0, 3000.0)] * 2))
    kernel, bias = impostor.get_layer("probs").get_weights()
    impostor.get_layer("probs").set_weights([kernel * 5.0, bias])
    wrong_graph = freeze_graph.frozen_graph_def(impostor)
    monkeypatch.setattr(freeze_graph, "frozen_graph_def", lambda keras_model: wrong_graph)
    with pytest.raises(SystemExit) as stopped:
        freeze(frozen[0], tmp_path / "wrong", "--skip_int8")
    assert stopped.value.code == 1
    assert "pb changes the label of" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_the_checkpoint_flags_choose_the_checkpoint(frozen, tmp_path):
    from kws.submit import make_submission
    from kws.submit import probs
    from kws import runs

    run_dir = frozen[0]
    keras.utils.set_random_seed(7)
    other = model.build_model("pi", 12, width=0.25)
    calibrate_batch_norm(other, np.stack([tone(f, seed=4) for f in (300.0, 700.0, 1500.0, 3000.0)] * 2))
    other.save(tmp_path / "other.keras")
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    clips = [tone(f, seed=i) for i, f in enumerate((350.0, 800.0, 2000.0))]
    for i, clip in enumerate(clips):
        freeze_graph.audio.write_wav(str(test_dir / f"c{i}.wav"), clip)
    clips = [freeze_graph.audio.load_clip(str(test_dir / f"c{i}.wav")) for i in range(len(clips))]  # as 16-bit

    for checkpoint, reference in ((None, runs.load_run(run_dir)[0]), (str(tmp_path / "other.keras"), other)):
        flag = ["--checkpoint", checkpoint] if checkpoint else []
        name = "other" if checkpoint else "best"
        make_submission.main(["--run_dir", run_dir, "--test_dir", str(test_dir), "--out", str(tmp_path / f"{name}.csv"),
                              "--no_progress", *flag])
        expected = reference.predict_on_batch(np.stack(clips))
        np.testing.assert_allclose(probs.read_probs(tmp_path / f"{name}_probs.csv").values, expected, atol=1e-5)
        written = freeze(run_dir, tmp_path / "tf" / name, "--skip_int8", *flag)
        with open(written["tflite"], "rb") as f:
            np.testing.assert_allclose(freeze_graph.predict_tflite(f.read(), np.stack(clips)), expected, atol=1e-4)
    best = probs.read_probs(tmp_path / "best_probs.csv").values
    assert not np.allclose(best, probs.read_probs(tmp_path / "other_probs.csv").values, atol=1e-3)
