"""Mines negatives from long audio: the windows where a model raises a false alarm, as training clips.

Command line:

    python make_streaming_test.py --clips data/train --split training --reuse --noise data/train/_background_noise_ \\
        --minutes 30 --seed 7 --out data/mine_stream
    python mine_negatives.py --model runs/N --stream data/mine_stream --out data/negatives [--threshold 0.5]
    python train.py --experiment 350 --init_from runs/N --pseudo_labels data/synth/train/training_clips.csv \\
        data/negatives/pseudo_labels.csv --run_dir runs/N_mined

Reads `--stream`: a folder of make_streaming_test.py (stream.wav and words.csv: every word placed,
other words included), built from clips the model may train on (a training split: the windows become
training clips, so never mine the stream you test on), and `--model` (any format spot_keywords.py
runs). Runs the spotter over the stream at `--threshold` (default 0.5: lower than in use, so that
near misses are mined too) with spot_keywords.py's other defaults, and keeps the detections that no
command word explains: no command word of any label is spoken in the model's window (its clip
length, one second by default) that ended at the detection. That window, and the windows
`--offsets_ms` before it (default 0 and 200: the spotter averaged the scores of several windows)
that hold no command word either, become clips labelled `_unknown_` when a word is heard in them and
`_silence_` when only noise is (only windows wholly inside the stream: a detection in the last hop's
padding keeps its earlier ones).

Writes into `--out`: `audio/<label>/mined_<seconds>.wav` (16 kHz, one window long) and
`pseudo_labels.csv` (`path,label`, paths relative to the folder: what train.py --pseudo_labels
takes), each atomically, and `detections.csv` (spot_keywords.py's output). A folder that holds
anything is written into only with `--overwrite` (files of the same name are replaced); `--out`
must not hold the stream or the model. Prints how many detections were false alarms and how many clips were
written per label.
"""

import argparse
import csv
import os

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.data import labels as label_sets
from kws.stream import stream_models
from kws.stream import streaming


