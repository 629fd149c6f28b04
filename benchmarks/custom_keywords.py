"""Custom keywords measured on real speech: synthetic only against + 5, 10 and 25 real clips per word.

    python benchmarks/custom_keywords.py --out runs/bench_custom [--words left,right,stop,go] [--shots 5 10 25]
        [--stream_minutes 90] [--seed 0] [--custom_args FLAG ...]

Real words are treated as if they were a user's own keywords: custom_keywords.py builds a spotter
for `--words` from their text alone (synthetic), then, from that model (`--pretrained`), one per
`--shots` K fine-tuned on K real clips of each word (`--recordings`, nothing held back). Every
spotter is measured in the form it ships, its int8 TFLite file:
- clips: make_submission_on_rpi.py --model_labels on the real clips of the validation and testing
  lists (speakers the shots never come from: they are drawn from the training split) and one-second
  slices of the real silence recordings: the share of the keywords' clips labelled with their word,
  of the other words' clips labelled `_unknown_` and of the silence labelled `_silence_`, with 95%
  Wilson intervals;
- false alarms: spot_keywords.py --model R/spotter (its calibrated rule at its default target) on a
  negatives-only stream of real speech without the keywords (make_streaming_test.py: every real clip
  of every other word, in shuffled rounds at varied speed and SNR, as single words and sentences
  over the real noise recordings), with the 95% Poisson interval of the rate per hour.
With pyopen-wakeword installed (`pip install pyopen-wakeword`; not a requirement: see
benchmarks/oww_head.py on the licence of its feature models), a head on openWakeWord's speech
embeddings, trained on the same synthetic corpus (every keyword clip, 3,000 other words, 500 noise
slices as silence) and the same shots, is measured on the same clips (rows oww_*; float Keras head,
no streaming rule yet, so no false-alarm figure).

Reads ../shared/data/speech_commands_real (or `--real`). Why not marvin, sheila, happy, house: those
words have 7-17 clips each there (14 in the validation and testing lists together), too few for 25
shots or for an interval; the default words have 185-198 clips each. The English negatives of the
corpus (vocabulary.TRAINING_NEGATIVE_WORDS) hold none of the 35 Speech Commands words, so every other
real word here is one the models never trained on.

Writes OUT/: eval/ (symlinks to the clips, solution.csv), shots_K/<word>/ (symlinks), stream/, one
custom_keywords.py folder per model (synthetic/, real_K/), their eval and detection CSVs, and
results.json (every figure printed). Finished steps are reused when run again.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import audio  # noqa: E402  (after the path set-up)
import cli  # noqa: E402
import corpus  # noqa: E402
import labels as label_sets  # noqa: E402
import runs  # noqa: E402
import score_streaming  # noqa: E402

REAL = os.path.join(ROOT, "..", "shared", "data", "speech_commands_real")
SILENCE_RECORDING = "real_silence_clips.wav"


def run(script, *args):
    command = [sys.executable, os.path.join(ROOT, script), *map(str, args)]
    print("$", " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True)


def real_clips(real_dir):
    """{split: [(word, path)]} of the real folder (corpus.py's rule: its list files)."""
    clips = corpus.index_folder(real_dir).clips
    return {split: sorted((word, path) for _, path, word, s in clips if s == split) for split in corpus.SPLITS}


def make_eval_folder(out, clips, words, real_dir):
    """OUT/eval: symlinks to the validation and testing clips and 1-s silence slices; solution.csv."""
    folder = os.path.join(out, "eval")
    if os.path.exists(os.path.join(folder, "solution.csv")):
        return folder
    os.makedirs(os.path.join(folder, "audio"), exist_ok=True)
    rows = []
    for word, path in clips["validation"] + clips["testing"]:
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
    folders = {}
    for k in shots:
        folders[k] = os.path.join(out, f"shots_{k}")
        for word in words:
            if len(order[word]) < k:
                raise cli.UserError(f"{word}: only {len(order[word])} training-split clips, fewer than {k} shots")
            os.makedirs(os.path.join(folders[k], word), exist_ok=True)
            for path in order[word][:k]:
                link = os.path.join(folders[k], word, os.path.basename(path))
                if not os.path.lexists(link):
                    os.symlink(os.path.abspath(path), link)
    return folders


def make_stream(args, words):
    folder = os.path.join(args.out, "stream")
    if not os.path.exists(os.path.join(folder, "stream.json")):
        run("make_streaming_test.py", "--other_clips", args.real, "--negatives_only", "--keywords", *words,
            "--reuse", "--minutes", args.stream_minutes, "--sentence_probability", 0.5, "--noise_only_fraction", 0.1,
            "--noise", os.path.join(args.real, label_sets.BACKGROUND_NOISE_DIR), "--seed", args.seed + 100,
            "--out", folder, "--overwrite")
    return folder


def build_models(args, words, shot_folders):
    """{name: (custom_keywords.py folder, real clips per word)}, trained where not done before."""
    base = ["--words", ",".join(words), "--seed", args.seed, *args.custom_args]
    models = {"synthetic": (os.path.join(args.out, "synthetic"), 0)}
    run("custom_keywords.py", *base, "--out", models["synthetic"][0])
    for k, folder in shot_folders.items():
        models[f"real_{k}"] = (os.path.join(args.out, f"real_{k}"), k)
        run("custom_keywords.py", *base, "--pretrained", models["synthetic"][0], "--recordings", folder,
            "--held_back_every", 0, "--out", models[f"real_{k}"][0])
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


def read_csv_labels(path):
    with open(path, newline="", encoding="utf-8") as f:
        return {row["fname"]: row["label"] for row in csv.DictReader(f)}


def clip_figures(args, name, spotter, eval_dir, truth, words):
    csv_path = os.path.join(args.out, f"{name}_eval.csv")
    if not os.path.exists(csv_path):
        run("make_submission_on_rpi.py", "--model", os.path.join(spotter, "spotter_int8.tflite"),
            "--test_data", eval_dir, "--submission_fn", csv_path, "--model_labels", "--num_threads", 2)
    return score_clips(read_csv_labels(csv_path), truth, words)


def stream_figures(args, name, spotter, stream):
    """False alarms of the spotter as shipped on the negatives-only real stream."""
    detections = os.path.join(args.out, f"{name}_detections.csv")
    if not os.path.exists(detections):
        run("spot_keywords.py", "--model", spotter, "--input", os.path.join(stream, "stream.wav"),
            "--out", detections, "--num_threads", 2)
    with open(detections, newline="", encoding="utf-8") as f:
        count = sum(1 for _ in csv.DictReader(f))
    hours = runs.read_json(os.path.join(stream, "stream.json"))["keyword_free_minutes"] / 60
    return {"false_alarms": count, "hours": hours, "per_hour": count / hours,
            "interval": list(score_streaming.poisson_interval(count, hours))}


OWW_UNKNOWN_CLIPS, OWW_SILENCE_CLIPS = 3000, 500  # of the synthetic corpus: enough negatives, a few minutes to embed


def oww_training_set(corpus_dir, words, seed):
    """(clips, label indexes) of the synthetic corpus's training split for the head: every keyword clip,
    a sample of the other words, and one-second noise slices at random levels as silence."""
    model_labels = label_sets.model_labels(words)
    rng = np.random.default_rng(seed)
    folder = corpus.index_folder(os.path.join(corpus_dir, "train"))
    training = [(path, word) for _, path, word, split in folder.clips if split == "training"]
    keywords = [(p, w) for p, w in training if w in words]
    others = [training[i] for i in rng.permutation(len(training)) if training[i][1] not in words][:OWW_UNKNOWN_CLIPS]
    clips = [audio.load_clip(p) for p, _ in keywords + others]
    labels = [model_labels.index(w) for _, w in keywords] + [1] * len(others)
    noises = [audio.read_wav(p) for p in folder.noise_paths]
    for _ in range(OWW_SILENCE_CLIPS):
        noise = noises[rng.integers(len(noises))]
        start = rng.integers(len(noise) - audio.CLIP_SAMPLES)
        piece = noise[start:start + audio.CLIP_SAMPLES]
        clips.append(piece * 10 ** rng.uniform(-3, 0) / max(np.sqrt(np.mean(piece ** 2)), 1e-6))
        labels.append(0)
    return clips, labels


def oww_figures(args, words, models, eval_dir, truth):
    """The openWakeWord-embeddings head, trained on the same synthetic corpus (and the same shots), on the
    same clips. Clip figures only: the head has no calibrated streaming rule yet."""
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))  # after ROOT: streaming.py stays the library
    import oww_head
    if not oww_head.available():
        print(f"openWakeWord embeddings: skipped ({oww_head.INSTALL_HINT})")
        return {}
    front = oww_head.EmbeddingFrontEnd(num_threads=2)
    model_labels = label_sets.model_labels(words)
    corpus_dir = runs.read_json(os.path.join(models["synthetic"][0], "custom_keywords.json"))["corpus"]
    clips, labels = oww_training_set(corpus_dir, words, args.seed)
    embeddings = front.embed_clips(clips)
    names = sorted(truth)
    eval_embeddings = front.embed_clips([audio.load_clip(os.path.join(eval_dir, "audio", n)) for n in names])
    results = {}
    for name, (folder, shots) in models.items():
        x, y = embeddings, labels
        if shots:
            shot_clips = [(audio.load_clip(os.path.join(args.out, f"shots_{shots}", w, f)), model_labels.index(w))
                          for w in words for f in sorted(os.listdir(os.path.join(args.out, f"shots_{shots}", w)))]
            x = np.concatenate([embeddings, front.embed_clips([c for c, _ in shot_clips])])
            y = labels + [label for _, label in shot_clips]
        start = time.monotonic()
        head = oww_head.train_head(x, np.array(y), len(model_labels), args.seed)
        predicted = dict(zip(names, (model_labels[i] for i in head.predict(eval_embeddings, verbose=0).argmax(1))))
        results[f"oww_{name}"] = {"shots": shots, "minutes": (time.monotonic() - start) / 60,
                                  "clips": score_clips(predicted, truth, words), "stream": None}
    return results


