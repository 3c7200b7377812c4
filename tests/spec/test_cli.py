"""`effnet spec ...` as a user runs it: tables, JSON keys, clean errors without tracebacks."""

import json
import subprocess
import sys

import pytest

from effnet.cli.main import main

from .test_loading import TINY


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list(capsys):
    code, out, _ = run(capsys, "spec", "list")
    assert code == 0 and "efficientnetv2-xl" in out and "5,288,548" in out


def test_show_table_matches_paper_table_4(capsys):
    code, out, _ = run(capsys, "spec", "show", "efficientnetv2-s")
    assert code == 0
    lines = out.splitlines()
    assert any(
        line.split()[:2] == ["1", "Fused-MBConv1,"] and line.split()[-2:] == ["24", "2"] for line in lines
    )
    assert any(line.startswith("6 ") and line.split()[-2:] == ["256", "15"] for line in lines)
    assert "21,458,488" in out and "MACs @300 (train)" in out and "MACs @384 (eval)" in out
    assert "Tan & Le 2021 Table 4" in out
    assert "google/automl@6a54c8741e7c:efficientnetv2/effnetv2_configs.py:150" in out


def test_show_json_keys(capsys):
    code, out, _ = run(capsys, "spec", "show", "efficientnet-b0", "--json", "--image-size", "256")
    info = json.loads(out)
    assert code == 0
    assert {"name", "params", "bn_stats", "macs", "image_size", "blocks"} <= set(info)
    assert info["params"] == 5_288_548 and list(info["macs"]) == ["256"]
    assert len(info["blocks"]) == 16 and info["blocks"][0]["name"] == "blocks.0"


def test_show_profile(capsys):
    _, out, _ = run(capsys, "spec", "show", "efficientnet-b0", "--profile", "torchvision", "--json")
    assert json.loads(out)["settings"]["padding"] == "symmetric"


def test_schedule_table_and_json(capsys):
    code, out, _ = run(capsys, "spec", "schedule", "efficientnetv2-s", "--rule", "code")
    assert code == 0 and "171" in out and "SOURCES §5.2" in out
    _, out, _ = run(capsys, "spec", "schedule", "efficientnetv2-s", "--json")
    stages = json.loads(out)["stages"]
    assert [s["image_size"] for s in stages] == [128, 185, 242, 300]
    _, out, _ = run(capsys, "spec", "schedule", "efficientnetv2-b0", "--rule", "code")
    assert "AutoAugment v0" in out and "CutMix" in out


def test_user_file(capsys, write_yaml):
    path = write_yaml(TINY)
    code, out, _ = run(capsys, "spec", "show", "--file", str(path), "tiny-net")
    assert code == 0 and "tiny-net" in out
    bad = write_yaml(TINY.replace("padding: tf_same", "padding: same"), "bad.yaml")
    code, out, err = run(capsys, "spec", "show", "--file", str(bad), "tiny-net")
    assert code == 2 and out == ""
    assert err.startswith("effnet: error: ") and "bad.yaml: defaults.padding (line 9)" in err


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["spec", "show", "efficientnet-b9"], "unknown model 'efficientnet-b9'"),
        (["spec", "show", "efficientnet-b0", "--profile", "nope"], "unknown profile 'nope'"),
        (["spec", "schedule", "efficientnetv2-s", "--epochs", "2"], "cannot hold"),
    ],
)
def test_errors_are_one_line(capsys, argv, fragment):
    code, _, err = run(capsys, *argv)
    assert code == 2 and fragment in err and "Traceback" not in err


def test_console_script_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "effnet", "spec", "show", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "text, seeds",
    [("1", (0,)), ("3", (0, 1, 2)), ("0,", (0,)), ("2,", (2,)), ("0,3", (0, 3)), (" 4 , 1 ", (4, 1))],
)
def test_experiment_seeds_are_a_count_or_a_list(text, seeds):
    from effnet.cli.experiment_cmd import seeds_of

    assert seeds_of(text) == seeds


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("0", "a single number is a count of seeds"),  # a user meaning "seed 0": told how to say it
        ("-2", "a single number is a count of seeds"),
        ("1,1", "listed twice"),
        ("0,-1", "every seed >= 0"),
        (",", "at least one seed"),
        ("two", "a count or a comma-separated list"),
    ],
)
def test_experiment_seeds_errors_say_what_is_wrong(text, fragment):
    from effnet.cli.errors import UsageError
    from effnet.cli.experiment_cmd import seeds_of

    with pytest.raises(UsageError, match=fragment) as caught:
        seeds_of(text)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("--seeds")
