"""Throughput of make_synthetic_dataset.py on this machine: clips per second, 1 worker against all cores.

    python benchmarks/bench_synthetic_dataset.py [--speakers 60] [--test_clips 200] [--workers N]

Builds the same small corpus in a temporary folder (deleted afterwards) with one worker and with
`--workers` (default: every core), `--repeats` times each, alternating, keeping the best run of
each (1-second background-noise files, so that the figure is the clip rate). Prints clips/s of each run, the speed-up over one worker, the ratio to the
target of 300 clips/s, and whether both runs wrote byte-identical corpora. On a machine shared with
other jobs the wall-clock figures drop with the load (the load average is printed alongside), so it
also prints the workers' CPU time per clip and the rate that implies on idle cores.
"""

import argparse
import hashlib
import os
import tempfile


from kws import cli
from kws.data import make_synthetic_dataset

TARGET_CLIPS_PER_S = 300.0


def tree_digest(root):
    """One sha256 over every file's relative path and bytes."""
    digest = hashlib.sha256()
    for folder, dirs, names in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, root).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def run(out, args, workers):
    return make_synthetic_dataset.main([
        "--out", out, "--speakers", str(args.speakers), "--test_clips", str(args.test_clips), "--words", args.words,
        "--noise_duration_s", "1", "--seed", str(args.seed), "--workers", str(workers)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speakers", type=int, default=60, help="speakers of the benchmark corpus (default 60)")
    parser.add_argument("--test_clips", type=int, default=200, help="test clips (default 200)")
    parser.add_argument("--words", default="v2", help="word set, as make_synthetic_dataset.py takes it (default v2)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(),
                        help=f"workers of the parallel run (default: all cores, {os.cpu_count()})")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per worker count, best kept (default 2)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        warm_up = argparse.Namespace(**{**vars(args), "speakers": 2, "test_clips": 2, "words": "yes"})
        run(os.path.join(tmp, "warm_up"), warm_up, 1)  # starts the fork server outside the timed runs
        results = {1: [], args.workers: []}
        for repeat in range(args.repeats):  # alternated, best kept: other jobs' load comes and goes
            for workers in results:
                out = os.path.join(tmp, f"{workers}_{repeat}")
                results[workers].append(run(out, args, workers))
        identical = tree_digest(os.path.join(tmp, "1_0")) == tree_digest(os.path.join(tmp, f"{args.workers}_0"))
    single, parallel = (max(results[w], key=lambda r: r["clips_per_s"]) for w in (1, args.workers))
    clips = single["train_clips"] + single["test_clips"]
    print(f"\ncorpus: {clips} clips ({single['train_clips']} train + {single['test_clips']} test), "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"1 worker:   {single['clips_per_s']:7.1f} clips/s ({single['elapsed_s']:.1f} s)")
    print(f"{args.workers} workers:  {parallel['clips_per_s']:7.1f} clips/s ({parallel['elapsed_s']:.1f} s)")
    print(f"speed-up over 1 worker: {parallel['clips_per_s'] / single['clips_per_s']:.2f}x")
    print(f"target {TARGET_CLIPS_PER_S:.0f} clips/s: ratio {parallel['clips_per_s'] / TARGET_CLIPS_PER_S:.2f}")
    cpu_ms = 1000 * min(r["worker_cpu_s"] for r in results[1]) / clips
    print(f"worker CPU per clip (noise files included): {cpu_ms:.2f} ms -> {1000 * os.cpu_count() / cpu_ms:.0f} "
          f"clips/s if all {os.cpu_count()} cores were free (ratio to target "
          f"{1000 * os.cpu_count() / cpu_ms / TARGET_CLIPS_PER_S:.2f})")
    print(f"byte-identical corpora: {identical}")
    return {"single": single, "parallel": parallel, "identical": identical}


if __name__ == "__main__":
    cli.run(main)
