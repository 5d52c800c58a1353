import gc
import os
import sys

# Before torch loads: idle OpenMP threads sleep instead of spinning, so a run with --threads > 1
# does not collapse when another process (the dashboard, a second run) shares the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from gan_core.cli import main  # noqa: E402

rc = main()
# The interpreter's last collections would walk every object torch created (seconds on a busy CPU between a
# run's final status and its exit, which a stop waits for); frozen, they are left to the OS, which frees them
# at once. Exit handlers still run.
gc.freeze()
sys.exit(rc)
