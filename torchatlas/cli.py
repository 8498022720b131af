"""The command line: parse arguments, call one function, return an exit code.

Exit codes: 0 ok, 1 not found, 2 bad usage or bad source/index, 130 interrupted.
Nothing here imports torch: only `--runtime` reads the live dispatcher, in a subprocess.
"""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
examples:
  torchatlas index                                # index the installed torch (the default source)
  torchatlas op aten::add.Tensor                  # what native_functions.yaml says, with file:line
  torchatlas dispatch aten::add.Tensor --runtime  # which kernel runs per key, checked against torch
  torchatlas dispatch torch.mm --key CPU --why    # one key, with the chain of reasons
  torchatlas index ~/src/pytorch && torchatlas dispatch aten::mm --source ~/src/pytorch

The index lives in your cache dir (one SQLite file per source); query commands build it on first use.
Default source: $TORCHATLAS_SOURCE, else `torchatlas config set source PATH`, else the installed torch.
exit codes: 0 ok, 1 not found, 2 bad usage or bad source, 3 the index could not be written
(disk full, read-only directory), 130 interrupted
"""


def _source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", "-s", default=None, metavar="S",
                   help="'installed' (the torch in this Python) or a path to a PyTorch checkout / release tree "
                        "(default: $TORCHATLAS_SOURCE, else `torchatlas config set source`, else installed)")
    p.add_argument("--db", metavar="FILE", help="index file to use (default: one per source in the user cache dir)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torchatlas", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="A map of the PyTorch source: operators, dispatch, autograd, codegen.")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"torchatlas {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("index", help="build the index of a PyTorch source",
                       description="Read a PyTorch source (the installed torch by default) into an index. "
                                   "The previous index stays usable until the new one is complete.")
    p.add_argument("path", nargs="?", default=None,
                   help="'installed' or a PyTorch source tree (default: the default source, see `config`)")
    p.add_argument("--db", metavar="FILE", help="index file to write (default: one per source in the user cache dir)")
    p.add_argument("--jobs", "-j", type=int, default=0, metavar="N", help="worker processes (default: all cores)")
    p.add_argument("--no-code", action="store_true",
                   help="skip the C++/Python code index: operators and dispatch only (about half the time)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")

    p = sub.add_parser("op", help="an operator as native_functions.yaml declares it",
                       description="Schema, variants, Python callables, dispatch map, tags, autograd node and "
                                   "file:line of an operator's YAML entry. NAME may be aten::add.Tensor, "
                                   "add.Tensor, add (all overloads), or a Python callable such as torch.add.")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("--all", action="store_true", help="every operator (use with --json)")
    _source_args(p)

    p = sub.add_parser("dispatch", help="which kernel runs for an operator under each dispatch key, and why",
                       description="The static dispatch table: for each runtime key, the kind of kernel "
                                   "(kernel, composite_explicit, composite_implicit, autograd, fallback, ...), "
                                   "the file that registers it, the kernel and where it is defined.")
    p.add_argument("name", nargs="?", metavar="OP")
    p.add_argument("--all", action="store_true", help="every operator (use with --json)")
    p.add_argument("--key", "-k", action="append", metavar="K", help="only this key (repeatable)")
    p.add_argument("--why", action="store_true", help="show the chain of reasons for every key")
    p.add_argument("--runtime", action="store_true",
                   help="also read the installed torch's live dispatcher and mark disagreements")
    _source_args(p)
    p.add_argument("--graph", metavar="FILE", help="also draw the table as a graphviz diagram: .svg or .png "
                                                   "(needs graphviz's dot), or .dot")  # explorer/pictures.py
    p = sub.add_parser("find", help="fuzzy search across operators, C++ and Python symbols, files",
                       description="Ranked: exact name, then prefix, then substring, then names a typo away "
                                   "(addd finds add).")
    p.add_argument("query")
    p.add_argument("--limit", "-n", type=int, default=30)
    _source_args(p)

    for name, helptext in (("refs", "every use of a symbol (calls, mentions, registrations)"),
                           ("callers", "the functions that call a symbol"),
                           ("callees", "what a function calls, and where each callee is defined")):
        p = sub.add_parser(name, help=helptext, description=helptext.capitalize() + ", each with path:line. "
                           "SYMBOL may be qualified (at::native::add_out, torch.nn.Module.__call__) or bare.")
        p.add_argument("symbol", metavar="SYMBOL")
        p.add_argument("--limit", "-n", type=int, default=200)
        _source_args(p)

    p = sub.add_parser("path", help="the shortest typed path between two nodes of the graph",
                       description="Walks the graph breadth-first from FROM until it meets TO, and prints the "
                                   "shortest path, hop by hop: calls (a resolved call; may_call: one of its "
                                   "candidates), binds (a Python binding's operator), dispatches_to[KEY] (the "
                                   "kernel an operator runs under KEY), calls_op (a kernel's call of another "
                                   "operator's at:: API: a composite kernel's decomposition), implemented_by, "
                                   "registered_kernel (a dispatch stub's kernel). Example: path "
                                   "torch.nn.functional.conv2d at::native::slow_conv2d_forward_cpu --source TREE "
                                   "(an installed torch has no kernel bodies: the walk stops at kernels).")
    p.add_argument("src", metavar="FROM", help="a qualified name: a Python function, an aten:: operator, a C++ function")
    p.add_argument("dst", metavar="TO", help="a qualified or bare name (at::native::layer_norm_cpu, layer_norm_cpu)")
    p.add_argument("--max-depth", type=int, default=12, help="hops to try at most (default: 12)")
    _source_args(p)

    p = sub.add_parser("precise", help="one C++ definition as clang sees it: signature, overloads, resolved callees",
                       description="Parses the definition's translation unit with libclang (compile_commands.json "
                                   "if the tree has one, else flags derived from the source) and reports what the "
                                   "bulk index can only guess. Falls back to the bulk index, with a note, when "
                                   "libclang is missing or cannot parse.")
    p.add_argument("symbol", metavar="SYMBOL")
    _source_args(p)

    p = sub.add_parser("trace", help="from a Python callable down to the loop that computes",
                       description="torch.add -> generated binding -> at::add -> aten::add.Tensor -> the key's "
                                   "kernel -> TORCH_IMPL_FUNC -> stub -> REGISTER_DISPATCH -> the vectorized loop. "
                                   "Generated hops that the source does not contain are named with their generator. "
                                   "From torch's Python code too: torch.nn.Linear runs its forward, whose resolved "
                                   "call of F.linear binds aten::linear (the nearest such call; the others are named).")
    p.add_argument("start", metavar="CALLABLE", help="torch.add, torch.Tensor.mul_, aten::mm, torch.nn.Linear, ...")
    p.add_argument("--key", "-k", default="CPU", help="dispatch key to follow (default CPU)")
    p.add_argument("--op", help="which overload to follow when the callable binds several")
    p.add_argument("--runtime", action="store_true",
                   help="where the source has no body of a CompositeImplicitAutograd kernel (the installed package), "
                        "ask the installed torch which operators it calls (runs an OpInfo sample in a subprocess)")
    _source_args(p)
    p.add_argument("--graph", metavar="FILE", help="also draw the path as a graphviz diagram: .svg or .png "
                                                   "(needs graphviz's dot), or .dot")  # explorer/pictures.py

    p = sub.add_parser("tours", help="guided tours of dispatch, autograd, codegen, ... anchored to the source",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Guided reading of the PyTorch source. Each step names what it shows (an "
                                   "operator, a YAML entry, a C++ or Python symbol, a pattern in a file) and the "
                                   "index finds it in the source you pick, so tours survive line drift and moves.",
                       epilog="examples:\n  torchatlas tours list\n  torchatlas tours show dispatch   "
                              "# resumes where you left off\n  torchatlas tours show autograd --step 4\n"
                              "  torchatlas tours check --source ~/src/pytorch --json\n\n"
                              "user tours: ./.torchatlas/tours, the user data dir's torchatlas/tours, "
                              "TORCHATLAS_TOURS_PATH, --tours-dir\n"
                              "exit codes: 0 ok, 1 unresolved steps / failing snippets (check) or unknown tour, "
                              "2 bad usage or a malformed tour")
    from torchatlas.tours.parsers import add_learning_parsers, tours_dir_option
    tsub = p.add_subparsers(dest="tours_command", metavar="ACTION")
    tp = tsub.add_parser("list", help="the tours, with their themes and your progress")
    tp.add_argument("--json", action="store_true", help="machine-readable output")
    tours_dir_option(tp)
    tp = tsub.add_parser("show", help="play a tour as text: narrative, anchored source, live output",
                         description="Shows one step (by default the one after the last you saw) with its "
                                     "narrative, the anchored source lines (the anchor line marked >) and the "
                                     "output of its snippet, run on the installed torch.")
    tp.add_argument("id", metavar="ID")
    tp.add_argument("--step", "-n", type=int, metavar="N", help="show step N (1-based)")
    tp.add_argument("--all", action="store_true", help="show every step (from --step N, if given) to the end")
    tp.add_argument("--restart", action="store_true", help="forget your progress on this tour first")
    tp.add_argument("--no-run", action="store_true", help="do not run the snippets")
    tours_dir_option(tp)
    _source_args(tp)
    add_learning_parsers(tsub, tp)  # tours answer | exercise | grade | picture, show --quiz
    tp = tsub.add_parser("check", help="resolve every step of every tour on a source",
                         description="Reports each step as resolved, unresolved (with the closest candidates) or "
                                     "skipped (it needs a checkout and the source is the installed package). "
                                     "With --run, also runs every snippet and assertion on the installed torch.")
    tp.add_argument("ids", nargs="*", metavar="ID", help="only these tours (default: all)")
    tp.add_argument("--run", action="store_true", help="also run the snippets and assertions (installed torch)")
    tp.add_argument("--jobs", "-j", type=int, default=2, metavar="N", help="snippet worker processes (default 2)")
    tours_dir_option(tp)
    _source_args(tp)

    _lab_parsers(sub)
    _pr_parsers(sub)

    p = sub.add_parser("config", help="your settings: the default source (so --source need not be repeated)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Settings live in <user config dir>/torchatlas/config.toml (TORCHATLAS_CONFIG "
                                   "overrides). The source a command uses: --source, else $TORCHATLAS_SOURCE, else "
                                   "the `source` setting, else the installed torch.",
                       epilog="examples:\n  torchatlas config set source ~/src/pytorch\n  torchatlas config list\n"
                              "  torchatlas config unset source")
    p.add_argument("action", choices=("list", "get", "set", "unset", "path"), help="what to do")
    p.add_argument("key", nargs="?", help="the setting: source")
    p.add_argument("value", nargs="?", help="the value (set)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("cache", help="the index files and lab caches in your cache dir, and removing what cannot be used again",
                       description="List the index files in the user cache dir (one per source: every virtualenv "
                                   "or checkout you indexed) with their source, size and state. --prune deletes "
                                   "the indexes whose source is gone, indexes of an older format (they would be "
                                   "rebuilt anyway) and scratch files of killed runs; never an index in use, a "
                                   "file that is not a torchatlas index, or an index written elsewhere with --db. "
                                   "The labs' caches are listed too (torchgen output, ~500 MB sets of precompiled "
                                   "torch headers): --prune deletes those made for a torch that is gone, sets no build used for 30 days, and those "
                                   "a killed run left unfinished.")
    p.add_argument("--prune", action="store_true", help="delete what cannot be used again")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    # -- explore (issue 4): the Textual UI, in torchatlas.explorer --------------------------------------
    p = sub.add_parser("explore", help="a terminal UI over the index: search, operators, code, traces",
                       description="Search operators, Python callables, C++/Python symbols and files, and walk "
                                   "from one to the next: dispatch tables (with the live dispatcher), YAML, "
                                   "autograd, code, refs, callers, callees, traces. NAME opens straight at a "
                                   "node: aten::add.Tensor, torch.add, at::native::add_out, BinaryOps.cpp.")
    p.add_argument("name", nargs="?", metavar="NAME", help="where to start (default: the search)")
    p.add_argument("--source", "-s", default=None, metavar="S",
                   help="'installed' (default) or a path to a PyTorch checkout / release tree")
    p.add_argument("--db", metavar="FILE", help="index file to use (default: one per source in the user cache dir)")
    return parser


LAB_EPILOG = """\
examples:
  torchatlas lab list                      # the labs, by theme, with your progress
  torchatlas lab start autograd-function   # a workspace: a git repo over a copy of the installed torch
  torchatlas lab check autograd-function   # build what changed, run the checks: each a verdict
  torchatlas lab watch autograd-function   # re-check on every save (h: hint, q: quit)
  torchatlas lab hint autograd-function    # the next hint
  torchatlas lab diff autograd-function    # your change, as a patch (the start of a pull request)
  torchatlas lab dev check                 # for lab authors: starter fails, solution passes, partial fails

