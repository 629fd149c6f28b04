"""Keyword spotting in long real audio: today's model and rule, the naive classifier and the spotter, side by side.

    python benchmarks/streaming.py --run_dir runs/360_spotter --baseline_run runs/351_stream_mined
        [--work_dir data/bench_streaming] [--real ../shared/data/speech_commands_real]
        [--noise ../shared/data/speech_commands_real/_background_noise_] [--negatives_minutes 180]
        [--mixed_minutes 60] [--seed 0] [--speed_minutes 5]

1. Streams, built once into `--work_dir` and reused (make_streaming_test.py, no clip twice), for the
   validation speakers and for the test speakers of `--real`'s list files:
     mixed      every command-word clip of those speakers, once: a third of the words; the other words
                are every real non-command clip of those speakers and synthetic words of
                vocabulary.STREAM_NEGATIVE_WORDS, alone and in sentences (a talk corpus of synthetic
                speakers of its own, `make_synthetic_dataset.py`, words no model trained on); it ends
                when the command clips run out (or at `--mixed_minutes`);
     negatives  `--negatives_minutes` without a command word: synthetic talk of another talk corpus,
                and stretches of noise alone;
   all over the real noise recordings of `--noise` at 5-25 dB SNR.
2. The spotter: make_spotter.py `--run_dir R --streams <validation mixed> <validation negatives> --out
   R/spotter` (the int8 export, the rule and the per-keyword thresholds, calibrated on the validation
   streams only; `--reuse_spotter` keeps an existing R/spotter).
3. The three on the test streams, int8 TFLite, one thread (every hop's probabilities computed once
   per model and stream, the rules applied to them; streaming.trace_of is the spotter's own rule):
     baseline   `--baseline_run`'s int8 export (or `--baseline_model`) with spot_keywords.py's rule
                (every 100 ms, 500 ms averaging, 1 s refractory time) and one threshold;
     naive      the same model every hop, no averaging, no refractory time;
     spotter    R/spotter with its rule and thresholds.
4. Figures over both test streams together: recall over the mixed stream's command words, false
   alarms over both streams' hours (with the exact 95% Poisson interval, and the keyword-free hours the
   rate rests on). For each model the recall at <= 0.5, 1, 2 and 5 false alarms per hour with the best
   single threshold chosen on the test streams themselves (an upper bound: what no user can choose);
   for the spotter also its calibrated thresholds per target as shipped (chosen on validation: what a
   user gets by default). Recall per keyword, latency, the real-time factor here (spot_keywords.py on
   the first `--speed_minutes` of the mixed test stream, split model and whole window) and the
   Raspberry Pi 3 estimate.

Prints the tables; writes `--work_dir/streaming.json` and `--work_dir/curve.png` (missed command words
against false alarms per hour, the three models, the spotter's calibrated points marked).
"""

import argparse
import contextlib
import io
import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from kws.data import audio
from kws import cli
from kws.stream import make_spotter
from kws.stream import make_streaming_test
from kws.data import make_synthetic_dataset
from kws.stream import score_streaming
from kws.stream import spot_keywords
from kws.stream import stream_models
from kws.stream import streaming
from kws.data import vocabulary

SHARED = os.path.join(ROOT, "..", "shared", "data")
FA_RATES = (0.5, 1.0, 2.0, 5.0)
TOLERANCE_S = 1.0
HOP_MS = 100.0
# spot_keywords.py's defaults, and the naive every-hop classifier
BASELINE_RULE = {"hop_ms": HOP_MS, "smooth_ms": 500.0, "min_hops": 1, "refractory_ms": 1000.0}
NAIVE_RULE = {"hop_ms": HOP_MS, "smooth_ms": HOP_MS, "min_hops": 1, "refractory_ms": 0.0}
DEFAULT_THRESHOLD = 0.7
SPLITS = {"validation": 0, "testing": 1}
KINDS = {"mixed": 0, "negatives": 1}


# ----------------------------------------------------------------------------------------------- streams

