"""The bulk C++/CUDA parser's historical import path: `parse_cpp` lives in the package `indexes/cpp/`
(one module per phase; its `__init__` describes the design). Kept so that `from .cpp_parser import
parse_cpp` (code_index, benches) keeps working."""

from __future__ import annotations

from .cpp import CPP_SUFFIXES, parse_cpp

__all__ = ["parse_cpp", "CPP_SUFFIXES"]