def read_words(path):
    """[(label, start_s, end_s)] of every word of a words.csv (labels: command word or _unknown_)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"label", "start_s", "end_s"} <= set(reader.fieldnames):
            raise cli.UserError(f"{path}: expected make_streaming_test.py's words.csv (label,start_s,end_s,...)")
        return [(row["label"], float(row["start_s"]), float(row["end_s"])) for row in reader]


def words_in(words, start_s, end_s):
    """The words whose spoken part overlaps [start_s, end_s)."""
    return [w for w in words if w[1] < end_s and w[2] > start_s]


def negative_windows(detections, words, offsets_s, duration_s, window_s=1.0):
    """[(end of window in s, label)] of the windows to keep (see the module docstring), each wholly
    inside the stream's `duration_s` (the spotter's last hop may end in the padding after it)."""
    def has_command(end_s):
        return any(w[0] != label_sets.UNKNOWN_LABEL for w in words_in(words, end_s - window_s, end_s))

    kept = {}
    for time_s, _, _ in detections:
        if has_command(time_s):
            continue  # a command word is in the window: not a false alarm
        for end_s in (round(time_s - offset_s, 3) for offset_s in offsets_s):
            if window_s <= end_s <= duration_s and not has_command(end_s):  # an earlier window may hold the word
                heard = words_in(words, end_s - window_s, end_s)
                kept[end_s] = label_sets.UNKNOWN_LABEL if heard else label_sets.SILENCE_LABEL
    return sorted(kept.items())


def write_clips(stream, windows, out_dir, window_samples=audio.CLIP_SAMPLES):
    """Writes the windows' clips (`window_samples` up to each window's end) and pseudo_labels.csv; returns
    {label: count}."""
    rows, counts = [], {}
    for end_s, label in windows:
        end = int(round(end_s * audio.SAMPLE_RATE))
        clip = stream[end - window_samples:end]
        relative = os.path.join(corpus.AUDIO_DIR, label, f"mined_{end_s:09.3f}.wav")
        os.makedirs(os.path.join(out_dir, corpus.AUDIO_DIR, label), exist_ok=True)
        audio.write_wav(os.path.join(out_dir, relative), clip)
        rows.append((relative.replace(os.sep, "/"), label))
        counts[label] = counts.get(label, 0) + 1
    corpus.write_pseudo_labels(os.path.join(out_dir, corpus.PSEUDO_LABELS_FILE), rows)
    return counts


def spot_stream(model, wav, detections_csv, threshold):
    """spot_keywords.py's rule at `threshold` (its defaults, or a spotter folder's rule) over the WAV, the
    detections written to `detections_csv` (spot_keywords.py's CSV); stream_models.spot_with_rule's stats."""
    model_path, labels_path, rule = stream_models.resolve_rule(model, given={"threshold": threshold})
    stream_model = stream_models.load_stream_model(model_path, stream_models.hop_samples_of(rule),
                                                   labels_path=labels_path)
    writer = stream_models.DetectionWriter(detections_csv)
    try:
        with open(wav, "rb") as stream:
            spotted = stream_models.spot_with_rule(stream_model, rule, streaming.wav_blocks(stream, wav), writer)
    finally:
        writer.close()
    if spotted["interrupted"]:
        raise KeyboardInterrupt  # the detections so far are in detections_csv: cli.run exits with 130
    return spotted


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model in any format spot_keywords.py runs")
    parser.add_argument("--stream", required=True, help="make_streaming_test.py output folder (stream.wav, words.csv)")
    parser.add_argument("--out", required=True, help="output folder (audio/<label>/*.wav, pseudo_labels.csv)")
    parser.add_argument("--overwrite", action="store_true", help="write into an --out folder that holds files")
    parser.add_argument("--threshold", type=float, default=0.5, help="the spotter's threshold (default: 0.5)")
    parser.add_argument("--offsets_ms", type=float, nargs="+", default=[0.0, 200.0],
                        help="windows ending this long before each false alarm are kept (default: 0 200)")
    args = parser.parse_args(argv)
    if not 0 < args.threshold <= 1 or min(args.offsets_ms) < 0:
        parser.error("--threshold must be in (0, 1] and --offsets_ms >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    wav, words_csv = os.path.join(args.stream, "stream.wav"), os.path.join(args.stream, "words.csv")
    for path in (wav, words_csv):
        if not os.path.isfile(path):
            raise cli.UserError(f"{path}: not found (make_streaming_test.py writes it)")
    cli.refuse_inputs([args.out], [args.stream, args.model])
    if os.path.isdir(args.out) and os.listdir(args.out) and not args.overwrite:
        raise cli.UserError(f"{args.out}: not empty; pass --overwrite to write into it (files of the same name "
                            "are replaced), or choose another --out")
    words = read_words(words_csv)
    os.makedirs(args.out, exist_ok=True)
    detections_csv = os.path.join(args.out, "detections.csv")
    spotted = spot_stream(args.model, wav, detections_csv, args.threshold)
    window_samples = spotted["window_samples"]  # the model's clip length: the clips it is to be trained on
    window_s = window_samples / audio.SAMPLE_RATE
    with open(detections_csv, newline="", encoding="utf-8") as f:
        detections = [(float(r["time_s"]), r["label"], float(r["score"])) for r in csv.DictReader(f)]
    stream = audio.read_wav(wav)
    windows = negative_windows(detections, words, [ms / 1000 for ms in args.offsets_ms],
                               len(stream) / audio.SAMPLE_RATE, window_s)
    counts = write_clips(stream, windows, args.out, window_samples)
    false_alarms = len({round(t, 3) for t, _, _ in detections
                        if not any(w[0] != label_sets.UNKNOWN_LABEL for w in words_in(words, t - window_s, t))})
    print(f"{len(detections)} detections at threshold {args.threshold:g}, {false_alarms} with no command word in "
          f"their window; wrote {sum(counts.values())} clips ({counts}) and {os.path.join(args.out, corpus.PSEUDO_LABELS_FILE)}")
    return counts

