"""Tours: the slow half of tests/unit/test_tours.py (2-5 s each): the snippet runner in real Python
subprocesses with their timeouts, and the CLI driven as a process. The tiny index and the helpers
are the unit tests' own."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from torchatlas.tours.engine import play_steps
from torchatlas.tours.loader import parse_tour
from torchatlas.tours.runner import Job, run_snippet, run_snippets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_tours import cli, tour_text  # noqa: E402 - the unit tests' helpers
from test_tours import tiny  # noqa: E402,F401 - and their tiny index (a fixture)


def test_snippets_run_isolated_and_a_raising_one_is_output(tiny):
    ctx, _root, _db = tiny
    tour = parse_tour(tour_text("""\
      - title: raises
        narrative: n
        anchor: {op: aten::add.Tensor}
        run: |
          import sys
          sys.modules["shared_state"] = 1
          print("before")
          1 / 0
      - title: goes on
        narrative: n
        anchor: {cpp: c10::Thing}
        run: |
          import sys
          print("isolated:", "shared_state" not in sys.modules)
        check:
          assert: "assert 2 + 2 == 4"
    """), "t.yaml")
    first, second = play_steps(tour, [1, 2], ctx)
    assert not first.run.ok and "before" in first.run.output and "ZeroDivisionError" in first.run.output
    assert '<snippet>", line 4' in first.run.output
    assert second.run.ok and "isolated: True" in second.run.output
    assert second.assertion.ok
    assert first.excerpt is not None and second.resolution.status == "resolved"


def test_snippet_timeout_and_exit_codes():
    results = run_snippets([Job("slow", "import time\ntime.sleep(30)", 1), Job("exit", "raise SystemExit(3)"),
                            Job("syntax", "x = ("), Job("ok", "print('hi')")], workers=2)
    assert results["slow"].timed_out and not results["slow"].ok and "timed out" in results["slow"].output
    assert results["exit"].returncode == 3
    assert "SyntaxError" in results["syntax"].output
    assert results["ok"].ok and results["ok"].output == "hi\n"


def test_run_snippet_captures_stderr_in_order():
    r = run_snippet("import sys\nprint('out')\nsys.stdout.flush()\nprint('err', file=sys.stderr)")
    assert r.ok and r.output.splitlines() == ["out", "err"]


def test_cli_list_and_malformed_user_tour(tmp_path):
    good = cli("list", "--json", tmp_path=tmp_path)
    assert good.returncode == 0
    ids = [t["id"] for t in json.loads(good.stdout)["tours"]]
    assert ids[:7] == ["source-layout", "tensors", "dispatch", "autograd", "codegen", "nn-module", "fx"]
    d = tmp_path / "mine"
    d.mkdir()
    (d / "broken.yaml").write_text(tour_text("  - title: a\n    narrative: n\n    anchor: {symbol: x}\n",
                                             id="broken"))
    out = cli("list", "--tours-dir", str(d), tmp_path=tmp_path)
    assert out.returncode == 2 and "dispatch" in out.stdout
    assert "broken.yaml:" in out.stderr and "unknown anchor kind 'symbol'" in out.stderr
    shown = cli("show", "broken", "--tours-dir", str(d), tmp_path=tmp_path)
    assert shown.returncode == 2 and "malformed" in shown.stderr


def test_cli_show_check_and_progress_on_the_tiny_index(tiny, tmp_path):
    _ctx, root, db = tiny
    d = tmp_path / "user"
    d.mkdir()
    (d / "mine.yaml").write_text(tour_text("""\
      - title: the yaml
        narrative: An operator.
        anchor: {op: aten::add.Tensor}
      - title: the struct
        narrative: A struct.
        anchor: {cpp: c10::Thing, show: whole}
        run: "print('hello from the snippet')"
      - title: gone
        narrative: This one does not resolve.
        anchor: {cpp: c10::Gone}
    """, id="mine"))
    src = ["--source", str(root), "--db", str(db), "--tours-dir", str(d)]
    first = cli("show", "mine", *src, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "step 1 of 3: the yaml" in first.stdout and "> 1 | - func: add.Tensor" in first.stdout
    assert "checked on torch 2.6" in first.stderr  # the tiny tree is torch 2.99: a warning, and it still runs
    second = cli("show", "mine", *src, tmp_path=tmp_path)  # resumes at step 2
    assert "step 2 of 3: the struct" in second.stdout and "> 3 | struct Thing {" in second.stdout
    assert "hello from the snippet" in second.stdout
    third = cli("show", "mine", *src, tmp_path=tmp_path)
    assert third.returncode == 0 and "anchor not found" in third.stdout and "the tour goes on" in third.stdout
    bad_step = cli("show", "mine", "--step", "9", *src, tmp_path=tmp_path)
    assert bad_step.returncode == 2 and "steps 1 to 3" in bad_step.stderr
    check = cli("check", "mine", "--json", *src, tmp_path=tmp_path)
    assert check.returncode == 1
    data = json.loads(check.stdout)
    assert [s["status"] for s in data["tours"][0]["steps"]] == ["resolved", "resolved", "unresolved"]
    assert data["tours"][0]["version_note"]
    listed = json.loads(cli("list", "--json", "--tours-dir", str(d), tmp_path=tmp_path).stdout)
    mine = next(t for t in listed["tours"] if t["id"] == "mine")
    assert mine["progress"]["seen"] == [1, 2, 3] and mine["origin"] == "user"

