"""The one way trialflow builds a jinja2 environment: every value is HTML-escaped.

Every template trialflow renders is HTML (``*.html.j2``, and CSS included
into HTML).  ``jinja2.select_autoescape()`` decides by file extension and
does not match ``.html.j2``, which once let a data cell through as
``<td><img src=x onerror=alert(1)></td>``.  Here escaping is unconditional:
a value is written raw only when it is a :class:`markupsafe.Markup` made at
its source (the inline SVG charts), never by a template's choice.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

__all__ = ["html_environment"]


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
