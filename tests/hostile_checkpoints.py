"""A corpus of hostile or broken checkpoint files, as people find them on the internet.

Each :class:`BadCheckpoint` writes one file and names a fragment that the one-line refusal must
contain. Files that carry a pickle payload would, if anything ever unpickled them, create the
``marker`` file passed to ``write`` (``pathlib.Path.touch`` via ``__reduce__``: no shell needed);
``tests/test_hostile_checkpoints.py`` checks both that the payload is armed (unpickling a copy
fires it) and that loading never does.

NaN / inf weights are refused rather than accepted with a warning: every output of such a model
is NaN, so no page or metric could show anything meaningful, and training never saves one.
"""

from __future__ import annotations

import io
import json
import pathlib
import pickle
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as st_save

from vae_core.config import ModelConfig
from vae_core.io.checkpoint_file import MAX_CHECKPOINT_BYTES, checkpoint_bytes
from vae_core.models.model import LatentVariableModel

MiB = 2**20


class Payload:
    """Unpickling this touches ``marker``: proof that a loader ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (self.marker,))


@dataclass(frozen=True)
class BadCheckpoint:
    name: str  # file stem, also the test id
    what: str  # one line for humans
    reason: str  # fragment the refusal must contain (case-insensitive)
    build: Callable[[Path], bytes]  # marker path -> file contents
    sparse_size: int = 0  # > 0: a sparse file of this size instead (too big to upload)

    @property
    def uploadable(self) -> bool:
        return self.sparse_size == 0

    @property
    def has_payload(self) -> bool:
        return self.name in PAYLOAD_FILES

    def write(self, folder: Path, marker: Path) -> Path:
        path = folder / f"{self.name}.safetensors"
        if self.sparse_size:
            with open(path, "wb") as f:
                f.truncate(self.sparse_size)  # no disk blocks, no memory
        else:
            path.write_bytes(self.build(marker))
        return path


# ----------------------------------------------------------------------------- building blocks
def tiny_model(**cfg: Any) -> LatentVariableModel:
    torch.manual_seed(0)
    return LatentVariableModel(ModelConfig(**{"hidden": (16,), "latent_dim": 2, **cfg}))


def valid_bytes(**meta: Any) -> bytes:
    return checkpoint_bytes(tiny_model(), {"name": "tiny", "dataset": "mnist", **meta})


def valid_meta(**changes: Any) -> dict[str, Any]:
    meta = {"format": "vae-latent-lab", "format_version": 1, "name": "tiny", "dataset": "mnist"}
    return {**meta, "model": tiny_model().config.to_dict(), **changes}


def with_config(**changes: Any) -> dict[str, Any]:
    return valid_meta(model={**tiny_model().config.to_dict(), **changes})


def tiny_state(dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    return {k: v.to(dtype).contiguous() for k, v in tiny_model().state_dict().items()}


def st_file(meta: Any, tensors: dict[str, torch.Tensor] | None = None) -> bytes:
    """A well-formed safetensors file whose vae_lab metadata is ``meta`` (JSON, or a raw str)."""
    raw = meta if isinstance(meta, str) else json.dumps(meta)
    return st_save(tensors if tensors is not None else tiny_state(), metadata={"vae_lab": raw})


def raw_file(header: Any, body: bytes = b"") -> bytes:
    """Length field + header (a JSON value, or raw bytes) + body, header padded to 8 bytes."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def split_file(data: bytes) -> tuple[dict[str, Any], bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def edit_header(edit: Callable[[dict[str, Any]], None]) -> bytes:
    """A valid checkpoint whose header table was changed by ``edit`` (body kept)."""
    header, body = split_file(valid_bytes())
    edit(header)
    return raw_file(header, body)


def torch_pt(marker: Path, zipfile: bool) -> bytes:
    """What ``torch.save`` writes (zip or legacy format), with a payload next to real weights."""
    buf = io.BytesIO()
    state = {"state_dict": tiny_state(), "extra": Payload(marker)}
    torch.save(state, buf, _use_new_zipfile_serialization=zipfile)
    return buf.getvalue()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _first_tensor(header: dict[str, Any]) -> str:
    return min(k for k in header if k != "__metadata__")


def _offsets_out_of_range(header: dict[str, Any]) -> None:
    header[_first_tensor(header)]["data_offsets"][1] += 10**6


def _overlapping_offsets(header: dict[str, Any]) -> None:
    """Two tensors of the same size pointing at the same bytes (a classic parser confusion)."""
    biases = sorted(k for k in header if k.endswith(".bias") and header[k]["shape"] == [16])
    first, second = biases[0], biases[1]
    header[second]["data_offsets"] = list(header[first]["data_offsets"])