def talk_corpus(args, split, kind):
    """The synthetic talk corpus of one stream (`train/`), generated once: its own seed, so its own speakers."""
    folder = os.path.join(args.work_dir, f"talk_{split}_{kind}")
    if not os.path.isfile(os.path.join(folder, make_synthetic_dataset.CORPUS_FILE)):
        speakers = args.talk_speakers[KINDS[kind]]
        make_synthetic_dataset.main(["--out", folder, "--words", ",".join(vocabulary.STREAM_NEGATIVE_WORDS),
                                     "--speakers", str(speakers), "--test_clips", "0", "--overwrite",
                                     "--seed", str(1000 + 10 * SPLITS[split] + KINDS[kind] + args.seed)])
    return os.path.join(folder, "train")


def build_stream(args, split, kind):
    """(stream folder, its stream.json) of one stream (see the module docstring), made once."""
    folder = os.path.join(args.work_dir, f"stream_{split}_{kind}_seed{args.seed}")
    if not os.path.isfile(os.path.join(folder, "stream.json")):
        common = ["--noise", args.noise, "--seed", str(args.seed + SPLITS[split]), "--out", folder, "--overwrite"]
        if kind == "mixed":
            flags = ["--clips", args.real, "--split", split, "--other_clips", talk_corpus(args, split, kind),
                     "--minutes", str(args.mixed_minutes), "--sentence_probability", "0.2"]
        else:
            flags = ["--negatives_only", "--other_clips", talk_corpus(args, split, kind),
                     "--minutes", str(args.negatives_minutes), "--sentence_probability", "0.5",
                     "--noise_only_fraction", "0.2"]
        make_streaming_test.main(flags + common)
    with open(os.path.join(folder, "stream.json"), encoding="utf-8") as f:
        return folder, json.load(f)


def load_stream(folder):
    """{"folder", "words", "duration_s"} of a stream folder."""
    labels_csv = os.path.join(folder, "labels.csv")
    return {"folder": folder, "words": score_streaming.read_labels(labels_csv),
            "duration_s": score_streaming.stream_duration_s(labels_csv, None)}


# ------------------------------------------------------------------------------------------------ models

def baseline_model(args):
    if args.baseline_model:
        return args.baseline_model
    prefix = os.path.join(args.work_dir, "tf_files", os.path.basename(os.path.normpath(args.baseline_run)))
    if not os.path.isfile(prefix + "_int8.tflite"):
        from kws.export import freeze_graph  # TensorFlow: here only (the talk corpora's workers import this module again)

        freeze_graph.main(["--run_dir", args.baseline_run, "--out", prefix, "--streaming", "--overwrite"])
    return prefix + "_int8.tflite"


def spotter_folder(args, validation_streams):
    folder = os.path.join(args.run_dir, "spotter")
    if not (args.reuse_spotter and os.path.isfile(os.path.join(folder, make_spotter.SPOTTER_FILE))):
        make_spotter.main(["--run_dir", args.run_dir, "--streams", *validation_streams, "--out", folder,
                           "--default_target", str(args.default_target), "--overwrite"])
    with open(os.path.join(folder, make_spotter.SPOTTER_FILE), encoding="utf-8") as f:
        return folder, json.load(f)


def hop_probabilities(model_path, stream, hop_ms=HOP_MS):
    """(labels, float32 [hops, classes]): the model's probabilities at every hop of the stream's WAV."""
    hop = round(hop_ms * audio.SAMPLE_RATE / 1000)
    return make_spotter.stream_probabilities(model_path, os.path.join(stream["folder"], "stream.wav"), hop)


# ----------------------------------------------------------------------------------------------- scoring

def evaluate(streams, traces, thresholds, rule):
    """score_streaming.evaluate of one rule over the test streams (their command words and their hours)."""
    return score_streaming.evaluate([(stream["words"], trace, stream["duration_s"]) for stream, trace
                                     in zip(streams, traces)], thresholds, rule["refractory_ms"] / 1000,
                                    rule["min_hops"], TOLERANCE_S)


def sweep(streams, traces, rule, count=300):
    """[(threshold, recall, false alarms per hour)] of one global threshold over the streams' keyword scores."""
    scores = np.concatenate([t.scores[t.keyword[t.label_ids]] for t in traces])
    thresholds = np.unique(np.round(np.concatenate([np.quantile(scores, np.linspace(0, 1, count)),
                                                    np.linspace(0.05, 0.99, 95)]), 4))
    points = []
    for threshold in thresholds[thresholds > 0]:
        figures = evaluate(streams, traces, float(threshold), rule)
        points.append((float(threshold), figures["recall"], figures["false_alarms_per_hour"]))
    return points


