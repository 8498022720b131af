"""torchatlas.tours: guided tours of the PyTorch source, anchored by name and checked on every source.

See tours/README.md for the file format. Entry points: `loader.load_catalog`, `engine.check_tours`,
`engine.play_steps`, and the CLI presenters in `cli.run_tours`.
"""
