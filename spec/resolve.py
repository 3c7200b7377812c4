"""YAML config -> frozen ModelSpec. All architecture arithmetic happens here (design guide).

Merge order for a model's config: family ``defaults`` < variant row < profile ``all`` < profile
``families.<family>`` < profile ``variants.<name>`` < caller's overrides. Nested mappings merge key by
key, except ``preprocessing``, which is replaced whole (mean/std and scale/offset are alternatives).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from . import registry
from .errors import SpecError
from .model_spec import BlockSpec, ConvSpec, ImageSize, ModelSpec, Preprocessing, SESpec
from .rounding import round_channels, round_repeats
from .version import SPEC_VERSION

DEFAULT_PROFILE = "paper"
_REPLACED_WHOLE = {"preprocessing"}


# a user's family: a YAML path, or an already loaded SpecFile (e.g. ``registry.family_from_document``)
FamilySource = str | Path | registry.SpecFile | None


def families(file: FamilySource = None) -> tuple[registry.SpecFile, ...]:
    """The built-in family files, or just the user's family when ``file`` is given."""
    if isinstance(file, registry.SpecFile):
        return (file,)
    return (registry.load_family(file),) if file is not None else registry.builtin_families()


def names(file: FamilySource = None) -> list[str]:
    """Every model the spec (or a user's file) defines, in file order."""
    return list(registry.variant_index(families(file)))


def profile_names() -> list[str]:
    return list(registry.profiles().data["profiles"])


def profile_models(profile: str) -> dict[str, str]:
    """Spec model -> the implementation's own name, for every model the profile's library builds."""
    profs = registry.profiles().data["profiles"]
    if profile not in profs:
        raise SpecError(f"unknown profile {profile!r}; known profiles: {', '.join(profs)}")
    return dict(profs[profile].get("models", {}))


def implementation_name(name: str, profile: str) -> str:
    """What the implementation behind ``profile`` calls model ``name`` (e.g. torchvision's
    ``efficientnet_v2_s``); a SpecError if it does not define it."""
    profs = registry.profiles().data["profiles"]
    if profile not in profs:
        raise SpecError(f"unknown profile {profile!r}; known profiles: {', '.join(profs)}")
    models = profs[profile].get("models", {})
    if name not in models:
        raise SpecError(
            f"profile {profile!r} has no model {name!r}; it defines: {', '.join(models) or 'none'}"
        )
    return models[name]


def lookup(name: str, profile: str | None = None, *, among: tuple[str, ...] = ()) -> tuple[str, str | None]:
    """(spec model, profile) for ``name``: a spec model name as it is, or a library's own model name
    (``tf_efficientnetv2_b3`` -> efficientnetv2-b3 with ``timm_tf``; ``efficientnet_v2_s`` ->
    torchvision's; ``EfficientNetV2B1`` -> keras'). ``profile``/``among`` narrow a name that more
    than one library uses (``efficientnet_b0`` is torchvision's and timm's); a name that stays
    ambiguous is an error listing the choices, never a guess."""
    if name in names():
        return name, profile
    profs = registry.profiles().data["profiles"]
    hits = [
        (model, prof)
        for prof, row in profs.items()
        for model, library_name in row.get("models", {}).items()
        if library_name == name
    ]
    if profile is not None:
        hits = [h for h in hits if h[1] == profile]
    if among and len(hits) > 1:
        hits = [h for h in hits if h[1] in among] or hits
    if len(hits) == 1:
        return hits[0]
    if hits:
        choices = " or ".join(prof for _, prof in hits)
        raise SpecError(f"model name {name!r} is used by more than one library: pass --profile ({choices})")
    return name, profile  # unknown: resolve() reports it with the known names


def family_of(name: str, file: FamilySource = None) -> registry.SpecFile:
    index = registry.variant_index(families(file))
    if name not in index:
        raise SpecError(f"unknown model {name!r}; known models: {', '.join(index)}")
    return index[name]


