"""The explorer on a real socket: ``cnnkit serve`` starting and refusing, and a bounded load test
of 200 concurrent predictions on loopback (zero errors, latency reported)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import httpx
import pytest

from cnnkit.serve.server import is_loopback


def test_200_concurrent_predictions_all_succeed(address, explorer):
    async def load() -> list[tuple[int, float, int]]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=address, limits=limits, timeout=120) as client:
            async def one(k: int) -> tuple[int, float, int]:
                start = time.perf_counter()
                response = await client.post("/api/predict", json={"input": {"sample": k % 24}})
                top = response.json().get("top", -1) if response.status_code == 200 else -1
                return response.status_code, time.perf_counter() - start, top
            return await asyncio.gather(*(one(k) for k in range(200)))

    started = time.perf_counter()
    results = asyncio.run(load())
    wall = time.perf_counter() - started
    codes = [code for code, _, _ in results]
    assert codes == [200] * 200
    latencies = sorted(seconds * 1000 for _, seconds, _ in results)
    print(f"\n200 concurrent predictions: p50 {latencies[100]:.0f} ms, p95 {latencies[190]:.0f} ms, "
          f"max {latencies[-1]:.0f} ms, {200 / wall:.0f} requests/s")
    # every answer is the one a lone request gets: nothing mixed up between concurrent requests
    alone = {k: explorer.predict({"sample": k})["top"] for k in range(24)}
    assert all(top == alone[k % 24] for k, (_, _, top) in enumerate(results))


def test_loopback_is_recognised():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.com")


def test_cnnkit_serve_prints_its_address_and_answers(lenet_run):
    process = subprocess.Popen([sys.executable, "-m", "cnnkit", "serve", str(lenet_run), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line, process.stderr.read() if process.poll() is not None else line
        address = line.split()[line.split().index("(Ctrl-C") - 1]
        model = httpx.get(f"{address}/api/model", timeout=30).json()
        assert model["architecture"] == "lenet5" and model["name"] == lenet_run.name
    finally:
        process.terminate()
        process.wait(30)


def test_a_port_in_use_is_one_line(lenet_run, run_cli, capfd):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        code, _, err = run_cli(["serve", str(lenet_run), "--port", str(taken.getsockname()[1])], capfd)
    finally:
        taken.close()
    assert code == 2 and "in use; pass --port" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args,words", [
    (["serve", "no-such-run"], "neither a run directory nor a registered model"),
    (["serve", "lenet5", "--port", "70000"], "--port must be 0 to 65535"),
    (["serve", "lenet5", "--host", "no such host!"], "--host"),
])
def test_bad_arguments_are_one_line(run_cli, capfd, args, words):
    code, _, err = run_cli(args, capfd)
    assert code == 2 and words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
