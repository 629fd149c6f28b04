"""Measures a frozen graph or TFLite model against the Raspberry Pi prize budget (TF's benchmark_model).

Command line:

    python benchmark_model.py --model tf_files/N_int8.tflite [--runs 50] [--warmup 5] [--threads 1 4] [--json]

Reads a `.tflite` or frozen GraphDef `.pb` written by freeze_graph.py; writes nothing. Prints (or,
with `--json`, prints as one JSON object):

- file size in bytes, against the prize's budget (< 5,000,000 bytes);
- parameters: elements of the model's constant weight tensors -- in a TFLite flatbuffer, every
  constant tensor except int32/int64 ones (shapes, slice indices) but with int32 biases; in a
  GraphDef, every float Const of rank >= 1 (batch-norm statistics included, scalars excluded);
- multiply-adds per clip, from the graph's operators and their static shapes: convolutions
  (output elements x kernel area x input channels), depthwise convolutions (output elements x
  kernel area), fully-connected / MatMul and batch matmul (output elements x contracted size).
  Element-wise ops, pooling, softmax and (unfolded, in a .pb) batch norm are not counted;
- single-clip latency (batch 1, one seeded noise clip; a .pb is fed the clip's WAV bytes, so
  DecodeWav is included) with 1 and with 4 threads: median, p90 and max over `--runs` runs
  after `--warmup` runs;
- peak memory: the increase of the process's peak resident set size (`resource.getrusage`
  ru_maxrss) while loading and running the model, measured after the runtime was imported: the
  weights, the interpreter's tensor arena and XNNPACK's repacked weights (or the TF session);
- an estimated Raspberry Pi 3 latency from the multiply-adds, under a stated throughput assumption
  (not a measurement; see runtime.PI3_ASSUMPTION), against the prize's < 175 ms per clip.
"""

import argparse
import json
import resource
import sys

import numpy as np

from kws.data import audio
from kws.export import runtime

