"""The FastAPI app: one plain page and a small JSON API over the job queue.

The Live view streams camera frames over the WebSocket ``/api/live`` (:mod:`tfstyle.web.live`).
``POST /api/jobs`` checks the form and the uploads (header only) and queues a job, or answers
400/413 with a one-line ``detail`` the page shows, or 503 when the queue is full; the browser
then polls ``GET /api/jobs/{id}``, fetches ``/result`` and deletes the job. Every file lives in
one ``TemporaryDirectory`` created at start-up and removed at shutdown; a job's inputs go as
soon as they are decoded, its result once it is deleted or expires.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from tfstyle.errors import ImageError, TfstyleError
from tfstyle.web.config import MIN_OUTPUT, PRESERVE_COLOR, ServeConfig
from tfstyle.web.engines import Stylizer
from tfstyle.web.jobs import DONE, Job, JobQueue, QueueConfig, QueueFull
from tfstyle.web.live import LiveStats, live_session
from tfstyle.web.uploads import (
    UploadError,
    check_image,
    display_name,
    parse_float,
    parse_weights,
    save_upload,
    saved_styles,
)

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("tfstyle.web")


@dataclass
class StyleRequest:
    """A checked request: input files (path -> the name the user knows it by) and the options."""

    content: Path
    styles: list[Path]
    names: dict[Path, str]
    weights: list[float]
    engine: str
    alpha: float
    preserve_color: str
    size: int
    uploaded: list[Path] = field(default_factory=list)  # removed once decoded (saved styles stay)


StylizeFn = Callable[..., np.ndarray]


@dataclass
class State:
    """What the routes share; filled in at start-up (``lifespan``)."""

    config: ServeConfig
    stylizer: StylizeFn
    engines: list[str] = field(default_factory=list)
    tmp: tempfile.TemporaryDirectory | None = None
    queue: JobQueue | None = None
    live: LiveStats = field(default_factory=LiveStats)

    @property
    def root(self) -> Path:
        assert self.tmp is not None
        return Path(self.tmp.name)


def run_job(state: State, job: Job) -> Path:
    """The job body (a worker thread): decode at the output size, stylize, write one PNG."""
    from tfstyle.engines import StylizeConfig
    from tfstyle.images import load_image, save_image

    req: StyleRequest = job.params

    def load(path: Path) -> np.ndarray:
        try:
            return load_image(path, size=req.size)
        except ImageError as exc:  # e.g. truncated data, found only by the full decode
            raise UploadError(f"{req.names.get(path, path.name)}: {exc.reason}") from None

    content = load(req.content)
    styles = [load(p) for p in req.styles]
    for path in req.uploaded:
        path.unlink(missing_ok=True)
    job.check_cancelled()
    config = StylizeConfig(
        alpha=req.alpha, preserve_color=req.preserve_color, engine=req.engine, size=None
    ).validate()
    out = state.stylizer(content, styles, req.weights, config, job.progress)
    del content, styles
    job.check_cancelled()
    dest = job.folder / "result.png"
    save_image(dest, out)
    return dest


def create_app(config: ServeConfig | None = None, stylizer: StylizeFn | None = None) -> FastAPI:
    """The app; ``stylizer`` replaces the real engines (tests use a fake one, without TensorFlow)."""
    config = (config or ServeConfig()).validate()
    real = stylizer is None
    engines = Stylizer(config.engines) if real else None
    state = State(config=config, stylizer=engines if real else stylizer)
    state.engines = engines.available() if real else list(config.engines)
    if config.engine_default not in state.engines:  # before start-up, so it is one line, not a traceback
        raise TfstyleError(f"engine {config.engine_default}: {engines.missing(config.engine_default)}")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        state.tmp = tempfile.TemporaryDirectory(prefix="tfstyle-web-")
        if real:
            for name in config.preloaded():
                if name in state.engines:
                    engines.warm(name, config.default_size)
        queue_config = QueueConfig(workers=config.workers, max_queue=config.max_queue, keep_s=config.keep_s)
        state.queue = JobQueue(state.root / "jobs", lambda job: run_job(state, job), queue_config)
        if config.url:
            print(f"tfstyle web app ready at {config.url}  (Ctrl+C stops it)", flush=True)
        try:
            yield
        finally:
            state.queue.close()
            state.tmp.cleanup()

    app = FastAPI(title="tfstyle", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.tfstyle = state
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(RequestValidationError)
    async def _one_line(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid')}"}, status_code=400)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/api/info")
    def info() -> dict:
        return {
            "engines": state.engines,
            "engine_default": config.engine_default,
            "limits": config.limits(),
            "preserve_color": list(PRESERVE_COLOR),
            "styles": [{"name": n, "url": f"/api/styles/{n}"} for n in saved_styles(config.styles_dir)],
        }

    @app.get("/api/live")
    def live_stats() -> dict:
        return state.live.as_dict()

    @app.websocket("/api/live")
    async def live(websocket: WebSocket) -> None:
        await live_session(websocket, state)

    @app.get("/api/styles/{name}")
    def saved_style(name: str) -> FileResponse:
        path = saved_styles(config.styles_dir).get(name)
        if path is None:
            raise HTTPException(404, f"no saved style named {name!r}")
        return FileResponse(path)

    @app.post("/api/jobs", status_code=202)
    async def create_job(request: Request) -> JSONResponse:
        queue = state.queue
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            raise HTTPException(411, "the upload must declare its size (Content-Length)")
        if int(length) > config.max_request_bytes:
            raise HTTPException(
                413,
                f"upload of {int(length) / 1048576:.1f} MB is too large; the limit is "
                f"{config.max_upload_mb:g} MB per image",
            )
        if not queue.has_room():  # refuse before anything is parsed or saved
            async for _chunk in request.stream():  # drained, so a browser still uploading sees the answer
                pass
            return _busy(queue.busy_message())
        try:
            form = await request.form(max_files=config.max_styles + 8, max_fields=32)
        except Exception as exc:  # malformed multipart, far too many parts
            reason = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
            raise HTTPException(400, f"cannot read the form ({reason})") from None
        job = queue.new_job()
        try:
            job.params = await _checked_request(form, job.folder, state)
            position = queue.submit(job)
        except QueueFull as exc:
            queue_cleanup(job)
            return _busy(str(exc))
        except UploadError as exc:
            queue_cleanup(job)
            raise HTTPException(400, str(exc)) from None
        except BaseException:
            queue_cleanup(job)
            raise
        finally:
            await form.close()
        return JSONResponse(queue.status(job.id) | {"position": position}, status_code=202)

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str) -> dict:
        status = state.queue.status(job_id)
        if status is None:
            raise HTTPException(404, "no such job (finished jobs are kept for a while, then deleted)")
        return status

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel_job(job_id: str) -> dict:
        if state.queue.cancel(job_id) is None:
            raise HTTPException(404, "no such job")
        return state.queue.status(job_id)

    @app.get("/api/jobs/{job_id}/result")
    def job_result(job_id: str) -> FileResponse:
        job = state.queue.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job")
        if job.state != DONE or job.result is None or not job.result.exists():
            raise HTTPException(409, f"the job is {job.state}, there is no result")
        return FileResponse(
            job.result, media_type="image/png", filename="stylized.png", content_disposition_type="inline"
        )

    @app.delete("/api/jobs/{job_id}")
    def delete_job(job_id: str) -> dict:
        if not state.queue.delete(job_id):
            raise HTTPException(404, "no such job")
        return {"deleted": job_id}

    return app


def queue_cleanup(job: Job) -> None:
    """A job that was never queued: remove its folder."""
    import shutil

    shutil.rmtree(job.folder, ignore_errors=True)


def _busy(message: str) -> JSONResponse:
    return JSONResponse({"detail": message, "busy": True}, status_code=503, headers={"Retry-After": "5"})


async def _checked_request(form, folder: Path, state: State) -> StyleRequest:
    """Save and check every upload, parse every option: a :class:`StyleRequest` or an UploadError."""
    config = state.config
    content = form.get("content")
    if content is None or isinstance(content, str) or not content.filename:
        raise UploadError("choose a content photo")
    uploads = [s for s in form.getlist("style") if not isinstance(s, str) and s.filename]
    library = saved_styles(config.styles_dir)
    picked = [str(n) for n in form.getlist("saved") if str(n)]
    unknown = [n for n in picked if n not in library]
    if unknown:
        raise UploadError(f"no saved style named {unknown[0]!r}")
    if not uploads and not picked:
        raise UploadError("choose at least one style image (upload one or pick a saved style)")
    if len(uploads) + len(picked) > config.max_styles:
        raise UploadError(f"{len(uploads) + len(picked)} styles; at most {config.max_styles} can be blended")

    names: dict[Path, str] = {}
    content_name = display_name(content.filename, "content image")
    content_path = folder / "content"
    await save_upload(content, content_path, content_name, config)
    check_image(content_path, content_name, config)
    names[content_path] = content_name
    styles = []
    for i, upload in enumerate(uploads):
        name = display_name(upload.filename, f"style image {i + 1}")
        path = folder / f"style{i}"
        await save_upload(upload, path, name, config)
        check_image(path, name, config)
        names[path] = name
        styles.append(path)
    uploaded = [content_path, *styles]
    for name in picked:
        check_image(library[name], name, config)
        names[library[name]] = name
        styles.append(library[name])

    engine = str(form.get("engine") or config.engine_default)
    if engine not in state.engines:
        raise UploadError(f"engine {engine!r} is not available; choose one of {', '.join(state.engines)}")
    preserve = str(form.get("preserve_color") or "none")
    if preserve not in PRESERVE_COLOR:
        raise UploadError(f"colour preservation must be one of {', '.join(PRESERVE_COLOR)}")
    size = parse_float(form.get("size"), "output size", config.default_size, MIN_OUTPUT, config.max_size)
    if size != int(size):
        raise UploadError(f"output size must be a whole number of px, not {size:g}")
    return StyleRequest(
        content=content_path,
        styles=styles,
        names=names,
        weights=parse_weights(form.get("weights"), len(styles)),
        engine=engine,
        alpha=parse_float(form.get("alpha"), "strength", 1.0, 0.0, 1.0),
        preserve_color=preserve,
        size=int(size),
        uploaded=uploaded,
    )