def _malformed_entry(header: dict[str, Any]) -> None:
    header[_first_tensor(header)] = {"dtype": 5, "shape": "big", "data_offsets": None}


def _gigantic_shape(header: dict[str, Any]) -> None:
    header[_first_tensor(header)]["shape"] = [2**31, 2**31]


def foreign_network() -> bytes:
    """A generic safetensors file of some other network, as on a model hub ({"format": "pt"})."""
    g = torch.Generator().manual_seed(0)
    tensors = {
        "conv1.weight": torch.randn(8, 3, 3, 3, generator=g),
        "conv1.bias": torch.zeros(8),
        "fc.weight": torch.randn(10, 128, generator=g),
        "fc.bias": torch.zeros(10),
    }
    return st_save(tensors, metadata={"format": "pt"})


def classifier_file() -> bytes:
    """A valid checkpoint of this project's other model type: the digit classifier."""
    from vae_core.evaluation.classifier import DigitClassifier

    torch.manual_seed(0)
    state = {k: v.contiguous() for k, v in DigitClassifier().state_dict().items()}
    return st_save(state, metadata={"classifier": json.dumps({"test_accuracy": 0.99})})


HUGE = {"hidden": [8192] * 8, "latent_dim": 512}


def huge_matching_table() -> bytes:
    """A header whose tensor table matches the HUGE config (shapes from a meta-device model)."""
    with torch.device("meta"):
        model = LatentVariableModel(ModelConfig.from_dict(with_config(**HUGE)["model"]))
    header: dict[str, Any] = {"__metadata__": {"vae_lab": json.dumps(with_config(**HUGE))}}
    offset = 0
    for key, value in model.state_dict().items():
        size = value.numel() * 4
        header[key] = {
            "dtype": "F32",
            "shape": list(value.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    return raw_file(header, b"\0" * 64)


def random_bytes() -> bytes:
    rng = random.Random(0)
    return bytes(rng.randrange(256) for _ in range(4096))


# ------------------------------------------------------------------------------------ the corpus
CORPUS: list[BadCheckpoint] = [
    BadCheckpoint("zero-bytes", "a zero-byte file", "empty", lambda m: b""),
    BadCheckpoint(
        "random-bytes", "4 KiB of random bytes", "header claims", lambda m: random_bytes()
    ),
    BadCheckpoint(
        "seven-bytes", "shorter than the length field", "truncated", lambda m: b"\x01" * 7
    ),
    BadCheckpoint(
        "pickle-payload",
        "a plain pickle (protocol 4) whose unpickling touches the marker",
        "pickle",
        lambda m: pickle.dumps(Payload(m), protocol=4),
    ),
    BadCheckpoint(
        "pickle-protocol0",
        "a text (protocol 0) pickle with the same payload: no 0x80 magic byte",
        "not a valid or complete safetensors file",
        lambda m: pickle.dumps(Payload(m), protocol=0),
    ),
    BadCheckpoint(
        "torch-zip-pt",
        "a torch.save .pt (zip) renamed .safetensors, payload inside",
        "pickle",
        lambda m: torch_pt(m, zipfile=True),
    ),
    BadCheckpoint(
        "torch-legacy-pt",
        "a legacy (pre-1.6, raw pickle) torch.save file renamed, payload inside",
        "pickle",
        lambda m: torch_pt(m, zipfile=False),
    ),
    BadCheckpoint(
        "truncated-body",
        "a valid checkpoint with its last 100 bytes cut off",
        "corrupt safetensors data",
        lambda m: valid_bytes()[:-100],
    ),
    BadCheckpoint(
        "truncated-header",
        "a valid checkpoint cut inside its JSON header",
        "header claims",
        lambda m: valid_bytes()[:60],
    ),
    BadCheckpoint(
        "header-claims-5gib",
        "the length field claims a 5 GiB header",
        "header claims 5,368,709,120 bytes",
        lambda m: struct.pack("<Q", 5 * 2**30) + b"{}",
    ),
    BadCheckpoint(
        "header-over-4mib",
        "a complete file whose header carries a 5 MiB metadata string",
        "more than the 4 MiB limit",
        lambda m: st_file(valid_meta(notes="x" * (5 * MiB))),
    ),
    BadCheckpoint(
        "header-not-json",
        "the header is not JSON",
        "not valid JSON",
        lambda m: raw_file(b"{this is not json"),
    ),
    BadCheckpoint(
        "header-bad-utf8",
        "the header is not UTF-8",
        "not valid JSON",
        lambda m: raw_file(b'{"\xff\xfe": 1}'),
    ),
    BadCheckpoint(
        "header-json-array",
        "the header is a JSON array, not an object",
        "not a JSON object",
        lambda m: raw_file([1, 2, 3]),
    ),
    BadCheckpoint(
        "header-nested-100k",
        "the header nests JSON arrays 100,000 deep (RecursionError bait)",
        "not valid JSON",
        lambda m: raw_file(('{"a": ' + nested(100_000) + "}").encode()),
    ),
    BadCheckpoint(
        "header-huge-int",
        "the header holds a 5,000-digit integer (Python's int-parsing limit)",
        "not valid JSON",
        lambda m: raw_file(b'{"__metadata__": {}, "n": ' + b"9" * 5000 + b"}"),
    ),
    BadCheckpoint(
        "metadata-missing",
        "safetensors without any __metadata__",
        "without VAE Latent Lab metadata",
        lambda m: st_save({"a": torch.zeros(2)}),
    ),
    BadCheckpoint(
        "metadata-table-not-object",
        "__metadata__ is a list instead of a string table",
        "without VAE Latent Lab metadata",
        lambda m: raw_file({"__metadata__": ["vae_lab"]}),
    ),
    BadCheckpoint(
        "metadata-not-string",
        "our metadata key holds a number instead of a JSON string",
        "not a JSON string",
        lambda m: raw_file({"__metadata__": {"vae_lab": 5}}),
    ),
    BadCheckpoint(
        "metadata-not-json",
        "our metadata key holds text that is not JSON",
        "metadata is not valid JSON",
        lambda m: st_file("{format: vae-latent-lab"),
    ),
    BadCheckpoint(
        "metadata-nested-100k",
        "the metadata JSON string nests 100,000 deep",
        "metadata is not valid JSON",
        lambda m: st_file('{"format": "vae-latent-lab", "x": ' + nested(100_000) + "}"),
    ),
    BadCheckpoint(
        "metadata-nested-200",
        "metadata nested 200 deep (parses; over the depth limit of 16)",
        "nested more than",
        lambda m: st_file(json.dumps(valid_meta(extra_info=json.loads(nested(200))))),
    ),
    BadCheckpoint(
        "config-extra-nested-900",
        "the config's free-form 'extra' nested 900 deep (parses; dataclasses.asdict would recurse)",
        "nested more than",
        lambda m: st_file(json.dumps(with_config(extra={"x": json.loads(nested(900))}))),
    ),
    BadCheckpoint(
        "metadata-other-format",
        "our key, but another program's format name",
        "not in the vae-latent-lab format",
        lambda m: st_file(valid_meta(format="something-else")),
    ),
    BadCheckpoint(
        "metadata-future-version",
        "format_version 99",
        "format version",
        lambda m: st_file(valid_meta(format_version=99)),
    ),
    BadCheckpoint(
        "metadata-3mb-name",
        "a 3 MB model name (under the header limit, shown on every page)",
        "name is 3,000,000 characters long",
        lambda m: st_file(valid_meta(name="A" * 3_000_000)),
    ),
    BadCheckpoint(
        "metadata-history-string",
        "history is a string (the card would iterate its characters)",
        "history must be a list",
        lambda m: st_file(valid_meta(history="lots of epochs")),
    ),
    BadCheckpoint(
        "metadata-metrics-wrong-types",
        "test_metrics.nll is a string, kl_per_dim a dict",
        "test_metrics.nll must be a number",
        lambda m: st_file(valid_meta(test_metrics={"nll": "-80", "kl_per_dim": {"a": 1}})),
    ),
    BadCheckpoint(
        "metadata-unknown-dataset",
        "dataset 'cifar10' (every page would try to load it)",
        "is not one of",
        lambda m: st_file(valid_meta(dataset="cifar10")),
    ),
    BadCheckpoint(
        "config-missing",
        "metadata without a model config",
        "model config must be a JSON object",
        lambda m: st_file({k: v for k, v in valid_meta().items() if k != "model"}),
    ),
    BadCheckpoint(
        "config-gigabytes",
        "a valid config of 8 x 8192 hidden units, latent 512 (~1 billion weights)",
        "do not match the config",
        lambda m: st_file(with_config(**HUGE)),
    ),
    BadCheckpoint(
        "config-gigabytes-matching-table",
        "the same config with a crafted header listing exactly its ~1 billion weights, no data",
        "needs 965,084,944 weights",
        lambda m: huge_matching_table(),
    ),
    BadCheckpoint(
        "config-negative",
        "latent_dim -5",
        "latent_dim must be in 1..512",
        lambda m: st_file(with_config(latent_dim=-5)),
    ),
    BadCheckpoint(
        "config-huge-number",
        "latent_dim 10**30 and beta 1e308",
        "latent_dim must be in 1..512",
        lambda m: st_file(with_config(latent_dim=10**30, beta=1e308)),
    ),
    BadCheckpoint(
        "config-wrong-types",
        'hidden is the string "512,256"',
        "wrong type",
        lambda m: st_file(with_config(hidden="512,256")),
    ),
    BadCheckpoint(
        "config-nan",
        "beta is NaN (JSON extension Python accepts)",
        "beta must be in",
        lambda m: st_file(with_config(beta=float("nan"))),
    ),
    BadCheckpoint(
        "config-unknown-kind",
        'kind "gan"',
        "kind must be one of",
        lambda m: st_file(with_config(kind="gan")),
    ),
    BadCheckpoint(
        "config-hostile-keys",
        "an unknown config key with a newline and 10,000 characters",
        "unknown model config keys",
        lambda m: st_file(with_config(**{"evil\nkey" + "k" * 10_000: 1})),
    ),
    BadCheckpoint(
        "kind-changed-to-cvae",
        "a valid VAE whose config says cvae (label inputs missing from the weights)",
        "has shape",
        lambda m: st_file(with_config(kind="cvae")),
    ),
    BadCheckpoint(
        "arch-changed-to-conv",
        "a valid MLP VAE whose config says conv",
        "do not match the config (VAE, conv)",
        lambda m: st_file(with_config(arch="conv")),
    ),
    BadCheckpoint(
        "wrong-latent-dim",
        "weights of a 2-D model, config of a 5-D one",
        "has shape",
        lambda m: st_file(with_config(latent_dim=5)),
    ),
    BadCheckpoint(
        "missing-tensor",
        "one weight tensor removed",
        "missing",
        lambda m: st_file(valid_meta(), dict(list(tiny_state().items())[1:])),
    ),
    BadCheckpoint(
        "extra-tensor",
        "an extra tensor the model does not have",
        "unexpected",
        lambda m: st_file(valid_meta(), {**tiny_state(), "backdoor.weight": torch.zeros(3)}),
    ),
    BadCheckpoint(
        "dtype-float64",
        "float64 weights",
        "dtype F64",
        lambda m: st_file(valid_meta(), tiny_state(torch.float64)),
    ),
    BadCheckpoint(
        "dtype-int8",
        "int8 weights",
        "dtype I8",
        lambda m: st_file(valid_meta(), tiny_state(torch.int8)),
    ),
    BadCheckpoint(
        "nan-weights",
        "NaN in the weights (refused: every output would be NaN)",
        "NaN or infinite",
        lambda m: st_file(valid_meta(), {k: v * float("nan") for k, v in tiny_state().items()}),
    ),
    BadCheckpoint(
        "inf-weights",
        "+inf in one weight",
        "NaN or infinite",
        lambda m: st_file(
            valid_meta(),
            {k: v.index_fill(0, torch.tensor([0]), float("inf")) for k, v in tiny_state().items()},
        ),
    ),
    BadCheckpoint(
        "offsets-out-of-range",
        "a tensor's data_offsets point 1 MB past the end of the file",
        "corrupt safetensors data",
        lambda m: edit_header(_offsets_out_of_range),
    ),
    BadCheckpoint(
        "offsets-overlapping",
        "two tensors share the same bytes",
        "corrupt safetensors data",
        lambda m: edit_header(_overlapping_offsets),
    ),
    BadCheckpoint(
        "shape-claims-gigabytes",
        "a tensor entry claims shape 2^31 x 2^31",
        "has shape",
        lambda m: edit_header(_gigantic_shape),
    ),
    BadCheckpoint(
        "tensor-entry-malformed",
        "a tensor entry whose dtype is a number and shape a string",
        "malformed",
        lambda m: edit_header(_malformed_entry),
    ),
    BadCheckpoint(
        "foreign-network",
        "a generic safetensors file of an unrelated network",
        "without VAE Latent Lab metadata",
        lambda m: foreign_network(),
    ),
    BadCheckpoint(
        "classifier-checkpoint",
        "a valid file of this project's other model type (the digit classifier)",
        "without VAE Latent Lab metadata",
        lambda m: classifier_file(),
    ),
    BadCheckpoint(
        "over-256mib",
        "a 300 MiB (sparse) file: refused from its size alone",
        "larger than the 256 MiB limit",
        lambda m: b"",
        sparse_size=MAX_CHECKPOINT_BYTES + 44 * MiB,
    ),
]

PAYLOAD_FILES = ("pickle-payload", "pickle-protocol0", "torch-zip-pt", "torch-legacy-pt")
BY_NAME = {case.name: case for case in CORPUS}
assert len(BY_NAME) == len(CORPUS), "corpus names must be unique"


def write_corpus(folder: Path, marker: Path) -> dict[str, Path]:
    """Write every file of the corpus into ``folder``; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    return {case.name: case.write(folder, marker) for case in CORPUS}
