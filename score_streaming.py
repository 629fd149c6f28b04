"""Scores keyword detections in a stream against the words placed in it; draws the threshold curve.

Command line:

    python score_streaming.py --labels data/stream60/labels.csv --detections detections.csv
    python score_streaming.py --labels data/stream60/labels.csv --detections trace.csv \\
        --curve curve.png --target_fa_per_hour 2          # a score trace: the whole curve

Reads:
- `--labels`: `label,start_s,end_s` of every command word in the stream (make_streaming_test.py);
- `--detections`: spot_keywords.py's output, CSV `time_s,label,score` or JSON lines. A file that
  holds `_silence_`/`_unknown_` rows is a score trace (spot_keywords.py `--threshold 0`: the top
  label of every hop); its detections at a threshold are replayed with spot_keywords.py's rule
  (streaming.replay) with `--refractory_ms`, which must be the spotter's (default: the same 1000);
- the stream's length for the rate per hour: `--duration_s`, else `stream.json` or `stream.wav`
  beside the labels file.

Matching: a detection at time t can only be caused by a word with start_s <= t <= end_s +
`--tolerance_s` (default 1.0 s; t is when the spotter decided, after the word). In time order, a
detection takes the first such word of its label that is not found yet (a hit); otherwise the first
such word not yet found nor claimed by another wrong detection (the word was heard as the wrong
word); otherwise it is a false alarm (nothing said, an other word, or a repeat of a word already
found). Per word: found, found only as a wrong word, or missed.

Prints (`--json`: one JSON object): command words, found (recall), found only as the wrong word,
missed, false alarms and false alarms per hour, wrong-word detections, latency from word end to
detection (median, p90), per-label recall. With a score trace and `--threshold` (default 0.7, the
spotter's) it scores the replayed detections, and sweeps the threshold: the recall at 1, 2 and 5
false alarms per hour, the threshold that meets `--target_fa_per_hour` with the most words found,
and with `--curve PNG` (written atomically) the curve of missed words against false alarms per hour.
"""

import argparse
import csv
import json
import os
import wave

import numpy as np

import cli
import labels as label_sets
import streaming

CURVE_THRESHOLDS = 400  # quantiles of the trace's keyword scores tried as thresholds
FA_RATES = (1.0, 2.0, 5.0)


class ScoreError(cli.UserError):
    """Unusable input; the message names the file and the problem."""


def read_labels(path):
    """[(label, start_s, end_s)] of a labels.csv, sorted by start."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"label", "start_s", "end_s"} <= set(reader.fieldnames):
                raise ScoreError(f"{path}: expected the header label,start_s,end_s, found {reader.fieldnames}")
            words = [(row["label"], float(row["start_s"]), float(row["end_s"])) for row in reader]
    except (OSError, ValueError, TypeError) as e:
        raise ScoreError(f"{path}: cannot read the word labels ({e})") from e
    return sorted(words, key=lambda w: w[1])


def read_detections(path):
    """[(time_s, label, score)] of spot_keywords.py's CSV or JSON lines, in time order."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if text.lstrip().startswith("{"):
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            rows = list(csv.DictReader(text.splitlines()))
            if rows and not {"time_s", "label", "score"} <= set(rows[0]):
                raise ScoreError(f"{path}: expected the header time_s,label,score")
        detections = [(float(r["time_s"]), r["label"], float(r["score"])) for r in rows]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ScoreError(f"{path}: cannot read the detections ({e})") from e
    return sorted(detections, key=lambda d: d[0])


def is_trace(detections):
    """True for a score trace (rows of non-keyword labels: every hop's top label)."""
    return any(label in (label_sets.SILENCE_LABEL, label_sets.UNKNOWN_LABEL) for _, label, _ in detections)


def stream_duration_s(labels_path, duration_s):
    """The stream's length: given, or from stream.json / stream.wav beside the labels."""
    if duration_s:
        return duration_s
    folder = os.path.dirname(os.path.abspath(labels_path))
    info, wav = os.path.join(folder, "stream.json"), os.path.join(folder, "stream.wav")
    if os.path.isfile(info):
        with open(info, encoding="utf-8") as f:
            return float(json.load(f)["minutes"]) * 60
    if os.path.isfile(wav):
        with wave.open(wav) as w:
            return w.getnframes() / w.getframerate()
    raise ScoreError(f"{folder}: no stream.json or stream.wav beside the labels; pass --duration_s")


