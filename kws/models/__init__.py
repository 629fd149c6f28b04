"""The Keras 3 model zoo (a registry), the feature layers inside the models, openWakeWord embeddings."""
