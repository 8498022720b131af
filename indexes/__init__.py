"""torchatlas.indexes: sources, parsers, graph model, store, and queries (the dispatch resolver).

Nothing here imports textual; nothing in a query path imports torch."""
