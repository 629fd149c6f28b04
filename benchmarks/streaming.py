"""Keyword spotting in a 60-minute stream: the spotter against the naive baseline, and its speed.

    python benchmarks/streaming.py --run_dir runs/N [--model tf_files/N_int8.tflite] [--minutes 60] [--seed 0]
        [--work_dir data/bench_streaming] [--clips ../shared/data/speech_commands_real_test]
        [--noise ../shared/data/speech_commands_real/_background_noise_]

1. Builds the stream (make_streaming_test.py, seed `--seed`): the real test clips of `--clips`
   (speakers never seen in training; command words a third of the words, other words the rest,
   reused where the folder has fewer) over the real noise recordings of `--noise` at 5-25 dB SNR.
   It is built once per settings into `--work_dir` and reused.
2. Exports the model: `--run_dir` is frozen with freeze_graph.py `--streaming` into `--work_dir`
   (float and int8 TFLite, the int8 one split into a float feature front end and an int8
   classifier); or `--model` names an exported `.tflite` (with its streaming export beside it,
   if any) and `--float_model` optionally its float twin.
3. Runs spot_keywords.py on the stream, one thread, writing score traces (`--threshold 0`):
     spotter    the int8 Pi export (and the float one), every 100 ms, probabilities averaged over
                500 ms, 1 s of refractory time (spot_keywords.py's defaults);
     naive      the same int8 model every 100 ms with no averaging and no refractory time (a run
                of hops with the same keyword on top is one detection: any spotter does that);
   and times the int8 model on the whole window every hop (`--full_window`) on the first
   `--full_window_minutes` of the stream, against the split model: what computing the features
   of the new audio only saves.
4. Scores each trace (score_streaming.py, 1 s tolerance after the word): recall at 1, 2 and 5
   false alarms per hour (the best threshold for each), recall and false alarms per hour at the
   default threshold 0.7, median latency; the spotter's curve goes to `--work_dir/curve_*.png`.

Prints the table, the ratio of the spotter's recall at 2 false alarms per hour to the naive
baseline's (measured in this run), the real-time factor (processing time / audio time) on this
machine, single thread, and the Raspberry Pi 3 estimate (benchmark_model.PI3_ASSUMPTION);
writes `--work_dir/streaming.json`. The 60-minute run takes a few minutes on 2 cores.
"""

import argparse
import collections
import contextlib
import csv
import io
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import audio  # noqa: E402  (after the path set-up)
import cli  # noqa: E402
import freeze_graph  # noqa: E402
import make_streaming_test  # noqa: E402
import score_streaming  # noqa: E402
import spot_keywords  # noqa: E402
import stream_models  # noqa: E402
import streaming  # noqa: E402

SHARED = os.path.join(ROOT, "..", "shared", "data")
FA_RATES = ("1.0", "2.0", "5.0")
DEFAULT_THRESHOLD = 0.7


def build_stream(args):
    """The stream folder (made once per settings)."""
    folder = os.path.join(args.work_dir, f"stream_{args.minutes:g}min_seed{args.seed}")
    if not os.path.isfile(os.path.join(folder, "stream.json")):
        make_streaming_test.main(["--clips", args.clips, "--noise", args.noise, "--minutes", str(args.minutes),
                                  "--seed", str(args.seed), "--out", folder, "--overwrite"])
    with open(os.path.join(folder, "stream.json")) as f:
        return folder, json.load(f)


def export(args):
    """{"int8": path, "float": path or None} of the models to run."""
    if args.model:
        return {"int8": args.model, "float": args.float_model}
    prefix = os.path.join(args.work_dir, "tf_files", os.path.basename(os.path.normpath(args.run_dir)))
    written = freeze_graph.main(["--run_dir", args.run_dir, "--out", prefix, "--streaming", "--overwrite"])
    return {"int8": written["int8"], "float": written["tflite"]}


def run_spotter(model, stream, out, *extra):
    """spot_keywords.py's stats (its report, printed to stderr, kept out of the table)."""
    with contextlib.redirect_stderr(io.StringIO()):
        stats = spot_keywords.main(["--model", model, "--input", os.path.join(stream, "stream.wav"), "--out", out,
                                    "--num_threads", "1", "--overwrite", *extra])
    stats["model"] = stream_models.load_stream_model(model, 1600, 1, None, "--full_window" in extra)
    return stats