def match(words, detections, tolerance_s):
    """(outcome per word: "found" | "wrong" | "missed", [(detection, kind: hit | wrong | false_alarm,
    word index or None)]) with the rule of the module docstring."""
    starts = np.array([w[1] for w in words])
    longest_s = max((end - start for _, start, end in words), default=0.0)
    outcome, claimed, results = ["missed"] * len(words), set(), []
    for detection in detections:
        time_s, label, _ = detection
        # the words that started by then and may still count: start_s in [t - longest - tolerance, t]
        first = int(np.searchsorted(starts, time_s - longest_s - tolerance_s, side="left"))
        last = int(np.searchsorted(starts, time_s, side="right"))
        candidates = [i for i in range(first, last) if words[i][2] + tolerance_s >= time_s]
        hit = next((i for i in candidates if words[i][0] == label and outcome[i] != "found"), None)
        if hit is not None:
            outcome[hit] = "found"
            results.append((detection, "hit", hit))
            continue
        wrong = next((i for i in candidates if outcome[i] == "missed" and i not in claimed), None)
        if wrong is not None:
            outcome[wrong] = "wrong"
            claimed.add(wrong)
            results.append((detection, "wrong", wrong))
        else:
            results.append((detection, "false_alarm", None))
    return outcome, results


def summarise(words, detections, tolerance_s, duration_s):
    """The figures of the module docstring as a dict."""
    outcome, results = match(words, detections, tolerance_s)
    total = max(len(words), 1)
    hours = duration_s / 3600
    latencies = [d[0] - words[i][2] for d, kind, i in results if kind == "hit"]
    false_alarms = sum(kind == "false_alarm" for _, kind, _ in results)
    per_label = {}
    for (label, _, _), result in zip(words, outcome):
        found, count = per_label.get(label, (0, 0))
        per_label[label] = (found + (result == "found"), count + 1)
    return {"command_words": len(words), "detections": len(detections),
            "found": outcome.count("found"), "recall": outcome.count("found") / total,
            "found_as_wrong_word": outcome.count("wrong"), "wrong_rate": outcome.count("wrong") / total,
            "missed": outcome.count("missed"), "false_alarms": false_alarms,
            "false_alarms_per_hour": false_alarms / hours if hours else float("nan"),
            "wrong_word_detections": sum(kind == "wrong" for _, kind, _ in results),
            "latency_s": {"median": float(np.median(latencies)), "p90": float(np.percentile(latencies, 90))}
            if latencies else None,
            "recall_by_label": {label: found / count for label, (found, count) in sorted(per_label.items())},
            "duration_s": duration_s, "tolerance_s": tolerance_s}


def sweep(words, trace, tolerance_s, duration_s, refractory_s):
    """[(threshold, recall, false alarms per hour, wrong rate)] over thresholds from the trace's scores."""
    scores = np.array([score for _, label, score in trace
                       if label not in (label_sets.SILENCE_LABEL, label_sets.UNKNOWN_LABEL)])
    if not len(scores):
        return []
    thresholds = np.unique(np.round(np.concatenate([np.quantile(scores, np.linspace(0, 1, CURVE_THRESHOLDS)),
                                                    np.linspace(0.05, 0.99, 95)]), 4))
    points = []
    for threshold in thresholds[thresholds > 0]:
        result = summarise(words, streaming.replay(trace, threshold, refractory_s), tolerance_s, duration_s)
        points.append((float(threshold), result["recall"], result["false_alarms_per_hour"], result["wrong_rate"]))
    return points


def at_rate(points, fa_per_hour):
    """(threshold, recall, false alarms per hour) of the most words found at <= fa_per_hour, or None."""
    allowed = [p for p in points if p[2] <= fa_per_hour]
    if not allowed:
        return None
    best = max(allowed, key=lambda p: (p[1], -p[0]))  # the most words; of equals, the lowest threshold
    return best[0], best[1], best[2]


