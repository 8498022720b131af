"""`--key` as people type it: any case; alias keys explained and expanded; typos get suggestions."""

from __future__ import annotations

import json

from torchatlas.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_are_case_insensitive(installed_db, capsys):
    code, out, _ = run(capsys, "dispatch", "aten::mm", "--key", "cpu", "--db", str(installed_db), "--json")
    assert code == 0 and list(json.loads(out)["ops"][0]["keys"]) == ["CPU"]


def test_an_alias_key_is_explained_and_shows_what_it_fills(installed_db, capsys):
    code, out, err = run(capsys, "dispatch", "aten::mm", "--key", "compositeimplicitautograd",
                         "--db", str(installed_db), "--json")
    keys = list(json.loads(out)["ops"][0]["keys"])
    assert code == 0 and "CompositeImplicitAutograd is an alias key" in err
    assert "CPU" in keys and "AutogradCPU" in keys and "ZeroTensor" not in keys


def test_trace_needs_a_runtime_key(installed_db, capsys):
    code, _, err = run(capsys, "trace", "torch.mm", "--key", "Autograd", "--db", str(installed_db))
    assert code == 2 and "alias key" in err and "--key CPU" in err


def test_a_typo_gets_a_suggestion(installed_db, capsys):
    code, _, err = run(capsys, "dispatch", "aten::mm", "--key", "autogradcpuu", "--db", str(installed_db))
    assert code == 2 and "did you mean AutogradCPU" in err