def model_figures(streams, probs, labels, rule, calibrated=None):
    """The figures of one model and rule on the test streams: the threshold sweep, the best threshold per
    false-alarm rate, the default threshold 0.7, and, for the spotter, each calibrated target as shipped."""
    smooth_hops = max(1, round(rule["smooth_ms"] / rule["hop_ms"]))
    traces = [streaming.CompiledTrace(streaming.trace_of(p, labels, smooth_hops, rule["hop_ms"] / 1000))
              for p in probs]
    points = sweep(streams, traces, rule)
    best = {}
    for rate in FA_RATES:
        choice = score_streaming.at_rate(points, rate)
        best[stream_models.target_key(rate)] = evaluate(streams, traces, choice[0], rule) | {
            "threshold": choice[0]} if choice else None
    shipped = {target: evaluate(streams, traces, thresholds, rule) for target, thresholds in (calibrated or {}).items()}
    return {"rule": rule, "curve": points, "best_threshold": best, "calibrated": shipped,
            "at_0.7": evaluate(streams, traces, DEFAULT_THRESHOLD, rule)}


# ------------------------------------------------------------------------------------------------ report

def _recall_at(figures, rate):
    best = figures["best_threshold"][stream_models.target_key(rate)]
    return best["recall"] if best else 0.0


def cell(figures):
    if not figures:
        return "-"
    return f"{figures['recall']:.1%} ({figures['false_alarms_per_hour']:.1f})"


def table(results):
    lines = [f"{'recall at <= N false alarms/h (FA/h reached)':<46}" + "".join(f"{'N = ' + f'{r:g}':>16}"
                                                                           for r in FA_RATES) + f"{'at 0.7':>16}"]
    for name, figures in results.items():
        lines.append(f"{name + ', best threshold (test)':<46}"
                     + "".join(f"{cell(figures['best_threshold'][stream_models.target_key(r)]):>16}"
                               for r in FA_RATES)
                     + f"{cell(figures['at_0.7']):>16}")
        if figures["calibrated"]:
            lines.append(f"{name + ', as shipped (validation)':<46}"
                         + "".join(f"{cell(figures['calibrated'].get(stream_models.target_key(r))):>16}"
                                   for r in FA_RATES))
    return lines


def shipped_lines(name, figures, default_target):
    lines = []
    for target, result in figures["calibrated"].items():
        low, high = result["interval"]
        recall_low, recall_high = result["recall_interval"]
        lines.append(f"{name} at its thresholds for {float(target):g} FA/h: {result['recall']:.1%} of "
                     f"{result['command_words']} command words (95% interval {recall_low:.1%}-{recall_high:.1%}), "
                     f"{result['false_alarms']} false alarms in "
                     f"{result['hours']:.2f} h = {result['false_alarms_per_hour']:.2f} per hour (95% interval "
                     f"{low:.2f}-{high:.2f}; {result['keyword_free_hours']:.2f} h without keywords), median latency "
                     + ("-" if result["latency_s"] is None else f"{result['latency_s']:.2f}") + " s after the word"
                     + ("  <- the default" if float(target) == float(default_target) else ""))
    return lines


def per_keyword_lines(results, default_target):
    rows = {}
    for name, figures in results.items():
        key = stream_models.target_key(default_target)
        chosen = figures["calibrated"].get(key) or figures["best_threshold"].get(key)
        if chosen:
            rows[name] = chosen["recall_by_label"]
    labels = sorted({label for by_label in rows.values() for label in by_label})
    lines = [f"recall per keyword at {float(default_target):g} FA/h" + " " * 12 + "".join(f"{k:>7}" for k in labels)]
    for name, by_label in rows.items():
        lines.append(f"{name:<45}" + "".join(f"{by_label.get(k, 0):>7.0%}" for k in labels))
    return lines