def merge(base: dict[str, Any], update: dict[str, Any] | None) -> dict[str, Any]:
    """Deep-merge ``update`` onto a copy of ``base`` (see module docstring for the rule)."""
    out = copy.deepcopy(base)
    for key, value in (update or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in _REPLACED_WHOLE:
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def model_config(
    name: str, *, profile: str | None = None, file: FamilySource = None, **overrides: Any
) -> dict[str, Any]:
    """The complete, validated config dict a ModelSpec is built from."""
    fam = family_of(name, file)
    profile = profile or DEFAULT_PROFILE
    profs = registry.profiles().data["profiles"]
    if profile not in profs:
        raise SpecError(f"unknown profile {profile!r}; known profiles: {', '.join(profs)}")
    prof = profs[profile]
    if "models" in prof and name not in prof["models"]:
        raise SpecError(f"profile {profile!r} has no model {name!r}; it defines: {', '.join(prof['models'])}")
    config = merge(fam.data["defaults"], fam.data["variants"][name])
    config.pop("cite", None)
    for layer in (
        prof.get("all"),
        prof.get("families", {}).get(fam.data["family"]),
        prof.get("variants", {}).get(name),
    ):
        config = merge(config, layer)
    config = merge(config, _cited(overrides))
    try:
        registry.validate(
            config, "complete_config", file=fam.path, lines=fam.lines, prefix=("variants", name)
        )
    except SpecError as err:  # the merged config: say which model, profile and overrides it is
        raise SpecError(
            f"{err.reason} (model {name}, profile {profile!r}{', with overrides' if overrides else ''})",
            file=err.file,
            path=err.path,
            line=err.line,
        ) from None
    return config


def _cited(overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides of cited sections are cited as overrides, so no YAML citation is misattributed."""
    return {
        k: ({**v, "cite": v.get("cite", "caller override")} if isinstance(v, dict) else v)
        for k, v in overrides.items()
    }


def resolve(
    name: str, *, profile: str | None = None, file: FamilySource = None, **overrides: Any
) -> ModelSpec:
    """Resolve model ``name`` (as the given implementation ``profile`` builds it) into a ModelSpec.
    ``name`` may be a library's own model name (see :func:`lookup`), which also picks the profile."""
    if file is None:
        name, profile = lookup(name, profile)
    config = model_config(name, profile=profile, file=file, **overrides)
    fam = family_of(name, file)
    base = fam.data["bases"][config["base"]]
    stem, blocks = _build_blocks(config, base)
    head_channels = (
        _round(config, config["head"]["channels"]) if config["head"]["scaled"] else config["head"]["channels"]
    )
    last = blocks[-1].out_channels if blocks else stem.out_channels
    return ModelSpec(
        name=name,
        family=fam.data["family"],
        profile=profile or DEFAULT_PROFILE,
        spec_version=SPEC_VERSION,
        spec_hash=_hash(config, base),
        width=float(config["width"]),
        depth=float(config["depth"]),
        stem=stem,
        blocks=blocks,
        head=ConvSpec("head", last, head_channels, 1, 1, depthwise=False, act=True),
        num_classes=int(config["num_classes"]),
        dropout=float(config["dropout"]),
        drop_path_rate=float(config["drop_path"]["rate"]),
        activation=config["activation"],
        se_activation=config["se"]["activation"],
        se_gate=config["se"]["gate"],
        bn_eps=float(config["bn"]["eps"]),
        bn_decay=float(config["bn"]["decay"]),
        padding=config["padding"],
        preprocessing=_preprocessing(config["preprocessing"]),
        image_size=ImageSize(**config["image_size"]),
        citations=_citations(fam, name, base, config, profile or DEFAULT_PROFILE),
    )


def _round(config: dict[str, Any], channels: int) -> int:
    r = config["rounding"]
    return round_channels(
        channels,
        config["width"],
        divisor=r["divisor"],
        min_channels=r["min_channels"],
        ten_percent_rule=r["ten_percent_rule"],
    )


def _build_blocks(config: dict[str, Any], base: dict[str, Any]) -> tuple[ConvSpec, tuple[BlockSpec, ...]]:
    stem_cfg = config["stem"]
    in_ch = _round(config, base["stem_channels"])
    stem = ConvSpec("stem", 3, in_ch, stem_cfg["kernel"], stem_cfg["stride"], False, True)
    repeats = [round_repeats(s["repeats"], config["depth"]) for s in base["stages"]]
    denominator = (
        sum(repeats)
        if config["drop_path"]["denominator"] == "blocks"
        else sum(s["repeats"] for s in base["stages"])
    )
    blocks: list[BlockSpec] = []
    for stage_no, (stage, n) in enumerate(zip(base["stages"], repeats, strict=True), start=1):
        out_ch = _round(config, stage["channels"])
        for j in range(n):
            fraction = len(blocks) / denominator
            blocks.append(_block(config, stage, stage_no, j, len(blocks), in_ch, out_ch, fraction))
            in_ch = out_ch
    return stem, tuple(blocks)


def _block(
    config: dict[str, Any],
    stage: dict[str, Any],
    stage_no: int,
    repeat: int,
    index: int,
    in_ch: int,
    out_ch: int,
    drop_path_fraction: float,
) -> BlockSpec:
    name = f"blocks.{index}"
    kernel, ratio = stage["kernel"], stage["expand"]
    stride = stage["stride"] if repeat == 0 else 1  # only a stage's first block strides
    mid = int(in_ch * ratio)
    has_expand = ratio != 1
    se_base = in_ch if config["se"]["width_base"] == "block_in" else mid
    se_ch = max(1, int(se_base * stage["se"])) if stage["se"] > 0 else 0
    if stage["kind"] == "mbconv":
        expand = ConvSpec(f"{name}.expand", in_ch, mid, 1, 1, False, True) if has_expand else None
        dw = ConvSpec(f"{name}.dw", mid, mid, kernel, stride, True, True)
        project = ConvSpec(f"{name}.project", mid, out_ch, 1, 1, False, False)
    elif has_expand:  # fused, e != 1: k x k expand (strided), 1x1 project without activation
        expand = ConvSpec(f"{name}.expand", in_ch, mid, kernel, stride, False, True)
        dw = None
        project = ConvSpec(f"{name}.project", mid, out_ch, 1, 1, False, False)
    else:  # fused, e == 1: one k x k conv -> BN -> activation (SOURCES §3.2)
        expand, dw = None, None
        project = ConvSpec(f"{name}.project", in_ch, out_ch, kernel, stride, False, True)
    return BlockSpec(
        name=name,
        index=index,
        stage=stage_no,
        repeat=repeat,
        kind=stage["kind"],
        kernel=kernel,
        stride=stride,
        expand_ratio=float(ratio),
        se_ratio=float(stage["se"]),
        in_channels=in_ch,
        mid_channels=mid,
        out_channels=out_ch,
        se_channels=se_ch,
        residual=stride == 1 and in_ch == out_ch,
        drop_path_rate=config["drop_path"]["rate"] * drop_path_fraction,
        drop_path_fraction=drop_path_fraction,
        expand=expand,
        dw=dw,
        se=SESpec(f"{name}.se", mid, se_ch) if se_ch else None,
        project=project,
    )


def _preprocessing(cfg: dict[str, Any]) -> Preprocessing:
    def triple(v: float | list[float]) -> tuple[float, float, float]:
        return tuple(float(x) for x in (v if isinstance(v, list) else [v, v, v]))  # type: ignore

    if "mean" in cfg:  # x/255 normalised with mean/std == x * 1/(255 std) - mean/std
        mean, std = triple(cfg["mean"]), triple(cfg["std"])
        return Preprocessing(
            tuple(1 / (255 * s) for s in std),  # type: ignore[arg-type]
            tuple(-m / s for m, s in zip(mean, std, strict=True)),
        )  # type: ignore
    return Preprocessing(triple(cfg["scale"]), triple(cfg["offset"]))


def _strip_cites(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_cites(v) for k, v in value.items() if k != "cite"}
    if isinstance(value, list):
        return [_strip_cites(v) for v in value]
    return value


def _hash(config: dict[str, Any], base: dict[str, Any]) -> str:
    payload = json.dumps(
        {"config": _strip_cites(config), "base": _strip_cites(base)}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _citations(
    fam: registry.SpecFile, name: str, base: dict[str, Any], config: dict[str, Any], profile: str
) -> tuple[tuple[str, str], ...]:
    row = fam.data["variants"][name]
    cites = [
        ("family", fam.data["cite"]),
        (f"stages ({config['base']})", base["cite"]),
        ("width, depth, image_size, dropout", row["cite"]),
    ]
    cites += [
        (key, config[key]["cite"])
        for key in sorted(config)
        if isinstance(config[key], dict) and "cite" in config[key]
    ]
    if profile != DEFAULT_PROFILE:
        cites.append((f"profile {profile}", registry.profiles().data["profiles"][profile]["cite"]))
    return tuple(cites)