def score(stream, trace_path, refractory_s, curve=None):
    """Figures of one score trace: recall at 1, 2, 5 false alarms per hour, and at the default threshold."""
    words = score_streaming.read_labels(os.path.join(stream, "labels.csv"))
    trace = score_streaming.read_detections(trace_path)
    duration_s = score_streaming.stream_duration_s(os.path.join(stream, "labels.csv"), None)
    points = score_streaming.sweep(words, trace, 1.0, duration_s, refractory_s)
    at_default = score_streaming.summarise(words, streaming.replay(trace, DEFAULT_THRESHOLD, refractory_s), 1.0,
                                           duration_s)
    if curve:
        score_streaming.draw_curve(points, curve, 2.0)
    return {"at_fa_per_hour": {rate: score_streaming.at_rate(points, float(rate)) for rate in FA_RATES},
            "at_threshold": {k: at_default[k] for k in ("recall", "false_alarms_per_hour", "wrong_rate", "latency_s")}}


def false_alarm_sources(stream, trace_path, rate="2.0", refractory_s=1.0, top=3):
    """(false alarms, [(count, clip, word, heard as)] of the most frequent sources) at the threshold of the
    best recall within `rate` false alarms per hour (or the default threshold): with few distinct
    other-word clips, each reused many times, one confusable clip can make most of them."""
    words_csv = os.path.join(stream, "words.csv")
    with open(words_csv, newline="") as f:
        placed = [(float(r["start_s"]), float(r["end_s"]), r["clip"], r["word"]) for r in csv.DictReader(f)]
    words = score_streaming.read_labels(os.path.join(stream, "labels.csv"))
    trace = score_streaming.read_detections(trace_path)
    duration_s = score_streaming.stream_duration_s(os.path.join(stream, "labels.csv"), None)
    best = score_streaming.at_rate(score_streaming.sweep(words, trace, 1.0, duration_s, refractory_s), float(rate))
    threshold = best[0] if best else DEFAULT_THRESHOLD
    _, results = score_streaming.match(words, streaming.replay(trace, threshold, refractory_s), 1.0)
    sources = collections.Counter()
    for (time_s, heard, _), kind, _ in results:
        if kind == "false_alarm":
            near = [w for w in placed if w[0] <= time_s <= w[1] + 1.0]
            sources[(near[-1][2], near[-1][3], heard) if near else ("(noise)", "", heard)] += 1
    return threshold, sum(sources.values()), [(n, *key) for key, n in sources.most_common(top)]


def row(name, figures):
    cells = []
    for rate in FA_RATES:
        best = figures["at_fa_per_hour"][rate]
        cells.append(f"{best[1]:.1%} ({best[0]:.3f})" if best else "-")
    default = figures["at_threshold"]
    latency = default["latency_s"]["median"] if default["latency_s"] else float("nan")
    return (f"{name:<42}" + "".join(f"{c:>17}" for c in cells)
            + f"{default['recall']:>9.1%}{default['false_alarms_per_hour']:>8.1f}{latency:>9.2f}")