Workspaces live in the user data dir (TORCHATLAS_LABS_HOME overrides; --workspace picks one);
progress in the user state dir (TORCHATLAS_STATE_DIR). On a git checkout (--source PATH) a lab
works on a new branch in a git worktree; your own working tree is never touched.
exit codes: 0 ok, 1 a check failed / a patch did not apply / unknown lab, 2 bad usage or a malformed
lab, 130 interrupted (the workspace stays as it was)
"""


def _lab_parsers(sub) -> None:
    p = sub.add_parser("lab", help="contribution labs: change real PyTorch code, build what changed, check it",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=LAB_EPILOG,
                       description="Hands-on labs: each puts TODO stubs into real PyTorch code (or new files beside "
                                   "it) in a workspace of your own; you fill them in; `check` builds only what the "
                                   "change needs (nothing, a C++ extension, torchgen's output, or an overlay library "
                                   "loaded into the installed torch) and runs the lab's checks.")
    lsub = p.add_subparsers(dest="lab_command", metavar="ACTION")

    def ws(q):
        q.add_argument("--workspace", "-w", metavar="DIR",
                       help="the lab's workspace (default: the one `lab start` made for this lab)")

    q = lsub.add_parser("list", help="the labs, with theme, mode, difficulty and your progress")
    q.add_argument("--theme", type=int, metavar="N", help="only the labs of theme N (CURRICULUM.md)")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q = lsub.add_parser("show", help="what a lab asks, the files it changes, its checks and hints")
    q.add_argument("id", metavar="ID")
    ws(q)
    q = lsub.add_parser("start", help="make the lab's workspace and apply its starter",
                        description="Makes a workspace (a git repository: commit `pristine`, then `starter`). On the "
                                    "installed torch it holds a copy of the package's .py files and symlinks to the "
                                    "rest (about 2 s); on a git checkout, a new branch in a git worktree.")
    q.add_argument("id", metavar="ID")
    q.add_argument("--workspace", "-w", metavar="DIR", help="where to make it (default: the user data dir)")
    q.add_argument("--source", "-s", default=None, metavar="S",
                   help="'installed' or a path to a PyTorch git checkout (default: the default source, see `config`)")
    q = lsub.add_parser("check", help="build what changed and run the lab's checks; exit 0 only when all pass")
    q.add_argument("id", metavar="ID")
    ws(q)
    q.add_argument("--json", action="store_true", help='{"lab", "passed", "checks": [{"name", "passed", "message"}]}')
    q = lsub.add_parser("watch", help="re-check on every save (h: next hint, c: check now, q: quit)")
    q.add_argument("id", metavar="ID")
    ws(q)
    q.add_argument("--interval", type=float, default=0.5, help="seconds between looks at the files (default 0.5)")
    q.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    q = lsub.add_parser("hint", help="the next hint (all of them once the lab is done)")
    q.add_argument("id", metavar="ID")
    ws(q)
    q.add_argument("--all", action="store_true", help="every hint at once")
    q = lsub.add_parser("diff", help="your change against the starter, as a patch")
    q.add_argument("id", metavar="ID")
    ws(q)
    q.add_argument("--stat", action="store_true", help="files and line counts only")
    q = lsub.add_parser("reset", help="back to the starter (your attempt is kept as a patch in .lab/)")
    q.add_argument("id", metavar="ID")
    ws(q)
    q.add_argument("--yes", "-y", action="store_true", help="do not ask")
    q = lsub.add_parser("remove", help="delete the lab's workspace (on a checkout: its worktree, and its branch "
                                       "unless you committed on it); your change is kept as a patch",
                        description="Removes the workspace `lab start` made. Your change against the starter is "
                                    "saved first as a patch in the labs folder (`removed/`); the lab's progress "
                                    "(done, hints) is kept. On a checkout, the worktree goes; its branch too, unless "
                                    "it holds commits of yours beyond the starter.")
    q.add_argument("id", metavar="ID")
    ws(q)
    q.add_argument("--yes", "-y", action="store_true", help="do not ask")
    q = lsub.add_parser("solution", help="apply the reference solution (your attempt is kept as a patch in .lab/)")
    q.add_argument("id", metavar="ID")
    ws(q)
    q.add_argument("--yes", "-y", action="store_true", help="do not ask")
    q = lsub.add_parser("status", help="your progress across labs")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q = lsub.add_parser("build", help="build what the lab needs without checking; --full: a plan for a whole "
                                      "PyTorch build")
    q.add_argument("id", metavar="ID")
    ws(q)
    q.add_argument("--full", action="store_true", help="print the plan for a real PyTorch build of the workspace "
                                                       "(commands, MAX_JOBS, ccache, time, memory, disk)")
    q.add_argument("--run", action="store_true", help="with --full: run the plan (hours on a laptop)")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q = lsub.add_parser("dev", help="for lab authors: prove labs honest")
    dsub = q.add_subparsers(dest="dev_command", metavar="ACTION")
    d = dsub.add_parser("check", help="starter fails, solution passes, solution minus any one hunk fails",
                        description="For each lab, in a throwaway workspace: the starter applies and its checks "
                                    "fail; the solution applies and they pass; the solution with any one of its "
                                    "hunks left out fails. Labs whose libraries are missing are skipped with why.")
    d.add_argument("ids", nargs="*", metavar="ID", help="only these labs (default: all)")
    d.add_argument("--theme", type=int, metavar="N", help="only the labs of theme N")
    d.add_argument("--no-partial", action="store_true", help="skip the leave-one-hunk-out runs (quicker)")
    d.add_argument("--source", "-s", default="installed", metavar="S", help="'installed' (default) or a checkout")
    d.add_argument("--json", action="store_true", help="machine-readable output")


PR_EPILOG = """\
examples:
  torchatlas pr start --lab fx-pass        # a branch <you>/lab-fx-pass in the lab's workspace (files untouched)
  torchatlas pr start --repo ~/src/pytorch # a branch in a new worktree beside your checkout
  torchatlas pr lint                       # the tree's linters (or PyTorch-like rules) on the changed lines
  torchatlas pr tests [--run]              # the tests the change affects, ranked, each with why
  torchatlas pr describe --fixes 1234      # the PR body (PyTorch's template) and the labels the bot wants
  torchatlas pr rehearse --lab fx-pass     # the whole flow on a local rehearsal GitHub, narrated
  torchatlas pr serve --port 8765          # the rehearsal server in the foreground

