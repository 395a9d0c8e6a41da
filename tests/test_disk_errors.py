"""A write the user's disk refuses (full, over quota, read-only), wherever it happens in a command,
ends as one line naming the file with exit status 2; other OS errors stay internal errors."""

from __future__ import annotations

import errno

import pytest

import cli_helpers as C
import jaxres.cli.commands


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "disk is full"), (errno.EROFS, "read-only"),
                                         (errno.EDQUOT, "quota")])
def test_a_refused_write_is_one_line_naming_the_file(monkeypatch, code, words):
    def refuse(task, args):
        raise OSError(code, "refused", "/runs/face/metrics.jsonl")

    monkeypatch.setattr(jaxres.cli.commands, "run", refuse)
    result = C.run("face", ["train", "--workdir", "/runs/face"])
    assert result.rc == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "/runs/face/metrics.jsonl" in lines[0] and words in lines[0]
    assert "Traceback" not in result.err


def test_other_os_errors_stay_internal(monkeypatch):
    def broken(task, args):
        raise OSError(errno.EBADF, "bad file descriptor")

    monkeypatch.setattr(jaxres.cli.commands, "run", broken)
    result = C.run("face", ["train", "--workdir", "/runs/face"])
    assert result.rc == 1 and "internal error" in result.err
