"""A thin wrapper over the system OpenSSH client: ~/.ssh/config, aliases, ProxyJump, agents and known_hosts all
apply; host-key checking is never relaxed. One multiplexed master per host (ControlMaster/ControlPersist) makes each
call after the first cost a round trip, and BatchMode means we fail fast instead of prompting.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from trainers.jobs.errors import HostUnreachable, JobError

# user@host:port; names start with a letter or digit so nothing can pass for an ssh option ("-oProxyCommand=...")
_TARGET = re.compile(r"^(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9._-]*)@)?(?P<host>[A-Za-z0-9][A-Za-z0-9._%+-]*)"
                     r"(?::(?P<port>\d{1,5}))?$")


@dataclass
class SSHOptions:
    """How we call ssh. `config_file` = `ssh -F` (default: the user's ~/.ssh/config); env `TRM_LAB_SSH_CONFIG`."""

    config_file: str | None = None
    control_dir: str = field(default_factory=lambda: os.path.join(tempfile.gettempdir(), f"trm-lab-ssh-{os.getuid()}"))
    persist_s: int = 600
    connect_timeout_s: int = 10
    timeout_s: float = 120.0

    @classmethod
    def from_env(cls) -> SSHOptions:
        return cls(config_file=os.environ.get("TRM_LAB_SSH_CONFIG") or None)

    def args(self) -> list[str]:
        Path(self.control_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        out = ["-F", self.config_file] if self.config_file else []
        return out + ["-o", "BatchMode=yes", "-o", "ControlMaster=auto",
                      "-o", f"ControlPath={self.control_dir}/%C", "-o", f"ControlPersist={self.persist_s}",
                      "-o", f"ConnectTimeout={self.connect_timeout_s}",
                      "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]


def parse_target(target: str) -> tuple[str, int | None]:
    """`alias`, `user@host` or `user@host:port` -> (ssh destination, port or None)."""
    m = _TARGET.match(target.strip())
    if not m:
        raise JobError(f"{target!r}: not a host: use an ~/.ssh/config alias, host, user@host or user@host:port")
    dest = f"{m['user']}@{m['host']}" if m["user"] else m["host"]
    if m["port"] and not 1 <= int(m["port"]) <= 65535:
        raise JobError(f"{target!r}: port {m['port']} is not a port (1-65535)")
    return dest, int(m["port"]) if m["port"] else None


def config_hosts(path: str | os.PathLike | None = None) -> list[str]:
    """Concrete `Host` names from an ssh config (patterns with * ? ! are skipped), following `Include`."""
    path = Path(path) if path else Path.home() / ".ssh" / "config"
    names: list[str] = []
    seen: set[Path] = set()

    def read(p: Path) -> None:
        if p in seen or not p.is_file():
            return
        seen.add(p)
        for raw in p.read_text(errors="replace").splitlines():
            words = shlex.split(raw, comments=True) if raw.strip() else []
            if not words:
                continue
            key = words[0].split("=", 1)[0].lower()
            rest = words[1:] if "=" not in words[0] else [words[0].split("=", 1)[1], *words[1:]]
            if key == "host":
                names.extend(w for w in rest if not any(c in w for c in "*?!") and w not in names)
            elif key == "include":
                for pattern in rest:
                    base = Path(pattern).expanduser()
                    base = base if base.is_absolute() else p.parent / base
                    for match in sorted(base.parent.glob(base.name)):
                        read(match)

    try:
        read(path)
    except (OSError, ValueError):
        return names
    return names


def host_key_changed(target: str, stderr: str) -> str:
    """ssh's refusal of a changed host key in one line: its warning, where the old key is, and its own fix (never
    done for the user: the change may be an impostor)."""
    fix = re.search(r"remove with:\s*\n?\s*(ssh-keygen[^\n]*)", stderr)
    where = re.search(r"Offending \S+ key in (\S+)", stderr)
    return (f"{target}: ssh refused: REMOTE HOST IDENTIFICATION HAS CHANGED (the host's key is not the one "
            f"{'in ' + where.group(1) if where else 'known'}: someone may be intercepting the connection, or the host "
            f"was reinstalled). Check with its administrator; if the change is expected: "
            f"{fix.group(1).strip() if fix else 'remove the old key from known_hosts'}, then connect once with ssh")


class SSH:
    """Commands on one host. Every remote word is shlex-quoted: nothing reaches the remote shell unquoted."""

    def __init__(self, target: str, options: SSHOptions) -> None:
        self.target = target
        self.dest, self.port = parse_target(target)
        self.options = options

    def ssh_args(self) -> list[str]:
        return ["ssh", *self.options.args(), *(["-p", str(self.port)] if self.port else [])]

    def run(self, words: list[str], *, input: bytes | None = None, timeout: float | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        """Run `words` (quoted one by one) on the host; raise HostUnreachable when ssh cannot connect."""
        return self.run_script(shlex.join(words), input=input, timeout=timeout, check=check)

    def run_script(self, script: str, *, input: bytes | None = None, timeout: float | None = None,
                   check: bool = True) -> subprocess.CompletedProcess:
        """Run a shell script we composed (its variable parts already shlex-quoted)."""
        cmd = [*self.ssh_args(), "--", self.dest, script]
        try:
            proc = subprocess.run(cmd, input=input, capture_output=True, stdin=None if input is not None
                                  else subprocess.DEVNULL, timeout=timeout or self.options.timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise HostUnreachable(f"{self.target}: no answer within {exc.timeout:.0f} s") from exc
        except FileNotFoundError as exc:
            raise JobError("ssh: the OpenSSH client is not installed") from exc
        if proc.returncode == 255:
            stderr = proc.stderr.decode(errors="replace")
            if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
                raise JobError(host_key_changed(self.target, stderr))
            msg = stderr.strip().splitlines()
            raise HostUnreachable(f"{self.target}: ssh failed: {msg[-1] if msg else 'connection error'}")
        if check and proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip()
            raise JobError(f"{self.target}: remote command failed (exit {proc.returncode}): {err[-800:]}")
        return proc

    def resolved_hostname(self) -> str:
        """The real host name ssh would connect to (`ssh -G`), for the torchrun rendezvous endpoint."""
        proc = subprocess.run(["ssh", *self.options.args(), "-G", *(["-p", str(self.port)] if self.port else []),
                               self.dest], capture_output=True, text=True, timeout=30)
        for line in proc.stdout.splitlines():
            if line.lower().startswith("hostname "):
                return line.split(None, 1)[1].strip()
        return self.dest.split("@")[-1]

    def master_pid(self) -> int | None:
        """pid of the multiplexing master, if one is up."""
        proc = subprocess.run([*self.ssh_args(), "-O", "check", self.dest], capture_output=True, text=True,
                              timeout=30)
        m = re.search(r"pid=(\d+)", proc.stderr + proc.stdout)
        return int(m.group(1)) if m and proc.returncode == 0 else None

    def close_master(self) -> None:
        subprocess.run([*self.ssh_args(), "-O", "exit", self.dest], capture_output=True, timeout=30)

    def rsync_shell(self) -> str:
        """The `rsync -e` command line (rsync splits it itself, honouring quotes)."""
        return shlex.join(self.ssh_args())

    def rsync_source(self, remote_path: str) -> str:
        return f"{self.dest}:{remote_path}"
