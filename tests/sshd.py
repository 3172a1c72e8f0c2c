"""A real OpenSSH server on 127.0.0.1 for tests: throw-away host and user keys, its own sshd_config, and an
ssh_config whose known_hosts holds the host key, so host-key checking stays on (StrictHostKeyChecking yes).

    server = SSHServer(tmp_path); server.start()
    ssh -F server.ssh_config trm-a 'echo hi'      # aliases trm-a and trm-b both reach this server
    server.stop() / server.start() (same port, same keys) to take the "host" down and bring it back
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
ALIASES = ("trm-a", "trm-b")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def have_sshd() -> bool:
    return Path(SSHD).exists() and shutil.which("ssh") is not None and shutil.which("ssh-keygen") is not None


class SSHServer:
    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.user = getpass.getuser()
        self.proc: subprocess.Popen | None = None
        self.host_key = self.root / "host_ed25519"
        self.user_key = self.root / "id_ed25519"
        self.sshd_config = self.root / "sshd_config"
        self.ssh_config = self.root / "ssh_config"
        self.known_hosts = self.root / "known_hosts"
        self.log = self.root / "sshd.log"
        self._write_files()

    def _write_files(self) -> None:
        for key in (self.host_key, self.user_key):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True,
                               timeout=30)
        shutil.copy(self.user_key.with_suffix(".pub"), self.root / "authorized_keys")
        os.chmod(self.root / "authorized_keys", 0o600)
        host_pub = self.host_key.with_suffix(".pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        self.sshd_config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}\nPidFile {self.root / 'sshd.pid'}\n"
            f"AllowUsers {self.user}\nPermitRootLogin prohibit-password\nPubkeyAuthentication yes\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "MaxStartups 50\nMaxSessions 50\nSubsystem sftp internal-sftp\nLogLevel ERROR\n")
        hosts = "".join(
            f"Host {alias}\n  HostName 127.0.0.1\n  Port {self.port}\n  User {self.user}\n"
            f"  IdentityFile {self.user_key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {self.known_hosts}\n"
            "  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n" for alias in ALIASES)
        self.ssh_config.write_text(hosts)

    def start(self, timeout: float = 15.0) -> SSHServer:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege-separation directory
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.sshd_config)], stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen on {self.port}")

    def stop(self) -> None:
        """Kill sshd and every connection and session it forked (its process tree). Jobs started detached were
        re-parented away from that tree, exactly as on a real host whose sshd dies."""
        if self.proc and self.proc.poll() is None:
            for pid in [self.proc.pid, *_descendants(self.proc.pid)]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait(timeout=10)
        self.proc = None

    def ssh(self, alias: str, command: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(["ssh", "-F", str(self.ssh_config), "-o", "BatchMode=yes", alias, command],
                              capture_output=True, text=True, timeout=timeout)


# ---- pytest fixtures shared by the job tests (import them into a test module) ---------------------------------------
import json as _json  # noqa: E402
import sys as _sys  # noqa: E402

import pytest  # noqa: E402

STANDIN = str(Path(__file__).with_name("standin_trainer.py"))


def kill_leftovers(*job_roots: Path) -> None:
    """SIGKILL every launcher group still alive under these job folders (tests never leave trainers behind)."""
    from trainers.jobs import agent

    for root in job_roots:
        for pidfile in Path(root).glob("*/node*/launcher.pid"):
            agent.stop(pidfile.parent.parent, [pidfile.parent.name], "KILL")


@pytest.fixture
def jobs_home(tmp_path, monkeypatch):
    """A private TRM_LAB_HOME; the stand-in trainer unless a test unsets TRM_LAB_TRAINER."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("TRM_LAB_HOME", str(home))
    monkeypatch.setenv("TRM_LAB_TRAINER", STANDIN)
    yield home
    kill_leftovers(home / "jobs")


@pytest.fixture(scope="module")
def sshd_server(tmp_path_factory):
    if not have_sshd():
        pytest.fail("openssh-server is not installed (apt-get install -y openssh-server rsync)")
    server = SSHServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def remote_base(tmp_path_factory):
    """The "remote" trm-lab folder, shared by a module's tests so the code and venv are prepared once."""
    base = tmp_path_factory.mktemp("remote")
    yield base
    kill_leftovers(base / "jobs")


@pytest.fixture
def ssh_lab(jobs_home, sshd_server, remote_base, monkeypatch):
    """jobs_home + the sshd's ssh_config + hosts.json pointing the hosts at this interpreter and the remote folder."""
    monkeypatch.setenv("TRM_LAB_SSH_CONFIG", str(sshd_server.ssh_config))
    (jobs_home / "hosts.json").write_text(_json.dumps({"*": {"python": _sys.executable, "base": str(remote_base)}}))
    return sshd_server


def measure() -> None:
    """`python tests/sshd.py`: submit (cold: ships code + makes the venv; warm) and poll latency of an SSH job
    against a throw-away sshd, with the stand-in trainer."""
    import statistics
    import tempfile
    import time

    root = Path(tempfile.mkdtemp(prefix="trm-ssh-measure-"))
    server = SSHServer(root / "sshd").start()
    home = root / "home"
    home.mkdir()
    os.environ.update(TRM_LAB_HOME=str(home), TRM_LAB_SSH_CONFIG=str(server.ssh_config), TRM_LAB_TRAINER=STANDIN)
    (home / "hosts.json").write_text(_json.dumps({"*": {"python": _sys.executable, "base": str(root / "remote")}}))
    from trainers.jobs.manager import JobManager

    manager = JobManager()
    try:
        t = time.monotonic()
        job = manager.submit("x", hosts=["trm-a"], args=["--set", "steps=400", "--set", "step_s=0.05"])
        cold = time.monotonic() - t
        t = time.monotonic()
        manager.submit("x", hosts=["trm-a"], args=["--set", "steps=3"])
        warm = time.monotonic() - t
        lat = []
        for _ in range(20):
            t = time.monotonic()
            job = manager.poll(job, pull=False)
            lat.append(time.monotonic() - t)
        ssh = manager.ssh.ssh("trm-a")
        rt = []
        for _ in range(10):
            t = time.monotonic()
            ssh.run(["true"])
            rt.append(time.monotonic() - t)
        print(f"submit: cold {cold:.1f} s, warm {warm:.2f} s; poll: median {statistics.median(lat) * 1000:.0f} ms, "
              f"max {max(lat) * 1000:.0f} ms; multiplexed `ssh true`: median {statistics.median(rt) * 1000:.0f} ms; "
              f"load average {open('/proc/loadavg').read().split()[0]}")
    finally:
        kill_leftovers(root / "remote" / "jobs")
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys_path = str(Path(__file__).resolve().parents[1])
    if sys_path not in _sys.path:
        _sys.path.insert(0, sys_path)
    measure()
