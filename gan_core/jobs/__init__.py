"""Starting processes: training runs and comparisons (launch), the warm worker that forks them (worker), and
the speed measurement that trains for a moment (estimate).

This package sits above the command line (the worker runs gan_core.cli in its children): it may import
any of gan_core, and nothing in gan_core imports it (tests/test_layout.py). Only the pages, ui, app.py,
bench and scripts do.
"""
