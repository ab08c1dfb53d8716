"""Every benchmark runs, in a quick mode, so none can rot unseen: each is started as a person
starts it (from the top of the checkout) with the least work that still takes every step, and
must finish and print its figure. What the figures are is the benchmarks' own business."""

import os
import subprocess
import sys

import pytest

from tests.helpers.paths import CHECKOUT


def bench(*args: str, timeout: float = 300) -> str:
    run = subprocess.run(
        [sys.executable, *args],
        cwd=CHECKOUT,
        env={**os.environ, "PYTHONPATH": str(CHECKOUT)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_the_engine_benchmark_runs() -> None:
    assert "engine per deploy, median of 1 runs' p50 = " in bench("bench/engine.py", "--quick")


def test_the_store_benchmark_runs() -> None:
    out = bench("bench/store.py", "--commits", "5", "--runs", "1", "--history-commits", "60")
    assert "(a) transaction / CLI" in out and "(b) git log / !history" in out


def test_the_gitops_benchmark_runs() -> None:
    assert "rendering adds" in bench("bench/gitops.py", "--deploys", "20")


def test_the_metrics_benchmark_runs() -> None:
    out = bench("bench/metrics.py", "--commits", "300", "--days", "10", "--runs", "1")
    assert "cold index:" in out and "warm '" in out


def test_the_audit_benchmark_runs() -> None:
    out = bench("bench/audit.py", "--quick")
    assert "cold index:" in out and "warm report, html:" in out


def test_the_startup_benchmark_runs() -> None:
    out = bench("bench/startup.py", "--quick")
    assert "(a) warm index" in out and "the index whole" in out


def test_the_redaction_benchmark_runs() -> None:
    assert "16 MiB:" in bench("bench/redact.py")


def test_the_download_benchmark_runs() -> None:
    out = bench("bench/download.py", "--size-mib", "2", "--runs", "1", "--sinks", "null")
    assert "the curls write to /dev/null" in out


def test_the_download_load_benchmark_runs() -> None:
    out = bench("bench/download_load.py", "--quick")
    assert "p99 download / quiet, median of 1 = " in out


@pytest.mark.matrix
def test_the_latency_benchmark_runs() -> None:
    out = bench("-m", "bench.latency", "--commands", "3", "--warmup", "1", "--pause", "0")
    assert "opsbot / echo p50 = " in out


@pytest.mark.matrix
def test_the_burst_benchmark_runs() -> None:
    out = bench("-m", "bench.burst", "--people", "2", "--each", "2", "--rounds", "1")
    assert "opsbot / client, median of 1 = " in out
