"""A single-node SLURM cluster for the tests: munged, slurmctld and slurmd started in a private folder with a
minimal slurm.conf (its own ports, socket, state and logs), stopped and removed afterwards.

Needs Debian's slurmctld, slurmd, slurm-client and munge (`make slurm` installs them) and root, as daemons that
launch jobs do. `Cluster.available()` says why not where they are missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol", "sinfo")


def _bin(name: str) -> str | None:
    """The daemon's path: on PATH, or in /usr/sbin (not on every user's PATH)."""
    return shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """`with Cluster() as c:` — c.env is the environment for the client commands (SLURM_CONF set), c.run(...)
    runs one, c.submit(...) submits a batch job, c.wait(job) waits until it has left the queue."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ufm-slurm-")  # short: the munge socket path has a length limit
        self.host = socket.gethostname().split(".")[0]
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.env = {**os.environ, "SLURM_CONF": self.conf}
        self.env.pop("SLURM_ARRAY_TASK_ID", None)

    @staticmethod
    def available() -> str | None:
        """None when a cluster can be started here, else the reason."""
        missing = [d for d in DAEMONS if _bin(d) is None]
        if missing:
            return f"SLURM is not installed ({', '.join(missing)} missing): run `make slurm` (Debian, as root)"
        if os.geteuid() != 0:
            return "the single-node SLURM cluster runs its daemons as root"
        return None

    def _path(self, *names):
        return os.path.join(self.dir, *names)

    def _write_conf(self):
        with open("/proc/meminfo") as fh:
            mem_mb = int(fh.readline().split()[1]) // 1024
        d = self.dir
        conf = f"""
ClusterName=ufmtest
SlurmctldHost={self.host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={d}/munge/sock
CredType=cred/munge
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/builtin
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
MinJobAge=600
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={mem_mb // 2} State=UNKNOWN
PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
"""
        with open(self.conf, "w") as fh:
            fh.write(conf.lstrip())

    def __enter__(self) -> "Cluster":
        for sub in ("munge", "state", "spool", "log"):
            os.makedirs(self._path(sub), mode=0o700, exist_ok=True)
        key = self._path("munge", "key")
        with open(key, "wb") as fh:
            fh.write(os.urandom(1024))
        os.chmod(key, 0o400)
        self._write_conf()
        try:
            m = self._path("munge")
            subprocess.run([_bin("munged"), "--force", f"--socket={m}/sock", f"--key-file={key}", f"--pid-file={m}/pid",
                            f"--log-file={m}/log", f"--seed-file={m}/seed"], check=True, capture_output=True,
                           timeout=30)
            subprocess.run([_bin("slurmctld"), "-f", self.conf], check=True, capture_output=True, env=self.env, timeout=30)
            subprocess.run([_bin("slurmd"), "-f", self.conf], check=True, capture_output=True, env=self.env, timeout=30)
            deadline = time.time() + 60
            while time.time() < deadline:
                out = self.run("sinfo", "-h", "-o", "%t", check=False).stdout.split()
                if out and out[0] in ("idle", "mix", "alloc"):
                    return self
                time.sleep(0.5)
            raise RuntimeError(f"the node did not come up: sinfo says {out}\n{self.logs()}")
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc):
        subprocess.run(["scancel", "--full", "--user=root"], env=self.env, capture_output=True, timeout=30)
        for pidfile in ("slurmd.pid", "slurmctld.pid", "munge/pid"):
            try:
                pid = int(open(self._path(pidfile)).read())
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self) -> str:
        out = []
        for name in ("log/slurmctld.log", "log/slurmd.log"):
            try:
                out.append(f"--- {name}\n" + "".join(open(self._path(name)).readlines()[-30:]))
            except OSError:
                pass
        return "\n".join(out)

    def run(self, *cmd, check=True, **kw) -> subprocess.CompletedProcess:
        r = subprocess.run(cmd, env=kw.pop("env", self.env), capture_output=True, text=True, timeout=60, **kw)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}\n{self.logs()}")
        return r

    def submit(self, script: str, *options: str, env: dict | None = None) -> str:
        """sbatch the script with the options; returns the job id."""
        r = self.run("sbatch", "--parsable", *options, script, env={**self.env, **(env or {})})
        return r.stdout.strip().split(";")[0]

    def queued(self, job: str) -> list[tuple[str, str]]:
        """(task id, state) of the job's tasks still in the queue."""
        out = self.run("squeue", "-h", "-r", "-j", job, "-o", "%i %T", check=False).stdout
        return [tuple(line.split()) for line in out.splitlines() if line.strip()]

    def wait(self, job: str, timeout: float = 600) -> None:
        deadline = time.time() + timeout
        while self.queued(job):
            if time.time() > deadline:
                raise TimeoutError(f"job {job} still queued after {timeout} s: {self.queued(job)}\n{self.logs()}")
            time.sleep(0.5)
