"""What cannot name anything is refused before it is searched for (errors.check_name): a trailing
'.' used to match every registration by its empty last part (`refs torch.nn.Linear.`)."""

from __future__ import annotations

import pytest

from torchatlas.indexes.errors import BadName, check_name


@pytest.mark.parametrize("text, why", [
    ("", "empty"), ("   ", "empty"), ("torch.nn.Linear.", "ends with '.'"), ("at::", "ends with '::'"),
    ("a:::", "ends with '::'"), (".forward", "starts with '.'"), ("torch..add", "empty part"),
    ("at:::native", "empty part"), ("layer norm", "space"),
])
def test_what_cannot_be_a_name_is_refused_and_says_why(text, why):
    with pytest.raises(BadName) as e:
        check_name(text)
    assert why in e.value.message and e.value.exit_code == 2 and "find" in e.value.hint


@pytest.mark.parametrize("text", ["torch.nn.Linear.forward", "at::native::add_out", "aten::add.Tensor", "add",
                                  "::c10::Half", "TORCH_IMPL_FUNC(add_out)", "std::vector<int>", " torch.add "])
def test_names_pass_stripped(text):
    assert check_name(text) == text.strip()


def test_the_cli_says_it_as_bad_usage(installed_db, capsys):
    from torchatlas.cli import main
    assert main(["refs", "torch.nn.Linear.", "--db", str(installed_db)]) == 2
    err = capsys.readouterr().err
    assert "'torch.nn.Linear.' is not a name: it ends with '.'" in err and "Traceback" not in err
