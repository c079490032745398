"""strongSwan (charon 5.9.8, kernel-libipsec) in a network namespace, and a blocking UDP driver
that runs our sans-I/O IKE engine on sockets opened inside a second namespace.

Layout (created and removed by ``NetnsPair``)::

    ns "dsm-ike-ss-<pid>" (charon)            ns "dsm-ike-us-<pid>" (dsmip6)
      veth 10.77.0.1/24 fd00:77::1/64  <--->   veth 10.77.0.2/24 fd00:77::2/64
      lo   10.99.0.1/32 (charon's inner address, reached through ipsec0)

charon runs as ``ip netns exec NS unshare -m sh -c 'mount -t tmpfs tmpfs /run && exec charon'``
(its pid file path is compiled in), with its own vici socket and log in a temp dir; only the
PIDs started here are ever signalled. Sockets for our side are created inside the namespace by
switching the calling thread with ``setns(2)`` and switching back at once.
"""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CLONE_NEWNET = 0x40000000
CHARON = "/usr/lib/ipsec/charon"
SWANCTL = "/usr/sbin/swanctl"
PLUGINS = (
    "random nonce openssl pem pkcs1 pkcs8 x509 pubkey constraints kdf curve25519 hmac sha1 sha2 "
    "aes gcm kernel-libipsec kernel-netlink socket-default vici"
)

SS_V4, US_V4 = "10.77.0.1", "10.77.0.2"
SS_V6, US_V6 = "fd00:77::1", "fd00:77::2"
SS_INNER = "10.99.0.1"


def require_tools() -> None:
    """strongSwan must be installed: a missing tool is a test failure, not a skip."""
    for tool in (CHARON, SWANCTL, shutil.which("ip") or "/usr/sbin/ip", shutil.which("unshare")):
        if tool is None or not os.path.exists(tool):
            raise AssertionError(f"required tool missing: {tool} (install .ci/apt-packages.txt)")


def sh(*args: str, check: bool = True, timeout: float = 20.0) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=timeout)


