"""Errors a command raises for bad input that argparse cannot see (a value that names nothing known);
``effnet.cli.main`` prints each as one line ``effnet: error: ...`` and exits with status 2."""


class UsageError(Exception):
    pass
