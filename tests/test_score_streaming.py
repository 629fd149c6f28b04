"""score_streaming.py: matching detections to placed words, rates per hour, the sweep of a score trace, the curve."""

import json

import numpy as np

import pytest

from kws import cli

from kws.stream import score_streaming
from kws.stream import streaming

WORDS = [("yes", 10.0, 10.5), ("no", 20.0, 20.4), ("up", 30.0, 30.3), ("yes", 40.0, 40.5)]


def write(path, header, rows):
    path.write_text("\n".join([header, *(",".join(str(v) for v in row) for row in rows)]) + "\n")
    return str(path)


def test_hits_wrong_words_repeats_and_false_alarms():
    detections = [
        (5.0, "yes", 0.9),    # nothing said: false alarm
        (10.2, "yes", 0.9),   # during the word: a hit (latency -0.3 s)
        (10.9, "yes", 0.9),   # the same word again: a repeat is a false alarm
        (20.6, "go", 0.8),    # "no" heard as "go": wrong word
        (20.9, "no", 0.8),    # ... then heard right: the word is found
        (30.2, "down", 0.8),  # "up" heard only as "down"
        (42.0, "yes", 0.9),   # 1.5 s after the word's end: beyond the 1 s tolerance
        (39.9, "yes", 0.9),   # before the word started: it cannot be its cause
    ]
    result = score_streaming.summarise(WORDS, sorted(detections), tolerance_s=1.0, duration_s=1800.0)
    assert result["found"] == 2 and result["recall"] == 0.5
    assert result["found_as_wrong_word"] == 1 and result["missed"] == 1  # "up" wrong, the second "yes" missed
    assert result["wrong_word_detections"] == 2
    assert result["false_alarms"] == 4 and result["false_alarms_per_hour"] == 8.0
    assert result["latency_s"]["median"] == pytest.approx((-0.3 + 0.5) / 2)
    assert result["recall_by_label"] == {"no": 1.0, "up": 0.0, "yes": 0.5}


def test_a_detection_takes_the_word_of_its_own_label_among_close_words():
    words = [("no", 10.0, 10.4), ("yes", 10.6, 11.0)]
    result = score_streaming.summarise(words, [(11.2, "no", 0.9), (11.3, "yes", 0.9)], 1.0, 3600.0)
    assert result["found"] == 2 and result["false_alarms"] == 0


def test_the_command_line_scores_a_detections_file_and_a_json_lines_file(tmp_path, capsys):
    labels = write(tmp_path / "labels.csv", "label,start_s,end_s", WORDS)
    (tmp_path / "stream.json").write_text(json.dumps({"minutes": 30}))
    detections = write(tmp_path / "d.csv", "time_s,label,score", [(10.3, "yes", 0.9), (33.0, "up", 0.8)])
    result = score_streaming.main(["--labels", labels, "--detections", detections])
    assert result["found"] == 1 and result["false_alarms"] == 1 and result["duration_s"] == 1800
    assert "found: 1 (25.0%)" in capsys.readouterr().out
    lines = tmp_path / "d.jsonl"
    lines.write_text('{"time_s": 10.3, "label": "yes", "score": 0.9}\n{"time_s": 20.1, "label": "no", "score": 0.8}\n')
    assert score_streaming.main(["--labels", labels, "--detections", str(lines), "--json"])["found"] == 2


def trace_of(words, hop_s=0.1, duration_s=60.0, confusion_at=(50.0, "go", 0.75)):
    """A score trace: each word's label on top at 0.95 while it is spoken, one other word at 0.75
    heard as a keyword (a false alarm at thresholds up to 0.75), silence elsewhere."""
    rows = []
    for i in range(1, int(duration_s / hop_s) + 1):
        t = round(i * hop_s, 3)
        on = [w for w in words if w[1] <= t <= w[2] + 0.2]
        if on:
            rows.append((t, on[0][0], 0.95 if on[0][0] != "up" else 0.6))
        elif confusion_at[0] <= t <= confusion_at[0] + 0.3:
            rows.append((t, confusion_at[1], confusion_at[2]))
        else:
            rows.append((t, "_silence_", 0.9))
    return rows


