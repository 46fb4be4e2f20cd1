"""Web app under load: 8 concurrent 512 px requests per engine, answers, latency and server memory.

    python -m benchmarks.web                       # student + tflite, --max-queue 4 and 8 -> docs/BENCHMARKS.md
    python -m benchmarks.web --screenshot-only     # just docs/img/web.png

For each queue size a fresh ``tfstyle serve`` runs in a subprocess (engines preloaded and warmed,
one worker). Idle RSS is sampled once it is ready; then, per engine, N clients post at the same
instant (a barrier), each with its own dev photo, poll their job and fetch the result, or get
the queue-full answer. RSS is sampled every 50 ms for the peak, and after the burst until it
settles. Acceptance: every request answered (a result of the right size, or the queue-full
message; no hang, no error), and RSS after the load within 10% of idle.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from benchmarks.report import machine, save_palette_png, update_section

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TFSTYLE_DATA", ROOT.parent / "shared" / "data")) / "dev"
TOLERANCE = 0.10


def rss(pid: int) -> int:
    """Resident set size in bytes (psutil when installed, else /proc)."""
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss
    except ImportError:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Server:
    """``tfstyle serve`` in a subprocess; ``url`` once it prints that it is ready."""

    def __init__(self, *options: str, timeout: float = 300.0):
        cmd = [sys.executable, "-m", "tfstyle.cli", "serve", "--port", "0", *options]
        env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.log: list[str] = []
        self.url = ""
        deadline = time.monotonic() + timeout
        while not self.url and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            self.log.append(line)
            if "ready at " in line:
                self.url = line.split("ready at ", 1)[1].split()[0].rstrip("/")
        if not self.url:
            self.stop()
            raise RuntimeError("tfstyle serve did not start:\n" + "".join(self.log[-20:]))
        threading.Thread(target=lambda: self.log.extend(self.proc.stdout), daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Sampler(threading.Thread):
    """Peak RSS of a process while the burst runs."""

    def __init__(self, pid: int, every: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.peak = max(self.peak, rss(self.pid))
            time.sleep(self.every)


def settle(pid: int, timeout: float = 30.0) -> int:
    """RSS once two samples a second apart agree within 0.5% (or at the timeout)."""
    last = rss(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = rss(pid)
        if abs(now - last) <= 0.005 * last:
            return now
        last = now
    return last


@dataclass
class Answer:
    status: int = 0  # HTTP status of the POST
    state: str = ""  # done / busy / error / ...
    latency: float = 0.0  # POST to result in hand (or to the refusal)
    size: tuple[int, int] | None = None
    detail: str = ""


@dataclass
class Round:
    engine: str
    max_queue: int
    answers: list[Answer] = field(default_factory=list)
    idle: int = 0
    peak: int = 0
    after: int = 0
    wall: float = 0.0
    load: float = 0.0  # 1-minute load average when the burst ended (the machine may be shared)

    def count(self, state: str) -> int:
        return sum(a.state == state for a in self.answers)

    def ok(self, size: int) -> bool:
        answered = all(
            (a.state == "done" and a.size is not None and max(a.size) == size)
            or (a.state == "busy" and "busy" in a.detail)
            for a in self.answers
        )
        return answered and self.after <= self.idle * (1 + TOLERANCE)


def one_request(client, url: str, content: Path, style: Path, engine: str, size: int) -> Answer:
    import io

    from PIL import Image

    start = time.monotonic()
    files = [("content", (content.name, content.read_bytes())), ("style", (style.name, style.read_bytes()))]
    r = client.post(f"{url}/api/jobs", files=files, data={"engine": engine, "size": str(size)})
    answer = Answer(status=r.status_code)
    if r.status_code == 503:
        answer.state, answer.detail = "busy", r.json()["detail"]
    elif r.status_code != 202:
        answer.state, answer.detail = "error", r.text[:200]
    else:
        job = r.json()["id"]
        while True:
            status = client.get(f"{url}/api/jobs/{job}").json()
            if status["state"] in ("done", "error", "cancelled"):
                break
            time.sleep(0.1)
        answer.state, answer.detail = status["state"], status["message"]
        if status["state"] == "done":
            png = client.get(f"{url}/api/jobs/{job}/result").content
            answer.size = Image.open(io.BytesIO(png)).size
        client.delete(f"{url}/api/jobs/{job}")
    answer.latency = time.monotonic() - start
    return answer


def burst(server: Server, engine: str, n: int, size: int, max_queue: int, idle: int) -> Round:
    import httpx

    contents = sorted((DATA / "content").iterdir())
    styles = sorted((DATA / "style").iterdir())
    result = Round(engine=engine, max_queue=max_queue, idle=idle)
    answers: list[Answer | None] = [None] * n
    barrier = threading.Barrier(n)

    def client(i: int) -> None:
        with httpx.Client(timeout=600) as http:
            barrier.wait()
            answers[i] = one_request(
                http, server.url, contents[i % len(contents)], styles[i % len(styles)], engine, size
            )

    sampler = Sampler(server.pid)
    sampler.start()
    start = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(900)
    result.wall = time.monotonic() - start
    result.load = os.getloadavg()[0]
    sampler.halt.set()
    sampler.join()
    result.answers = [a or Answer(state="hang") for a in answers]
    result.peak = sampler.peak
    result.after = settle(server.pid)
    return result


def screenshot(url: str, path: str, engine: str = "teacher") -> None:
    """The page with a result, as a new user sees it (Debian's Chromium through Playwright)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url + "/")
        page.wait_for_function("document.querySelectorAll('#engine option').length > 0")
        page.set_input_files("#content", str(DATA / "content" / "golden_gate.jpg"))
        page.set_input_files("#style", str(DATA / "style" / "la_muse.jpg"))
        page.check("#saved input[value='udnie.jpg']")
        weights = page.locator("#weights input")
        weights.nth(1).fill("0.4")
        page.select_option("#engine", engine)
        page.fill("#alpha", "0.9")
        page.dispatch_event("#alpha", "input")
        page.fill("#size", "512")
        page.click("#run")
        page.wait_for_selector("#result:not([hidden])", timeout=300_000)
        png = page.screenshot(full_page=True)
        browser.close()
    save_palette_png(Image.open(io.BytesIO(png)), path)


def mb(n: int) -> str:
    return f"{n / 2**20:.0f}"


def report(rounds: list[Round], n: int, size: int) -> str:
    rows = []
    for r in rounds:
        done = [a.latency for a in r.answers if a.state == "done"]
        busy = [a.latency for a in r.answers if a.state == "busy"]
        other = n - len(done) - len(busy)
        lat = f"{statistics.median(done):.2f} / {max(done):.2f}" if done else "-"
        refuse = f"{max(busy) * 1000:.0f} ms" if busy else "-"
        change = (r.after - r.idle) / r.idle * 100
        rows.append(
            f"| {r.engine} | {r.max_queue} | {len(done)} | {len(busy)} | {other} | {lat} | {refuse} | "
            f"{r.wall:.1f} | {mb(r.idle)} | {mb(r.peak)} | {mb(r.after)} | {change:+.1f}% | {'yes' if r.ok(size) else 'no'} |"
        )
    ok = all(r.ok(size) for r in rounds)
    worst = max((r.after - r.idle) / r.idle for r in rounds) * 100
    load = max(r.load for r in rounds)
    busy_text = next((a.detail for r in rounds for a in r.answers if a.state == "busy"), "")
    return "\n".join(
        [
            f"## Web app under load ({n} concurrent requests at {size} px)",
            "",
            f"`python -m benchmarks.web` on {machine()}. One `tfstyle serve` per queue size (1 worker, "
            "engines preloaded and warmed at start-up); per engine, "
            f"{n} clients post at the same instant (a barrier), each a different dev photo and painting at "
            f"{size} px, then poll, fetch and delete their result. Latency: post to result in hand (median / max); "
            "refusals: how fast the queue-full answer came. RSS (MiB) of the server process: idle once it is "
            "ready (before its first request; the same baseline for both engines), peak during the burst (50 ms "
            "samples), after it once settled. "
            f"Latencies depend on what else runs: the 1-minute load average reached {load:.1f} on these "
            f"{os.cpu_count()} cores during the runs.",
            "",
            "| engine | max queue | done | queue-full | other | latency s (median / max) | refusal | wall s | idle RSS | peak RSS | after RSS | after vs idle | ok |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"Queue-full answer (HTTP 503, shown in the page): “{busy_text}”" if busy_text else "",
            "",
            f"**Acceptance** (every request answered with a {size} px result or the queue-full message, "
            f"RSS after the load within {TOLERANCE:.0%} of idle): **{'met' if ok else 'not met'}**; "
            f"largest change after vs idle {worst:+.1f}%.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="student,tflite")
    parser.add_argument("--queues", default="4,8", help="max-queue values, one server each")
    parser.add_argument("-n", "--concurrency", type=int, default=8)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--screenshot", default="docs/img/web.png", help="'' to skip")
    parser.add_argument("--screenshot-only", action="store_true")
    parser.add_argument("--report", default="docs/BENCHMARKS.md", help="'' to only print")
    args = parser.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]

    styles_dir = Path(tempfile.mkdtemp(prefix="tfstyle-bench-styles-"))
    for name in ("udnie.jpg", "mondrian.jpg", "rain_princess.jpg"):
        shutil.copy(DATA / "style" / name, styles_dir / name)
    rounds: list[Round] = []
    try:
        if not args.screenshot_only:
            for queue in [int(q) for q in args.queues.split(",") if q]:
                server = Server(
                    "--preload", ",".join(engines), "--max-queue", str(queue), "--styles-dir", str(styles_dir)
                )
                try:
                    idle = settle(server.pid)  # ready, engines warmed, before any request
                    for engine in engines:
                        r = burst(server, engine, args.concurrency, args.size, queue, idle)
                        rounds.append(r)
                        print(
                            f"{engine} queue {queue}: done {r.count('done')} busy {r.count('busy')} "
                            f"idle {mb(r.idle)} peak {mb(r.peak)} after {mb(r.after)} MiB, {r.wall:.1f} s",
                            flush=True,
                        )
                finally:
                    server.stop()
        if args.screenshot:
            server = Server("--styles-dir", str(styles_dir), "--preload", "student,teacher")
            try:
                screenshot(server.url, args.screenshot)
                print(f"wrote {args.screenshot}")
            finally:
                server.stop()
    finally:
        shutil.rmtree(styles_dir, ignore_errors=True)
    if rounds:
        body = report(rounds, args.concurrency, args.size)
        print(body)
        if args.report:
            update_section(args.report, "web-load", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
