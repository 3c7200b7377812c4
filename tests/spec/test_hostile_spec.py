"""Hostile and careless spec files (issue 19): every bad input is exit status 2 and one line
``effnet: error: ...`` naming the file and the field, never a traceback, never a silent accept, and
nothing written. Named cases first, then hypothesis-generated mutations of a valid file."""

import codecs
import copy
import errno
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from effnet.cli import argtypes
from effnet.cli.errors import describe
from effnet.cli.main import main
from tests.conftest import TINY_YAML

MODEL = "tiny-net"
STAGE = "- {kind: mbconv, repeats: 2, kernel: 5, stride: 2, expand: 4, channels: 16, se: 0.25}"
PRE = "preprocessing: {scale: 0.0078125, offset: -1.0, cite: test}"
BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def sub(old: str, new: str) -> str:
    assert old in TINY_YAML, old
    return TINY_YAML.replace(old, new, 1)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as stop:  # argparse refuses while parsing
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def files_in(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def assert_refused(code: int, out: str, err: str, *named: str) -> str:
    """Exit 2, exactly one line on stderr, no traceback, nothing on stdout, ``named`` all in it."""
    lines = err.splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("effnet: error: "), err
    assert "Traceback" not in err and out == ""
    for what in named:
        assert what in lines[0], (what, lines[0])
    return lines[0]


# (case id, file content, the field the message must name)
NAMED_CASES = [
    ("binary", bytes(range(256)) * 4, "not UTF-8"),
    ("latin-1", sub("title: Tiny", "title: Caf\xe9").encode("latin-1"), "not UTF-8"),
    ("utf-16-bom", TINY_YAML.encode("utf-16"), "UTF-16"),
    ("utf-32-bom", codecs.BOM_UTF32_LE + TINY_YAML.encode("utf-32-le"), "UTF-32"),
    ("width-inf", sub("width: 1.0", "width: .inf"), "variants.tiny-net.width"),
    ("width-nan", sub("width: 1.0", "width: .nan"), "variants.tiny-net.width"),
    ("depth-inf", sub("depth: 1.0", "depth: -.inf"), "variants.tiny-net.depth"),
    ("depth-nan", sub("depth: 1.0", "depth: .NaN"), "variants.tiny-net.depth"),
    ("width-1e400", sub("width: 1.0", "width: 1e400"), "variants.tiny-net.width"),
    ("channels-10^400", sub("channels: 16,", f"channels: {10**400},"), "stages[1].channels"),
    ("int-5000-digits", sub("stem_channels: 8", "stem_channels: " + "9" * 5000), "stem_channels"),
    ("nesting-2000", TINY_YAML + "extra: " + "[" * 2000 + "]" * 2000 + "\n", "nested more than"),
    ("nesting-mappings", TINY_YAML + "extra: " + "{a: " * 200 + "1" + "}" * 200 + "\n", "nested more than"),
    ("repeats-1e9", sub("repeats: 2, kernel: 5", "repeats: 1000000000, kernel: 5"), "stages[1].repeats"),
    ("alias-bomb", BOMB, "expands to more than"),
    ("kernel-5.0", sub("kernel: 5, stride: 2", "kernel: 5.0, stride: 2"), "stages[1].kernel"),
    ("stem-kernel-3.0", sub("stem: {kernel: 3,", "stem: {kernel: 3.0,"), "stem.kernel"),
    ("stride-true", sub("kernel: 5, stride: 2", "kernel: 5, stride: true"), "stages[1].stride"),
    ("dropout-nan", sub("dropout: 0.2", "dropout: .nan"), "variants.tiny-net.dropout"),
    ("bn-eps-nan", sub("eps: 1.0e-3", "eps: .nan"), "defaults.bn.eps"),
    ("drop-path-inf", sub("rate: 0.2", "rate: .inf"), "defaults.drop_path.rate"),
    (
        "std-nan",
        sub(PRE, "preprocessing: {mean: [0.5, 0.5, 0.5], std: [0.5, .nan, 0.5], cite: test}"),
        "preprocessing.std[1]",
    ),
    (
        "std-0",
        sub(PRE, "preprocessing: {mean: [0.5, 0.5, 0.5], std: [0.5, 0, 0.5], cite: test}"),
        "preprocessing.std[1]",
    ),
    ("scale-nan", sub(PRE, "preprocessing: {scale: .nan, offset: -1.0, cite: test}"), "preprocessing.scale"),
    ("missing-bn", sub("  bn: {eps: 1.0e-3, decay: 0.9, cite: test}\n", ""), "'bn' is required"),
    ("image-size-huge", sub("train: 32,", "train: 100000,"), "image_size.train"),
    ("num-classes-huge", sub("num_classes: 5", "num_classes: 10000000000"), "num_classes"),
    ("stages-many", sub(STAGE, "\n      ".join([STAGE] * 40)), "bases.tiny.stages"),
    ("complex-key", TINY_YAML + "? [a, b]\n: 1\n", "mapping key"),
    ("empty", "", "empty"),
]


@pytest.mark.parametrize("content, field", [c[1:] for c in NAMED_CASES], ids=[c[0] for c in NAMED_CASES])
def test_named_bad_spec_files(tmp_path, capsys, content, field):
    path = tmp_path / "bad.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    before = files_in(tmp_path)
    code, out, err = cli(capsys, "spec", "show", "--file", str(path), MODEL)
    line = assert_refused(code, out, err, str(path), field)
    assert len(line) < 400 and files_in(tmp_path) == before


def test_the_unmodified_file_is_accepted(tmp_path, capsys):
    path = tmp_path / "good.yaml"
    path.write_text(TINY_YAML)
    code, out, _ = cli(capsys, "spec", "show", "--file", str(path), MODEL)
    assert code == 0 and "MACs @32" in out


def test_a_utf8_byte_order_mark_is_fine(tmp_path, capsys):
    path = tmp_path / "bom.yaml"
    path.write_bytes(codecs.BOM_UTF8 + TINY_YAML.encode())
    assert cli(capsys, "spec", "show", "--file", str(path), MODEL)[0] == 0


def test_an_endless_or_huge_file_is_refused_unread(tmp_path, capsys):
    big = tmp_path / "big.yaml"
    big.write_text(TINY_YAML + "#" * (2 << 20) + "\n")
    assert_refused(*cli(capsys, "spec", "show", "--file", str(big), MODEL), str(big), "larger than 1 MiB")
    if Path("/dev/zero").exists():
        assert_refused(*cli(capsys, "spec", "show", "--file", "/dev/zero", MODEL), "/dev/zero", "larger than")


def test_unreadable_paths(tmp_path, capsys):
    assert_refused(*cli(capsys, "spec", "show", "--file", str(tmp_path), MODEL), str(tmp_path), "cannot read")
    missing = tmp_path / "missing.yaml"
    assert_refused(*cli(capsys, "spec", "list", "--file", str(missing)), str(missing), "cannot read")


@pytest.mark.parametrize("size", ["0", "-224", "8193", "12x", "1e3"])
def test_image_size_out_of_range(capsys, size):
    code, out, err = cli(capsys, "spec", "show", "efficientnet-b0", "--image-size", size)
    assert_refused(code, out, err, "argument --image-size", size)


@pytest.mark.parametrize(
    "argv",
    [
        ["spec", "schedule", "efficientnetv2-s", "--epochs", "0"],
        ["spec", "schedule", "efficientnetv2-s", "--size-multiple", "-8"],
        ["spec", "show"],
        ["spec", "frobnicate"],
    ],
)
def test_bad_arguments_are_one_line(capsys, argv):
    assert_refused(*cli(capsys, *argv), "effnet: error: ")


def test_the_command_itself_prints_one_line(tmp_path):
    """As a user runs it (a process, not ``main``): no traceback for a binary file or /dev/zero."""
    path = tmp_path / "bin.yaml"
    path.write_bytes(bytes(range(256)))
    for target in (str(path), "/dev/zero"):
        if not Path(target).exists():
            continue
        run = subprocess.run(
            [sys.executable, "-m", "effnet", "spec", "show", "--file", target, MODEL],
            capture_output=True,
            text=True,
            env={**os.environ, "EFFNET_MALLOC": "default"},
            timeout=120,
        )
        assert run.returncode == 2 and run.stdout == ""
        assert run.stderr.count("\n") == 1 and run.stderr.startswith(f"effnet: error: {target}")


# --- hypothesis: mutations of the valid file ----------------------------------------------------

BASE = yaml.safe_load(TINY_YAML)
HOSTILE_VALUES = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 0, -1, 0.0, 3.0, 1e308, -1e-308, True, None, "", "x"]),
    st.integers(min_value=0, max_value=600).map(lambda k: 10**k),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.lists(st.integers(-3, 3), max_size=4),
    st.dictionaries(st.sampled_from(["cite", "x", "kernel"]), st.integers(-2, 9), max_size=2),
    st.text(max_size=8),
)


