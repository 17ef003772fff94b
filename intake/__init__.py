"""Intake: pure checks and scoring of rosters, delivery logs and outcome files.

No I/O: flows read the files, call these functions and store what they return.
"""
