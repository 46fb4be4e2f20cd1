"""The web app: API behaviour with a fake engine (fast, no TensorFlow), then the page end to end
in headless Chromium with the real student engine."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'tfstyle[web]')")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

with warnings.catch_warnings():  # newer Starlette prefers httpx2 and says so at import
    warnings.filterwarnings("ignore", message=".*httpx2")
    from fastapi.testclient import TestClient

from tfstyle.web.app import create_app
from tfstyle.web.config import ServeConfig
from tfstyle.web.jobs import FINISHED

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("TFSTYLE_CHROMIUM", "/usr/bin/chromium")


def png_bytes(width: int, height: int, seed: int = 0, fmt: str = "PNG") -> bytes:
    """A smooth picture with some structure (gradients and a disc), so a stylized one differs."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(seed)
    disc = ((x - width * 0.6) ** 2 + (y - height * 0.4) ** 2 < (0.25 * min(width, height)) ** 2).astype(
        np.float32
    )
    image = np.stack([x / width, y / height, 0.5 * disc + 0.2 + 0.1 * rng.random((height, width))], axis=-1)
    buf = io.BytesIO()
    Image.fromarray(np.uint8(np.clip(image, 0, 1) * 255)).save(buf, format=fmt)
    return buf.getvalue()


class FakeStylizer:
    """Stands in for the engines: inverts the content in ``steps`` progress steps; with ``hold``
    set it keeps reporting progress until released (or cancelled), to keep a worker busy."""

    def __init__(self, steps: int = 3):
        self.steps = steps
        self.hold = threading.Event()
        self.release = threading.Event()
        self.calls: list[dict] = []

    def __call__(self, content, styles, weights, config, progress):
        self.calls.append(
            {"shape": content.shape, "styles": len(styles), "weights": weights, "config": config}
        )
        while self.hold.is_set() and not self.release.is_set():
            progress(0, self.steps)  # raises once the job is cancelled
            time.sleep(0.01)
        for i in range(self.steps):
            progress(i + 1, self.steps)
        return 1.0 - content


@pytest.fixture
def fake() -> FakeStylizer:
    return FakeStylizer()


def make_client(fake: FakeStylizer, styles_dir: Path | None = None, **options) -> TestClient:
    config = ServeConfig(engines=("student", "tflite"), styles_dir=styles_dir, **options)
    return TestClient(create_app(config, stylizer=fake))


def post(client: TestClient, content=("photo.png", None), styles=(("style.png", None),), **fields):
    files = []
    if content is not None:
        name, data = content
        files.append(("content", (name, png_bytes(80, 60) if data is None else data, "image/png")))
    for i, (name, data) in enumerate(styles):
        files.append(("style", (name, png_bytes(40, 40, seed=i + 1) if data is None else data, "image/png")))
    return client.post("/api/jobs", files=files, data={k: str(v) for k, v in fields.items()})