def speed_lines(split, whole, hop_ms=100.0):
    """The real-time factors and the Pi 3 estimate. The split and whole-window runs are compared by the
    CPU time of the model's thread: wall time on a shared machine depends on the others' load."""
    split_cpu, whole_cpu = split["model_cpu_s"] / split["audio_s"], whole["model_cpu_s"] / whole["audio_s"]
    lines = [f"real-time factor, int8, 1 thread, this machine (wall time): {split['total_s'] / split['audio_s']:.4f} "
             f"for the whole loop (reading, model, decisions), {split['model_s'] / split['audio_s']:.4f} for the model "
             f"({1e3 * split['model_s'] / split['hops']:.3f} ms per {hop_ms:g} ms hop)",
             f"  CPU time of the model's thread: real-time factor {split_cpu:.4f} "
             f"({1e3 * split['model_cpu_s'] / split['hops']:.3f} ms per hop); the whole window every hop instead "
             f"(first {whole['audio_s'] / 60:.0f} min): {whole_cpu:.4f}, so the new frames only take "
             f"{split_cpu / whole_cpu:.2f}x its time"]
    return lines + spot_keywords.pi3_estimate(split["model"], hop_ms)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", default=None, help="run folder of the model (frozen with --streaming here)")
    parser.add_argument("--model", default=None, help="an exported int8 .tflite instead of --run_dir")
    parser.add_argument("--float_model", default=None, help="with --model: its float .tflite (optional)")
    parser.add_argument("--minutes", type=float, default=60.0, help="stream length in minutes (default: 60)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the stream (default: 0)")
    parser.add_argument("--work_dir", default=os.path.join(ROOT, "data", "bench_streaming"),
                        help="where the stream, exports, traces and curves go (default: data/bench_streaming)")
    parser.add_argument("--clips", default=os.path.join(SHARED, "speech_commands_real_test"),
                        help="labelled clips of the stream (default: ../shared/data/speech_commands_real_test)")
    parser.add_argument("--noise", default=os.path.join(SHARED, "speech_commands_real", "_background_noise_"),
                        help="noise recordings (default: ../shared/data/speech_commands_real/_background_noise_)")
    parser.add_argument("--full_window_minutes", type=float, default=5.0,
                        help="minutes of the stream timed with the whole window every hop (default: 5)")
    args = parser.parse_args(argv)
    if (args.run_dir is None) == (args.model is None):
        parser.error("give exactly one of --run_dir and --model")
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    stream, info = build_stream(args)
    models = export(args)
    traces = {name: os.path.join(args.work_dir, f"trace_{name}.csv") for name in ("int8", "float", "naive", "whole")}
    stats = {"int8": run_spotter(models["int8"], stream, traces["int8"], "--threshold", "0"),
             "naive": run_spotter(models["int8"], stream, traces["naive"], "--threshold", "0", "--smooth_ms", "100",
                                  "--refractory_ms", "0")}
    curves = {kind: os.path.join(args.work_dir, f"curve_{kind}.png") for kind in ("int8", "float")}
    figures = {"spotter, int8 Pi export": score(stream, traces["int8"], 1.0, curves["int8"])}
    if models["float"]:
        stats["float"] = run_spotter(models["float"], stream, traces["float"], "--threshold", "0")
        figures["spotter, float TFLite"] = score(stream, traces["float"], 1.0, curves["float"])
    figures["naive (every hop, no averaging), int8"] = score(stream, traces["naive"], 0.0)
    head = _write_head(os.path.join(stream, "stream.wav"), os.path.join(args.work_dir, "head"),
                       args.full_window_minutes)
    stats["whole"] = run_spotter(models["int8"], head, traces["whole"], "--full_window", "--tail_ms", "0")
    print(f"stream: {info['minutes']:g} min, {info['words']} words, {info['command_words']} command words, "
          f"{info['other_words']} other words (clips: {args.clips}; seed {args.seed})")
    print(f"model: {models['int8']} ({stats['int8']['model'].description})")
    print(f"{'recall at <= N false alarms/h (threshold)':<42}" + "".join(f"{'N = ' + r[:-2]:>17}" for r in FA_RATES)
          + f"{'at 0.7:':>9}{'FA/h':>8}{'lat. s':>9}")
    for name, figure in figures.items():
        print(row(name, figure))
    spotter, naive = figures["spotter, int8 Pi export"], figures["naive (every hop, no averaging), int8"]
    ratio = _recall(spotter, "2.0") / max(_recall(naive, "2.0"), 1e-9)
    print(f"ratio of recall at 2 false alarms per hour, spotter / naive baseline (same run): {ratio:.2f}")
    threshold, count, sources = false_alarm_sources(stream, traces["int8"])
    print(f"false alarms of the int8 spotter at threshold {threshold:.3f}: {count}, of which "
          + ", ".join(f"{n} from {clip} ({word!r} heard as {heard!r})" for n, clip, word, heard in sources))
    print("\n".join(speed_lines(stats["int8"], stats["whole"])))
    report = {"stream": info, "models": models, "figures": figures, "ratio_recall_at_2_fa_per_hour": ratio,
              "real_time_factor": {k: {"total": v["total_s"] / v["audio_s"], "model": v["model_s"] / v["audio_s"],
                                       "model_cpu": v["model_cpu_s"] / v["audio_s"]} for k, v in stats.items()},
              "pi3_hop_ms": stats["int8"]["model"].pi3_hop_ms()}
    cli.write_text(os.path.join(args.work_dir, "streaming.json"), json.dumps(report, indent=2, default=str))
    return report


def _recall(figures, rate):
    best = figures["at_fa_per_hour"][rate]
    return best[1] if best else 0.0


def _write_head(wav, folder, minutes):
    """The first `minutes` of a 16 kHz WAV written as `folder/stream.wav`; returns the folder."""
    os.makedirs(folder, exist_ok=True)
    samples = audio.read_wav(wav)[:int(minutes * 60 * audio.SAMPLE_RATE)]
    audio.write_wav(os.path.join(folder, "stream.wav"), samples)
    return folder


if __name__ == "__main__":
    cli.run(main)
