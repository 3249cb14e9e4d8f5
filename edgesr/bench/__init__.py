"""Benchmarks and the environment doctor (``edgesr bench``, ``edgesr doctor``).

Holds ``run`` (the bench: speed per backend, precision and size, peers side by side), ``rows`` (which
rows a machine can run), ``result`` (the result record and its table) and ``doctor`` (what this
machine can run and how to fix what is missing). Tooling on top of the deployment side: may import
the runtime face, runtimes, export, calibration and models; nothing below imports it. Import the
modules themselves (``edgesr.bench.run``): this package stays empty so ``edgesr --help`` stays cheap.
"""
