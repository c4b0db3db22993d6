"""A throw-away single-node SLURM cluster on this machine, for tests/test_slurm.py.

Debian's `slurm-wlm` and `munge` packages provide the daemons (`.ci/run` installs them on CI). `SlurmCluster`
starts, as root and in the foreground, a private `munged` (own key and socket), `slurmctld` and `slurmd` from a
minimal slurm.conf in a temporary folder (own ports, own state and spool directories, no accounting database,
`proctrack/linuxproc`, `task/none`, `select/cons_tres` with `CR_Core_Memory` so memory requests are scheduled).
Nothing under /etc is read or written. It waits until `sinfo` shows the node idle; on exit (also after an error) it
cancels the jobs that are left and stops exactly the daemons it started, by pid.

Clients find the cluster through `SLURM_CONF` (see `env`). One wrinkle: inside a job, Snakemake's jobstep executor
drops every `SLURM_*` variable before it runs `srun`, which would send that `srun` looking for /etc/slurm/slurm.conf.
A real cluster has its config there (or runs configless); here a two-line `srun` wrapper, first on the exported
PATH, puts `SLURM_CONF` back.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "squeue", "sinfo", "scontrol", "scancel")
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin"])
PARTITIONS = ("main", "lineageflow")  # the first is the default partition


def _which(name: str) -> str | None:
    return shutil.which(name, path=SBIN_PATH)


def unavailable_reason() -> str | None:
    """Why a cluster cannot be started here (None = it can)."""
    if not sys.platform.startswith("linux"):
        return "the SLURM test cluster needs Linux"
    missing = [name for name in DAEMONS + CLIENTS if _which(name) is None]
    if missing:
        return (f"SLURM/munge not installed (missing {', '.join(missing)}); "
                "apt-get install slurm-wlm munge (as .ci/run does)")
    if os.geteuid() != 0:
        return "the SLURM test cluster must be started as root (slurmd runs jobs as their user)"
    return None


def _free_ports(n: int) -> list[int]:
    """n distinct TCP ports that are free right now (all held open together while they are picked)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 4096


