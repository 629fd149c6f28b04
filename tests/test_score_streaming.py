"""score_streaming.py: matching detections to placed words, rates per hour, the sweep of a score trace, the curve."""

import json

import pytest

import cli

import score_streaming
import streaming

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
