"""``python -m tests.harness.emulator``: run the emulated API server (see ``runner.main``)."""
import sys

from .runner import main

sys.exit(main())
