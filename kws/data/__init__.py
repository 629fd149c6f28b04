"""Audio and corpora: WAV reading, dataset folders and lists, labels, the synthetic corpus (eSpeak NG),
noise, seeded augmentation and the AudioProcessor that batches training samples."""