class SlurmCluster:
    """`with SlurmCluster() as cluster:` a running one-node cluster; `cluster.env` is the environment for clients."""

    def __init__(self, cpus: int = 2, memory_mb: int | None = None, keep_dir: bool = False):
        self.cpus = max(1, min(cpus, os.cpu_count() or 1))
        # the node offers at most 16 GB and never more than 75 % of this machine
        self.memory_mb = memory_mb or min(16000, int(_memory_mb() * 0.75))
        self.keep_dir = keep_dir
        self.node = socket.gethostname().split(".")[0]
        self.dir: Path | None = None
        self.procs: dict[str, subprocess.Popen] = {}

    # ---------------------------------------------------------------- environment for clients
    @property
    def conf(self) -> Path:
        return self.dir / "slurm.conf"

    @property
    def env(self) -> dict:
        env = dict(os.environ)
        for name in list(env):  # a client must not think it runs inside a job of another cluster
            if name.startswith(("SLURM_", "SBATCH_", "SRUN_", "SQUEUE_")):
                del env[name]
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = os.pathsep.join([str(self.dir / "bin"), env.get("PATH", ""), "/usr/sbin", "/sbin"])
        return env

    def run(self, *cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, check=check, timeout=timeout)

    # ---------------------------------------------------------------- start / stop
    def __enter__(self) -> "SlurmCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        # munged wants every directory of its socket path searchable by all: a fresh 0755 folder under /tmp
        self.dir = Path(tempfile.mkdtemp(prefix="lineageflow-slurm-", dir="/tmp"))
        self.dir.chmod(0o755)
        try:
            self._start_munge()
            self._write_conf()
            self._start("slurmctld", [_which("slurmctld"), "-D", "-f", str(self.conf)])
            self._wait(lambda: self.run("scontrol", "ping", check=False).stdout.count("UP") > 0, 30,
                       "slurmctld did not answer `scontrol ping`")
            self._start("slurmd", [_which("slurmd"), "-D", "-N", self.node, "-f", str(self.conf)])
            self._wait(self._node_idle, 60, f"node {self.node} did not become idle in sinfo")
        except BaseException:
            self.stop()
            raise

    def _start_munge(self) -> None:
        mdir = self.dir / "munge"
        mdir.mkdir(mode=0o755)
        key = mdir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.munge_socket = mdir / "munge.socket"
        self._start("munged", [
            _which("munged"), "--foreground", f"--key-file={key}", f"--socket={self.munge_socket}",
            f"--pid-file={mdir / 'munged.pid'}", f"--log-file={mdir / 'munged.log'}",
            f"--seed-file={mdir / 'munged.seed'}",
        ])
        self._wait(self.munge_socket.exists, 20, "munged did not create its socket")

    def _write_conf(self) -> None:
        for sub in ("state", "spool", "log", "bin"):
            (self.dir / sub).mkdir()
        d = self.dir
        ctld_port, slurmd_port = _free_ports(2)
        lines = [
            "ClusterName=lineageflow-test",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={slurmd_port}",
            "AuthType=auth/munge",
            f"AuthInfo=socket={self.munge_socket}",
            "CredType=cred/munge",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={d / 'state'}",
            f"SlurmdSpoolDir={d / 'spool'}",
            f"SlurmctldPidFile={d / 'slurmctld.pid'}",
            f"SlurmdPidFile={d / 'slurmd.pid'}",
            f"SlurmctldLogFile={d / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={d / 'log' / 'slurmd.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "MailProg=/bin/true",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SwitchType=switch/none",
            "MpiDefault=none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "ReturnToService=2",
            # trust the node line below even where the machine has fewer CPUs or less memory (no drained node)
            "SlurmdParameters=config_overrides",
            # finished jobs stay visible to squeue for 5 min: the executor plugin's squeue status checks need it
            "MinJobAge=300",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} State=UNKNOWN",
        ]
        for i, name in enumerate(PARTITIONS):
            lines.append(f"PartitionName={name} Nodes=ALL Default={'YES' if i == 0 else 'NO'} "
                         "MaxTime=INFINITE State=UP")
        self.conf.write_text("\n".join(lines) + "\n")
        srun = d / "bin" / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{_which("srun")}" "$@"\n')
        srun.chmod(0o755)

    def _start(self, name: str, cmd: list[str]) -> None:
        out = open(self.dir / f"{name}.out", "w")
        self.procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=self.env, start_new_session=True)
        out.close()

    def _node_idle(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.logs()}")
        state = self.run("sinfo", "-h", "-N", "-o", "%N %T", check=False).stdout.split()
        return state[:2] == [self.node, "idle"]

    def _wait(self, ready, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"{what} within {timeout} s:\n{self.logs()}")

    def stop(self) -> None:
        """Cancel what is left in the queue, then stop the daemons this object started (slurmd, slurmctld, munged)."""
        ctld = self.procs.get("slurmctld")
        if ctld is not None and ctld.poll() is None:
            try:
                ids = self.run("squeue", "-h", "-t", "PENDING,RUNNING,CONFIGURING,COMPLETING", "-o", "%i",
                               check=False, timeout=10).stdout.split()
                if ids:
                    self.run("scancel", *ids, check=False, timeout=10)
                    end = time.monotonic() + 20
                    while time.monotonic() < end and self.run(
                            "squeue", "-h", "-t", "RUNNING,COMPLETING", "-o", "%i", check=False, timeout=10).stdout.strip():
                        time.sleep(0.5)
            except (OSError, subprocess.SubprocessError):
                pass
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self.dir is not None and not self.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---------------------------------------------------------------- evidence
    def logs(self, tail: int = 40) -> str:
        """The last lines of each daemon's output and log file (for failure messages)."""
        parts = []
        if self.dir is None:
            return ""
        for path in sorted(self.dir.glob("*.out")) + sorted((self.dir / "log").glob("*.log")) + \
                sorted((self.dir / "munge").glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-tail:]
            parts.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(parts)

    def jobs(self) -> dict[str, dict[str, str]]:
        """Every job slurmctld still remembers (MinJobAge=300 s): id -> state, partition, name, comment."""
        out = self.run("squeue", "-h", "-t", "all", "-o", "%i|%T|%P|%j|%k").stdout
        jobs = {}
        for line in out.splitlines():
            jid, state, partition, name, comment = line.split("|", 4)
            jobs[jid] = {"state": state, "partition": partition, "name": name, "comment": comment}
        return jobs