exit codes: 0 ok, 1 not found / lint findings / a failing test or check / merge refused, 2 bad usage
or a refusal that changed nothing (dirty or detached checkout, existing branch, port in use), 130 interrupted
"""


def _pr_parsers(sub) -> None:
    p = sub.add_parser("pr", help="rehearse a pull request: branch, lint, tests, description, review, merge",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=PR_EPILOG,
                       description="From a lab's change (or a checkout's) to a merged pull request, the way "
                                   "PyTorch takes them; offline on a rehearsal server, or on github.com with "
                                   "--github, through the same client.")
    psub = p.add_subparsers(dest="pr_command", metavar="ACTION")

    def which(q, json_help="machine-readable output"):
        g = q.add_mutually_exclusive_group()
        g.add_argument("--lab", metavar="ID", help="the PR branch made from this lab's workspace")
        g.add_argument("--repo", metavar="DIR", help="the PR branch made from this checkout (or its worktree)")
        q.add_argument("--json", action="store_true", help=json_help)

    q = psub.add_parser("start", help="a branch by convention, never on your own working tree or branch",
                        description="From a lab workspace (default: the lab you started), a branch <you>/lab-<id> "
                                    "at the lab's starter commit, without moving the workspace's files or HEAD; "
                                    "from a checkout (--repo), a new branch in a git worktree beside it. A dirty "
                                    "or detached checkout, or an existing branch, is refused.")
    which(q)
    q.add_argument("--branch", "-b", metavar="NAME", help="the branch name (default: <you>/lab-<id> or <you>/change-<time>)")
    q.add_argument("--workspace", "-w", metavar="DIR", help="with --lab: the lab's workspace, if not the default one")
    q = psub.add_parser("lint", help="lint the changed files: the tree's config, or rules modelled on PyTorch's")
    which(q)
    q.add_argument("--all-lines", action="store_true", help="report findings on every line of a changed file, "
                                                             "not only the changed lines")
    q = psub.add_parser("tests", help="the tests the change affects, ranked, each with why (--run runs them)")
    which(q)
    q.add_argument("--run", action="store_true", help="run the top selected tests")
    q.add_argument("--run-top", type=int, default=5, metavar="N", help="how many to run with --run (default 5)")
    q.add_argument("--top", type=int, default=25, metavar="N", help="how many to list (default 25)")
    q.add_argument("--db", metavar="FILE", help="the index to use (default: the source's in the user cache dir)")
    q = psub.add_parser("describe", help="the PR body in PyTorch's template shape and the labels to add")
    which(q)
    q.add_argument("--fixes", type=int, metavar="N", help="the issue the PR fixes (Fixes #N)")
    q.add_argument("--title", metavar="TEXT", help="the PR title (default: the lab's title or the last commit)")
    q = psub.add_parser("submit", help="push the branch and open (or update) the pull request",
                        description="Commits the working tree onto the PR branch, pushes it and opens the PR "
                                    "with the described body and labels: on the rehearsal server (started "
                                    "with `pr serve`, or --server URL), or on github.com with --github (a token "
                                    "from GITHUB_TOKEN/GH_TOKEN or git's credential helper, never printed).")
    which(q)
    q.add_argument("--github", action="store_true", help="submit to github.com instead of the rehearsal server")
    q.add_argument("--server", metavar="URL", help="the rehearsal server (default: the one `pr serve` runs)")
    q.add_argument("--remote", metavar="OWNER/NAME", help="the repository to open the PR on (default: "
                                                           "<you>/pytorch on the rehearsal server)")
    q.add_argument("--user", metavar="LOGIN", default=None, help="rehearsal user to act as (default learner)")
    q.add_argument("--fixes", type=int, metavar="N", help="the issue the PR fixes (Fixes #N)")
    q.add_argument("--title", metavar="TEXT", help="the PR title")
    q = psub.add_parser("rehearse", help="the whole flow end to end on a rehearsal server, narrated and recorded",
                        description="Starts a rehearsal server if none runs, makes the PR branch, lints, "
                                    "selects tests, pushes, opens the PR with its body and labels, waits for the "
                                    "bot's checks, has a second rehearsal user review it, and asks "
                                    "`@pytorchbot merge`. Each step is narrated and recorded.")
    q.add_argument("--lab", metavar="ID", help="the lab whose change to rehearse (default: the last PR branch)")
    q.add_argument("--workspace", "-w", metavar="DIR", help="the lab's workspace, if not the default one")
    q.add_argument("--solution", action="store_true", help="rehearse the lab's reference solution in a scratch "
                                                            "workspace (your own is untouched)")
    q.add_argument("--server", metavar="URL", help="use this running rehearsal server")
    q.add_argument("--port", type=int, default=0, metavar="N", help="port for the server it starts (default: any free)")
    q.add_argument("--history", action="store_true", help="print the recorded rehearsals instead of running one")
    q.add_argument("--json", action="store_true", help="the recorded steps as JSON")
    q = psub.add_parser("serve", help="the rehearsal server in the foreground (prints its base URL)")
    q.add_argument("--port", type=int, default=None, metavar="N", help="the port (default 8765 or $TORCHATLAS_FORGE_PORT)")
    q.add_argument("--root", metavar="DIR", help="where its repositories live (default: the user data dir)")
    q.add_argument("--json", action="store_true", help=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    from . import commands
    from .errors import report
    try:
        return commands.run(args)
    except KeyboardInterrupt:
        print("torchatlas: interrupted; the previous index (if any) is untouched", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _closed_pipe()
    except Exception as e:  # noqa: BLE001 - errors of ours carry their exit code; others are bugs
        return report(e)


def _closed_pipe() -> int:
    """The reader went away (`| head`): stop quietly, as a Unix tool killed by SIGPIPE would, and keep
    Python from complaining again when it flushes stdout at exit."""
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141


if __name__ == "__main__":
    sys.exit(main())