def wait(client: TestClient, job_id: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/jobs/{job_id}").json()
        if status["state"] in FINISHED:
            return status
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish: {status}")


def test_info_lists_engines_and_limits(fake, tmp_path):
    (tmp_path / "udnie.jpg").write_bytes(png_bytes(32, 32, fmt="JPEG"))
    (tmp_path / "notes.txt").write_text("not a style")
    with make_client(fake, styles_dir=tmp_path, max_upload_mb=5) as client:
        page = client.get("/")
        assert page.status_code == 200 and "<form" in page.text
        info = client.get("/api/info").json()
        assert info["engines"] == ["student", "tflite"] and info["engine_default"] == "student"
        assert info["limits"]["max_upload_mb"] == 5 and "JPEG" in info["limits"]["types"]
        assert [s["name"] for s in info["styles"]] == ["udnie.jpg"]
        assert client.get("/api/styles/udnie.jpg").status_code == 200
        assert client.get("/api/styles/notes.txt").status_code == 404
        assert client.get("/api/styles/..%2Fetc%2Fpasswd").status_code == 404


def test_job_runs_reports_progress_and_cleans_up(fake, tmp_path):
    (tmp_path / "saved.png").write_bytes(png_bytes(48, 48, seed=5))
    with make_client(fake, styles_dir=tmp_path) as client:
        root = client.app.state.tfstyle.root
        answer = post(client, saved="saved.png", weights="0.25,0.75", alpha=0.5, size=64, engine="tflite")
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        status = wait(client, job_id)
        assert status["state"] == "done" and status["progress"] == 1.0 and status["total"] == fake.steps
        call = fake.calls[-1]
        assert call["shape"] == (48, 64, 3) and call["styles"] == 2 and call["weights"] == [0.25, 0.75]
        assert call["config"].alpha == 0.5 and call["config"].engine == "tflite"
        # inputs are gone once decoded; only the result waits in the job folder
        assert sorted(p.name for p in (root / "jobs" / job_id).iterdir()) == ["result.png"]
        result = client.get(f"/api/jobs/{job_id}/result")
        assert result.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(result.content)).size == (64, 48)
        assert client.delete(f"/api/jobs/{job_id}").status_code == 200
        assert not (root / "jobs" / job_id).exists()
        assert client.get(f"/api/jobs/{job_id}").status_code == 404
        assert (tmp_path / "saved.png").exists()  # a saved style is read, never moved or deleted
    assert not root.exists()  # the whole temp folder goes at shutdown


@pytest.mark.parametrize(
    ("content", "fields", "message"),
    [
        (("holiday.jpg", b"this is a text file, not a photo\n"), {}, "holiday.jpg: not an image file"),
        (("anim.gif", png_bytes(40, 40, fmt="GIF")), {}, "anim.gif: GIF images are not accepted"),
        (
            ("huge.png", png_bytes(250, 250)),
            {},
            "huge.png: image is 250x250 px (0.1 MP); the limit is 0.05 MP",
        ),
        (("big.bmp", png_bytes(300, 300, fmt="BMP")), {}, "big.bmp: file is 0.3 MB; the limit is 0.2 MB"),
        (("tiny.png", png_bytes(8, 8)), {}, "at least 16 px per side"),
        (("empty.png", b""), {}, "empty file"),
        (None, {}, "choose a content photo"),
        (("photo.png", None), {"alpha": "1.5"}, "strength must be between 0 and 1"),
        (("photo.png", None), {"alpha": "strong"}, "strength must be a number"),
        (("photo.png", None), {"size": "5000"}, "output size must be between 64 and 1024"),
        (("photo.png", None), {"weights": "1,2"}, "2 blend weights for 1 styles"),
        (("photo.png", None), {"engine": "teacher"}, "engine 'teacher' is not available"),
        (("photo.png", None), {"preserve_color": "sepia"}, "colour preservation must be one of"),
        (("photo.png", None), {"saved": "missing.jpg"}, "no saved style named 'missing.jpg'"),
    ],
)
def test_bad_uploads_get_one_line_and_server_keeps_running(fake, content, fields, message):
    with make_client(fake, max_upload_mb=0.2, max_pixels=50_000) as client:
        answer = post(client, content=content, **fields)
        assert answer.status_code == 400, answer.text
        detail = answer.json()["detail"]
        assert message in detail and "\n" not in detail and "/tmp" not in detail
        assert list((client.app.state.tfstyle.root / "jobs").iterdir()) == []  # nothing left behind
        assert post(client).status_code == 202  # the server carries on
    assert not fake.calls or fake.calls[-1]["styles"] == 1


def test_no_style_and_too_many_styles(fake):
    with make_client(fake, max_styles=2) as client:
        assert "at least one style" in post(client, styles=()).json()["detail"]
        three = [(f"s{i}.png", None) for i in range(3)]
        assert "at most 2 can be blended" in post(client, styles=three).json()["detail"]


def test_declared_size_over_the_limit_is_refused_before_reading(fake):
    with make_client(fake, max_upload_mb=0.01, max_styles=1) as client:
        answer = client.post(
            "/api/jobs",
            content=b"x" * 10,
            headers={"content-length": str(50 << 20), "content-type": "text/plain"},
        )
        assert answer.status_code == 413 and "too large" in answer.json()["detail"]


