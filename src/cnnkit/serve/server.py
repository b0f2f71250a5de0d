"""Running the explorer: open the run, bind the socket (one clear line when the port is taken),
print the address and serve with uvicorn until Ctrl-C."""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys
import threading
import webbrowser

from cnnkit.errors import ConfigError

__all__ = ["bind", "is_loopback", "serve_explorer"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or one line saying why there cannot be one."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"--port must be 0 to 65535, got {port!r}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as err:
        raise ConfigError(f"--host {host!r} is not an address of this machine ({err}); 127.0.0.1 is the default") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is in use; pass --port N (0: any free port)") from None
        raise ConfigError(f"cannot listen on {host}:{port} ({err.strerror or err}); pass another --host or --port") from None
    return sock


def serve_explorer(source: str, *, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = False,
                   device: str = "auto") -> None:
    """``cnnkit serve``: the explorer for a run directory (or a registered name) until interrupted."""
    import uvicorn

    from cnnkit.device import resolve_device
    from cnnkit.runs.opening import open_model
    from cnnkit.serve.app import LOOPBACK_HOSTS, create_app
    from cnnkit.serve.explorer import Explorer

    sock = bind(host, port)
    try:
        explorer = Explorer(lambda: open_model(source, device=resolve_device(device)))
        loopback = is_loopback(host)
        app = create_app(explorer, allowed_hosts=LOOPBACK_HOSTS if loopback else None)
        bound = sock.getsockname()[1]
        shown = f"[{host.strip('[]')}]" if ":" in host else host
        address = f"http://{shown}:{bound}"
        print(f"cnnkit explorer for {explorer.model_json()['name']}: {address}   (Ctrl-C stops it)", flush=True)
        if not loopback:
            print(f"cnnkit: warning: listening on {host}: anyone who can reach this machine can use the model",
                  file=sys.stderr, flush=True)
        if open_browser:
            threading.Timer(0.5, webbrowser.open, [address]).start()
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        server.run(sockets=[sock])
    finally:
        sock.close()