def fmt(figure):
    low, high = figure["interval"]
    return f"{figure['rate']:.3f} [{low:.2f}, {high:.2f}]"


def print_table(results, words):
    print(f"\nCustom keywords {', '.join(words)} on real speech (int8 TFLite through make_submission_on_rpi.py; "
          "spot_keywords.py on the stream)")
    head = ("model", "real clips/word", "keywords found", "others -> unknown", "silence", "overall",
            "false alarms / h [95%]", "minutes")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, r in results.items():
        stream = r.get("stream")
        fa = (f"{stream['per_hour']:.2f} [{stream['interval'][0]:.2f}, {stream['interval'][1]:.2f}] "
              f"({stream['false_alarms']} in {stream['hours']:.2f} h)") if stream else "-"
        clips = r["clips"]
        print(f"| {name} | {r['shots']} | {fmt(clips['keywords'])} | {fmt(clips['other_words'])} | "
              f"{fmt(clips['silence'])} | {fmt(clips['overall'])} | {fa} | {r.get('minutes', 0):.1f} |")
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
    truth = read_csv_labels(os.path.join(eval_dir, "solution.csv"))
    shot_folders = make_shots(args.out, clips, words, args.shots, args.seed)
    stream = make_stream(args, words)
    models = build_models(args, words, shot_folders)
    results = {}
    for name, (folder, shots) in models.items():
        report = runs.read_json(os.path.join(folder, "custom_keywords.json"))
        spotter = report["spotter"]
        results[name] = {"shots": shots, "minutes": sum(report["seconds"].values()) / 60,
                         "clips": clip_figures(args, name, spotter, eval_dir, truth, words),
                         "stream": stream_figures(args, name, spotter, stream)}
    results.update(oww_figures(args, words, models, eval_dir, truth))
    runs.write_json(os.path.join(args.out, "results.json"), results)
    print_table(results, words)
    print(f"({(time.monotonic() - start) / 60:.1f} min)")
    return results


if __name__ == "__main__":
    cli.run(main)
