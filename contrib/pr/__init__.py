"""`torchatlas pr`: from a lab's change (or a checkout's) to a pull request, the way PyTorch takes them.

start (a branch by convention, never on the learner's own tree), lint (the tree's own rules, or rules
modelled on PyTorch's), tests (which tests the change affects, through the index), describe (the PR
body in PyTorch's template shape and the labels the bot requires), and submit / rehearse (through the
forge: the rehearsal server, or github.com with --github).
"""
