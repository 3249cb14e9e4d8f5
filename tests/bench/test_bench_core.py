"""edgesr.bench.run on this CPU: real timings of tiny models, kept to a few seconds."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgesr.bench.run import SIZES, BenchConfig, load_result, measure_peak, opencv_superres_available, run_bench
from edgesr.errors import ConfigError

from conftest import SHARED, tiny_model  # type: ignore[import-not-found]


@pytest.fixture(scope="module")
def tiny_pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import edgesr

    p = tmp_path_factory.mktemp("bench") / "tiny_x2.pt"
    edgesr.save_model(tiny_model("edge", 2), p)
    return p


@pytest.fixture(scope="module")
def result(tiny_pt: Path):
    cfg = BenchConfig(model=str(tiny_pt), sizes=("360p",), rows=("bicubic", "pytorch", "onnxruntime cpu fp32"),
                      budget_s=0.1, min_iters=2, peak_s=0.2, device="cpu")
    return run_bench(cfg)


def test_rows_measured_with_latency_flops_and_memory(result, tiny_pt: Path) -> None:
    import edgesr

    rows = {c.row: c for c in result.cells}
    assert set(rows) == {"bicubic (cv2)", "edgesr pytorch cpu fp32", "edgesr onnxruntime cpu fp32"}
    for c in rows.values():
        assert c.status == "ok", c.reason
        assert c.iters >= 2 and c.fps and c.fps > 0
        assert c.p99_ms >= c.p50_ms > 0
        assert c.rss_peak_delta_mb is not None and c.rss_peak_delta_mb >= 0
        assert c.tracemalloc_peak_mb is not None and c.tracemalloc_peak_mb > 0
    # the output frame alone (720x1280x3 uint8) passes through tracemalloc-tracked numpy memory
    assert rows["bicubic (cv2)"].tracemalloc_peak_mb >= 720 * 1280 * 3 / 2 ** 20 * 0.99
    m = edgesr.load_model(tiny_pt)
    want = edgesr.count_flops(m, SIZES["360p"]) / 1e9
    for name in ("edgesr pytorch cpu fp32", "edgesr onnxruntime cpu fp32"):
        c = rows[name]
        assert c.gflop == pytest.approx(want, rel=1e-6)
        assert c.gflops == pytest.approx(c.gflop / (c.p50_ms / 1000))
        assert c.peak_key == "cpu_fp32" and 0 < c.peak_fraction < 3
    assert rows["bicubic (cv2)"].gflop is None
    assert result.peak_gflops["cpu_fp32"] > 0.1


def test_json_roundtrip_table_and_plot(result, tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    result.to_json(p)
    d = json.loads(p.read_text())
    assert d["format"] == "edgesr.bench.run" and d["machine"]["threads"] == 2
    back = load_result(p)
    assert [c.fps for c in back.cells] == [c.fps for c in result.cells]
    t = result.table()
    assert "edgesr onnxruntime cpu fp32" in t and "p99 ms" in t
    md = result.table(markdown=True)
    assert md.splitlines()[1].startswith("|---")
    pytest.importorskip("matplotlib")
    out = result.plot(tmp_path / "fps.png", tmp_path / "peak.png")
    for f in out:
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ratio_between_rows_of_the_same_run(result) -> None:
    r = result.ratios("bicubic (cv2)")
    c = result.cell("edgesr onnxruntime cpu fp32", "360p")
    b = result.cell("bicubic (cv2)", "360p")
    assert r["edgesr onnxruntime cpu fp32"]["360p"] == pytest.approx(c.fps / b.fps)


def test_slow_cells_are_skipped_with_a_reason() -> None:
    cfg = BenchConfig(sizes=("360p", "540p"), rows=("bicubic",), budget_s=0.05, peak_s=0.1, max_frame_s=1e-9,
                      model="edge_tiny")
    res = run_bench(cfg)
    a, b = res.cell("bicubic (cv2)", "360p"), res.cell("bicubic (cv2)", "540p")
    assert a.status == "ok"
    assert b.status == "skipped" and "predicted" in b.reason and "--full" in b.reason
    full = run_bench(BenchConfig(sizes=("360p", "540p"), rows=("bicubic",), budget_s=0.05, peak_s=0.1,
                                 max_frame_s=1e-9, full=True, model="edge_tiny"))
    assert full.cell("bicubic (cv2)", "540p").status == "ok"


def test_peers_rows_or_install_hint() -> None:
    peers = SHARED / "peers" / "opencv-superres"
    if not peers.is_dir():
        pytest.skip(f"peer models not present at {peers}")
    res = run_bench(BenchConfig(sizes=("360p",), rows=("opencv ESPCN",), peers=str(peers), budget_s=0.05,
                                min_iters=1, peak_s=0.1, model="edge_tiny"))
    cells = [c for c in res.cells if c.row == "opencv ESPCN"]
    assert len(cells) == 1
    if opencv_superres_available():
        assert cells[0].status == "ok" and cells[0].fps > 0
    else:
        assert cells[0].status == "skipped" and "install opencv-contrib-python" in cells[0].reason


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown size"):
        BenchConfig(sizes=("4k",))
    with pytest.raises(ConfigError):
        BenchConfig(device="tpu")


def test_measure_peak_cpu_is_positive() -> None:
    assert measure_peak("cpu", "fp32", seconds=0.2, threads=1) > 0.05


def test_cli_bench_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    r = subprocess.run([sys.executable, "-m", "edgesr", "bench", "--model", "edge_tiny", "--rows", "bicubic",
                        "--sizes", "360p", "--budget", "0.05", "--json", str(out)],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    assert "bicubic (cv2)" in r.stdout and "peak GFLOP/s" in r.stdout
    d = json.loads(out.read_text())
    assert [c["row"] for c in d["cells"]] == ["bicubic (cv2)"] and d["cells"][0]["fps"] > 0


def test_bench_help_and_import_stay_light() -> None:
    code = ("import sys, edgesr.bench\nfrom edgesr.cli import main\ntry:\n    main(['bench', '--help'])\n"
            "except SystemExit:\n    pass\nbad = [m for m in ('onnxruntime', 'tensorrt', 'torch') if m in sys.modules]\n"
            "print('HEAVY', bad)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in r.stdout, r.stdout + r.stderr


def test_fastest_precision_is_read_from_the_run() -> None:
    """Which precision wins is what this run measured (INT8 pays on VNNI CPUs, not on AVX2-only ones)."""
    from edgesr.bench.run import Cell, BenchResult, fastest_lines, fastest_precision

    def cell(prec: str, size: str, fps: float, status: str = "ok") -> Cell:
        return Cell(f"edgesr onnxruntime cpu {prec}", "edgesr", "onnxruntime", prec, "cpu", size, (360, 640),
                    status=status, fps=fps)

    res = BenchResult({}, {}, {}, {}, [cell("fp32", "360p", 10.0), cell("int8", "360p", 16.0),
                                       cell("fp32", "720p", 3.0), cell("int8", "720p", 2.0),
                                       cell("int8", "1080p", 9.0, status="error"), cell("fp32", "1080p", 1.0)])
    got = fastest_precision(res)
    assert got == {"onnxruntime cpu": {"360p": ("int8", 1.6), "720p": ("fp32", 1.0)}}
    assert fastest_lines(res) == "onnxruntime cpu: 360p int8 (1.60x fp32), 720p fp32 (1.00x fp32)"
