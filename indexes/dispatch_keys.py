"""Dispatch keys: which runtime keys exist, and which alias keys cover them.

This mirrors c10/core/DispatchKeySet.cpp (`backend_dispatch_keyset`,
`non_functional_backend_dispatch_keyset`, `math_dispatch_keyset`, `nested_dispatch_keyset`,
`getBackendKeySetFromAutograd`) for the keys torchatlas resolves. A runtime key is a
(functionality, backend) pair: SparseCPU is functionality Sparse on backend CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

BACKENDS = ("CPU", "CUDA", "Meta")
# Functionalities that carry a backend bit, and how a runtime key spells them.
_PREFIX = {"Dense": "", "Sparse": "Sparse", "SparseCsr": "SparseCsr", "Quantized": "Quantized",
           "NestedTensor": "NestedTensor", "Autograd": "Autograd"}


@dataclass(frozen=True)
class RuntimeKey:
    name: str
    functionality: str  # Dense, Sparse, SparseCsr, Quantized, NestedTensor, Autograd, Other
    backend: str | None  # CPU, CUDA, Meta; None for keys without a backend bit


def _make_keys() -> dict[str, RuntimeKey]:
    keys: dict[str, RuntimeKey] = {}
    for func, prefix in _PREFIX.items():
        for b in BACKENDS:
            name = f"{prefix}{b}"
            keys[name] = RuntimeKey(name, func, b)
    keys["AutogradNestedTensor"] = RuntimeKey("AutogradNestedTensor", "Autograd", "NestedTensor")
    keys["MkldnnCPU"] = RuntimeKey("MkldnnCPU", "Other", None)
    keys["ZeroTensor"] = RuntimeKey("ZeroTensor", "Other", None)
    # AutogradNestedTensor takes the place of the per-backend nested autograd keys.
    for b in BACKENDS:
        keys.pop(f"AutogradNestedTensor{b}", None)
    return keys


RUNTIME_KEYS: dict[str, RuntimeKey] = _make_keys()

# The keys `dispatch` shows by default, in the order a reader meets them.
DEFAULT_KEYS = (
    "CPU", "CUDA", "Meta",
    "AutogradCPU", "AutogradCUDA", "AutogradMeta",
    "SparseCPU", "SparseCUDA", "SparseMeta", "SparseCsrCPU", "SparseCsrCUDA", "SparseCsrMeta",
    "QuantizedCPU", "QuantizedCUDA", "QuantizedMeta",
    "NestedTensorCPU", "NestedTensorCUDA", "NestedTensorMeta", "AutogradNestedTensor",
    "MkldnnCPU", "ZeroTensor",
)

ALIAS_KEYS = (
    "CompositeImplicitAutograd", "CompositeImplicitAutogradNestedTensor",
    "CompositeExplicitAutograd", "CompositeExplicitAutogradNonFunctional", "Autograd",
)

# One-line explanations, shown by the CLI and the explorer where a key or kind appears.
KEY_HELP = {
    "CompositeImplicitAutograd": "a 'math kernel' written in terms of other ops; it serves every backend "
                                 "and autograd comes from the ops it calls",
    "CompositeImplicitAutogradNestedTensor": "a math kernel for nested tensors only",
    "CompositeExplicitAutograd": "a 'default backend kernel' that works on every backend but needs its own "
                                 "autograd formula",
    "CompositeExplicitAutogradNonFunctional": "a default backend kernel for functional/in-place variants "
                                              "of a structured op, built from its out= kernel; not for "
                                              "sparse or functionalized backends (XLA, Lazy)",
    "Autograd": "the autograd kernel (generated VariableType) that records the backward graph, then "
                "redispatches below autograd",
}

KIND_HELP = {
    "kernel": "a kernel registered directly for this key",
    "composite_explicit": "no kernel for this key; the CompositeExplicitAutograd default backend kernel runs",
    "composite_explicit_nonfunctional": "no kernel for this key; the CompositeExplicitAutogradNonFunctional "
                                        "kernel (functional variant built on the out= kernel) runs",
    "composite_implicit": "a CompositeImplicitAutograd 'math kernel' runs: a decomposition into other ops",
    "composite_implicit_nested": "a CompositeImplicitAutogradNestedTensor decomposition runs",
    "autograd": "the autograd kernel records the backward graph, then redispatches",
    "fallback": "no kernel for this op; the key's backend fallback (one kernel for all ops) runs",
    "fallthrough": "the key is skipped: the dispatcher moves on to the next key",
    "none": "nothing runs: calling the op with this key raises 'could not run ... with arguments from the ... backend'",
}


def is_runtime_key(name: str) -> bool:
    return name in RUNTIME_KEYS


@cache  # a pure function of two names, asked ~250k times per index build
def alias_covers(alias: str, key: str) -> bool:
    """Does alias key `alias` cover runtime key `key`? (isIncludedInAlias)"""
    k = RUNTIME_KEYS.get(key)
    if k is None:
        return False
    f = k.functionality
    if alias == "CompositeExplicitAutograd":
        return f in ("Dense", "Sparse", "SparseCsr", "Quantized") or key == "MkldnnCPU"
    if alias == "CompositeExplicitAutogradNonFunctional":
        return f in ("Dense", "SparseCsr", "Quantized") or key == "MkldnnCPU"
    if alias == "CompositeImplicitAutograd":
        return f in ("Dense", "Sparse", "SparseCsr", "Quantized", "NestedTensor", "Autograd") or key == "MkldnnCPU"
    if alias == "CompositeImplicitAutogradNestedTensor":
        return f == "NestedTensor" or key == "AutogradNestedTensor"
    if alias == "Autograd":
        return f == "Autograd"
    return False


@cache
def backend_keys_of_autograd(key: str) -> tuple[str, ...]:
    """getBackendKeySetFromAutograd: the backend keys an autograd key stands in front of."""
    if key == "AutogradNestedTensor":
        return tuple(f"NestedTensor{b}" for b in BACKENDS)
    k = RUNTIME_KEYS.get(key)
    if k is None or k.functionality != "Autograd":
        return ()
    return (k.backend,) if k.backend else ()
