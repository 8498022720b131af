"""`op` on a delegated operator shows where its backend kernels come from."""

from __future__ import annotations

from torchatlas.cli import main


def test_a_delegated_op_shows_its_cpu_kernel_and_why(installed_db, capsys):
    assert main(["op", "aten::add.Tensor", "--db", str(installed_db)]) == 0
    out = capsys.readouterr().out
    cpu = [line for line in out.splitlines() if line.strip().startswith("CPU ")]
    assert cpu and "ufunc_add_CPU" in cpu[0] and "structured_delegate add.out" in cpu[0]
    # its own entries stay as the YAML writes them, without the delegate's mark
    sparse = [line for line in out.splitlines() if line.strip().startswith("SparseCPU ")]
    assert sparse and "add_sparse" in sparse[0] and "delegate" not in sparse[0]


def test_the_main_overload_comes_first(installed_db, capsys):
    import json
    assert main(["dispatch", "add", "--key", "CPU", "--db", str(installed_db), "--json"]) == 0
    ops = [o["op"] for o in json.loads(capsys.readouterr().out)["ops"]]
    assert ops[0] == "aten::add.Tensor" and ops.index("aten::add.Scalar") < ops.index("aten::add.out")
