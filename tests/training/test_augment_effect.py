"""``effnet experiment augment-effect`` on a run of the framework-free engine: two classes of flat
images, bright and dark, told apart by a stand-in model that thresholds the mean pixel. Solarize at
magnitude 5 (threshold 128) turns every bright image dark and leaves the dark ones: accuracy 1 -> 0.5;
an op that keeps the mean on its side of the threshold leaves it at 1."""

import json

import numpy as np
import pytest
from PIL import Image

from effnet.training import augment_effect

from .tiny_runs import FakeEngine, assert_one_line_error, effnet, train_argv, use_fake_engine, write_spec

CLASSES = {"bright_flat": 200, "dark_flat": 50}


class MeanThreshold(FakeEngine):
    """Class 0 (bright) when the preprocessed mean pixel is above the preprocessed 127.5."""

    def evaluate(self, x):
        pp = self.ms.preprocessing
        grey = 127.5 * np.asarray(pp.scale) + np.asarray(pp.offset)
        bright = x.reshape(len(x), -1, 3).mean(axis=1).mean(axis=1) > grey.mean()
        return np.stack([bright, ~bright], axis=1).astype(np.float32)


def _data(root):
    for cls, value in CLASSES.items():
        for split, n in (("train", 8), ("val", 4)):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(np.full((40, 40, 3), value, np.uint8)).save(folder / f"{i}.png")
    return root


@pytest.fixture
def trained(tmp_path, monkeypatch, capsys):
    spec_file, data = write_spec(tmp_path), _data(tmp_path / "data")
    use_fake_engine(monkeypatch)
    code, _, err = effnet(capsys, train_argv(spec_file, data, tmp_path / "run", epochs=2))
    assert code == 0, err
    monkeypatch.setattr(
        augment_effect, "create", lambda backend, ms, rec, seed: MeanThreshold(ms, seed, float)
    )
    return spec_file, data, tmp_path / "run"


def test_accuracy_per_op_and_magnitude(trained, tmp_path, capsys):
    spec_file, data, run = trained
    argv = ["experiment", "augment-effect", "--run", str(run), "--data", str(data), "--file", str(spec_file)]
    argv += [
        "--sizes",
        "32",
        "--magnitudes",
        "5",
        "--ops",
        "Solarize,ShearX",
        "--class-parts",
        "--workers",
        "0",
    ]
    code, out, err = effnet(capsys, [*argv, "--no-progress", "--out", str(tmp_path / "effect")])
    assert code == 0, err
    result = json.loads((tmp_path / "effect" / "augment_effect.json").read_text())
    at32 = result["sizes"]["32"]
    assert at32["clean"] == {"accuracy": 1.0, "part0": 1.0, "part1": 1.0}
    assert at32["Solarize"]["5"]["accuracy"] == 0.5  # every bright image turned dark
    assert at32["ShearX"]["5"]["accuracy"] == 1.0  # grey fill at the edges: the mean stays on its side
    assert set(at32) == {"clean", "Solarize", "ShearX", "RandAugment"}
    assert "| Solarize | 0.500 (0.50, 1.00) |" in out
    assert (tmp_path / "effect" / "augment_effect.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--ops", "Rotate,Blur"], "--ops: unknown Blur"),
        (["--sizes", "128,x"], "argument --sizes: 'x': must be an integer"),
        (["--magnitudes", "5,5"], "argument --magnitudes: lists a value twice"),
        (["--magnitudes", "31"], "must be a finite number >= 0 and <= 30"),
    ],
)
def test_bad_arguments_are_one_line(trained, tmp_path, capsys, extra, fragment):
    spec_file, data, run = trained
    argv = [
        "experiment",
        "augment-effect",
        "--run",
        str(run),
        "--data",
        str(data),
        "--out",
        str(tmp_path / "e"),
    ]
    code, _, err = effnet(capsys, [*argv, *extra])
    assert_one_line_error(code, err, fragment)
    assert not (tmp_path / "e").exists()


def test_a_folder_without_a_run_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for run, fragment in ((tmp_path / "missing", "not a folder"), (tmp_path / "empty", "no checkpoint")):
        argv = [
            "experiment",
            "augment-effect",
            "--run",
            str(run),
            "--out",
            str(tmp_path / "e"),
            "--no-progress",
        ]
        code, _, err = effnet(capsys, argv)
        assert_one_line_error(code, err, str(run), fragment)
