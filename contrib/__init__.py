"""torchatlas.contrib: see ARCHITECTURE in README."""