def test_a_score_trace_is_swept_and_the_threshold_for_a_false_alarm_rate_named(tmp_path, capsys):
    labels = write(tmp_path / "labels.csv", "label,start_s,end_s", WORDS)
    trace = write(tmp_path / "trace.csv", "time_s,label,score", trace_of(WORDS))
    curve = tmp_path / "curve.png"
    result = score_streaming.main(["--labels", labels, "--detections", trace, "--duration_s", "3600",
                                   "--curve", str(curve), "--target_fa_per_hour", "0.5", "--json"])
    # at 0.7 (the default): three words found, "up" (0.6) missed, the confusion (0.75) a false alarm
    assert (result["found"], result["false_alarms"]) == (3, 1)
    assert result["detections"] == len(streaming.replay(score_streaming.read_detections(trace), 0.7, 1.0))
    threshold, recall, fa_per_hour = result["at_fa_per_hour"]["0.5"]
    assert 0.75 < threshold <= 0.95 and recall == 0.75 and fa_per_hour == 0.0
    assert result["at_fa_per_hour"]["1.0"][1] == 1.0  # at 1 false alarm per hour every word is found
    assert curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    thresholds = [point["threshold"] for point in result["curve"]]
    assert thresholds == sorted(thresholds) and len(thresholds) > 10


def test_bad_input_is_a_clear_error(tmp_path):
    labels = write(tmp_path / "labels.csv", "label,start_s,end_s", WORDS)
    bad_labels = write(tmp_path / "bad.csv", "word,time", [("yes", 1.0)])
    detections = write(tmp_path / "d.csv", "time_s,label,score", [(1.0, "yes", 0.9)])
    cases = [(["--labels", bad_labels, "--detections", detections, "--duration_s", "60"],
              "bad.csv: expected the header"),
             (["--labels", labels, "--detections", str(tmp_path / "none.csv"), "--duration_s", "60"], "none.csv"),
             (["--labels", labels, "--detections", detections], "pass --duration_s")]
    for argv, message in cases:
        with pytest.raises(cli.UserError, match=message):
            score_streaming.main(argv)


def test_poisson_interval_is_the_exact_garwood_interval():
    assert score_streaming.poisson_interval(0, 1.0) == pytest.approx((0.0, 3.689), abs=1e-3)
    assert score_streaming.poisson_interval(2, 1.0) == pytest.approx((0.242, 7.225), abs=1e-3)
    assert score_streaming.poisson_interval(2, 2.0) == pytest.approx((0.121, 3.612), abs=1e-3)  # per hour
    assert score_streaming.poisson_interval(10, 1.0, confidence=0.9) == pytest.approx((5.425, 16.962), abs=1e-3)


def test_keyword_free_hours_leave_out_every_command_word_and_its_tolerance():
    words = [("yes", 10.0, 10.5), ("no", 11.0, 11.4), ("_unknown_", 20.0, 21.0), ("up", 3595.0, 3599.5)]
    # covered: [10, 12.4] (two words overlapping with their tolerance), [3595, 3600] (cut at the end)
    assert score_streaming.keyword_free_hours(words, 3600.0, 1.0) * 3600 == pytest.approx(3600 - 2.4 - 5.0)
    assert score_streaming.keyword_free_hours([], 1800.0, 1.0) == 0.5


def test_the_summary_prints_the_interval_and_the_keyword_free_hours(tmp_path, capsys):
    labels = write(tmp_path / "labels.csv", "label,start_s,end_s", WORDS)
    detections = write(tmp_path / "d.csv", "time_s,label,score", [(10.3, "yes", 0.9), (33.0, "up", 0.8)])
    result = score_streaming.main(["--labels", labels, "--detections", detections, "--duration_s", "3600"])
    assert result["false_alarms_interval"] == pytest.approx(score_streaming.poisson_interval(1, 1.0))
    assert result["keyword_free_hours"] == pytest.approx((3600 - 4 - 0.5 - 0.4 - 0.3 - 0.5) / 3600)
    printed = capsys.readouterr().out
    assert "95% interval 0.03-5.57" in printed and "1.00 keyword-free hours" in printed


