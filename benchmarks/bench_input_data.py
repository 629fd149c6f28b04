"""Throughput of input_data's batches against a naive per-sample loop measured in the same run.

    python benchmarks/bench_input_data.py [--clips 4000] [--batch_size 100] [--passes 3] [--data_dir DIR]

Without --data_dir it writes a temporary corpus (deleted afterwards) with audio.write_wav:
--clips one-second clips (random tones in noise) over 12 words (the 10 command words plus two
others), two clips per speaker and word, split by the speaker hash, and three 60 s noise files.

It measures and prints:
- the cache build: clips decoded per second (threads);
- training batches (augmented with the default AugmentSettings: time shift, volume, background
  noise, silence from noise, unknown draws) and validation batches, in samples per second;
- the baseline, what the original code did: a Python loop that reads each clip from disk with
  audio.load_clip and augments it alone (roll/pad shift, volume, a noise slice, clipping);
  the disk cache is warm for it too, so the ratio does not flatter the cached path.
It writes nothing else.
"""

import argparse
import logging
import os
import tempfile
import time

import numpy as np


from kws.data import audio
from kws import cli
from kws.data import input_data
from kws.data import labels

SR = audio.SAMPLE_RATE
CLIP = audio.CLIP_SAMPLES


def write_corpus(root, clips, seed):
    """Writes root/<word>/<speaker>_nohash_<n>.wav and root/_background_noise_/*.wav."""
    rng = np.random.default_rng(seed)
    words = list(labels.COMMAND_WORDS) + ["cat", "dog"]
    speakers = max(1, clips // (2 * len(words)))
    t = np.arange(CLIP) / SR
    for word in words:
        os.makedirs(os.path.join(root, word))
        for s in range(speakers):
            for n in range(2):
                clip = rng.uniform(0.05, 0.5) * np.sin(2 * np.pi * rng.uniform(150, 1500) * t)
                clip += rng.normal(0, 0.01, CLIP)
                audio.write_wav(os.path.join(root, word, f"{s:08x}_nohash_{n}.wav"), np.clip(clip, -1, 1))
    noise_dir = os.path.join(root, labels.BACKGROUND_NOISE_DIR)
    os.makedirs(noise_dir)
    for i in range(3):
        audio.write_wav(os.path.join(noise_dir, f"noise_{i}.wav"), np.clip(rng.normal(0, 0.05, 60 * SR), -1, 1))
    return speakers * 2 * len(words)


def naive_sample(rng, path, noise, settings, augment):
    """One sample the original way: read from disk, then augment this one clip."""
    clip = audio.load_clip(path)
    if not augment:
        return clip
    shift = int(rng.integers(-SR // 10, SR // 10 + 1))
    padded = np.pad(clip, (max(shift, 0), max(-shift, 0)))
    clip = padded[max(-shift, 0):max(-shift, 0) + CLIP] * rng.uniform(*settings.volume_range)
    if rng.random() < settings.background_frequency:
        recording = noise[rng.integers(len(noise))]
        start = rng.integers(len(recording) - CLIP + 1)
        clip = clip + rng.uniform(*settings.background_volume_range) * recording[start:start + CLIP]
    return np.clip(clip, -1.0, 1.0)


def naive_rate(ap, split, samples, batch_size, augment, seed):
    """Samples per second of the naive loop over the split's clip files."""
    paths = [path for _, path, _ in ap.clips(split)]
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    done = 0
    while done < samples:
        batch = [naive_sample(rng, paths[rng.integers(len(paths))], ap.noise, ap.augment, augment)
                 for _ in range(min(batch_size, samples - done))]
        np.stack(batch).astype(np.float32)
        done += len(batch)
    return done / (time.perf_counter() - started)


def dataset_rate(ds, passes):
    """Samples per second over every batch of a dataset, `passes` times (training: epochs 1, 2, ...)."""
    started = time.perf_counter()
    samples = 0
    for epoch in range(1, passes + 1):
        ds.set_epoch(epoch)
        samples += sum(len(ds[i][1]) for i in range(len(ds)))
    return samples / (time.perf_counter() - started), samples


def run(data_dir, args):
    started = time.perf_counter()
    ap = input_data.AudioProcessor([data_dir], seed=args.seed, progress=False)
    clips = ap.cache_bytes // input_data.CLIP_BYTES
    decode_seconds = time.perf_counter() - started
    print(f"cache: {clips} clips decoded in {decode_seconds:.2f} s ({clips / decode_seconds:,.0f} clips/s), "
          f"{ap.cache_bytes / 1e6:.0f} MB ({input_data.CLIP_BYTES} bytes per clip)")
    train_rate, train_samples = dataset_rate(ap.dataset("training", args.batch_size), args.passes)
    val_rate, val_samples = dataset_rate(ap.dataset("validation", args.batch_size), args.passes)
    base_train = naive_rate(ap, "training", args.baseline_samples, args.batch_size, True, args.seed)
    base_val = naive_rate(ap, "validation", args.baseline_samples, args.batch_size, False, args.seed)
    print(f"{'':<24}{'input_data':>14}{'naive loop':>14}{'ratio':>8}")
    print(f"{'training (augmented)':<24}{train_rate:>12,.0f}/s{base_train:>12,.0f}/s{train_rate / base_train:>7.1f}x"
          f"   ({train_samples} samples, batch {args.batch_size})")
    print(f"{'validation':<24}{val_rate:>12,.0f}/s{base_val:>12,.0f}/s{val_rate / base_val:>7.1f}x"
          f"   ({val_samples} samples)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=4000, help="clips of the generated corpus (default 4000)")
    parser.add_argument("--batch_size", type=int, default=100, help="samples per batch (default 100)")
    parser.add_argument("--baseline_samples", type=int, default=2000,
                        help="samples the naive loop makes per measurement (default 2000)")
    parser.add_argument("--passes", type=int, default=3,
                        help="epochs / validation passes timed for input_data (default 3)")
    parser.add_argument("--data_dir", default=None, help="use this data folder instead of a generated corpus")
    parser.add_argument("--seed", type=int, default=0, help="seed of corpus, augmentation and baseline (default 0)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(f"CPUs: {os.cpu_count()}")
    if args.data_dir:
        run(args.data_dir, args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        written = write_corpus(os.path.join(tmp, "train"), args.clips, args.seed)
        print(f"generated corpus: {written} clips, 3 noise files of 60 s")
        run(os.path.join(tmp, "train"), args)


if __name__ == "__main__":
    cli.run(main)
