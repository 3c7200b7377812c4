"""Progressive-learning training: the framework-neutral input pipeline, recipe, loop and
checkpoints; each backend's engine lives beside its model (``impl_*/train.py``)."""