def synthetic_stream(rng, minutes, word_scores, confusions, hop_s=0.1):
    """(words, trace, duration_s): a word every ~6 s (keywords in turn) on top at scores drawn from
    word_scores[label] while spoken, bursts of 3 hops of confused keywords at confusions[label] =
    (count, low, high) at random times between the words, silence elsewhere."""
    duration_s = minutes * 60.0
    hops = int(round(duration_s / hop_s))
    labels, scores = ["_silence_"] * hops, list(rng.uniform(0.6, 0.99, hops))
    words, keywords = [], sorted(word_scores)
    for i in range(int(duration_s // 6) - 1 if keywords else 0):
        start = i * 6.0 + rng.uniform(0.5, 2.0)
        label = keywords[i % len(keywords)]
        words.append((label, start, start + 0.5))
        for k in range(int(round((start + 0.2) / hop_s)), int(round((start + 0.8) / hop_s))):
            labels[k], scores[k] = label, rng.uniform(*word_scores[label])
    for label, (count, low, high) in confusions.items():
        for _ in range(count):
            k = int(round((int(rng.integers(1, duration_s // 6 - 1)) * 6.0 + 4.0) / hop_s))  # between words
            for j in range(k, k + 3):
                labels[j], scores[j] = label, rng.uniform(low, high)
    trace = [((k + 1) * hop_s, labels[k], float(scores[k])) for k in range(hops)]
    return words, trace, duration_s


def calibration_streams():
    rng = np.random.default_rng(0)
    word_scores = {"yes": (0.85, 0.99), "no": (0.6, 0.8), "up": (0.5, 0.7)}
    # "yes" is confused often and high, the others rarely and low; "down" is never said
    confusions = {"yes": (12, 0.8, 0.97), "no": (6, 0.3, 0.55), "up": (6, 0.3, 0.45), "down": (4, 0.5, 0.9)}
    mixed = synthetic_stream(rng, 20, word_scores, confusions)
    negatives = synthetic_stream(rng, 20, {}, confusions)  # a negatives-only stream: confusions alone
    return [mixed, negatives]


def test_calibrated_thresholds_meet_the_target_and_find_more_than_one_global_threshold():
    streams = calibration_streams()
    compiled = [(words, streaming.CompiledTrace(trace), d) for words, trace, d in streams]  # replayed quickly
    hours = sum(d for _, _, d in streams) / 3600
    scores = sorted({s for _, trace, _ in streams for _, label, s in trace if label not in ("_silence_", "_unknown_")})
    strictly_better = 0
    globals_ = scores[::12] + scores[-20:]  # global thresholds across the range, and all of the highest
    for target in (1.5, 6.0, 30.0):
        for min_hops in (1, 2):
            thresholds = score_streaming.calibrate(streams, target, 1.0, min_hops, 1.0, floor_factor=0)
            figures = score_streaming.evaluate(streams, thresholds, 1.0, min_hops, 1.0)
            assert figures["false_alarms"] <= target * hours and figures["false_alarms_per_hour"] <= target
            assert figures["hours"] == pytest.approx(hours)
            assert thresholds["down"] > 1  # never said, only confused: it never fires
            best_global = max(f["found"] for t in globals_
                              if (f := score_streaming.evaluate(compiled, t, 1.0, min_hops, 1.0))["false_alarms"]
                              <= target * hours)
            assert figures["found"] >= best_global
            strictly_better += figures["found"] > best_global
    assert strictly_better >= 3  # per keyword: "no" and "up" at low thresholds, "yes" high


def test_the_floor_keeps_every_threshold_where_one_global_threshold_meets_factor_times_the_target():
    streams = calibration_streams()
    hours = sum(d for _, _, d in streams) / 3600
    free = score_streaming.calibrate(streams, 6.0, 1.0, 1, 1.0, floor_factor=0)
    floored = score_streaming.calibrate(streams, 6.0, 1.0, 1, 1.0, floor_factor=2)
    figures = score_streaming.evaluate(streams, floored, 1.0, 1, 1.0)
    assert figures["false_alarms_per_hour"] <= 6.0 and figures["found"] > 0
    for threshold in (t for t in floored.values() if t <= 1):  # one global threshold there: within 2x the target
        assert score_streaming.evaluate(streams, threshold, 1.0, 1, 1.0)["false_alarms"] <= 2 * 6.0 * hours
    lowest = min(t for t in floored.values() if t <= 1)
    assert any(t < lowest for t in free.values())  # without the floor some keyword goes lower


def test_calibrate_spends_the_budget_and_a_zero_budget_gives_no_false_alarm():
    streams = calibration_streams()
    zero = score_streaming.evaluate(streams, score_streaming.calibrate(streams, 0.0, 1.0, 1, 1.0), 1.0, 1, 1.0)
    generous = score_streaming.evaluate(streams, score_streaming.calibrate(streams, 60.0, 1.0, 1, 1.0), 1.0, 1, 1.0)
    assert zero["false_alarms"] == 0 and zero["found"] > 0
    assert generous["found"] > zero["found"] and generous["recall"] == 1.0


def test_sweep_and_at_rate_take_per_keyword_thresholds_and_min_hops():
    words, trace, duration_s = calibration_streams()[0]
    points = score_streaming.sweep(words, trace, 1.0, duration_s, 1.0, min_hops=2,
                                   candidates=[{"yes": 0.99}, {"yes": 0.9, "no": 0.6}, 0.5])
    assert [p[0] for p in points] == [{"yes": 0.99}, {"yes": 0.9, "no": 0.6}, 0.5]
    assert points[0][1] < points[1][1] < points[2][1] and points[0][4] <= points[1][4] <= points[2][4]
    assert score_streaming.at_rate(points, 1e9)[0] == 0.5


def test_calibrate_replays_the_keywords_together_where_they_interact():
    # Alone, the "yes" heard after the word "no" claims it as a wrong word (no false alarm); with "no"
    # enabled too, "no" finds it first and that "yes" becomes a false alarm: the joint replay must
    # raise "yes" above 0.9 (to 0.95, where it still finds its own word) to meet a budget of zero.
    words = [("no", 10.0, 10.5), ("yes", 20.0, 20.5)]
    trace = [(round(0.1 * k, 1), "_silence_", 0.9) for k in range(1, 300)]
    for time_s, label, score in [(10.3, "no", 0.9), (10.8, "yes", 0.9), (20.3, "yes", 0.95)]:
        trace[round(time_s * 10) - 1] = (time_s, label, score)
    thresholds = score_streaming.calibrate([(words, trace, 3600.0)], 0.0, 0.0, 1, 1.0, floor_factor=0)
    assert thresholds == {"no": 0.9, "yes": 0.95}
    figures = score_streaming.evaluate([(words, trace, 3600.0)], thresholds, 0.0, 1, 1.0)
    assert (figures["found"], figures["false_alarms"]) == (2, 0)
    assert figures["recall_by_label"] == {"no": 1.0, "yes": 1.0} and figures["latency_s"] == pytest.approx(-0.2)
    assert figures["recall_interval"] == pytest.approx([0.342, 1.0], abs=1e-3)  # Wilson, 2 of 2
    assert score_streaming.recall_interval(35, 100) == pytest.approx((0.2636, 0.4475), abs=1e-3)
    missed_yes = score_streaming.evaluate([(words, trace, 3600.0)], {"no": 0.9}, 0.0, 1, 1.0)
    assert missed_yes["recall_by_label"] == {"no": 1.0, "yes": 0.0} and missed_yes["latency_s"] == pytest.approx(-0.2)


def test_shares_split_the_talk_budget_equally_and_keep_the_floor():
    # an hour of talk: "a" on top four times (0.6-0.9), "b" once (0.95), "c" never
    trace = [(round(0.1 * k, 1), "_unknown_", 0.9) for k in range(1, 36000)]
    for time_s, label, score in [(100.0, "a", 0.6), (200.0, "a", 0.7), (300.0, "a", 0.8), (400.0, "a", 0.9),
                                 (500.0, "b", 0.95)]:
        trace[round(time_s * 10) - 1] = (time_s, label, score)
    talk = [([], trace, 3600.0)]

    def shares(target, floor_factor):
        return score_streaming.calibrate_shares(talk, ["a", "b", "c"], [target], 1.0, 1, 1.0, floor_factor)[target]

    # none may fire at 0 per hour: each just above its highest score there
    assert shares(0.0, 0) == {"a": np.nextafter(0.9, 2), "b": np.nextafter(0.95, 2), "c": 0.5}
    # 2 per hour, 3 keywords: shares of 2/3 rounded up, 1 each: "a" at 0.9, "b" at 0.95; "c" never on top
    at_2 = shares(2.0, 0)
    assert at_2 == {"a": 0.9, "b": 0.95, "c": score_streaming.UNSEEN_THRESHOLD}
    assert score_streaming.evaluate(talk, at_2, 1.0, 1, 1.0)["false_alarms"] == 2
    # 1 per hour: the rounding up is taken back from a keyword with the most false alarms ("b", by name)
    assert shares(1.0, 0) == {"a": 0.9, "b": np.nextafter(0.95, 2), "c": 0.5}
    # 6 per hour: shares of 2 false alarms; "a" fires at 0.8 and 0.9, "b" at 0.95 (3 <= 6)
    at_6 = shares(6.0, 0)
    assert (at_6["a"], at_6["b"]) == (0.8, 0.95)
    assert score_streaming.evaluate(talk, at_6, 1.0, 1, 1.0)["false_alarms"] == 3
    # the floor: one global threshold meeting 1x the target (0.9: two false alarms) for "c", none below it
    assert shares(2.0, 1.0)["c"] == 0.9 and shares(6.0, 0.5)["a"] == 0.8
    assert shares(6.0, 0.2) == dict.fromkeys("abc", 0.95)  # the floor at 1.2 per hour: 1 false alarm, 0.95
