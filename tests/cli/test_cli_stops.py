"""How the CLI ends when asked to stop (issue 25): a requested stop is not an error, a signal during
start-up (while torch imports) is said in one line, and libraries' INFO lines stay out of the output."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgesr.cli import main
from edgesr.errors import Stopped

RUNNER = """
import sys
sys.path.insert(0, {folder!r})
import edgesr.cli as cli
cli.COMMANDS["fake"] = ("fakecmd", "a command for tests")
sys.exit(cli.main(["fake"]))
"""


def _run_fake(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    """``edgesr fake`` in a fresh interpreter, where ``fakecmd`` is ``body`` (module level = start-up)."""
    (tmp_path / "fakecmd.py").write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, "-c", RUNNER.format(folder=str(tmp_path))], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("sig, rc, line", [("SIGTERM", 143, "edgesr fake: stopped by SIGTERM"),
                                           ("SIGINT", 130, "edgesr fake: interrupted")])
def test_signal_during_start_up_is_one_line(tmp_path: Path, sig: str, rc: int, line: str) -> None:
    """Before: SIGTERM while the command's modules imported exited silently (143, nothing said); SIGINT
    printed a traceback from inside torch's import."""
    p = _run_fake(tmp_path, f"""
        import os, signal, time
        os.kill(os.getpid(), signal.{sig})  # arrives while the command module imports
        time.sleep(30)
        def add_arguments(p): pass
        def run(a): return 0
        """)
    assert p.returncode == rc, p.stderr
    assert p.stderr.strip() == line and "Traceback" not in p.stderr


def test_library_info_lines_are_not_shown_but_edgesr_and_warnings_are(tmp_path: Path) -> None:
    p = _run_fake(tmp_path, """
        import logging
        def add_arguments(p): pass
        def run(a):
            logging.getLogger("torch.distributed.elastic").info("a torch INFO line")
            logging.getLogger("edgesr.training").info("an edgesr INFO line")
            logging.getLogger("onnxruntime").warning("a library warning")
            return 0
        """)
    assert p.returncode == 0, p.stderr
    assert "an edgesr INFO line" in p.stderr and "a library warning" in p.stderr
    assert "torch INFO" not in p.stderr


def test_a_requested_stop_reads_as_a_stop_not_an_error(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import types

    def run(a: object) -> int:
        raise Stopped("stopped by SIGTERM at step 3/10: checkpoint saved in runs/x/last.pt, no model.pt written; "
                      "continue with: edgesr train --resume --out runs/x")

    fake = types.SimpleNamespace(add_arguments=lambda p: None, run=run)
    monkeypatch.setitem(sys.modules, "fakecmd_stop", fake)
    monkeypatch.setitem(__import__("edgesr.cli", fromlist=["COMMANDS"]).COMMANDS, "fake", ("fakecmd_stop", "test"))
    assert main(["fake"]) == 143
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgesr fake: stopped by SIGTERM at step 3/10") and "error" not in err
    assert "last.pt" in err and "--resume" in err
