"""One place for how the benches, the screenshot script and the browser tests run the app.

Each of them starts its own ``streamlit run`` on a free 127.0.0.1 port and drives Debian's
Chromium with the same flags; only their environment, logging and time limits differ.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

CHROMIUM = os.environ.get("VAE_LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    """A port nobody listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streamlit_command(port: int, app: str = "app.py") -> list[str]:
    """``streamlit run`` headless on 127.0.0.1:port, no usage stats, no file watcher."""
    return [
        sys.executable, "-m", "streamlit", "run", app, "--server.port", str(port),
        "--server.address", "127.0.0.1", "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]  # fmt: skip


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate, then kill if it has not ended within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def picker_label(title: str) -> re.Pattern[str]:
    """The model picker's label for the model titled ``title``: the title alone (shipped models)
    or the title, " · " and its details (source, time, partial); anchored at both ends, since
    "MNIST VAE" is inside "Fashion-MNIST VAE"."""
    return re.compile(f"^{re.escape(title)}( · |$)")


def linked_data_dir(real: Path, folder: Path) -> Path:
    """``folder`` made a data folder that reads the datasets of ``real`` through links.

    An app started on it (``VAE_LAB_DATA=folder``) sees the same MNIST and Fashion-MNIST, but
    whatever it writes (an imported set) lands in ``folder``, never in the real, shared data.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for child in sorted(real.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            (folder / child.name).symlink_to(child.resolve(), target_is_directory=True)
    return folder
