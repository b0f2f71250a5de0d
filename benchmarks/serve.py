"""The explorer's speed: prediction plus every feature map, from a client on loopback.

    python benchmarks/serve.py [--run RUN] [--requests 100] [--threads 2]

For a LeNet-5 run (--run; default: one epoch of Fashion-MNIST trained into a temporary folder)
and a ResNet-18 at 32x32 (fresh seeded weights), ``cnnkit serve`` runs in its own process and
this one is the client:

  * latency of POST /api/predict (probabilities and the first page of every layer's maps) one
    request at a time: p50 and p95 of --requests requests after 10 warm-up ones;
  * requests per second with 8 concurrent clients (8 threads, --requests each);
  * the floor it is compared with: the same answer computed in-process (Explorer.predict in a
    fresh process, no HTTP, no JSON), so the ratio served / in-process is what the web stack costs;
  * the page's first render in Debian's headless Chromium (Playwright): from navigation to
    the overview and probabilities drawn (body[data-ready="1"]), and the page's own count.

Target: p95 under 50 ms for LeNet-5, so drawing feels immediate. Writes benchmarks/results/serve.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import torch
from _common import environment, write_result

from cnnkit.runs import open_model
from cnnkit.serve.explorer import Explorer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def trained_lenet(folder: Path) -> Path:
    from cnnkit.train import TrainConfig, fit

    config = TrainConfig(model="lenet5", data="fashion-mnist", epochs=1, out=str(folder), name="lenet5", threads=2)
    return fit(config, progress=False).run_dir


def fresh_resnet18(folder: Path) -> Path:
    """A run directory of a seeded, untrained ResNet-18 for 32x32 RGB images (timing only)."""
    from cnnkit.models import create_model
    from cnnkit.runs import ModelInfo, write_model

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    kwargs = {"num_classes": 10, "in_chans": 3, "input_size": 32}
    info = ModelInfo(architecture="resnet18", kwargs=kwargs, classes=[f"class {i}" for i in range(10)], in_chans=3,
                     input_size=32, mean=[0.5] * 3, std=[0.25] * 3, dataset=None)
    write_model(folder, create_model("resnet18", **kwargs), info)
    return folder


def start_server(source: str) -> tuple[subprocess.Popen, str]:
    """``cnnkit serve SOURCE --port 0`` in its own process; its printed address."""
    process = subprocess.Popen([sys.executable, "-m", "cnnkit", "serve", source, "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if "http://" not in line:
        raise SystemExit(f"cnnkit serve {source} did not start: {process.stderr.read()}")
    return process, next(word for word in line.split() if word.startswith("http://"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sequential(address: str, count: int) -> list[float]:
    """Milliseconds per request, one at a time, after 10 warm-up requests."""
    times = []
    with httpx.Client(base_url=address, timeout=60) as client:
        for k in range(count + 10):
            start = time.perf_counter()
            response = client.post("/api/predict", json={"input": {"sample": k % 10}})
            response.raise_for_status()
            if k >= 10:
                times.append((time.perf_counter() - start) * 1000)
    return times


def concurrent(address: str, clients: int, each: int) -> float:
    """Requests per second with ``clients`` threads of ``each`` requests (each with its own connection)."""
    errors: list[str] = []

    def work() -> None:
        with httpx.Client(base_url=address, timeout=60) as client:
            for k in range(each):
                response = client.post("/api/predict", json={"input": {"sample": k % 10}})
                if response.status_code != 200:
                    errors.append(response.text)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g. {errors[0]}")
    return clients * each / (time.perf_counter() - start)


def in_process(source: str, count: int) -> list[float]:
    """The same answer without HTTP: Explorer.predict's milliseconds, in a fresh process (as the
    server is: torch used from a second thread after the first ran it runs 2x slower on 2 cores)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_in_process, (source, count))


def _in_process(source: str, count: int) -> list[float]:
    explorer = Explorer(lambda: open_model(source))
    times = []
    for k in range(count + 10):
        start = time.perf_counter()
        explorer.predict({"sample": k % len(explorer.samples)})
        if k >= 10:
            times.append((time.perf_counter() - start) * 1000)
    return times


def first_render(address: str, repeats: int = 3) -> dict:
    """Navigation to the overview drawn, in headless Chromium; None without Chromium or Playwright."""
    if not os.path.exists(CHROMIUM):
        return {"skipped": f"{CHROMIUM} not installed"}
    from playwright.sync_api import sync_playwright

    walls, own = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            start = time.perf_counter()
            page.goto(address)
            page.wait_for_selector('body[data-ready="1"]', timeout=60_000)
            walls.append((time.perf_counter() - start) * 1000)
            own.append(page.evaluate("window.cnnkit.renderMs"))
            page.close()
        browser.close()
    return {"navigation_to_ready_ms": statistics.median(walls), "page_render_ms": statistics.median(own),
            "repeats": repeats}


def measure(name: str, source: str, count: int) -> dict:
    process, address = start_server(source)
    try:
        served = sequential(address, count)
        rps = concurrent(address, 8, max(10, count // 4))
        render = first_render(address)
    finally:
        process.terminate()
        process.wait(30)
    floor = in_process(source, count)
    result = {
        "p50_ms": statistics.median(served), "p95_ms": percentile(served, 0.95),
        "in_process_p50_ms": statistics.median(floor), "in_process_p95_ms": percentile(floor, 0.95),
        "http_over_in_process": statistics.median(served) / statistics.median(floor),
        "rps_8_clients": rps, "first_render": render,
    }
    print(f"{name}: served p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms; in-process p50 "
          f"{result['in_process_p50_ms']:.1f} ms ({result['http_over_in_process']:.2f}x); "
          f"{rps:.0f} requests/s at 8 clients; first render {render}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a LeNet-5 run directory (default: train one epoch)")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        run = args.run or trained_lenet(Path(scratch))
        results = {"lenet5": measure("LeNet-5", str(run), args.requests)}
        resnet = fresh_resnet18(Path(scratch) / "resnet18-32")
        results["resnet18_32"] = measure("ResNet-18 at 32x32", str(resnet), args.requests)
    results["lenet5"]["target_p95_ms"] = 50
    results["lenet5"]["meets_target"] = results["lenet5"]["p95_ms"] < 50
    path = write_result("serve", {"environment": environment(), **results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