def test_truncated_image_fails_in_the_worker_with_its_name(fake):
    data = png_bytes(120, 90)
    with make_client(fake) as client:
        answer = post(client, content=("cut.png", data[: len(data) // 2]))
        assert answer.status_code == 202  # the header is fine; the pixels are not
        status = wait(client, answer.json()["id"])
        assert status["state"] == "error" and status["message"].startswith("cut.png: truncated")


def test_full_queue_answers_busy_and_cancel_frees_it(fake):
    fake.hold.set()
    with make_client(fake, workers=1, max_queue=1) as client:
        running = post(client).json()["id"]
        deadline = time.monotonic() + 5
        while client.get(f"/api/jobs/{running}").json()["state"] != "running" and time.monotonic() < deadline:
            time.sleep(0.01)
        queued = post(client).json()
        assert queued["state"] == "queued" and queued["position"] == 0
        refused = post(client)
        assert refused.status_code == 503 and refused.headers["retry-after"]
        assert "The server is busy" in refused.json()["detail"]

        jobs = client.app.state.tfstyle.root / "jobs"
        cancelled = client.post(f"/api/jobs/{queued['id']}/cancel").json()
        assert cancelled["state"] == "cancelled"  # a queued job goes at once
        assert not (jobs / queued["id"]).exists()
        client.post(f"/api/jobs/{running}/cancel")
        assert wait(client, running)["state"] == "cancelled"  # a running one at its next step
        assert not (jobs / running).exists()

        fake.hold.clear()
        again = post(client)
        assert again.status_code == 202 and wait(client, again.json()["id"])["state"] == "done"
        assert client.get(f"/api/jobs/{running}/result").status_code == 409


def test_deleting_a_running_job_stops_it_and_removes_its_files(fake):
    fake.hold.set()
    with make_client(fake) as client:
        job = post(client).json()["id"]
        folder = client.app.state.tfstyle.root / "jobs" / job
        deadline = time.monotonic() + 5
        while client.get(f"/api/jobs/{job}").json()["state"] != "running" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.delete(f"/api/jobs/{job}").status_code == 200
        assert client.get(f"/api/jobs/{job}").status_code == 404
        deadline = time.monotonic() + 5
        while folder.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not folder.exists()
        assert client.app.state.tfstyle.queue.counts()["running"] == 0


def test_shutdown_cancels_running_jobs_and_removes_temp_folder(fake):
    fake.hold.set()
    with make_client(fake) as client:
        root = client.app.state.tfstyle.root
        job = post(client).json()["id"]
        assert (root / "jobs" / job).exists()
    assert not root.exists()


def test_serve_reports_a_busy_port_in_one_line(capsys):
    from tfstyle.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is in use" in err and err.count("\n") == 1


# ----------------------------------------------------------------------------- end to end


def _serve(args: list[str], timeout: float):
    """``tfstyle serve ARGS`` on a free port in a subprocess; yields its URL, stops it after."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, "-m", "tfstyle.cli", "serve", "--port", "0", *args]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    url = None
    deadline = time.monotonic() + timeout
    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if "ready at " in line:
            url = line.split("ready at ", 1)[1].split()[0].rstrip("/")
    if url is None:
        proc.kill()
        pytest.fail("tfstyle serve did not start:\n" + "".join(lines[-20:]))
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # keep the pipe drained
    yield url
    proc.terminate()
    proc.wait(30)


@pytest.fixture(scope="module")
def server():
    """``tfstyle serve`` in a subprocess, student engine, small outputs; yields its URL."""
    args = ["--engines", "student", "--preload", "student", "--max-size", "256", "--default-size", "128"]
    yield from _serve([*args, "--styles-dir", os.devnull], timeout=180)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        manager = sync_api.sync_playwright().start()
    except Exception as exc:
        pytest.skip(f"Playwright cannot start: {exc}")
    try:
        browser = manager.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
    except Exception as exc:
        manager.stop()
        pytest.skip(f"headless Chromium cannot start: {str(exc).splitlines()[0]}")
    yield browser
    browser.close()
    manager.stop()


def test_page_end_to_end_in_chromium(server, browser, tmp_path):
    content, style, text = tmp_path / "photo.png", tmp_path / "painting.jpg", tmp_path / "notes.jpg"
    content.write_bytes(png_bytes(200, 150))
    rng = np.random.default_rng(3)
    stripes = np.kron(rng.random((8, 8, 3)), np.ones((16, 16, 1)))
    Image.fromarray(np.uint8(stripes * 255)).save(style, quality=95)
    text.write_text("a text file renamed .jpg\n")

    page = browser.new_page(accept_downloads=True)
    page.goto(server + "/")
    page.wait_for_function("document.querySelectorAll('#engine option').length > 0")
    page.set_input_files("#content", str(content))
    page.set_input_files("#style", str(style))
    page.fill("#size", "128")
    page.click("#run")
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)
    assert page.is_visible("#content-preview") and page.locator("#style-previews img").count() == 1
    assert page.is_hidden("#error")
    with page.expect_download() as download:
        page.click("#download")
    path = download.value.path()
    result = Image.open(path)
    assert result.format == "PNG" and result.size == (128, 96)
    stylized = np.asarray(result.convert("RGB"), np.float32) / 255
    original = np.asarray(Image.open(content).convert("RGB").resize((128, 96)), np.float32) / 255
    assert np.abs(stylized - original).mean() > 0.05  # a different picture, not the photo back
    assert stylized.std() > 0.02  # and not a flat image

    page.set_input_files("#content", str(text))
    page.click("#run")
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert "notes.jpg: not an image file" in page.inner_text("#error")
    page.close()


# ----------------------------------------------------------------------------- Live view


class SlowInverter:
    """A live engine stand-in: inverts each frame after ``delay`` seconds, counting its calls."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.calls = 0

    def __call__(self, content, styles, weights, config, progress):
        self.calls += 1
        time.sleep(self.delay)
        return 1.0 - content


def jpeg_frame(width: int = 160, height: int = 120, seed: int = 0, tag: float = 0.0) -> bytes:
    """A camera frame as the page sends it: an 8-byte tag (float64), then the JPEG."""
    return np.float64(tag).tobytes() + png_bytes(width, height, seed=seed, fmt="JPEG")


def answer_image(data: bytes, tag: float) -> Image.Image:
    assert np.frombuffer(data[:8], np.float64)[0] == tag  # the frame's own tag comes back in front
    return Image.open(io.BytesIO(data[8:]))


def test_live_socket_stylizes_frames_and_reports_errors(tmp_path):
    (tmp_path / "udnie.png").write_bytes(png_bytes(48, 48, seed=5))
    engine = SlowInverter()
    config = ServeConfig(engines=("student", "tflite"), styles_dir=tmp_path)
    with TestClient(create_app(config, stylizer=engine)) as client:
        with client.websocket_connect("/api/live") as ws:
            ws.send_text('{"size": 128, "saved": ["udnie.png"]}')
            for seed in range(3):
                ws.send_bytes(jpeg_frame(seed=seed, tag=100.5 + seed))
                answer = answer_image(ws.receive_bytes(), 100.5 + seed)
                assert answer.format == "JPEG" and answer.size == (128, 96)
            assert client.get("/api/live").json()["sessions"] == 1
        # an uploaded style instead of a saved one; then a frame that is not an image
        with client.websocket_connect("/api/live") as ws:
            ws.send_text('{"size": 64, "engine": "tflite"}')
            ws.send_bytes(png_bytes(40, 40, seed=2))
            ws.send_bytes(jpeg_frame(tag=7.0))
            assert answer_image(ws.receive_bytes(), 7.0).size == (64, 48)
            ws.send_bytes(np.float64(8.0).tobytes() + b"not a picture")
            assert ws.receive_json() == {"error": "camera frame: not an image"}
        for options, message in (
            ("{}", "choose a style image"),
            ('{"saved": ["missing.png"]}', "no saved style named 'missing.png'"),
            ('{"size": 9999, "saved": ["udnie.png"]}', "live size must be a whole number"),
            ('{"engine": "teacher", "saved": ["udnie.png"]}', "engine 'teacher' is not available"),
            ("not json", "the first message must be the options as JSON"),
        ):
            with client.websocket_connect("/api/live") as ws:
                ws.send_text(options)
                if options == "{}":
                    ws.send_text("no style")
                assert message in ws.receive_json()["error"]
        stats = client.get("/api/live").json()
        assert stats["sessions"] == 0 and stats["frames"] == 4


def test_live_drops_frames_instead_of_queueing(tmp_path):
    (tmp_path / "s.png").write_bytes(png_bytes(48, 48, seed=5))
    engine = SlowInverter(delay=0.3)
    config = ServeConfig(engines=("tflite",), engine_default="tflite", styles_dir=tmp_path)
    with TestClient(create_app(config, stylizer=engine)) as client:
        with client.websocket_connect("/api/live") as ws:
            ws.send_text('{"size": 64, "saved": ["s.png"]}')
            ws.send_bytes(jpeg_frame(tag=0.0))
            deadline = time.monotonic() + 5
            while engine.calls == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            for seed in range(1, 6):  # a burst while the engine is busy with the first
                ws.send_bytes(jpeg_frame(seed=seed, tag=float(seed)))
            answers = [ws.receive_bytes() for _ in range(6)]
            dropped = [np.frombuffer(a, np.float64)[0] for a in answers if len(a) == 8]
            drawn = [np.frombuffer(a[:8], np.float64)[0] for a in answers if len(a) > 8]
            # the first and the newest frame are stylized; the four in between come back as bare tags
            assert dropped == [1.0, 2.0, 3.0, 4.0] and drawn == [0.0, 5.0]
            stats = client.get("/api/live").json()
            assert engine.calls == 2 and stats["dropped"] == 4 and stats["frames"] == 2
        deadline = time.monotonic() + 2
        while client.get("/api/live").json()["sessions"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.get("/api/live").json()["sessions"] == 0


@pytest.fixture(scope="module")
def live_server(tmp_path_factory, data_dir):
    """``tfstyle serve`` with only the INT8 student (LiteRT) and one saved style."""
    styles = tmp_path_factory.mktemp("styles")
    shutil.copyfile(data_dir / "dev" / "style" / "udnie.jpg", styles / "udnie.jpg")
    args = ["--engines", "tflite", "--engine-default", "tflite", "--preload", "tflite"]
    yield from _serve([*args, "--styles-dir", str(styles)], timeout=120)


def test_live_view_with_a_fake_camera_in_chromium(live_server, browser):
    """Chromium's fake camera -> /api/live -> INT8 student -> drawn; closing the tab ends the session."""
    import httpx

    args = ["--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    camera = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=args)
    try:
        page = camera.new_page()
        page.goto(live_server + "/")
        page.wait_for_function("document.querySelectorAll('#saved input').length > 0")
        page.check("#saved input[value='udnie.jpg']")
        page.click("#live-start")
        page.wait_for_function("window.tfstyleLive.frames >= 8", timeout=60_000)
        stats = page.evaluate("window.tfstyleLive")
        assert stats["fps"] > 0 and stats["latency_ms"] > 0 and not stats["error"]
        assert "frames/s" in page.inner_text("#live-stats")
        pixels = page.evaluate(
            "Array.from(document.getElementById('live-output').getContext('2d')"
            ".getImageData(0, 0, 64, 64).data)"
        )
        assert np.std(pixels) > 5  # a picture, not an empty canvas
        assert httpx.get(live_server + "/api/live").json()["sessions"] == 1
        page.close()  # the tab goes: the server's work for it stops at once
        deadline = time.monotonic() + 2
        while httpx.get(live_server + "/api/live").json()["sessions"] and time.monotonic() < deadline:
            time.sleep(0.02)
        after = httpx.get(live_server + "/api/live").json()
        assert after["sessions"] == 0
        time.sleep(0.3)
        assert httpx.get(live_server + "/api/live").json()["frames"] == after["frames"]
    finally:
        camera.close()
