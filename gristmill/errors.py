"""Errors that stop a command before or during work, phrased for the user."""


class GristmillError(Exception):
    """A run-level problem (bad config, missing input, unwritable output): one line, non-zero exit."""