def draw_curve(points, path, target):
    """PNG of missed words against false alarms per hour, the target rate marked (atomic write)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fa = np.array([p[2] for p in points])
    missed = 1 - np.array([p[1] for p in points])
    fig, ax = plt.subplots(figsize=(6, 4.5))
    order = np.argsort(fa)
    ax.plot(fa[order], missed[order], marker=".", markersize=3)
    best = at_rate(points, target)
    if best:
        ax.axvline(target, color="grey", linestyle=":")
        ax.plot([best[2]], [1 - best[1]], "o", color="red",
                label=f"threshold {best[0]:.3f}: {best[1]:.1%} found at {best[2]:.1f} FA/h")
        ax.legend(loc="upper right")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("false alarms per hour")
    ax.set_ylabel("command words missed (fraction)")
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    try:
        cli.write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    finally:
        plt.close(fig)


def format_summary(result):
    lines = [f"command words: {result['command_words']}, detections: {result['detections']}, "
             f"stream {result['duration_s'] / 3600:.2f} h, tolerance {result['tolerance_s']:g} s after the word",
             f"found: {result['found']} ({result['recall']:.1%}), found only as the wrong word: "
             f"{result['found_as_wrong_word']} ({result['wrong_rate']:.1%}), missed: {result['missed']}",
             f"false alarms: {result['false_alarms']} ({result['false_alarms_per_hour']:.1f} per hour), "
             f"wrong-word detections: {result['wrong_word_detections']}"]
    if result["latency_s"]:
        lines.append(f"latency from word end to detection: median {result['latency_s']['median']:.2f} s, "
                     f"p90 {result['latency_s']['p90']:.2f} s")
    lines.append("recall by label: " + ", ".join(f"{k} {v:.0%}" for k, v in result["recall_by_label"].items()))
    return lines


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", required=True, help="labels.csv of make_streaming_test.py (label,start_s,end_s)")
    parser.add_argument("--detections", required=True, help="spot_keywords.py output (detections or a score trace)")
    parser.add_argument("--tolerance_s", type=float, default=1.0,
                        help="latest detection after a word's end that still counts for it, s (default: 1.0)")
    parser.add_argument("--duration_s", type=float, default=None,
                        help="stream length in s (default: from stream.json or stream.wav beside --labels)")
    parser.add_argument("--threshold", type=float, default=0.7,
                        help="with a score trace: the threshold whose detections are scored (default: 0.7)")
    parser.add_argument("--refractory_ms", type=float, default=1000.0,
                        help="with a score trace: the spotter's refractory time in ms (default: 1000)")
    parser.add_argument("--target_fa_per_hour", type=float, default=2.0,
                        help="with a score trace: the false-alarm rate whose threshold is named (default: 2)")
    parser.add_argument("--curve", default=None, help="with a score trace: PNG of the curve to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --curve file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)
    if args.tolerance_s < 0 or not 0 < args.threshold <= 1 or args.refractory_ms < 0 or args.target_fa_per_hour < 0:
        parser.error("--tolerance_s, --refractory_ms, --target_fa_per_hour must be >= 0, --threshold in (0, 1]")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.curve:
        cli.check_outputs([args.curve], [args.labels, args.detections], args.overwrite)
    words, detections = read_labels(args.labels), read_detections(args.detections)
    duration_s = stream_duration_s(args.labels, args.duration_s)
    trace = is_trace(detections)
    if trace:
        detections_at_threshold = streaming.replay(detections, args.threshold, args.refractory_ms / 1000)
    else:
        detections_at_threshold = detections
    result = summarise(words, detections_at_threshold, args.tolerance_s, duration_s)
    if trace:
        points = sweep(words, detections, args.tolerance_s, duration_s, args.refractory_ms / 1000)
        result.update(threshold=args.threshold, refractory_ms=args.refractory_ms,
                      curve=[{"threshold": t, "recall": r, "false_alarms_per_hour": f, "wrong_rate": w}
                             for t, r, f, w in points],
                      at_fa_per_hour={str(rate): at_rate(points, rate) for rate in sorted({*FA_RATES,
                                                                                           args.target_fa_per_hour})})
        if args.curve:
            draw_curve(points, args.curve, args.target_fa_per_hour)
    if args.json:
        print(json.dumps(result, indent=2))
        return result
    print("\n".join(format_summary(result)))
    if trace:
        print(f"(score trace replayed at threshold {args.threshold:g}, refractory {args.refractory_ms:g} ms)")
        for rate, best in result["at_fa_per_hour"].items():
            print(f"at <= {float(rate):g} false alarms per hour: " + (
                f"{best[1]:.1%} found, threshold {best[0]:.4f} ({best[2]:.1f} per hour)" if best
                else "no threshold gets there"))
        best = result["at_fa_per_hour"][str(args.target_fa_per_hour)]
        if best:
            print(f"threshold for {args.target_fa_per_hour:g} false alarms per hour: {best[0]:.4f}")
        if args.curve:
            print(f"wrote {args.curve}")
    return result


if __name__ == "__main__":
    cli.run(main)
