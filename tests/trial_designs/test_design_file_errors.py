"""A file that is not a design is refused in one line naming the file and the rule.

The message never echoes a whole file: `trialflow sap ../../etc/passwd` used to print every
line of it, since the loader put the file's value in the message when it was not a mapping.
"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from flows.cli import app
from trial_designs.design import DesignError, load_design

#: Lines of a passwd-like file: the message may show the start of the first, never the rest.
PASSWD = "\n".join(
    f"user{i}:x:{1000 + i}:{1000 + i}:User {i}:/home/user{i}:/bin/bash" for i in range(40)
)


def _one_line(path) -> str:
    with pytest.raises(DesignError) as caught:
        load_design(path)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


def test_a_text_file_is_named_and_only_its_start_is_shown(tmp_path):
    path = tmp_path / "passwd"
    path.write_text(PASSWD)
    message = _one_line(path)
    assert message.startswith("passwd: must hold a mapping of design fields")
    assert "'user0:x:1000" in message and "…" in message
    assert "user2:" not in message and "/home/user39" not in message
    assert len(message) < 200


def test_a_long_value_or_key_is_cut_with_an_ellipsis(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(f"unit: {'cluster' * 100}\n{'k' * 300}: 1\n")
    with pytest.raises(DesignError) as caught:
        load_design(path)
    lines = str(caught.value).splitlines()
    unit = next(line for line in lines if "'unit'" in line)
    assert unit.endswith("Got 'clustercluster" + "cluster" * 6 + "cl… instead.")
    key = next(line for line in lines if "is not a field" in line)
    assert f"'{'k' * 59}…' is not a field" in key and "k" * 61 not in key


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.mkdir(), r"^Design file .*thing is a directory; give the design's YAML"),
        (lambda p: None, r"^Design file .*thing does not exist\.$"),
        (
            lambda p: p.write_bytes(bytes(range(128, 256)) * 20),
            r"^thing: is not a text file \(byte 0 is not UTF-8\); a design is a YAML text file\.$",
        ),
        (
            lambda p: p.write_text("id: x\narms: [a\n  b: {\n"),
            r"^thing: is not valid YAML: expected ',' or ']', but got ':' at line 3, column 4\.$",
        ),
    ],
    ids=["directory", "missing", "binary", "broken-yaml"],
)
def test_a_file_that_cannot_be_read_gives_one_clear_line(tmp_path, make, expected):
    path = tmp_path / "thing"
    make(path)
    assert re.search(expected, _one_line(path))


def test_validate_on_the_cli_prints_one_line_for_a_passwd_file(tmp_path):
    path = tmp_path / "passwd"
    path.write_text(PASSWD)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert "/home/user39" not in result.output
