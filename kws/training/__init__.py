"""Training: settings and experiment files, the training loop, its metrics, teachers for distillation."""
