"""``tfstyle serve``: the local web app (upload a photo and styles, stylize, download)."""

from __future__ import annotations

import argparse
import errno
import socket

from tfstyle.errors import TfstyleError

EPILOG = """\
examples:
  tfstyle serve                      # http://127.0.0.1:8000, student engine by default
  tfstyle serve --port 8080 --engine-default teacher --preload teacher,student
  tfstyle serve --styles-dir ~/paintings --max-queue 8

Saved styles: image files in --styles-dir (default $TFSTYLE_STYLES_DIR or ~/.cache/tfstyle/styles)
are offered in the page; copy paintings there to keep them. The server writes only into a temp
folder that it removes when it stops. Uploads are checked on the server (size, type, pixels).
"""

ENGINES = ("teacher", "student", "tflite")


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in ENGINES]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown engine {bad[0]!r}; known: {', '.join(ENGINES)}")
    return names


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="start the local web app",
        description="Serve a web page to stylize photos: uploads, engines, strength, blends, download.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer)"
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free port)")
    p.add_argument(
        "--engine-default", choices=ENGINES, default="student", help="engine preselected in the page"
    )
    p.add_argument(
        "--engines",
        type=_names,
        default=ENGINES,
        metavar="LIST",
        help="engines offered (default: all that can run)",
    )
    p.add_argument(
        "--preload",
        type=_names,
        default=(),
        metavar="LIST",
        help="engines loaded at start (default: the default one)",
    )
    p.add_argument("--workers", type=int, default=1, help="jobs run at once (default 1)")
    p.add_argument(
        "--max-queue", type=int, default=4, help="jobs that may wait; more are refused (default 4)"
    )
    p.add_argument(
        "--max-upload-mb", type=float, default=20.0, help="largest upload per image (default 20 MB)"
    )
    p.add_argument("--max-pixels", type=float, default=25e6, help="largest image in pixels (default 25e6)")
    p.add_argument("--max-size", type=int, default=1024, help="largest output long side in px (default 1024)")
    p.add_argument(
        "--default-size", type=int, default=512, help="output long side preset in the page (default 512)"
    )
    p.add_argument("--max-styles", type=int, default=4, help="most styles in one blend (default 4)")
    p.add_argument(
        "--keep-minutes", type=float, default=10.0, help="results are deleted after this (default 10)"
    )
    p.add_argument("--styles-dir", help="folder of saved style images offered in the page")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    p.set_defaults(func=run)


def _bind(host: str, port: int) -> socket.socket:
    """Bind here, so a busy port is one clear line and ``--port 0`` still prints the real URL."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise TfstyleError(f"port {port} on {host} is in use; choose another with --port") from None
        raise TfstyleError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    try:
        import uvicorn

        from tfstyle.web.app import create_app
    except ImportError as exc:
        raise TfstyleError(f"the web app needs {exc.name}: pip install 'tfstyle[web]'") from None
    from tfstyle.web.config import ServeConfig, default_styles_dir

    if args.engine_default not in args.engines:
        raise TfstyleError(f"--engine-default {args.engine_default} is not in --engines")
    sock = _bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    config = ServeConfig(
        engine_default=args.engine_default,
        engines=tuple(args.engines),
        preload=tuple(args.preload),
        workers=args.workers,
        max_queue=args.max_queue,
        max_upload_mb=args.max_upload_mb,
        max_pixels=int(args.max_pixels),
        max_size=args.max_size,
        default_size=args.default_size,
        max_styles=args.max_styles,
        keep_s=args.keep_minutes * 60.0,
        styles_dir=Path(os.path.expanduser(args.styles_dir)) if args.styles_dir else default_styles_dir(),
        url=f"http://{shown}:{port}/",
    ).validate()
    if host not in ("127.0.0.1", "::1", "localhost"):
        print(f"tfstyle serve: warning: listening on {host}, reachable from other machines", flush=True)
    print(f"tfstyle serve: loading {', '.join(config.preloaded())} ...", flush=True)
    app = create_app(config)
    level = "info" if args.verbose else "warning"
    server = uvicorn.Server(uvicorn.Config(app, log_level=level, access_log=args.verbose, lifespan="on"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0 if server.started else 1
