"""torchatlas.explorer: see ARCHITECTURE in README."""
