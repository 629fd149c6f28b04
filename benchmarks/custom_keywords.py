"""Custom keywords measured on real speech: synthetic only against + 5, 10 and 25 real clips per word,
without and with real negatives.

    python benchmarks/custom_keywords.py --out runs/bench_custom [--words left,right,stop,go] [--shots 5 10 25]
        [--stream_minutes 90] [--seed 0] [--custom_args FLAG ...]

Real words are treated as if they were a user's own keywords: custom_keywords.py builds a spotter
for `--words` from their text alone (synthetic), then, from that model (`--pretrained`), one per
`--shots` K fine-tuned on K real clips of each word (`--recordings`, nothing held back); rows neg_*
do the same with `--negatives OUT/negatives`: the real clips of every other word of the training
split (trained on) and of the validation list (its validation split: the real talk the spotter's
false alarms are counted on), and the real noise recordings but two (HELD_OUT_NOISE). No figure
reads a validation clip: everything below is measured on the testing list (EVAL_SPLIT), speakers
no model trains or is calibrated on. Every spotter is measured in the form it ships:
- clips: make_submission_on_rpi.py --model_labels on the real clips of the testing list and
  one-second slices of the held-out real silence recording: the share of the keywords' clips
  labelled with their word, of the other words' clips labelled `_unknown_` and of the silence
  labelled `_silence_`, with 95% Wilson intervals;
- false alarms: spot_keywords.py --model R/spotter (its calibrated rule at its default target) on a
  negatives-only stream of real speech without the keywords (make_streaming_test.py: the other words
  of the testing list, in shuffled rounds at varied speed and SNR, as single words and sentences
  over the two held-out noise recordings: no clip or noise any model trained on), with the 95%
  Poisson interval of the rate per hour. The stream reuses its ~250 clips many times over: a false
  alarm on one clip recurs, so the interval is narrower than the evidence;
- keywords spotted: spot_keywords.py with the same rule on a keyword stream (make_streaming_test.py:
  every clip of the testing list once, the keywords a third of the words, over the held-out noise):
  the share of the real keywords it finds (score_streaming.py's matching). A clip figure is the
  argmax of one clip; this is what the spotter does at its false-alarm rate.
Rows oww_* are the same models with `--front_end openwakeword` (a head on openWakeWord's speech
embeddings; see oww_embeddings.py on the licence of its feature models), with 10 real clips per word
only (OWW_SHOTS), measured the same way: their spotter's model (a float TFLite head after the wheel's
two float feature models) through the Pi script, their spotter through spot_keywords.py.
`--front_ends ds_cnn` leaves them out.

Reads ../shared/data/speech_commands_real (or `--real`). Why not marvin, sheila, happy, house: those
words have 7-17 clips each there (14 in the validation and testing lists together), too few for 25
shots or for an interval; the default words have 185-198 clips each. The English negatives of the
corpus (vocabulary.TRAINING_NEGATIVE_WORDS) hold none of the 35 Speech Commands words, so every other
real word here is one the synthetic-only models never trained on.

Writes OUT/: eval/ (symlinks to the clips, solution.csv), shots_K/<word>/, negatives/, stream_clips/
(symlinks), stream/, one custom_keywords.py folder per model (synthetic/, real_K/, neg_synthetic/,
neg_real_K/, oww_...), their eval and detection CSVs, and results.json (every figure printed). Finished steps
are reused when run again.
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from kws.data import audio
from kws import cli
from kws.data import corpus
from kws.data import labels as label_sets
from kws.models import oww_embeddings as oww
from kws.submit import probs
from kws import runs
from kws.stream import score_streaming

FRONT_ENDS = ("ds_cnn", oww.FRONT_END)  # custom_keywords.FRONT_ENDS (a script: not imported)
REAL = os.path.join(ROOT, "..", "shared", "data", "speech_commands_real")
SILENCE_RECORDING = "real_silence_clips.wav"
# real noise recordings no model trains on: the silence is scored on the first, the stream is mixed over both
HELD_OUT_NOISE = (SILENCE_RECORDING, "running_tap.wav")
# the split every figure is measured on; the validation list's other words are --negatives' validation
# split (the real talk custom_keywords.py calibrates on), its keywords are left for choosing settings
EVAL_SPLIT = "testing"


def run(script, *args):
    command = [sys.executable, os.path.join(ROOT, script), *map(str, args)]
    print("$", " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True)


def real_clips(real_dir):
    """{split: [(word, path)]} of the real folder (corpus.py's rule: its list files)."""
    clips = corpus.index_folder(real_dir).clips
    return {split: sorted((word, path) for _, path, word, s in clips if s == split) for split in corpus.SPLITS}


def make_eval_folder(out, clips, words, real_dir):
    """OUT/eval: symlinks to the testing clips and 1-s silence slices; solution.csv."""
    folder = os.path.join(out, "eval")
    if os.path.exists(os.path.join(folder, "solution.csv")):
        return folder
    os.makedirs(os.path.join(folder, "audio"), exist_ok=True)
    rows = []
    for word, path in clips[EVAL_SPLIT]:
        name = f"{word}__{os.path.basename(path)}"
        os.symlink(os.path.abspath(path), os.path.join(folder, "audio", name))
        rows.append((name, word if word in words else label_sets.UNKNOWN_LABEL))
    silence = audio.read_wav(os.path.join(real_dir, label_sets.BACKGROUND_NOISE_DIR, SILENCE_RECORDING))
    for n in range(len(silence) // audio.CLIP_SAMPLES):
        name = f"silence__{n:03d}.wav"
        audio.write_wav(os.path.join(folder, "audio", name), silence[n * audio.CLIP_SAMPLES:(n + 1) * audio.CLIP_SAMPLES])
        rows.append((name, label_sets.SILENCE_LABEL))
    cli.write_text(os.path.join(folder, "solution.csv"), "fname,label\n" + "".join(f"{n},{l}\n" for n, l in rows))
    return folder


def make_shots(out, clips, words, shots, seed):
    """OUT/shots_K/<word>/: K training-split clips per word, nested (the 5 are among the 10), from the seed."""
    rng = np.random.default_rng(seed)
    order = {w: rng.permutation([p for word, p in clips["training"] if word == w]).tolist() for w in words}
    for k in shots:
        short = [w for w in words if len(order[w]) < k]
        if short:
            raise cli.UserError(f"{short[0]}: only {len(order[short[0]])} training-split clips, fewer than {k} shots")
    return {k: link_clips(os.path.join(out, f"shots_{k}"), [(w, p) for w in words for p in order[w][:k]])
            for k in shots}


def link_clips(folder, clips):
    """folder/<word>/: symlinks to (word, path) clips; noise files (word None) in folder/_background_noise_/."""
    for word, path in clips:
        target = os.path.join(folder, word or label_sets.BACKGROUND_NOISE_DIR)
        os.makedirs(target, exist_ok=True)
        link = os.path.join(target, os.path.basename(path))
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(path), link)
    return folder


def noise_recordings(real_dir, held_out):
    """(None, path) of the real noise recordings that are (held_out=True) or are not in HELD_OUT_NOISE."""
    noise_dir = os.path.join(real_dir, label_sets.BACKGROUND_NOISE_DIR)
    return [(None, os.path.join(noise_dir, n)) for n in sorted(os.listdir(noise_dir))
            if n.endswith(".wav") and (n in HELD_OUT_NOISE) == held_out]


def make_negatives(out, clips, words, real_dir):
    """OUT/negatives: what custom_keywords.py --negatives reads here: the other words of the training split
    (trained on) and of the validation list (its validation split: the talk the spotter is calibrated on),
    no speaker of the testing list, and the real noise recordings but the held-out ones."""
    noise = noise_recordings(real_dir, held_out=False)
    other = {split: [(w, p) for w, p in clips[split] if w not in words] for split in ("training", "validation")}
    folder = link_clips(os.path.join(out, "negatives"), other["training"] + other["validation"] + noise)
    cli.write_text(os.path.join(folder, corpus.LIST_FILES["validation"]),
                   "".join(f"{w}/{os.path.basename(p)}\n" for w, p in other["validation"]))
    cli.write_text(os.path.join(folder, corpus.LIST_FILES["testing"]), "")
    return folder


def make_keyword_stream(args, clips, words):
    """OUT/keyword_stream: every real clip of the testing list once (keywords a third of the words, as
    make_streaming_test.py places them) over the held-out noise: the keywords a spotter finds with its
    shipped rule, on speakers no model trains or is calibrated on."""
    folder = os.path.join(args.out, "keyword_stream")
    if not os.path.exists(os.path.join(folder, "stream.json")):
        held_out = clips[EVAL_SPLIT]
        source = link_clips(os.path.join(args.out, "keyword_clips"), held_out + noise_recordings(args.real, True))
        for name in corpus.LIST_FILES.values():  # every linked clip in the split read below
            cli.write_text(os.path.join(source, name), "")
        run("make_streaming_test.py", "--clips", source, "--split", "training", "--keywords", *words,
            "--minutes", 120, "--noise", os.path.join(source, label_sets.BACKGROUND_NOISE_DIR),
            "--seed", args.seed + 200, "--out", folder, "--overwrite")
    return folder


def make_stream(args, clips, words):
    """OUT/stream: negatives-only real talk of the other words of the testing list (speakers and clips no
    model trains or is calibrated on, --negatives neither) over the held-out noise recordings."""
    folder = os.path.join(args.out, "stream")
    if not os.path.exists(os.path.join(folder, "stream.json")):
        held_out = [(w, p) for w, p in clips[EVAL_SPLIT] if w not in words]
        talk = link_clips(os.path.join(args.out, "stream_clips"), held_out + noise_recordings(args.real, held_out=True))
        run("make_streaming_test.py", "--other_clips", talk, "--negatives_only", "--keywords", *words,
            "--reuse", "--minutes", args.stream_minutes, "--sentence_probability", 0.5, "--noise_only_fraction", 0.1,
            "--noise", os.path.join(talk, label_sets.BACKGROUND_NOISE_DIR), "--seed", args.seed + 100,
            "--out", folder, "--overwrite")
    return folder


def families(args, negatives):
    """(row prefix, custom_keywords.py flags, shots) of each family of models: the DS-CNN and the head on
    openWakeWord's embeddings (rows oww_*), each without and with --negatives (rows *neg_*)."""
    out = []
    for front_end in args.front_ends:
        prefix, flags = ("oww_", ["--front_end", front_end]) if front_end == oww.FRONT_END else ("", [])
        shots = [k for k in args.shots if k in OWW_SHOTS] if flags else args.shots
        out += [(prefix, flags, shots), (f"{prefix}neg_", [*flags, "--negatives", negatives], shots)]
    return out


def build_models(args, words, shot_folders, negatives):
    """{name: (custom_keywords.py folder, real clips per word)}, trained where not done before: synthetic
    only and + K real clips per word, for each family."""
    models = {}
    for prefix, extra, shots in families(args, negatives):
        base = ["--words", ",".join(words), "--seed", args.seed, *extra, *args.custom_args]
        synthetic = os.path.join(args.out, f"{prefix}synthetic")
        run("custom_keywords.py", *base, "--out", synthetic)
        models[f"{prefix}synthetic"] = (synthetic, 0)
        for k in shots:
            folder = shot_folders[k]
            models[f"{prefix}real_{k}"] = (os.path.join(args.out, f"{prefix}real_{k}"), k)
            run("custom_keywords.py", *base, "--pretrained", synthetic, "--recordings", folder,
                "--held_back_every", 0, "--out", models[f"{prefix}real_{k}"][0])
    return models


def wilson(hits, total):
    low, high = score_streaming.recall_interval(hits, total)
    return {"rate": hits / total if total else float("nan"), "hits": hits, "total": total, "interval": [low, high]}


def score_clips(predicted, truth, words):
    """Keyword clips found, other words called unknown, silence called silence, overall accuracy."""
    groups = {"keywords": [f for f, l in truth.items() if l in words],
              "other_words": [f for f, l in truth.items() if l == label_sets.UNKNOWN_LABEL],
              "silence": [f for f, l in truth.items() if l == label_sets.SILENCE_LABEL]}
    result = {g: wilson(sum(predicted[f] == truth[f] for f in names), len(names)) for g, names in groups.items()}
    result["overall"] = wilson(sum(predicted[f] == l for f, l in truth.items()), len(truth))
    result["by_word"] = {w: wilson(sum(predicted[f] == w for f in groups["keywords"] if truth[f] == w),
                                   sum(truth[f] == w for f in groups["keywords"])) for w in words}
    return result


def clip_figures(args, name, spotter, eval_dir, truth, words):
    """The spotter's model (int8, or a head on openWakeWord's embeddings) through the Pi script on the clips."""
    csv_path = os.path.join(args.out, f"{name}_eval.csv")
    if not os.path.exists(csv_path):
        model = runs.read_json(os.path.join(spotter, "spotter.json"))["model"]
        run("make_submission_on_rpi.py", "--model", os.path.join(spotter, model),
            "--test_data", eval_dir, "--submission_fn", csv_path, "--model_labels", "--num_threads", 2)
    return score_clips(probs.read_label_dict(csv_path), truth, words)


def spot(args, spotter, stream, detections):
    """spot_keywords.py with the spotter as shipped (its rule at its default target) on a stream, once."""
    if not os.path.exists(detections):
        run("spot_keywords.py", "--model", spotter, "--input", os.path.join(stream, "stream.wav"),
            "--out", detections, "--num_threads", 2)
    return score_streaming.read_detections(detections)


def stream_figures(args, name, spotter, stream):
    """False alarms of the spotter as shipped on the negatives-only real stream."""
    count = len(spot(args, spotter, stream, os.path.join(args.out, f"{name}_detections.csv")))
    hours = runs.read_json(os.path.join(stream, "stream.json"))["keyword_free_minutes"] / 60
    return {"false_alarms": count, "hours": hours, "per_hour": count / hours,
            "interval": list(score_streaming.poisson_interval(count, hours))}


def keyword_stream_figures(args, name, spotter, stream):
    """The real keywords the spotter as shipped finds in the keyword stream (score_streaming's matching)."""
    detections = spot(args, spotter, stream, os.path.join(args.out, f"{name}_keyword_detections.csv"))
    labels_path = os.path.join(stream, "labels.csv")
    words = score_streaming.read_labels(labels_path)
    result = score_streaming.summarise(words, detections, 1.0, score_streaming.stream_duration_s(labels_path, None))
    return {**wilson(result["found"], result["command_words"]), "false_alarms": result["false_alarms"],
            "recall_by_label": result["recall_by_label"]}


OWW_SHOTS = (10,)  # the head's rows with real clips: 10 per word (each row embeds 75 min of streams: ~4 min)
def fmt(figure):
    low, high = figure["interval"]
    return f"{figure['rate']:.3f} [{low:.2f}, {high:.2f}]"


def print_table(results, words):
    print(f"\nCustom keywords {', '.join(words)} on real speech (int8 TFLite through make_submission_on_rpi.py; "
          "spot_keywords.py on the stream)")
    head = ("model", "real clips/word", "keywords found", "others -> unknown", "silence", "overall",
            "false alarms / h [95%]", "spotted in a stream", "minutes")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, r in results.items():
        stream = r.get("stream")
        fa = (f"{stream['per_hour']:.2f} [{stream['interval'][0]:.2f}, {stream['interval'][1]:.2f}] "
              f"({stream['false_alarms']} in {stream['hours']:.2f} h)") if stream else "-"
        clips = r["clips"]
        print(f"| {name} | {r['shots']} | {fmt(clips['keywords'])} | {fmt(clips['other_words'])} | "
              f"{fmt(clips['silence'])} | {fmt(clips['overall'])} | {fa} | {fmt(r['keyword_stream'])} | "
              f"{r.get('minutes', 0):.1f} |")
    for name, r in results.items():
        by_word = ", ".join(f"{w} {v['rate']:.2f}" for w, v in r["clips"]["by_word"].items())
        print(f"  {name}: found by word: {by_word}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="benchmark folder (reused when run again)")
    parser.add_argument("--words", default="left,right,stop,go", help="real words treated as custom keywords")
    parser.add_argument("--shots", type=int, nargs="*", default=[5, 10, 25], help="real clips per word to add")
    parser.add_argument("--real", default=REAL, help="real corpus folder (default ../shared/data/speech_commands_real)")
    parser.add_argument("--stream_minutes", type=float, default=90.0,
                        help="minutes of the negatives-only real stream (default 90)")
    parser.add_argument("--front_ends", nargs="+", choices=FRONT_ENDS, default=list(FRONT_ENDS),
                        help="custom_keywords.py --front_end of the families to build (default: both; "
                             f"{oww.FRONT_END} needs pip install pyopen-wakeword)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--custom_args", nargs=argparse.REMAINDER, default=[],
                        help="further flags for custom_keywords.py (last on the line)")
    return parser.parse_args(argv)


def main(argv=None):
    start = time.monotonic()
    args = parse_args(argv)
    if not os.path.isdir(args.real):
        raise cli.UserError(f"{args.real}: the real corpus is needed (../shared/data/speech_commands_real)")
    words = [label_sets.phrase_label(w) for w in args.words.split(",")]
    clips = real_clips(args.real)
    eval_dir = make_eval_folder(args.out, clips, words, args.real)
    truth = probs.read_label_dict(os.path.join(eval_dir, "solution.csv"))
    shot_folders = make_shots(args.out, clips, words, args.shots, args.seed)
    stream = make_stream(args, clips, words)
    keyword_stream = make_keyword_stream(args, clips, words)
    negatives = make_negatives(args.out, clips, words, args.real)
    models = build_models(args, words, shot_folders, negatives)
    results = {}
    for name, (folder, shots) in models.items():
        report = runs.read_json(os.path.join(folder, "custom_keywords.json"))
        spotter = report["spotter"]
        results[name] = {"shots": shots, "minutes": sum(report["seconds"].values()) / 60,
                         "clips": clip_figures(args, name, spotter, eval_dir, truth, words),
                         "stream": stream_figures(args, name, spotter, stream),
                         "keyword_stream": keyword_stream_figures(args, name, spotter, keyword_stream)}
    runs.write_json(os.path.join(args.out, "results.json"), results)
    print_table(results, words)
    print(f"({(time.monotonic() - start) / 60:.1f} min)")
    return results


if __name__ == "__main__":
    cli.run(main)
