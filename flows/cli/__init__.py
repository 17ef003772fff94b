"""The ``trialflow`` command line.  Every command that does work runs a Prefect flow.

Commands that run no flow (``--help``, ``validate``, ``power``, ``schema``,
``status``, ``server``) import no Prefect, so they answer in about a second;
every heavy import happens inside the command that needs it.

The package's public API is :data:`app` and :func:`main` (the ``trialflow`` console
script).  The commands live in rooms of one kind each and are registered below, in the
order ``trialflow --help`` lists them:

- :mod:`~flows.cli.trials`: randomise, enrol, simulate, schema, validate, status,
  withdraw, amend;
- :mod:`~flows.cli.runs`: run, demo, diagnose, analyse, report, sap, costs;
- :mod:`~flows.cli.ingest`: deliveries, letters, uptake, outcomes, export;
- :mod:`~flows.cli.power`: power;
- :mod:`~flows.cli.admin`: audit, server;
- :mod:`~flows.cli.base`: the app, the consoles, errors and exit codes, ``main``.
"""

from __future__ import annotations

from flows.cli import admin, ingest, power, runs, trials
from flows.cli.base import app, main

__all__ = ["app", "main"]

app.command()(trials.randomise)
app.command()(trials.enrol)
app.command()(trials.simulate)
app.command("schema")(trials.schema)
app.command()(trials.validate)
app.command()(runs.run)
app.command()(runs.demo)
app.add_typer(ingest.deliveries_app, name="deliveries")
app.command()(ingest.letters)
app.command()(ingest.uptake)
app.add_typer(ingest.outcomes_app, name="outcomes")
app.command()(ingest.export)
app.command()(power.power)
app.command()(runs.diagnose)
app.command()(runs.analyse)
app.command()(runs.report)
app.command()(runs.sap)
app.command()(trials.status)
app.command()(trials.withdraw)
app.command()(trials.amend)
app.add_typer(admin.audit_app, name="audit")
app.command()(runs.costs)
app.add_typer(admin.server_app, name="server")
