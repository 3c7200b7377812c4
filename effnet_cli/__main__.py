"""``python -m effnet_cli`` (what ``torchrun -m effnet_cli train ...`` runs): the ``effnet`` command."""

import sys

from .main import main

sys.exit(main())
