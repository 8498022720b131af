"""torchatlas.patches: see ARCHITECTURE in README."""
