"""``edgesr`` command line: a thin layer over the Python API.

Subcommands live one per module and are imported only when invoked, so a broken or heavy
command (TensorRT, video) can never break ``edgesr --help`` or the others.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import sys
from typing import Sequence

# name -> (module, one-line help). Each module defines add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("edgesr.cli.train", "train a model with the dual regression loss"),
    "adapt": ("edgesr.cli.adapt", "adapt a model to a camera, video or folder from its LR frames (no HR)"),
    "eval": ("edgesr.cli.eval", "PSNR/SSIM on a benchmark folder (standard protocol, bicubic reference)"),
    "compress": ("edgesr.cli.compress", "dual regression compression: channel search, pruning, fine-tuning"),
    "export": ("edgesr.cli.export", "export to ONNX / TensorRT / Triton"),
    "upscale": ("edgesr.cli.upscale", "upscale images, folders, videos, cameras and streams"),
    "bench": ("edgesr.cli.bench", "speed of every available backend and precision, with peers"),
    "doctor": ("edgesr.cli.doctor", "what this machine can run, and how to fix what is missing"),
    "models": ("edgesr.cli.models", "list model presets and bundled weights"),
    "convert": ("edgesr.cli.convert", "convert checkpoints of the paper's official DRN / DRC code to edgesr models"),
}


def _main_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edgesr", add_help=False,
        description="Super-resolution for the edge: train, compress, export, upscale, evaluate, benchmark.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(f"  {k:<10} {v[1]}" for k, v in COMMANDS.items())
        + "\n\nrun 'edgesr COMMAND --help' for a command's options",
    )
    p.add_argument("-h", "--help", action="store_true", help="show this help message and exit")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    p.add_argument("command", nargs="?", choices=list(COMMANDS), metavar="COMMAND")
    return p


def _unknown_command(name: str) -> int:
    close = difflib.get_close_matches(name, list(COMMANDS), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    print(f"edgesr: unknown command {name!r}; {hint}commands: {', '.join(COMMANDS)} (see 'edgesr --help')",
          file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        return _unknown_command(argv[0])
    if not argv or argv[0] not in COMMANDS:
        p = _main_parser()
        ns, _ = p.parse_known_args([a for a in argv if a.startswith("-")])
        if ns.version:
            from edgesr import __version__

            print(__version__)
            return 0
        p.print_help()
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    name, rest = argv[0], argv[1:]
    from edgesr.errors import EdgeSRError, Stopped
    from edgesr.signals import EXIT_SIGTERM, Terminated, sigterm_interrupts

    # From here SIGTERM is a Ctrl-C: one arriving while torch imports (seconds on a small CPU) is said,
    # not a silent exit, and neither prints a traceback. Commands that save state set their own handlers.
    with sigterm_interrupts():
        try:
            module = importlib.import_module(COMMANDS[name][0])
            parser = argparse.ArgumentParser(prog=f"edgesr {name}", description=COMMANDS[name][1])
            parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
            module.add_arguments(parser)
            args = parser.parse_args(rest)
            configure_logging(args.verbose)
            return int(module.run(args) or 0)
        except Stopped as e:  # a requested stop with its state saved: not an error
            print(f"edgesr {name}: {e}", file=sys.stderr)
            return int(getattr(e, "exit_code", EXIT_SIGTERM))
        except EdgeSRError as e:
            print(f"edgesr {name}: error: {e}", file=sys.stderr)
            return int(getattr(e, "exit_code", 2))
        except OSError as e:  # a disk that fills or a folder that vanishes part-way: one line, not a traceback
            if "-v" in rest or "--verbose" in rest:
                raise
            where = f": {e.filename}" if getattr(e, "filename", None) else ""
            print(f"edgesr {name}: error: {e.strerror or e}{where} (run with -v for the traceback)", file=sys.stderr)
            return 1
        except Terminated:
            print(f"edgesr {name}: stopped by SIGTERM", file=sys.stderr)
            return EXIT_SIGTERM
        except KeyboardInterrupt:
            print(f"edgesr {name}: interrupted", file=sys.stderr)
            return 130


class _OwnInfo(logging.Filter):
    """edgesr's records from INFO up, everyone else's (torch, onnxruntime, PIL) from WARNING up."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name == "edgesr" or record.name.startswith("edgesr.")


def configure_logging(verbose: bool = False) -> None:
    """stderr logging of a CLI run: edgesr's INFO lines (DEBUG and everyone's INFO with ``-v``). Libraries'
    INFO lines (three from torch on a Ctrl-C during start-up) are not the user's business by default.
    Does nothing when the root logger already has handlers (an embedding application, pytest)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if not verbose:
        handler.addFilter(_OwnInfo())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
