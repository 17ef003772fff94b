"""The one jinja2 environment trialflow renders with: every value is HTML-escaped.

:func:`environment` is the environment over ``reports/templates`` that every
report, dashboard and letter is rendered with; :func:`html_environment` is how
it (or any other) is built.

Every template trialflow renders is HTML (``*.html.j2``, and CSS included
into HTML).  ``jinja2.select_autoescape()`` decides by file extension and
does not match ``.html.j2``, which once let a data cell through as
``<td><img src=x onerror=alert(1)></td>``.  Here escaping is unconditional:
a value is written raw only when it is a :class:`markupsafe.Markup` made at
its source (the inline SVG charts), never by a template's choice.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

__all__ = ["TEMPLATES", "environment", "html_environment"]

#: The folder of every template trialflow renders.
TEMPLATES = Path(__file__).resolve().parent / "templates"


def html_environment(folder: str | Path, **options) -> jinja2.Environment:
    """A jinja2 environment over ``folder`` that escapes every value.

    Parameters
    ----------
    folder : str or Path
        The templates folder.
    **options
        Other :class:`jinja2.Environment` options (``undefined``,
        ``trim_blocks``, ...).  ``autoescape`` and ``loader`` are fixed and
        cannot be passed.

    Returns
    -------
    jinja2.Environment
    """
    for fixed in ("autoescape", "loader"):
        if fixed in options:
            raise TypeError(
                f"html_environment fixes '{fixed}' (every value is escaped); "
                f"got {fixed}={options[fixed]!r} instead."
            )
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)), autoescape=True, **options
    )


@functools.cache
def environment() -> jinja2.Environment:
    """The environment every trialflow template is rendered with (built once).

    Over :data:`TEMPLATES`; a name a template uses but is not given is an
    error (``StrictUndefined``), not a blank; block tags leave no blank lines
    (``trim_blocks``, ``lstrip_blocks``).

    Returns
    -------
    jinja2.Environment
    """
    return html_environment(
        TEMPLATES, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