def leaves(node, at=()):
    """Every path to a scalar, and every mapping key path (deletable) except the model itself."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*at, key)
            yield from leaves(value, (*at, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*at, i)
            yield from leaves(value, (*at, i))


PATHS = [p for p in leaves(BASE) if p != ("variants", MODEL) and len(p) > 1]


@st.composite
def mutated_documents(draw):
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.sampled_from(PATHS))
        parent = doc
        try:
            for part in at[:-1]:
                parent = parent[part]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(at[-1], None)
            else:
                parent[at[-1]] = draw(HOSTILE_VALUES)
        except (KeyError, IndexError, TypeError):  # an earlier mutation replaced this branch
            continue
    return doc


def check_outcome(path: Path, code: int, out: str, err: str) -> None:
    """Accepted with finite numbers, or refused in one line naming the file."""
    if code == 0:
        assert err == "" and not {"nan", "inf"} & set(out.lower().replace(",", " ").split()), out
    else:
        assert_refused(code, out, err, str(path))


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=mutated_documents())
def test_mutated_values(tmp_path, capsys, doc):
    path = tmp_path / "mutated.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    check_outcome(path, *cli(capsys, "spec", "show", "--file", str(path), MODEL))


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(TINY_YAML.encode()) - 1), st.binary(min_size=0, max_size=4)),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_bytes(tmp_path, capsys, edits):
    data = bytearray(TINY_YAML.encode())
    for at, replacement in edits:
        data[at : at + len(replacement) or at + 1] = replacement
    path = tmp_path / "bytes.yaml"
    path.write_bytes(bytes(data))
    check_outcome(path, *cli(capsys, "spec", "show", "--file", str(path), MODEL))


# --- the pieces other commands reuse -------------------------------------------------------------


def test_argtypes():
    import argparse

    assert argtypes.int_range(1, 10)("10") == 10
    assert argtypes.float_range(0, 1, low_inclusive=False)("0.5") == 0.5
    for parse, text in [
        (argtypes.int_range(1, 10), "0"),
        (argtypes.int_range(1, 10), "1.5"),
        (argtypes.float_range(0, 1), "nan"),
        (argtypes.float_range(0, 1), "inf"),
        (argtypes.float_range(0, 1, low_inclusive=False), "0"),
        (argtypes.float_range(0, 1), "-0.1"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


@pytest.mark.parametrize(
    "err, expected",
    [
        (PermissionError(errno.EACCES, "Permission denied", "out/x.pt"), "out/x.pt: permission denied"),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "out"), "out: is a folder, not a file"),
        (
            OSError(errno.ENOSPC, "No space left on device", "out/x.pt"),
            "out/x.pt: no space left on the device",
        ),
        (OSError(errno.EFBIG, "File too large", "x.pt"), "x.pt: file too large"),
        (
            NotADirectoryError(errno.ENOTDIR, "Not a directory", "a/b"),
            "a/b: a part of the path is not a folder",
        ),
        (OSError(errno.EXDEV, "Invalid cross-device link", "a", None, "b"), "a -> b: cannot move across"),
        (FileNotFoundError("no such checkpoint: x.pt"), "no such checkpoint: x.pt"),
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on the device"),
    ],
)
def test_os_errors_are_one_line_naming_the_path(err, expected):
    text = describe(err)
    assert text.startswith(expected) and "\n" not in text and "Errno" not in text
