#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal, as a user at a keyboard would: each time the output
shows a prompt (given as PROMPT=ANSWER pairs), types the answer; an answer of ^C sends the
terminal's interrupt character (the kernel turns it into SIGINT for the command). Prints the
command's output, then a last line `exit N` (N = 128 + signal when a signal ended it).

usage: pty_run.py TIMEOUT_SECONDS 'PROMPT=ANSWER' ... -- COMMAND ARGS...
"""
import os
import pty
import select
import sys
import time


def main() -> int:
    args = sys.argv[1:]
    sep = args.index("--")
    timeout = float(args[0])
    script = [a.split("=", 1) for a in args[1:sep]]
    cmd = args[sep + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    out = b""
    seen = 0
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if script and script[0][0].encode() in out[seen:]:
            prompt, answer = script.pop(0)
            seen = out.index(prompt.encode(), seen) + len(prompt)
            time.sleep(0.2)
            os.write(fd, b"\x03" if answer == "^C" else answer.encode() + b"\n")
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    sys.stdout.write(out.decode("utf-8", "replace"))
    sys.stdout.write(f"\nexit {code if code >= 0 else 128 - code}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
