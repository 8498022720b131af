"""`torchatlas cache`: the index files in the cache dir, and pruning only what cannot be used again."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from torchatlas.indexes.locking import index_lock
from torchatlas.indexes.pipeline import build_index, default_db_path
from torchatlas.indexes.sources import open_source

ASSETS = Path(__file__).parent.parent / "assets" / "mini"


@pytest.fixture
def cache(tmp_path, monkeypatch, mini_package) -> dict[str, Path]:
    """A cache dir holding one file of each state, built the way torchatlas builds them."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (mini_package / "torchgen/packaged/ATen/native/native_functions.yaml").write_text(
        (ASSETS / "native_functions.yaml").read_text())
    (mini_package / "torchgen/packaged/autograd/derivatives.yaml").write_text(
        (ASSETS / "derivatives.yaml").read_text())
    source = open_source(str(mini_package))
    ok = default_db_path(source)
    build_index(source, ok, code=False)
    d = ok.parent

    # the same index for a venv that was deleted since
    gone = d / "installed-2.12.0-0123456789.sqlite"
    shutil.copyfile(ok, gone)
    con = sqlite3.connect(gone)
    meta_source = json.loads(con.execute("SELECT value FROM meta WHERE key = 'source'").fetchone()[0])
    meta_source["root"] = str(tmp_path / "deleted-venv" / "site-packages")
    con.execute("UPDATE meta SET value = ? WHERE key = 'source'", (json.dumps(meta_source),))
    con.commit()
    con.close()
    Path(f"{gone}.lock").touch()

    old = d / "tree-1.9.0-abcdefabcd.sqlite"  # an index of an older format
    shutil.copyfile(ok, old)
    con = sqlite3.connect(old)
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    con.commit()
    con.close()

    foreign = d / "notes.sqlite"  # somebody else's database: never ours to delete
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed = d / f".{ok.name}.{dead.pid}.shard0.tmp"  # scratch of a run that was killed
    killed.write_bytes(b"x" * 4096)
    running = d / f".{ok.name}.{os.getpid()}.tmp"  # scratch of a run still going (this process)
    running.write_bytes(b"y" * 4096)
    return {"ok": ok, "gone": gone, "old": old, "foreign": foreign, "killed": killed, "running": running}


def _cache(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "torchatlas.cli", "cache", "--json", *args],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _states(files: list[dict]) -> dict[str, str]:
    return {Path(f["path"]).name: f["status"] for f in files}


def test_cache_lists_each_file_with_its_state(cache):
    out = _cache()
    assert Path(out["dir"]) == cache["ok"].parent
    states = _states(out["files"])
    assert states == {cache["ok"].name: "ok", cache["gone"].name: "source gone", cache["old"].name: "older format",
                      cache["foreign"].name: "not an index", cache["killed"].name: "leftover",
                      cache["running"].name: "leftover (running)"}
    ok = next(f for f in out["files"] if f["status"] == "ok")
    assert ok["root"] == str(cache["ok"].parent.parent.parent / "site") and ok["version"] == "0.0.1+mini"
    assert ok["bytes"] > 0 and ok["built_at"] and not ok["prunable"]


def test_prune_deletes_only_what_cannot_be_used_again(cache):
    before = cache["ok"].read_bytes()
    out = _cache("--prune")
    assert sorted(_states(out["deleted"])) == sorted([cache["gone"].name, cache["old"].name, cache["killed"].name])
    for key in ("gone", "old", "killed"):
        assert not cache[key].exists()
    assert not Path(f"{cache['gone']}.lock").exists()
    for key in ("ok", "foreign", "running"):
        assert cache[key].exists()
    assert cache["ok"].read_bytes() == before
    assert set(_states(out["files"])) == {cache["ok"].name, cache["foreign"].name, cache["running"].name}
    assert _cache("--prune")["deleted"] == []  # nothing more to do


