"""EmulatorServer: the WSGI app on werkzeug's threaded development server, in a background thread
(``BackgroundWsgiServer``, which the local stack's ingest door runs on too)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import EmulatorApp
from .config import EmulatorConfig
from .errors import DropConnection
from .state import EmulatorState

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

log = logging.getLogger(__name__)


class _RequestHandler(WSGIRequestHandler):
    """Quiet request handler that can close the connection without answering (the `drop` fault)."""

    def connection_dropped(self, error: BaseException, environ: WSGIEnvironment | None = None) -> None:
        if isinstance(error, DropConnection):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, self.path.split("?", 1)[0], code)

    def log(self, type: str, message: str, *args: Any) -> None:
        log.log(logging.ERROR if type == "error" else logging.DEBUG, message, *args)


class BackgroundWsgiServer:
    """A WSGI app on werkzeug's threaded server in a daemon thread, listening on ``host:port`` (port 0 picks a free
    port). Shared by the emulator and the local stack's ingest door (``local_stack.door``)."""

    thread_name = "wsgi-server"

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        request_handler: type[WSGIRequestHandler] = WSGIRequestHandler,
    ) -> None:
        self.app = app
        self._host = host
        self._port = port
        self._request_handler = request_handler
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_port)

    @property
    def root_url(self) -> str:
        host = self._host if ":" not in self._host else f"[{self._host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        """Bind and serve in a daemon thread; the socket is listening when this returns."""
        if self._server is not None:
            raise RuntimeError("server already started")
        self._server = make_server(
            self._host, self._port, self.app, threaded=True, request_handler=self._request_handler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None


class EmulatorServer(BackgroundWsgiServer):
    """Pinterest API v5 emulator listening on `host:port` (port 0 picks a free port)."""

    thread_name = "pinterest-emulator"

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.state = EmulatorState(config, clock=clock, sleep=sleep)
        super().__init__(EmulatorApp(self.state), host, port, _RequestHandler)

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v5"

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
