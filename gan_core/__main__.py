import os
import sys

# Before torch loads: idle OpenMP threads sleep instead of spinning, so a run with --threads > 1
# does not collapse when another process (the dashboard, a second run) shares the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from gan_core.cli import main  # noqa: E402

sys.exit(main())
