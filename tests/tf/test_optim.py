"""keras.optimizers.RMSprop (the TF engine's optimizer, coupled L2 added to the gradients) follows
the automl/Keras RMSProp formula the other engines follow (eps inside the sqrt)."""

import keras
import numpy as np

from effnet.conformance.checks import rel_error
from effnet.conformance.tolerances import tolerance
from tests.training.loop_checks import optimizer_case, rmsprop_reference


def test_keras_rmsprop_matches_the_reference_formula():
    w, grads, h = optimizer_case()
    v = keras.Variable(w.copy())
    opt = keras.optimizers.RMSprop(
        learning_rate=h["lr"], rho=h["rho"], momentum=h["momentum"], epsilon=h["eps"]
    )
    for g in grads:
        opt.apply_gradients([(g + h["wd"] * np.asarray(v.numpy()), v)])
    assert rel_error(np.asarray(v.numpy()), rmsprop_reference(w, grads, **h))[1] <= tolerance(
        "float32", "update"
    )
