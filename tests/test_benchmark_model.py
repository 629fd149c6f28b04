"""benchmark_model.py: sizes, parameters, multiply-adds, latency and memory of the .pb and TFLite exports."""

import json
import os

import pytest

from kws.export import benchmark_model
from kws.export import runtime
from kws.models import model
from kws import runs
from test_freeze_graph import frozen_tiny_model


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    return frozen_tiny_model(tmp_path_factory)


@pytest.mark.parametrize("kind", ["pb", "tflite", "int8"])
def test_json_report_of_each_format(kind, frozen, capsys):
    run_dir, paths = frozen
    benchmark_model.main(["--model", paths[kind], "--runs", "3", "--warmup", "1", "--json"])
    report = json.loads(capsys.readouterr().out)
    keras_model, _, _ = runs.load_run(run_dir)
    assert report["file_bytes"] == os.path.getsize(paths[kind])
    assert report["macs"] == model.count_macs(keras_model)  # the graph's count equals the Keras layers'
    if kind == "pb":  # batch norm is not folded in the graph: every Keras weight is a constant
        assert report["parameters"] == keras_model.count_params()
    else:  # folded into the convolutions: fewer constants, but every weight still counted
        assert 0.9 * keras_model.count_params() < report["parameters"] < keras_model.count_params()
    assert report["quantized"] == (kind == "int8")
    assert sorted(report["latency"]) == ["1", "4"]
    for figures in report["latency"].values():
        assert 0 < figures["median_ms"] <= figures["p90_ms"] <= figures["max_ms"]
    assert report["peak_memory_bytes"] >= 0 and "ru_maxrss" in report["peak_memory_measure"]
    speedup = runtime.PI3_INT8_SPEEDUP if kind == "int8" else 1.0
    assert report["pi3_estimate_ms"] == pytest.approx(report["macs"] / (1e9 * speedup) * 1e3)
    assert report["budget"]["size_ok"] and report["budget"]["pi3_estimate_ok"]
    assert "assumption" in report["pi3_assumption"]


def test_text_report_states_budget_and_assumption(frozen, capsys):
    benchmark_model.main(["--model", frozen[1]["int8"], "--runs", "2", "--warmup", "0", "--threads", "1"])
    out = capsys.readouterr().out
    for text in ("file size", "within budget: < 5,000,000", "multiply-adds", "1 thread(s)", "peak memory",
                 "Pi 3 estimate", "< 175 ms", "assumption, not a measurement"):
        assert text in out


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"nothing")
    with pytest.raises(runtime.InputError, match="not a TFLite flatbuffer"):
        benchmark_model.main(["--model", str(bad)])
