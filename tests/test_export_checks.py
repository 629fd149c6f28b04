"""freeze_graph.py runs every export it writes and compares it with the Keras model: a wrong frozen
graph (another model's weights) fails the run and nothing is written."""

import os

import keras
import numpy as np
import pytest

import freeze_graph
import model
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
