"""The `creneau` command line, run as a real process where it matters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from channels.cli import main
from tests.conftest import EXAMPLE, env_for

ROOT = Path(__file__).resolve().parent.parent


def test_check_ok_and_errors(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["check", str(EXAMPLE)])
    assert ok.exit_code == 0 and "OK (Cabinet des Lilas" in ok.output
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace('"Europe/Paris"', '"Europe/Pariss"'))
    result = runner.invoke(main, ["check", str(bad)])
    assert result.exit_code == 1
    assert "practice.timezone" in result.output and "Europe/Paris" in result.output


def test_check_warns_when_a_newcomers_first_sms_outgrows_two_segments(tmp_path):
    """The first SMS (notice and menu) grows with the practice's name, contact and link:
    `check` says which language goes over the budget and what to shorten."""
    runner = CliRunner()
    ok = runner.invoke(main, ["check", str(EXAMPLE)])
    assert ok.exit_code == 0 and "warning" not in ok.output
    long = tmp_path / "long.toml"
    long.write_text(
        EXAMPLE.read_text().replace(
            'name = "Cabinet des Lilas"', 'name = "Maison de santé Saint-Exupéry"'
        )
    )
    result = runner.invoke(main, ["check", str(long)])
    assert result.exit_code == 0 and "OK (Maison de santé Saint-Exupéry" in result.output
    assert "first SMS (privacy notice and menu) takes 3 segments in en" in result.output
    assert "in fr" not in result.output  # the French one still fits
    assert "shorten [practice] name (29 characters)" in result.output


def test_keys_generate_prints_settings_format():
    out = CliRunner().invoke(main, ["keys", "generate"]).output
    lines = dict(line.split("=", 1) for line in out.strip().splitlines())
    assert set(lines) == {"CRENEAU_DATA_KEYS", "CRENEAU_INDEX_KEY", "CRENEAU_SECRET_KEY"}
    assert ":" in lines["CRENEAU_DATA_KEYS"]


def test_chat_in_a_terminal_books_and_lists(tmp_path):
    """`creneau chat` as a newcomer uses it: a real process, lines in, lines out."""
    env = {**os.environ, **env_for(tmp_path)}
    script = "Bonjour\n1\n1\nPaul Martin\n1\nMES RDV\n"
    exe = Path(sys.executable).parent / "creneau"
    proc = subprocess.run(
        [str(exe), "chat", "--as", "paul", "--lang", "fr"],
        input=script,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "https://example.org/confidentialite" in out
    assert "1. Consultation" in out and "RDV confirmé" in out
    assert "Vous avez 1 RDV à venir:" in out
    assert "Paul Martin" not in proc.stderr
