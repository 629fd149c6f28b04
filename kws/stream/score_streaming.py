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

Rates: false alarms per hour are per hour of the whole stream (its words included), as a
listener hears it; each comes with its exact 95% Poisson (Garwood) interval (`poisson_interval`)
and the keyword-free hours it rests on (`keyword_free_hours`: the stream's time outside every
[start_s, end_s + tolerance_s] of a command word, where a detection can only be a false alarm).

Prints (`--json`: one JSON object): command words, found (recall), found only as the wrong word,
missed, false alarms, false alarms per hour with the interval and the keyword-free hours,
wrong-word detections, latency from word end to detection (median, p90), per-label recall. With a
score trace and `--threshold` (default 0.7, the spotter's) and `--min_hops` (default 1) it scores
the replayed detections, and sweeps the threshold: the recall at 0.5, 1, 2 and 5 false alarms per
hour (each with its interval), the threshold that meets `--target_fa_per_hour` with the most
words found, and with `--curve PNG` (written atomically) the curve of missed words against false
alarms per hour.

As a library (make_spotter.py, benchmarks/streaming.py): `sweep`/`at_rate` (one threshold, or
per-keyword dicts, and min_hops), `evaluate` (one rule over several streams) and `calibrate`
(per-keyword thresholds that meet a false-alarm rate over calibration streams; its docstring
has the method).
"""

import argparse
import csv
import json
import os
import wave

import numpy as np

from kws import cli
from kws.data import labels as label_sets
from kws.stream import streaming

CURVE_THRESHOLDS = 400  # quantiles of the trace's keyword scores tried as thresholds
FA_RATES = (0.5, 1.0, 2.0, 5.0)
CONFIDENCE = 0.95  # of the false-alarm rate's interval
KEYWORD_CANDIDATES = 120  # thresholds tried per keyword in `calibrate`: the top ones all, then spread
GLOBAL_CANDIDATES = 200  # global thresholds `calibrate` compares its per-keyword rule with
# No keyword's threshold below the global threshold that meets FLOOR_FACTOR x the target: a few hours of
# calibration negatives hold no false alarm at all for most keywords, and without a floor their
# thresholds fall to wherever their words are, fitted to the absent (see `calibrate`).
FLOOR_FACTOR = 4.0
NEVER_FIRES = 1.01  # the threshold calibrate gives a keyword it cannot find within the budget (scores are <= 1)
UNSEEN_THRESHOLD = 0.5  # calibrate_shares' threshold for a keyword never on top in the talk, without a floor


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
            "false_alarms_interval": poisson_interval(false_alarms, hours) if hours else None,
            "keyword_free_hours": keyword_free_hours(words, duration_s, tolerance_s),
            "wrong_word_detections": sum(kind == "wrong" for _, kind, _ in results),
            "latency_s": {"median": float(np.median(latencies)), "p90": float(np.percentile(latencies, 90))}
            if latencies else None,
            "recall_by_label": {label: found / count for label, (found, count) in sorted(per_label.items())},
            "duration_s": duration_s, "tolerance_s": tolerance_s}


def keyword_free_hours(words, duration_s, tolerance_s):
    """Hours of [0, duration_s] outside every [start_s, end_s + tolerance_s] of a command word: the
    time in which a detection can only be a false alarm (`words`: [(label, start_s, end_s)])."""
    covered, reach = 0.0, 0.0
    for start, end in sorted((w[1], w[2] + tolerance_s) for w in words
                             if w[0] not in (label_sets.SILENCE_LABEL, label_sets.UNKNOWN_LABEL)):
        start, end = max(start, reach), min(end, duration_s)
        if end > start:
            covered, reach = covered + end - start, end
    return max(duration_s - covered, 0.0) / 3600


def poisson_interval(count, hours, confidence=CONFIDENCE):
    """(low, high) false alarms per hour: the exact (Garwood) interval of a Poisson rate of which
    `count` events were seen in `hours` (0 events in 1 h: (0, 3.69) at 95%)."""
    from scipy.stats import chi2  # not on the Pi's path: spot_keywords.py never imports this module

    alpha = 1 - confidence
    low = 0.0 if count == 0 else chi2.ppf(alpha / 2, 2 * count) / 2
    high = chi2.ppf(1 - alpha / 2, 2 * count + 2) / 2
    return float(low / hours), float(high / hours)


def recall_interval(found, total, confidence=CONFIDENCE):
    """(low, high) of a recall of `found` words out of `total`: the Wilson score interval (0 of 0: (0, 1))."""
    if total == 0:
        return 0.0, 1.0
    from scipy.stats import norm  # not on the Pi's path, as poisson_interval

    z = float(norm.ppf(1 - (1 - confidence) / 2))
    share = found / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


def sweep(words, trace, tolerance_s, duration_s, refractory_s, min_hops=1, candidates=None):
    """[(thresholds, recall, false alarms per hour, wrong rate, false alarms)] of the rule replayed at
    each candidate (a float for every keyword or a {keyword: threshold} dict); by default the global
    thresholds from the trace's keyword scores, ascending."""
    compiled = trace if isinstance(trace, streaming.CompiledTrace) else streaming.CompiledTrace(trace)
    if candidates is None:
        scores = compiled.scores[compiled.keyword[compiled.label_ids]] if len(compiled.times) else np.zeros(0)
        if not len(scores):
            return []
        thresholds = np.unique(np.round(np.concatenate([np.quantile(scores, np.linspace(0, 1, CURVE_THRESHOLDS)),
                                                        np.linspace(0.05, 0.99, 95)]), 4))
        candidates = [float(t) for t in thresholds[thresholds > 0]]
    points = []
    for thresholds in candidates:
        detections = streaming.replay_compiled(compiled, thresholds, refractory_s, min_hops)
        result = summarise(words, detections, tolerance_s, duration_s)
        points.append((thresholds, result["recall"], result["false_alarms_per_hour"], result["wrong_rate"],
                       result["false_alarms"]))
    return points


def at_rate(points, fa_per_hour):
    """(thresholds, recall, false alarms per hour) of the most words found at <= fa_per_hour, or None;
    of equals, the first point (the lowest threshold of a sweep)."""
    allowed = [(i, p) for i, p in enumerate(points) if p[2] <= fa_per_hour]
    if not allowed:
        return None
    _, best = max(allowed, key=lambda item: (item[1][1], -item[0]))
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


def interval_text(interval, confidence=CONFIDENCE):
    return f"{confidence:.0%} interval {interval[0]:.2f}-{interval[1]:.2f}" if interval else "no interval"


def evaluate(streams, thresholds, refractory_s, min_hops, tolerance_s):
    """Figures of one rule over several streams [(words, trace, duration_s)]: command words, found,
    recall, false alarms, hours, false alarms per hour of all the streams' time with its interval,
    keyword-free hours, false alarms by label, recall by label, median latency (s after the word)."""
    found = words_total = false_alarms = 0
    seconds = free_hours = 0.0
    by_label, words_by_label, latencies = {}, {}, []
    for words, trace, duration_s in streams:
        detections = streaming.replay(trace, thresholds, refractory_s, min_hops)
        outcome, results = match(words, detections, tolerance_s)
        found, words_total = found + outcome.count("found"), words_total + len(words)
        for (time_s, label, _), kind, index in results:
            if kind == "false_alarm":
                false_alarms += 1
                by_label[label] = by_label.get(label, 0) + 1
            elif kind == "hit":
                latencies.append(time_s - words[index][2])
        for (label, _, _), result in zip(words, outcome):
            hits, count = words_by_label.get(label, (0, 0))
            words_by_label[label] = (hits + (result == "found"), count + 1)
        seconds += duration_s
        free_hours += keyword_free_hours(words, duration_s, tolerance_s)
    hours = seconds / 3600
    return {"command_words": words_total, "found": found, "recall": found / max(words_total, 1),
            "recall_interval": list(recall_interval(found, words_total)),
            "false_alarms": false_alarms, "hours": hours, "keyword_free_hours": free_hours,
            "false_alarms_per_hour": false_alarms / hours if hours else float("nan"),
            "interval": list(poisson_interval(false_alarms, hours)) if hours else None,
            "false_alarms_by_label": dict(sorted(by_label.items())),
            "recall_by_label": {label: hits / count for label, (hits, count) in sorted(words_by_label.items())},
            "latency_s": float(np.median(latencies)) if latencies else None}


def _compiled_streams(streams):
    return [(words, trace if isinstance(trace, streaming.CompiledTrace) else streaming.CompiledTrace(trace),
             duration_s) for words, trace, duration_s in streams]


def _counts(streams, thresholds, refractory_s, min_hops, tolerance_s):
    """({label: words found}, {label: false alarms}) of a rule over compiled streams."""
    found, false_alarms = {}, {}
    for words, compiled, _ in streams:
        detections = streaming.replay_compiled(compiled, thresholds, refractory_s, min_hops)
        outcome, results = match(words, detections, tolerance_s)
        for (label, _, _), result in zip(words, outcome):
            if result == "found":
                found[label] = found.get(label, 0) + 1
        for (_, label, _), kind, _ in results:
            if kind == "false_alarm":
                false_alarms[label] = false_alarms.get(label, 0) + 1
    return found, false_alarms


def _candidates(streams, keyword):
    """Thresholds worth trying for a keyword: its trace scores (all of the highest, then spread)."""
    scores = np.unique(np.concatenate([compiled.keyword_scores(keyword) for _, compiled, _ in streams]))
    top = KEYWORD_CANDIDATES // 2
    if len(scores) <= KEYWORD_CANDIDATES:
        return scores.tolist()
    rest = scores[:-top][np.unique(np.linspace(0, len(scores) - top - 1, KEYWORD_CANDIDATES - top).astype(int))]
    return np.concatenate([rest, scores[-top:]]).tolist()


def keyword_curves(streams, refractory_s, min_hops, tolerance_s):
    """{keyword: [(threshold, words of it found, false alarms labelled with it)]}, each keyword
    replayed alone over compiled streams, thresholds ascending."""
    keywords = sorted({label for _, compiled, _ in streams for label, is_kw in zip(compiled.labels, compiled.keyword)
                       if is_kw})
    curves = {}
    for keyword in keywords:
        points = []
        for threshold in _candidates(streams, keyword):
            found, false_alarms = _counts(streams, {keyword: threshold}, refractory_s, min_hops, tolerance_s)
            points.append((threshold, found.get(keyword, 0), false_alarms.get(keyword, 0)))
        curves[keyword] = points
    return curves


def _allocate(curves, budget):
    """{keyword: threshold}: one point per keyword's curve with the most words found in total while the
    sum of their false alarms stays <= budget (a multiple-choice knapsack, exact for the sum of the
    keywords' curves; ties: fewer false alarms). A keyword without a point that finds words gets NEVER_FIRES."""
    best = {0: (0, 0, {})}  # false alarms used -> (words found, -false alarms, choice)
    for keyword, points in curves.items():
        # per (false alarms) the most words, at the lowest threshold: points come in ascending thresholds
        options = {}
        for threshold, found, false_alarms in points:
            if found and false_alarms <= budget and found > options.get(false_alarms, (0, None))[0]:
                options[false_alarms] = (found, threshold)
        merged = dict(best)
        for used, (found_so_far, _, choice) in best.items():
            for false_alarms, (found, threshold) in options.items():
                total = used + false_alarms
                if total > budget:
                    continue
                candidate = (found_so_far + found, -total, {**choice, keyword: threshold})
                if total not in merged or candidate[:2] > merged[total][:2]:
                    merged[total] = candidate
        best = merged
    _, _, choice = max(best.values(), key=lambda v: v[:2])
    return {keyword: choice.get(keyword, NEVER_FIRES) for keyword in curves}


def _enforce(streams, thresholds, curves, budget, refractory_s, min_hops, tolerance_s):
    """Thresholds raised, keyword with the most false alarms first, to its next candidate (past the
    last: NEVER_FIRES), until the whole rule's false alarms over all streams are <= budget."""
    thresholds = dict(thresholds)
    while True:
        _, false_alarms = _counts(streams, thresholds, refractory_s, min_hops, tolerance_s)
        if sum(false_alarms.values()) <= budget:
            return thresholds
        worst = max(false_alarms, key=lambda k: (false_alarms[k], k))
        higher = [t for t, _, _ in curves.get(worst, []) if t > thresholds.get(worst, NEVER_FIRES)]
        thresholds[worst] = higher[0] if higher else NEVER_FIRES


def _best_global(global_points, budget):
    """(threshold, words found) of the global threshold that finds the most words within `budget` false
    alarms (of equals, the lowest), or (None, 0)."""
    allowed = [(words, -t) for t, (words, false_alarms) in global_points if false_alarms <= budget]
    if not allowed:
        return None, 0
    words, negative = max(allowed)
    return -negative, words


def _global_points(streams, curves, refractory_s, min_hops, tolerance_s):
    """[(threshold, (words found, false alarms))] of one threshold for every keyword, at up to
    GLOBAL_CANDIDATES of the keywords' candidate thresholds."""
    globals_ = [float(t) for t in np.unique(np.concatenate([[t for t, _, _ in points] for points in curves.values()]
                                                           or [[]]))]
    if len(globals_) > GLOBAL_CANDIDATES:
        globals_ = [globals_[i] for i in np.unique(np.linspace(0, len(globals_) - 1, GLOBAL_CANDIDATES).astype(int))]
    points = []
    for threshold in globals_:
        found, false_alarms = _counts(streams, threshold, refractory_s, min_hops, tolerance_s)
        points.append((threshold, (sum(found.values()), sum(false_alarms.values()))))
    return points


def _whole(count):
    """The whole false alarms a rate x hours allows (a float's rounding below a whole number forgiven)."""
    return int(np.floor(count + 1e-9))


def _floor(global_points, floor_factor, target, hours):
    """The global threshold that meets floor_factor x target (see `calibrate`), or None (no floor)."""
    return _best_global(global_points, _whole(floor_factor * target * hours))[0] if floor_factor else None


def _calibration_inputs(streams, refractory_s, min_hops, tolerance_s):
    """(compiled streams, their hours, keyword_curves, _global_points): what both calibrations start from."""
    streams = _compiled_streams(streams)
    hours = sum(duration_s for _, _, duration_s in streams) / 3600
    curves = keyword_curves(streams, refractory_s, min_hops, tolerance_s)
    return streams, hours, curves, _global_points(streams, curves, refractory_s, min_hops, tolerance_s)


def calibrate_targets(streams, targets, refractory_s, min_hops, tolerance_s, floor_factor=FLOOR_FACTOR):
    """{target: {keyword: threshold}} for each false-alarm rate of `targets`; see `calibrate`."""
    streams, hours, curves, global_points = _calibration_inputs(streams, refractory_s, min_hops, tolerance_s)
    keywords = sorted(curves)
    results = {}
    for target in targets:
        budget = _whole(target * hours)
        floor = _floor(global_points, floor_factor, target, hours)
        floored = {k: [p for p in points if p[0] >= floor] for k, points in curves.items()} if floor else curves
        per_keyword = _enforce(streams, _allocate(floored, budget), floored, budget, refractory_s, min_hops, tolerance_s)
        found = sum(_counts(streams, per_keyword, refractory_s, min_hops, tolerance_s)[0].values())
        # one global threshold is a rule too: never ship a per-keyword rule that finds fewer words than it
        single, single_found = _best_global(global_points, budget)
        if single is not None and single_found > found:
            per_keyword = {keyword: single for keyword in keywords}
        results[target] = per_keyword
    return results


def calibrate_shares(talk_streams, keywords, targets, refractory_s, min_hops, tolerance_s,
                     floor_factor=FLOOR_FACTOR):
    """{target: {keyword: threshold}} from streams of talk without the keywords [(words, trace,
    duration_s)] alone, for a model whose keyword clips are not like the user's (synthetic ones):
    the false alarms of target x their hours (whole ones) are shared equally among `keywords`, a
    share rounded up, and each keyword gets the lowest of its trace scores whose false alarms (it
    replayed alone) stay within its share, or, where none does, a threshold just above its highest
    score there; none below the floor (the global threshold that meets `floor_factor` x the target,
    as in `calibrate`); a keyword never on top in the talk gets the floor (UNSEEN_THRESHOLD without
    one). The whole rule is then replayed and raised as in `calibrate` until it meets the budget:
    the rounding up is taken back from the keywords with the most false alarms, so a budget of 2
    false alarms among 4 keywords is spent (rounded down, none would be).

    Why not `calibrate`: it spends the budget where the calibration streams' keywords are found, and
    synthetic keywords found say little of which real ones will be. On the validation speakers of
    benchmarks/custom_keywords.py's data (108 real keywords; an openWakeWord head from text, 500 ms,
    3 hops, 2 per hour of 2 h of other speakers' real talk) `calibrate` with the synthetic keyword
    stream found 0.19 of them, the shares 0.35; at 1 per hour (2 false alarms for 4 keywords) the
    shares rounded up found 0.24-0.30 of them (two heads, three smoothing x min_hops each), rounded
    down 0.19-0.28.
    """
    streams, hours, curves, global_points = _calibration_inputs(talk_streams, refractory_s, min_hops, tolerance_s)
    # each keyword's thresholds, ascending, with one above its highest score (no false alarm of it)
    curves = {k: [*points, (float(np.nextafter(points[-1][0], 2.0)), 0, 0)] for k, points in curves.items()}
    results = {}
    for target in targets:
        budget = _whole(target * hours)
        floor = _floor(global_points, floor_factor, target, hours)
        share = -(-budget // max(len(keywords), 1))
        thresholds = {}
        for keyword in keywords:
            within = [t for t, _, false_alarms in curves.get(keyword, []) if false_alarms <= share]
            if floor is None:
                thresholds[keyword] = min(within) if within else UNSEEN_THRESHOLD
            else:
                thresholds[keyword] = max(min(within), floor) if within else floor
        results[target] = _enforce(streams, thresholds, curves, budget, refractory_s, min_hops, tolerance_s)
    return results


def calibrate(streams, target_fa_per_hour, refractory_s, min_hops, tolerance_s, floor_factor=FLOOR_FACTOR):
    """{keyword: threshold} that finds the most command words over all `streams` [(words, trace,
    duration_s)] (a positives stream and a negatives-only one, say) while the false alarms of all
    of them together, per hour of their total duration, stay <= target_fa_per_hour.

    Each keyword is replayed alone at thresholds from its own trace scores (the curve of words of
    it found and false alarms labelled with it); the false-alarm budget (target x hours, whole
    false alarms) is shared out over the keywords' curves exactly (a knapsack on their sum); the
    whole rule is then replayed and the threshold of the keyword with the most false alarms raised
    until it meets the budget (keywords interact through the refractory time and the matching).
    When one global threshold for every keyword finds more words within the budget, that is
    returned instead. A keyword that finds no word within the budget -- also one the calibration
    streams never say -- gets NEVER_FIRES (above any score: it never fires). The thresholds are
    trace scores, so a replay on the calibration streams meets the target exactly.

    `floor_factor` F (default FLOOR_FACTOR): no keyword's threshold goes below the single global
    threshold that meets F x the target on the same streams (0: no floor). Without it, a keyword
    with no false alarm in the calibration streams gets the lowest threshold that finds its words,
    and on new audio it fires: calibrated on one half of the time of the validation streams of
    benchmarks/streaming.py and counted on the other (both ways; spotter 363, 317 command words,
    3.7 h), the rule for 1 false alarm per hour raised 4.6 per hour there (recall 41%); with the
    floor at 4x, 2.2 per hour (recall 28%); one global threshold 1.6 per hour (recall 13%).
    """
    return calibrate_targets(streams, [target_fa_per_hour], refractory_s, min_hops, tolerance_s,
                             floor_factor)[target_fa_per_hour]


def format_summary(result):
    lines = [f"command words: {result['command_words']}, detections: {result['detections']}, "
             f"stream {result['duration_s'] / 3600:.2f} h, tolerance {result['tolerance_s']:g} s after the word",
             f"found: {result['found']} ({result['recall']:.1%}), found only as the wrong word: "
             f"{result['found_as_wrong_word']} ({result['wrong_rate']:.1%}), missed: {result['missed']}",
             f"false alarms: {result['false_alarms']} ({result['false_alarms_per_hour']:.1f} per hour of the stream, "
             f"{interval_text(result['false_alarms_interval'])}; "
             f"{result['keyword_free_hours']:.2f} keyword-free hours), "
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
    parser.add_argument("--min_hops", type=int, default=1,
                        help="with a score trace: hops a keyword must stay on top above the threshold (default: 1)")
    parser.add_argument("--target_fa_per_hour", type=float, default=2.0,
                        help="with a score trace: the false-alarm rate whose threshold is named (default: 2)")
    parser.add_argument("--curve", default=None, help="with a score trace: PNG of the curve to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --curve file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)
    if args.tolerance_s < 0 or not 0 < args.threshold <= 1 or args.refractory_ms < 0 or args.target_fa_per_hour < 0:
        parser.error("--tolerance_s, --refractory_ms, --target_fa_per_hour must be >= 0, --threshold in (0, 1]")
    if args.min_hops < 1:
        parser.error("--min_hops must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.curve:
        cli.check_outputs([args.curve], [args.labels, args.detections], args.overwrite)
    words, detections = read_labels(args.labels), read_detections(args.detections)
    duration_s = stream_duration_s(args.labels, args.duration_s)
    trace = is_trace(detections)
    if trace:
        detections_at_threshold = streaming.replay(detections, args.threshold, args.refractory_ms / 1000,
                                                   args.min_hops)
    else:
        detections_at_threshold = detections
    result = summarise(words, detections_at_threshold, args.tolerance_s, duration_s)
    if trace:
        points = sweep(words, detections, args.tolerance_s, duration_s, args.refractory_ms / 1000, args.min_hops)
        result.update(threshold=args.threshold, refractory_ms=args.refractory_ms, min_hops=args.min_hops,
                      curve=[{"threshold": t, "recall": r, "false_alarms_per_hour": f, "wrong_rate": w,
                              "false_alarms": n} for t, r, f, w, n in points],
                      at_fa_per_hour={str(rate): at_rate(points, rate) for rate in sorted({*FA_RATES,
                                                                                           args.target_fa_per_hour})})
        if args.curve:
            draw_curve(points, args.curve, args.target_fa_per_hour)
    if args.json:
        print(json.dumps(result, indent=2))
        return result
    print("\n".join(format_summary(result)))
    if trace:
        print(f"(score trace replayed at threshold {args.threshold:g}, refractory {args.refractory_ms:g} ms, "
              f"min_hops {args.min_hops})")
        hours = duration_s / 3600
        for rate, best in result["at_fa_per_hour"].items():
            print(f"at <= {float(rate):g} false alarms per hour: " + (
                f"{best[1]:.1%} found, threshold {best[0]:.4f} ({best[2]:.1f} per hour, "
                f"{interval_text(poisson_interval(round(best[2] * hours), hours))})" if best
                else "no threshold gets there"))
        best = result["at_fa_per_hour"][str(args.target_fa_per_hour)]
        if best:
            print(f"threshold for {args.target_fa_per_hour:g} false alarms per hour: {best[0]:.4f}")
        if args.curve:
            print(f"wrote {args.curve}")
    return result

