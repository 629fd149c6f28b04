"""Keyword spotting in long audio: streaming inference, test streams, spotters and their calibration."""
