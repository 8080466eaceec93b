"""The keepalived track script against a real HAProxy monitor endpoint on loopback."""

import socket
import subprocess
import time

import pytest

from .conftest import free_port


@pytest.fixture
def check_script(repo_root):
    return str(repo_root / "overlays/usr/libexec/appliance-agent/check-haproxy")


def run_check(script, port):
    started = time.monotonic()
    code = subprocess.run(["bash", script, str(port)], timeout=10).returncode
    return code, time.monotonic() - started


def test_healthy_haproxy_passes_dead_one_fails(loopback_haproxy, check_script):
    port = free_port()
    # The same monitor frontend the appliance's haproxy.cfg has.
    process = loopback_haproxy("frontend health\n    bind 127.0.0.1:%d\n    monitor-uri /healthz\n" % port, port)
    assert run_check(check_script, port)[0] == 0
    process.terminate()
    process.wait(timeout=10)
    code, elapsed = run_check(check_script, port)
    assert code != 0 and elapsed < 2


def test_hung_listener_fails_within_the_timeout(check_script):
    """A process that accepts but never answers (a hung HAProxy) must fail the check."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        code, elapsed = run_check(check_script, listener.getsockname()[1])
    assert code != 0 and 1.5 < elapsed < 5


def test_wrong_answer_fails(check_script):
    import threading

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def answer():
            connection, _ = listener.accept()
            connection.recv(1024)
            connection.sendall(b"HTTP/1.0 503 Service Unavailable\r\n\r\n")
            connection.close()

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        code, _ = run_check(check_script, listener.getsockname()[1])
        thread.join(timeout=5)
    assert code != 0
