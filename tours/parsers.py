"""The argparse parsers of the learning commands (`tours answer | exercise | grade`, `show --quiz`).

Why apart from tours/cli.py: torchatlas.cli builds every subcommand's parser on each start, and
importing tours/cli.py for them pulled in the tours engine and YAML (~70 ms on every command,
`torchatlas callers` included). This module imports nothing.
"""

from __future__ import annotations


def tours_dir_option(parser) -> None:
    """--tours-dir, which every `tours` action takes (user tours beside the built-in ones)."""
    parser.add_argument("--tours-dir", action="append", metavar="DIR", help="also read tours from DIR (repeatable)")


def _step_action(tsub, name: str, help: str, description: str, step_required: bool = False):
    """A `tours ACTION ID --step N [--json] [--tours-dir DIR]` parser; the action adds its own options."""
    tp = tsub.add_parser(name, help=help, description=description)
    tp.add_argument("id", metavar="ID")
    tp.add_argument("--step", "-n", type=int, required=step_required, metavar="N", help="the step (1-based)")
    tp.add_argument("--json", action="store_true", help="machine-readable output")
    tours_dir_option(tp)
    return tp


def add_learning_parsers(tsub, show_parser) -> None:
    """The parsers of `tours answer | exercise | grade` and `show --quiz` (called by torchatlas.cli)."""
    show_parser.add_argument("--quiz", action="store_true",
                             help="ask each checked question and wait for your answer on stdin (EOF stops)")
    tp = _step_action(tsub, "answer", "grade one answer to a step's checked question",
                      "Grades TEXT against the step's question K (default 1): a predicted output is compared "
                      "with what the snippet really prints on the installed torch, a choice may be given by its "
                      "text, number or letter. The result is saved with your progress. Exit 0 when right, 1 "
                      "when wrong.", step_required=True)
    tp.add_argument("text", metavar="TEXT", help="your answer (quote it); \"\" shows the answer and why")
    tp.add_argument("--question", "-k", type=int, default=1, metavar="K", help="the question of the step (default 1)")
    tp.add_argument("--reveal", action="store_true", help="after grading, show the answer and why")
    _step_action(tsub, "exercise", "start a step's exercise: create its scratch file, print its task",
                 "Creates the scratch file from the exercise's starter (once: your work is never overwritten) "
                 "and prints its path and the task. Default: the first exercise of the tour you have not passed.")
    _step_action(tsub, "grade", "run an exercise's test against your scratch file",
                 "Runs the exercise's pytest test in a fresh process against your scratch file; prints the "
                 "failing assertion. Exit 0 only when it passes.")
    tp = _step_action(tsub, "picture", "draw what a step builds (an autograd graph, a module tree, the key order)",
                      "Runs the step's picture snippet on the installed torch and writes its graphviz diagram: "
                      ".svg or .png (needs graphviz's dot) or .dot. Default: the tour's first picture, saved in "
                      "your pictures folder (TORCHATLAS_PICTURES_DIR).")
    tp.add_argument("--out", "-o", metavar="FILE", help="where to write it (.svg, .png or .dot)")
