"""Responder: per-server alerts in, per-client verdicts out."""

__version__ = "0.1.0"
