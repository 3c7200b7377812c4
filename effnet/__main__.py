"""``python -m effnet`` (what ``torchrun -m effnet train ...`` runs): the ``effnet`` command."""

import sys

from effnet.cli.main import main

sys.exit(main())