def draw_curves(results, path):
    """PNG of missed command words against false alarms per hour, one line per model (atomic write)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for name, figures in results.items():
        points = sorted(figures["curve"], key=lambda p: p[2])
        line, = ax.plot([p[2] for p in points], [1 - p[1] for p in points], label=name)
        for target, result in figures["calibrated"].items():
            ax.plot([result["false_alarms_per_hour"]], [1 - result["recall"]], "o", color=line.get_color())
            ax.annotate(f"{float(target):g}", (result["false_alarms_per_hour"], 1 - result["recall"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=8)
    for rate in FA_RATES:
        ax.axvline(rate, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xscale("symlog", linthresh=0.5)
    ax.set_xlim(0, max(300.0, ax.get_xlim()[1]))
    ticks = [t for t in (0.5, 1, 2, 5, 10, 30, 100, 300, 1000) if t <= ax.get_xlim()[1]]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_ylim(0, 1)
    ax.set_xlabel("false alarms per hour (test streams)")
    ax.set_ylabel("command words missed (fraction)")
    ax.set_title("dots: the spotter's thresholds calibrated on validation for 0.5, 1, 2, 5 FA/h", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    try:
        cli.write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    finally:
        plt.close(fig)


def speed(args, spotter, stream, hop_ms):
    """spot_keywords.py's timing of the spotter folder on the first `--speed_minutes` of a stream, the split
    model against the whole window every hop (CPU time of the model's thread: the machine may be shared)."""
    head = os.path.join(args.work_dir, "speed_head")
    os.makedirs(head, exist_ok=True)
    samples = audio.read_wav(os.path.join(stream["folder"], "stream.wav"))
    audio.write_wav(os.path.join(head, "stream.wav"), samples[:int(args.speed_minutes * 60 * audio.SAMPLE_RATE)])
    stats = {}
    for name, extra in (("split", []), ("whole", ["--full_window"])):
        with contextlib.redirect_stderr(io.StringIO()):
            stats[name] = spot_keywords.main(["--model", spotter, "--input", os.path.join(head, "stream.wav"),
                                              "--out", os.path.join(head, f"detections_{name}.csv"), "--overwrite",
                                              "--num_threads", "1", *extra])
        stats[name]["model"] = stream_models.load_stream_model(spotter, round(hop_ms * audio.SAMPLE_RATE / 1000), 1,
                                                               None, bool(extra))
    split, whole = stats["split"], stats["whole"]
    lines = [f"real-time factor, int8, 1 thread, this machine: {split['total_s'] / split['audio_s']:.4f} for the "
             f"whole loop (wall time), CPU time of the model's thread {split['model_cpu_s'] / split['audio_s']:.4f} "
             f"({1e3 * split['model_cpu_s'] / split['hops']:.3f} ms per {hop_ms:g} ms hop); the whole window every "
             f"hop: {whole['model_cpu_s'] / whole['audio_s']:.4f}"]
    lines += spot_keywords.pi3_estimate(split["model"], hop_ms)
    figures = {k: {"total": v["total_s"] / v["audio_s"], "model_cpu": v["model_cpu_s"] / v["audio_s"]}
               for k, v in stats.items()}
    return lines, figures | {"pi3_hop_ms": split["model"].pi3_hop_ms()}


# ----------------------------------------------------------------------------------------------- command

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run_dir", required=True, help="run folder of the spotter (R/spotter is made from it)")
    parser.add_argument("--baseline_run", default=None, help="run folder of today's model (experiment 351)")
    parser.add_argument("--baseline_model", default=None, help="or its exported int8 .tflite (streaming files beside)")
    parser.add_argument("--reuse_spotter", action="store_true", help="keep an existing R/spotter (default: make it)")
    parser.add_argument("--default_target", type=float, default=make_spotter.DEFAULT_TARGET,
                        help="false alarms per hour of the spotter's default thresholds (make_spotter.py's "
                             f"--default_target, default: {make_spotter.DEFAULT_TARGET:g})")
    parser.add_argument("--work_dir", default=os.path.join(ROOT, "data", "bench_streaming"),
                        help="streams, talk corpora, exports and figures (default: data/bench_streaming)")
    parser.add_argument("--real", default=os.path.join(SHARED, "speech_commands_real"),
                        help="real clips with validation and testing list files "
                             "(default: ../shared/data/speech_commands_real)")
    parser.add_argument("--noise", default=os.path.join(SHARED, "speech_commands_real", "_background_noise_"),
                        help="noise recordings (default: --real's _background_noise_)")
    parser.add_argument("--mixed_minutes", type=float, default=60.0,
                        help="cap of the mixed streams, which end when their command clips run out (default: 60)")
    parser.add_argument("--negatives_minutes", type=float, default=180.0,
                        help="length of the negatives-only streams (default: 180)")
    parser.add_argument("--talk_speakers", type=int, nargs=2, default=[25, 130], metavar=("MIXED", "NEGATIVES"),
                        help="synthetic speakers of the talk corpora of the mixed and the negatives streams "
                             "(default: 25 130; enough words that none is used twice)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the streams (default: 0)")
    parser.add_argument("--speed_minutes", type=float, default=5.0,
                        help="minutes of the mixed test stream timed with spot_keywords.py (default: 5)")
    args = parser.parse_args(argv)
    if (args.baseline_run is None) == (args.baseline_model is None):
        parser.error("give exactly one of --baseline_run and --baseline_model")
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    built = {(split, kind): build_stream(args, split, kind) for split in SPLITS for kind in KINDS}
    spotter, config = spotter_folder(args, [built[("validation", kind)][0] for kind in KINDS])
    test = [load_stream(built[("testing", kind)][0]) for kind in KINDS]
    models = {"baseline": baseline_model(args), "spotter": os.path.join(spotter, config["model"])}
    probs = {}
    for name, path in models.items():
        labels, probs[name] = None, []
        for stream in test:
            labels, stream_probs = hop_probabilities(path, stream, config["hop_ms"] if name == "spotter" else HOP_MS)
            probs[name].append(stream_probs)
        probs[name] = (labels, probs[name])
    rule = {key: config[key] for key in ("hop_ms", "smooth_ms", "min_hops", "refractory_ms")}
    results = {"today's model (351 rule)": model_figures(test, probs["baseline"][1], probs["baseline"][0], BASELINE_RULE),
               "naive every-hop classifier": model_figures(test, probs["baseline"][1], probs["baseline"][0], NAIVE_RULE),
               "spotter (R/spotter)": model_figures(test, probs["spotter"][1], probs["spotter"][0], rule,
                                                    config["thresholds"])}
    for (split, kind), (folder, info) in built.items():
        print(f"{split} {kind} stream: {info['minutes']:.1f} min, {info['command_words']} command words, "
              f"{info['other_words']} other words, {info.get('keyword_free_minutes', float('nan')):.1f} min without "
              f"keywords, ended by {info.get('ended_by', '?')} ({folder})")
    print(f"spotter: {spotter}: every {config['hop_ms']:g} ms, {config['smooth_ms']:g} ms averaging, "
          f"{config['min_hops']} hop(s) above the threshold, {config['refractory_ms']:g} ms refractory time; "
          f"calibrated on the validation streams")
    print("\n".join(table(results)))
    print("\n".join(shipped_lines("spotter", results["spotter (R/spotter)"], config["default_target_fa_per_hour"])))
    print("\n".join(per_keyword_lines(results, config["default_target_fa_per_hour"])))
    ratio = {name: _recall_at(results["spotter (R/spotter)"], 2) / max(_recall_at(results[name], 2), 1e-9)
             for name in ("today's model (351 rule)", "naive every-hop classifier")}
    print("ratio of recall at <= 2 false alarms per hour, each at its best test threshold (same run): spotter / "
          + ", spotter / ".join(f"{name} {value:.2f}" for name, value in ratio.items()))
    speed_text, speed_figures = speed(args, spotter, test[0], config["hop_ms"])
    print("\n".join(speed_text))
    curve = os.path.join(args.work_dir, "curve.png")
    draw_curves(results, curve)
    print(f"wrote {curve}")
    report = {"streams": {f"{split}_{kind}": info for (split, kind), (_, info) in built.items()},
              "spotter": config, "models": models, "results": results, "speed": speed_figures,
              "ratio_recall_at_2_fa_per_hour": ratio}
    cli.write_text(os.path.join(args.work_dir, "streaming.json"), json.dumps(report, indent=2, default=str))
    return report


if __name__ == "__main__":
    cli.run(main)
