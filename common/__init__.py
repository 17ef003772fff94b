"""Helpers every layer shares: argument checks and JSON-safe numbers.

The lowest layer of trialflow: it imports nothing from ``trial_designs``, ``analysis``,
``reports`` or ``flows``, so each of them can use it.
"""
