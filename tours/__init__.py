"""torchatlas.tours: see ARCHITECTURE in README."""
