"""Conformance adapters: how the suite drives one implementation (see ``..backends.Adapter``).

``ours_*`` drive this project's backends; each is named by its row in ``effnet.backends``.
"""
