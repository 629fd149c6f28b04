"""Submissions: labelling clips with test-time augmentation, probability files, ensembles,
pseudo-labels, scoring against a solution."""