class NetnsPair:
    def __init__(self) -> None:
        pid = os.getpid()
        self.ss = f"dsm-ike-ss-{pid}"
        self.us = f"dsm-ike-us-{pid}"

    def __enter__(self) -> NetnsPair:
        try:
            self._setup()
        except BaseException:
            self.close()
            raise
        return self

    def _setup(self) -> None:
        sh("ip", "netns", "add", self.ss)
        sh("ip", "netns", "add", self.us)
        sh(
            "ip",
            "link",
            "add",
            "dsmikeA",
            "netns",
            self.ss,
            "type",
            "veth",
            "peer",
            "name",
            "dsmikeB",
            "netns",
            self.us,
        )
        for ns, dev, v4, v6 in (
            (self.ss, "dsmikeA", SS_V4, SS_V6),
            (self.us, "dsmikeB", US_V4, US_V6),
        ):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "addr", "add", f"{v4}/24", "dev", dev)
            sh("ip", "-n", ns, "addr", "add", f"{v6}/64", "dev", dev, "nodad")
            sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", self.ss, "addr", "add", f"{SS_INNER}/32", "dev", "lo")
        sh("ip", "netns", "exec", self.ss, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
        sh("ip", "netns", "exec", self.ss, "sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0")

    def close(self) -> None:
        for ns in (self.ss, self.us):
            sh("ip", "netns", "del", ns, check=False)

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def inside(self, ns: str):  # noqa: ANN201 - context manager
        """Switch the calling thread into ``ns`` for the duration (setns(2))."""
        libc = ctypes.CDLL(None, use_errno=True)
        orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns failed")
            try:
                yield
            finally:
                if libc.setns(orig, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back failed")
        finally:
            os.close(orig)
            os.close(target)


class Charon:
    """One charon instance in ``ns`` configured from ``swanctl_conf`` (+ extra files)."""

    def __init__(
        self, ns: str, workdir: Path, swanctl_conf: str, files: dict[str, bytes] | None = None
    ) -> None:
        self.ns = ns
        self.dir = workdir
        self.vici = workdir / "charon.vici"
        self.log = workdir / "charon.log"
        sw = workdir / "swanctl"
        for sub in ("x509", "x509ca", "private", "ecdsa", "rsa", "conf.d"):
            (sw / sub).mkdir(parents=True, exist_ok=True)
        (sw / "swanctl.conf").write_text(swanctl_conf)
        for rel, data in (files or {}).items():
            (sw / rel).write_bytes(data)
        (workdir / "strongswan.conf").write_text(
            f"""charon {{
  load_modular = no
  load = {PLUGINS}
  retransmit_timeout = 1.0
  retransmit_tries = 2
  install_virtual_ip = no
  filelog {{
    log {{
      path = {self.log}
      default = 1
      ike = 2
      cfg = 2
      flush_line = yes
    }}
  }}
  plugins {{
    vici {{
      socket = unix://{self.vici}
    }}
  }}
}}
"""
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ, STRONGSWAN_CONF=str(self.dir / "strongswan.conf"))
        self.proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.ns,
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                f"mount -t tmpfs tmpfs /run && exec {CHARON}",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while not self.vici.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"charon did not start:\n{self.read_log()}")
            time.sleep(0.05)
        out = self.swanctl("--load-all", "--noprompt")
        if "loaded connection" not in out:
            raise AssertionError(f"swanctl --load-all: {out}")

    def swanctl(self, *args: str, timeout: float = 20.0) -> str:
        env = dict(os.environ, SWANCTL_DIR=str(self.dir / "swanctl"))
        r = subprocess.run(
            [SWANCTL, *args, "--uri", f"unix://{self.vici}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return r.stdout + r.stderr

    def initiate(self, child: str) -> subprocess.Popen:
        """``swanctl --initiate`` in the background (it blocks until done)."""
        env = dict(os.environ, SWANCTL_DIR=str(self.dir / "swanctl"))
        return subprocess.Popen(
            [
                SWANCTL,
                "--initiate",
                "--child",
                child,
                "--timeout",
                "20",
                "--uri",
                f"unix://{self.vici}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def read_log(self) -> str:
        return self.log.read_text() if self.log.exists() else "(no log)"

    def stop(self) -> None:
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)  # only the charon we started, by PID
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
        self.proc = None


class UdpDriver:
    """Blocking driver: UDP 500/4500 sockets (made inside our namespace) <-> an IKE engine.

    ESP-in-UDP datagrams arriving on 4500 (first four octets non-zero) are kept in ``esp``.
    """

    def __init__(self, pair: NetnsPair, engine: Any, host: str = US_V4) -> None:
        self.engine = engine
        self.host = host
        self.socks: dict[int, socket.socket] = {}
        with pair.inside(pair.us):
            for port in (500, 4500):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((host, port))
                s.setblocking(False)
                self.socks[port] = s
        self.events: list[Any] = []
        self.esp: list[tuple[bytes, tuple[str, int]]] = []

    def close(self) -> None:
        for s in self.socks.values():
            s.close()

    def now(self) -> float:
        return time.monotonic()

    def flush(self) -> None:
        for data, local, remote in self.engine.datagrams_to_send(self.now()):
            self.socks[local[1]].sendto(data, remote)

    def send_raw(self, port: int, data: bytes, remote: tuple[str, int]) -> None:
        self.socks[port].sendto(data, remote)

    def pump(self, until: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = self.now() + timeout
        while True:
            self.flush()
            while (ev := self.engine.next_event()) is not None:
                self.events.append(ev)
            if until():
                return
            now = self.now()
            if now > deadline:
                raise AssertionError(f"timed out; events so far: {self.events}")
            wait = deadline - now
            t = self.engine.get_timer()
            if t is not None:
                wait = max(0.0, min(wait, t - now))
            ready, _, _ = select.select(list(self.socks.values()), [], [], min(wait, 0.5))
            for s in ready:
                data, addr = s.recvfrom(65535)
                port = s.getsockname()[1]
                if port == 4500 and len(data) > 4 and data[:4] != b"\x00\x00\x00\x00":
                    self.esp.append((data, addr))
                    continue
                self.engine.receive_datagram(data, addr, (self.host, port), self.now())
            t = self.engine.get_timer()
            if t is not None and t <= self.now():
                self.engine.handle_timer(self.now())