BUDGET_BYTES = 5_000_000
BUDGET_MS = 175.0
def frozen_graph_stats(content):
    """{"parameters", "macs", "macs_by_op", "quantized"} of a frozen GraphDef (shapes by TF's inference)."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef.FromString(content)
    parameters = 0
    for node in graph_def.node:
        value = node.attr["value"].tensor if node.op == "Const" else None
        if value is not None and tf.dtypes.as_dtype(value.dtype).is_floating:
            dims = [d.size for d in value.tensor_shape.dim]
            parameters += runtime.elements(dims) if dims else 0
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    macs_by_op = {}
    for op in graph.get_operations():
        if op.type not in ("Conv2D", "DepthwiseConv2dNative", "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"):
            continue
        out_elements = runtime.elements(op.outputs[0].shape.as_list())
        kernel = op.inputs[1].shape.as_list()
        if op.type == "Conv2D":  # filter [h, w, in, out]
            macs = out_elements * runtime.elements(kernel[:3])
        elif op.type == "DepthwiseConv2dNative":  # filter [h, w, in, multiplier]
            macs = out_elements * runtime.elements(kernel[:2])
        else:
            left = op.inputs[0].shape.as_list()
            transposed = op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x")
            macs = out_elements * left[-2 if transposed else -1]
        macs_by_op[op.type] = macs_by_op.get(op.type, 0) + macs
    return {"parameters": parameters, "macs": sum(macs_by_op.values()), "macs_by_op": macs_by_op,
            "quantized": False}


def _peak_rss_bytes():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB, macOS bytes


def measure_latency(path, threads, runs, warmup, seed):
    """({threads: {"median_ms", "p90_ms", "max_ms"}}, peak RSS increase in bytes)."""
    rng = np.random.default_rng(seed)
    clip = (0.1 * rng.standard_normal(audio.CLIP_SAMPLES)).clip(-1, 1).astype(np.float32)
    wav = audio.wav_bytes(clip)
    if path.endswith(".pb"):
        import tensorflow  # noqa: F401  (imported before the baseline: the runtime is not the model)
    else:
        runtime.load_interpreter_class()
    baseline = _peak_rss_bytes()
    latency = {}
    for count in threads:
        model = runtime.load_model(path, count)
        samples, plain = runtime.read_clip(wav, "<benchmark clip>", model.clip_samples)  # padded to the model's length
        seconds = [model.predict(samples, wav, plain)[1] for _ in range(warmup + runs)][warmup:]
        ms = np.array(seconds) * 1e3
        latency[count] = {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
                          "max_ms": float(ms.max())}
        del model
    return latency, _peak_rss_bytes() - baseline


def benchmark(path, runs=50, warmup=5, threads=(1, 4), seed=0):
    """Every figure of the report as a dict (see the module docstring)."""
    # Timed first: loading checks the kind, format and shapes with clear errors, and the memory
    # baseline must come before anything else loads the model.
    latency, peak_bytes = measure_latency(path, threads, runs, warmup, seed)
    with open(path, "rb") as f:
        content = f.read()
    stats = frozen_graph_stats(content) if path.endswith(".pb") else runtime.tflite_graph_stats(content)
    pi3_ms = runtime.pi3_ms(*((0, stats["macs"]) if stats["quantized"] else (stats["macs"], 0)))
    return {"model": path, "format": "frozen GraphDef" if path.endswith(".pb") else "TFLite",
            "file_bytes": len(content), **stats, "runs": runs, "warmup": warmup,
            "latency": {str(k): v for k, v in latency.items()},
            "peak_memory_bytes": peak_bytes,
            "peak_memory_measure": "increase of the process's peak RSS (ru_maxrss) over loading and running "
                                   "the model, after the runtime was imported",
            "pi3_estimate_ms": pi3_ms, "pi3_assumption": runtime.PI3_ASSUMPTION,
            "budget": {"bytes": BUDGET_BYTES, "ms": BUDGET_MS, "size_ok": len(content) < BUDGET_BYTES,
                       "pi3_estimate_ok": pi3_ms < BUDGET_MS}}


def format_report(report):
    ok = {True: "within budget", False: "OVER budget"}
    budget = report["budget"]
    lines = [f"{report['model']} ({report['format']}{', int8' if report['quantized'] else ''})",
             f"  file size        {report['file_bytes']:>14,} bytes   ({ok[budget['size_ok']]}: < {BUDGET_BYTES:,})",
             f"  parameters       {report['parameters']:>14,}",
             f"  multiply-adds    {report['macs']:>14,} per clip  ("
             + ", ".join(f"{k} {v:,}" for k, v in sorted(report["macs_by_op"].items())) + ")",
             f"  latency (ms, batch 1, {report['runs']} runs after {report['warmup']} warm-up):"]
    for count, figures in report["latency"].items():
        lines.append(f"    {count} thread(s)    median {figures['median_ms']:8.3f}   p90 {figures['p90_ms']:8.3f}"
                     f"   max {figures['max_ms']:8.3f}")
    lines += [f"  peak memory      {report['peak_memory_bytes']:>14,} bytes   ({report['peak_memory_measure']})",
              f"  Pi 3 estimate    {report['pi3_estimate_ms']:>14.1f} ms      ({ok[budget['pi3_estimate_ok']]}: "
              f"< {BUDGET_MS:.0f} ms)",
              f"    {report['pi3_assumption']}"]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a .tflite or frozen GraphDef .pb file (freeze_graph.py)")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per thread count (default: 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first (default: 5)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4],
                        help="thread counts to time (default: 1 4; a Pi 3 has 4 cores)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise clip (default: 0)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or min(args.threads) < 1:
        parser.error("--runs and --threads must be >= 1, --warmup >= 0")
    report = benchmark(args.model, args.runs, args.warmup, args.threads, args.seed)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return report