def test_an_index_being_built_is_never_pruned(cache):
    with index_lock(cache["gone"]):  # a run holds it: its state is "in use", and it stays
        out = _cache("--prune")
        assert _states(out["files"])[cache["gone"].name] == "in use"
        assert cache["gone"].exists()
    assert cache["gone"].name in _states(_cache("--prune")["deleted"])


def test_cache_text_output_says_what_can_go(cache):
    proc = subprocess.run([sys.executable, "-m", "torchatlas.cli", "cache"], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "source gone" in proc.stdout and "was killed" in proc.stdout and "left alone" in proc.stdout
    assert "3 of them" in proc.stdout and "torchatlas cache --prune" in proc.stdout


def test_empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "nothing"))
    assert _cache() == {"dir": str(tmp_path / "nothing" / "torchatlas"), "files": [], "deleted": [],
                        "lab_caches": [], "deleted_lab_caches": []}


def test_index_says_when_the_cache_holds_files_that_can_go(cache, mini_package):
    run = [sys.executable, "-m", "torchatlas.cli", "index", str(mini_package), "--no-code"]
    out = subprocess.run(run, capture_output=True, text=True, env=os.environ.copy(), timeout=120).stdout
    assert "3 files in" in out and "torchatlas cache --prune" in out
    _cache("--prune")
    out = subprocess.run(run, capture_output=True, text=True, env=os.environ.copy(), timeout=120).stdout
    assert out.startswith("up to date") and "cache --prune" not in out


