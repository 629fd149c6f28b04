"""Exports and running them: frozen .pb and TFLite files (float, int8), streaming exports, the model
runtime of the Pi path, benchmarks of an exported model."""
