"""Names from users and data never put a file outside its folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.safe_io import UnsafePathError, check_trial_id, inside
from flows.tasks import output_dir

BAD_IDS = ["../evil", "/tmp/evil", "a/b", "a\\b", "..", "", "Letters", "x" * 65, "evil\x00"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_a_trial_id_that_is_not_a_plain_name_is_refused(bad):
    with pytest.raises(UnsafePathError, match=r"The trial id .* is not valid: a trial id is"):
        check_trial_id(bad)
    with pytest.raises(UnsafePathError, match="is not valid"):
        output_dir(bad)


@pytest.mark.parametrize("bad", ["../evil", "/tmp/evil", "a/b"])
def test_the_drop_archive_and_out_folders_refuse_a_bad_trial_id(bad):
    from flows.settings import get_settings

    for folder in ("drop_dir", "archive_dir", "out_dir"):
        with pytest.raises(UnsafePathError, match="is not valid"):
            getattr(get_settings(), folder)(bad)


def test_the_packaged_trial_ids_are_valid():
    for name in ("letters", "goal_setting", "coffee", "schwartz_rounds"):
        assert check_trial_id(name) == name


@pytest.mark.parametrize("name", ["../x.html", "/etc/x.html", "a/../../x.html", "", "."])
def test_an_output_name_that_leaves_its_folder_is_refused(tmp_path, name):
    with pytest.raises(UnsafePathError, match="must stay inside the folder"):
        inside(tmp_path / "out", name)
    with pytest.raises(UnsafePathError, match="must stay inside the folder"):
        output_dir("letters", name or "..")


def test_a_link_out_of_the_folder_is_refused_and_a_plain_name_is_kept(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafePathError, match="must stay inside the folder"):
        inside(tmp_path / "out", "link/x.html")
    assert inside(tmp_path / "out", "letters.html") == tmp_path / "out" / "letters.html"
    assert output_dir("letters", "letters").is_dir()


@pytest.mark.parametrize("bad", ["../evil", "/tmp/evil-report", "sub/evil"])
def test_report_refuses_a_trial_id_that_would_write_outside_out(
    prefect_server, tmp_path, bad, simulated_results
):
    from flows.cli import app

    # a results.json sits where the hostile id points, as it did when the report escaped --out
    results = tmp_path / "results" / "x"
    target = (results / bad).resolve() if not bad.startswith("/") else Path(bad)
    (target / "analysis").mkdir(parents=True, exist_ok=True)
    (target / "analysis" / "results.json").write_text(
        json.dumps(simulated_results("letters")), encoding="utf-8"
    )
    out = tmp_path / "out"
    before = {p for p in tmp_path.rglob("*.html")}
    result = CliRunner().invoke(
        app, ["report", bad, "--results", str(results), "--out", str(out), "--no-pdf"]
    )
    assert result.exit_code == 1, result.output
    assert "error:" in result.output and "is not valid" in result.output
    assert {p for p in tmp_path.rglob("*.html")} == before
    assert not Path(f"{bad}.html").exists() and not (out.parent / "evil.html").exists()
    if bad.startswith("/"):
        shutil.rmtree(target)