def test_prune_with_nothing_to_prune_says_so_in_mebibytes(cache):
    _cache("--prune")
    proc = subprocess.run([sys.executable, "-m", "torchatlas.cli", "cache", "--prune"], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "nothing to prune" in proc.stdout
    assert " MB" not in proc.stdout and ("KiB" in proc.stdout or "MiB" in proc.stdout)


def test_a_cached_index_of_an_older_format_is_rebuilt_on_first_use(cache, mini_package, capsys):
    """Upgrading torchatlas must not leave every command failing on the old cache: the default index
    (ours) is rebuilt, once, with a word on stderr; an index the user named with --db is only reported."""
    from torchatlas.cli import main
    from torchatlas.indexes.store import SCHEMA_VERSION, older_format
    ok = cache["ok"]
    con = sqlite3.connect(ok)
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    con.commit()
    con.close()
    assert older_format(ok)
    named = ok.parent / "named.sqlite"
    shutil.copyfile(ok, named)

    assert main(["op", "aten::mm", "--source", str(mini_package)]) == 0
    out, err = capsys.readouterr()
    assert "an older torchatlas built the index" in err and "aten::mm" in out
    con = sqlite3.connect(ok)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == str(SCHEMA_VERSION)
    con.close()
    assert main(["op", "aten::mm", "--source", str(mini_package)]) == 0
    assert "building" not in capsys.readouterr().err  # once

    assert main(["op", "aten::mm", "--db", str(named)]) == 2
    assert "older torchatlas" in capsys.readouterr().err and older_format(named)


def test_a_cached_index_another_torchatlas_resolved_is_updated_on_first_use(cache, mini_package, capsys):
    """After torchatlas's own code changes (an upgrade), the default index is brought up to date before
    it answers: here the dispatch resolver differs, and its answers were lost. An index the user named
    with --db is only reported, with the command that updates it."""
    from torchatlas.cli import main
    from torchatlas.indexes.code_version import fingerprint
    ok = cache["ok"]
    named = ok.parent / "named.sqlite"
    for db in (ok, named):
        if db is named:
            shutil.copyfile(ok, named)
        con = sqlite3.connect(db)
        con.execute("DELETE FROM dispatch")
        con.execute("UPDATE meta SET value = 'another' WHERE key = 'dispatch_code'")
        con.commit()
        con.close()

    assert main(["op", "aten::mm", "--source", str(mini_package)]) == 0
    out, err = capsys.readouterr()
    assert "the index predates this torchatlas's dispatch resolver" in err and "updating it" in err, err
    assert "aten::mm" in out
    con = sqlite3.connect(ok)
    assert con.execute("SELECT value FROM meta WHERE key = 'dispatch_code'").fetchone()[0] == fingerprint("dispatch")
    assert con.execute("SELECT COUNT(*) FROM dispatch").fetchone()[0] > 0
    con.close()
    assert main(["op", "aten::mm", "--source", str(mini_package)]) == 0
    assert "updating" not in capsys.readouterr().err  # once

    assert main(["op", "aten::mm", "--db", str(named)]) == 0
    err = capsys.readouterr().err
    assert "predates this torchatlas's dispatch resolver" in err and f"torchatlas index --db {named}" in err
    assert "updating" not in err
    con = sqlite3.connect(named)
    assert con.execute("SELECT COUNT(*) FROM dispatch").fetchone()[0] == 0  # not rebuilt behind the user's back
    con.close()


def test_lab_caches_are_listed_and_only_what_cannot_be_used_again_is_pruned(tmp_path, monkeypatch, capsys):
    """The labs' torchgen outputs and precompiled-header sets (~470 MB each) are keyed by the torch
    they were made for: those of a deleted venv, and those a killed run left unstamped, can go; one
    being built (its lock held) and one of a torch still there stay."""
    import fcntl
    from torchatlas.cli import main
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    labs = tmp_path / "xdg" / "torchatlas" / "labs"
    alive = tmp_path / "venv" / "torch" / "include"
    alive.mkdir(parents=True)

    def pch(name: str, include: Path, stamped: bool = True) -> Path:
        d = labs / "native-pch" / name
        d.mkdir(parents=True)
        (d / "DEFAULT.h.gch").write_bytes(b"x" * 4096)
        (d / "build.ninja").write_text(f"cflags = -O2 -isystem {include} -isystem {include}/torch/csrc/api/include\n")
        if stamped:
            (d / "stamp.json").write_text("{}")
        return d

    def torchgen(name: str, source: Path) -> Path:
        d = labs / "torchgen" / name
        (d / "aten").mkdir(parents=True)
        (d / "stamp.json").write_text(json.dumps({"source": str(source)}))
        return d

    keep = pch("keep", alive)
    idle = pch("idle", alive)  # made for this torch, but no build used it for 40 days
    os.utime(idle / "stamp.json", (time.time() - 40 * 86400,) * 2)
    gone = pch("gone", tmp_path / "deleted-venv" / "torch" / "include")
    unfinished = pch("unfinished", alive, stamped=False)
    busy = pch("busy", tmp_path / "deleted-venv2" / "torch" / "include")
    gen_keep = torchgen("2.13.0-aaaa", alive)
    gen_gone = torchgen("2.12.0-bbbb", tmp_path / "deleted-venv" / "torchgen")
    (labs / "torchgen" / "recent").mkdir()  # the codegen builder's own LRU: never listed

    assert main(["cache", "--json"]) == 0
    listed = {Path(e["path"]).name: e["status"] for e in json.loads(capsys.readouterr().out)["lab_caches"]}
    assert listed == {"keep": "ok", "idle": "unused", "gone": "torch gone", "unfinished": "unfinished", "busy": "torch gone",
                      "2.13.0-aaaa": "ok", "2.12.0-bbbb": "torch gone"}
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert f"precompiled headers for {tmp_path / 'deleted-venv' / 'torch' / 'include'} (gone)" in out
    assert "cannot be used again: torchatlas cache --prune" in out

    with open(busy / ".lock", "a") as fh:  # a run building that set right now
        fcntl.flock(fh, fcntl.LOCK_EX)
        assert main(["cache", "--prune", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert {Path(e["path"]).name for e in rec["deleted_lab_caches"]} == {"gone", "unfinished", "idle", "2.12.0-bbbb"}
    assert keep.exists() and busy.exists() and gen_keep.exists() and (labs / "torchgen" / "recent").exists()
    assert not gone.exists() and not unfinished.exists() and not gen_gone.exists()
    assert main(["cache", "--prune"]) == 0  # the lock is free now: the busy set of a deleted venv goes too
    assert "precompiled headers" in capsys.readouterr().out and not busy.exists()
