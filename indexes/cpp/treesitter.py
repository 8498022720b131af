"""The tree-sitter objects of the C++ parser (parser, query, node kind ids), built once per process.

Built lazily so that importing the package costs nothing in processes that never parse C++ (the
CLI answering a query), and once per worker process of the indexer. The query is the parser's only
full traversal (in C): call callees, `#include` paths, `#define` names, ERROR nodes, and
class/struct bodies (those in function bodies are local classes the structure walk never reaches)
and `using` declarations (context for the link step).
"""

from __future__ import annotations

_TS = None  # (parser, query, QueryCursor class, kind ids)
_QUERY_SRC = """
(call_expression function: (_) @call arguments: (argument_list) @args)
(preproc_include path: (_) @include)
(preproc_def name: (identifier) @macro)
(preproc_function_def name: (identifier) @fmacro)
(ERROR) @error
(class_specifier body: (field_declaration_list)) @class
(struct_specifier body: (field_declaration_list)) @class
(using_declaration) @using
(namespace_alias_definition) @using
(compound_statement (declaration) @decl)
(for_range_loop) @decl
(for_statement initializer: (declaration) @decl)
(condition_clause value: (declaration) @decl)
(lambda_expression declarator: (abstract_function_declarator parameters: (parameter_list (parameter_declaration) @decl)))
"""


def _ts():
    global _TS
    if _TS is None:
        import tree_sitter_cpp
        from tree_sitter import Language, Parser, Query, QueryCursor

        lang = Language(tree_sitter_cpp.language())
        ids = {
            name: lang.id_for_node_kind(name, True)
            for name in (
                "identifier",
                "qualified_identifier",
                "field_expression",
                "template_function",
                "template_method",
                "system_lib_string",
            )
        }
        _TS = (Parser(lang), Query(lang, _QUERY_SRC), QueryCursor, ids)
    return _TS
