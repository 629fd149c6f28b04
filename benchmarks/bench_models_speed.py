"""Training and inference speed of every registered model on this machine's CPU.

For each model: build it (`model.build_model`), compile with Adam and categorical cross-entropy,
run a few warm-up `train_on_batch` steps (tracing, memory allocation), then time `--steps`
training steps on random waveforms; likewise for `predict_on_batch`. Prints samples/s for both
and the ratio against a baseline model measured in the same run (the TF tutorial's `conv` by
default), so figures from machines of different speed or load can be compared.

    python benchmarks/bench_models_speed.py [--models pi,ds_cnn] [--steps 10] [--batch_size 64]

Reads and writes nothing; the table goes to stdout. Random data, so the figures say nothing
about accuracy.
"""

import argparse
import logging
import time


import keras
import numpy as np

from kws import cli
from kws.models import model

log = logging.getLogger(__name__)


def samples_per_second(step, batch_size, warmup_steps, steps):
    """Samples/s of `step()` over `steps` timed calls after `warmup_steps` untimed ones."""
    for _ in range(warmup_steps):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch_size * steps / (time.perf_counter() - start)


def measure(name, args):
    """(train samples/s, inference samples/s) of one registered model on random data."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(args.seed)
    net = model.build_model(name, args.num_classes)
    net.compile(optimizer="adam", loss="categorical_crossentropy")
    rng = np.random.default_rng(args.seed)
    waveforms = rng.uniform(-0.5, 0.5, (args.batch_size, net.input_shape[-1])).astype(np.float32)
    targets = keras.utils.to_categorical(rng.integers(0, args.num_classes, args.batch_size), args.num_classes)
    train = samples_per_second(lambda: net.train_on_batch(waveforms, targets), args.batch_size,
                               args.warmup_steps, args.steps)
    infer = samples_per_second(lambda: net.predict_on_batch(waveforms), args.batch_size,
                               args.warmup_steps, args.steps)
    log.info("%s: train %.1f samples/s, inference %.1f samples/s", name, train, infer)
    return train, infer


def parse_models(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in model.MODELS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(model.MODELS)}")
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=parse_models, default=list(model.MODELS),
                        help="comma-separated registry names (default: every registered model)")
    parser.add_argument("--baseline", default="conv", choices=sorted(model.MODELS),
                        help="model the ratios are taken against, always measured (default: conv)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement (default: 20)")
    parser.add_argument("--warmup_steps", type=int, default=3,
                        help="untimed steps first, for tracing and allocation (default: 3)")
    parser.add_argument("--batch_size", type=int, default=64, help="examples per step (default: 64)")
    parser.add_argument("--num_classes", type=int, default=12, help="model outputs (default: 12)")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and random data (default: 0)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.steps < 1 or args.warmup_steps < 0 or args.batch_size < 1:
        parser.error("--steps and --batch_size must be >= 1 and --warmup_steps >= 0")

    names = [args.baseline] + [name for name in args.models if name != args.baseline]
    results = {name: measure(name, args) for name in names}
    base_train, base_infer = results[args.baseline]
    print(f"batch {args.batch_size}, {args.steps} timed steps after {args.warmup_steps} warm-up; "
          f"ratios against {args.baseline} measured in this run")
    print(f"{'model':<18}{'train samples/s':>16}{'x ' + args.baseline:>10}"
          f"{'infer samples/s':>17}{'x ' + args.baseline:>10}")
    for name, (train, infer) in results.items():
        print(f"{name:<18}{train:>16.1f}{train / base_train:>10.2f}{infer:>17.1f}{infer / base_infer:>10.2f}")
    return results


if __name__ == "__main__":
    cli.run(main)
