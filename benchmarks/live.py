"""Live view benchmark (issue 26): ``make bench-live`` -> docs/BENCHMARKS.md (live).

python -m benchmarks.live [--size 256] [--seconds 20]

Starts ``tfstyle serve`` with the INT8 student only (LiteRT, all cores), opens the page in headless
Chromium with its fake camera (``--use-fake-device-for-media-stream --use-fake-ui-for-media-stream``,
640 x 480), starts the Live view with udnie.jpg at ``--size`` px and, after a warm-up, counts the
stylized frames drawn per second and the latency from a frame sent to its stylized frame drawn
(the page's own clock, from the tag each frame carries). Then it closes the tab and times how long
the server keeps the session.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from benchmarks.devset import DEV_S
from benchmarks.report import machine, update_section

CHROMIUM = os.environ.get("TFSTYLE_CHROMIUM", "/usr/bin/chromium")
STYLE = "udnie.jpg"


def start_server(styles: str) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, "-m", "tfstyle.cli", "serve", "--port", "0", "--engines", "tflite"]
    cmd += ["--engine-default", "tflite", "--preload", "tflite", "--styles-dir", styles]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        if "ready at " in line:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, line.split("ready at ", 1)[1].split()[0].rstrip("/")
    proc.kill()
    raise RuntimeError("tfstyle serve did not start")


def measure(url: str, size: int, seconds: float, warmup: float = 3.0) -> dict:
    import httpx
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_function("document.querySelectorAll('#saved input').length > 0")
        page.check(f"#saved input[value='{STYLE}']")
        page.fill("#live-size", str(size))
        page.click("#live-start")
        page.wait_for_function("window.tfstyleLive.frames >= 1", timeout=60_000)
        time.sleep(warmup)
        start = page.evaluate("[window.tfstyleLive.frames, performance.now()]")
        time.sleep(seconds)
        end = page.evaluate("[window.tfstyleLive.frames, performance.now(), window.tfstyleLive.latencies]")
        frames = end[0] - start[0]
        fps = frames / ((end[1] - start[1]) / 1000.0)
        latencies = np.asarray(end[2][-max(frames, 1) :], np.float64)
        shape = page.evaluate(
            "[document.getElementById('live-output').width, document.getElementById('live-output').height]"
        )
        served = httpx.get(url + "/api/live").json()
        tic = time.perf_counter()
        page.close()
        while httpx.get(url + "/api/live").json()["sessions"] and time.perf_counter() - tic < 10:
            time.sleep(0.005)
        freed = time.perf_counter() - tic
        browser.close()
    return {
        "fps": fps,
        "frames": frames,
        "latency_mean": float(latencies.mean()),
        "latency_median": float(np.median(latencies)),
        "latency_p90": float(np.percentile(latencies, 90)),
        "shape": shape,
        "dropped": served["dropped"],
        "freed_ms": 1000 * freed,
    }


def section(r: dict, size: int, seconds: float, load: str) -> str:
    ok = "met" if r["fps"] >= 10 else "**not met**"
    return "\n".join(
        [
            "## Live view (web app, camera -> WebSocket -> INT8 student)",
            "",
            f"Measured with `make bench-live` (`python -m benchmarks.live`) on {machine()}, load average {load}: "
            "`tfstyle serve --engines tflite` (LiteRT, all cores) and headless Chromium with its fake camera "
            f"(640x480) on the same machine; frames sent as JPEG at {size} px long side ({r['shape'][0]}x{r['shape'][1]}), "
            f"style udnie.jpg, at most two frames in flight; {seconds:g} s measured after a 3 s warm-up.",
            "",
            "| stylized frames/s shown (goal >= 10) | latency sent -> shown: mean / median / p90 | frames dropped by the server | session gone after the tab closed |",
            "|---|---|---|---|",
            f"| **{r['fps']:.1f}** ({ok}) | {r['latency_mean']:.0f} / {r['latency_median']:.0f} / {r['latency_p90']:.0f} ms "
            f"| {r['dropped']} | {r['freed_ms']:.0f} ms |",
            "",
            "The page keeps at most two frames in flight (one being stylized, the next waiting) and the server keeps "
            "only the newest frame if more arrive, so when the machine is busy the view shows fewer frames, not older ones. "
            "Latency includes the browser's JPEG encode and decode and the wait of the second frame in flight.",
            "",
        ]
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--out", default="docs/BENCHMARKS.md")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as styles:
        shutil.copyfile(os.path.join(DEV_S, STYLE), os.path.join(styles, STYLE))
        proc, url = start_server(styles)
        try:
            load = " ".join(open("/proc/loadavg").read().split()[:3])
            result = measure(url, args.size, args.seconds)
        finally:
            proc.terminate()
            proc.wait(30)
    print(result, f"load {load}", flush=True)
    update_section(args.out, "live", section(result, args.size, args.seconds, load))
    return 0


if __name__ == "__main__":
    sys.exit(main())
