"""The library behind the scripts at the repository's top, a sub-package per stage of the pipeline:

    data      audio, corpora, labels, the eSpeak corpus generator, augmentation, the AudioProcessor
    models    the Keras model zoo, feature layers, openWakeWord embeddings
    training  settings, the training loop and its metrics, teachers
    export    freezing to .pb / TFLite, int8, the numpy-only model runtime, the Pi submission
    submit    submissions with TTA, probability files, ensembles, pseudo-labels, scoring
    stream    keyword spotting in long audio: streams, spotters, calibration

plus cli.py (exit statuses, output checks) and runs.py (run folders). Importing a package imports
nothing else: the Pi path stays numpy-only."""
