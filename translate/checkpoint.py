"""The one checkpoint format and its one loader: config.json + SentencePiece models + safetensors weights.

A model directory holds `config.json`, `src.model`, `tgt.model` and `model.safetensors` (the best weights by dev
BLEU); a training run also keeps `last.safetensors` and `train_state.pt` (optimizer, step, RNG, data position,
and the fp32 weights it resumes from, all in one file so they can never disagree). Every write is atomic.
Nothing here unpickles arbitrary objects: weights are safetensors, training state is read with weights_only.
"""

import json
import os
import pickle
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from translate.config import ModelConfig, build_in_range
from translate.errors import UserError
from translate.model import Seq2Seq
from translate.textio import read_regular
from translate.tokenizer import Tokenizer

FORMAT, VERSION = "hien-rnn", 1
WEIGHTS, LAST, STATE = "model.safetensors", "last.safetensors", "train_state.pt"
MAX_CONFIG_BYTES = 2**20


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for decoding, with its tokenizers and the metadata from config.json."""

    model: Seq2Seq
    src_tok: Tokenizer
    tgt_tok: Tokenizer
    meta: dict[str, Any]

    @property
    def src_lang(self) -> str:
        return self.meta.get("src_lang", "hi")

    @property
    def tgt_lang(self) -> str:
        return self.meta.get("tgt_lang", "en")


def atomic_write(path: Path, data: bytes) -> None:
    """Write bytes to a temp file beside `path`, fsync, then rename over it: readers see old or new, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; models are meant to be read by others
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def weights_bytes(model: Seq2Seq, dtype: torch.dtype = torch.float32) -> bytes:
    """Safetensors bytes of the model's weights (a tied output matrix stored once)."""
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    if model.cfg.tie_embeddings:
        del state["out.weight"]
    return save(state, metadata={"format": FORMAT, "version": str(VERSION)})


def save_model(out: Path, model: Seq2Seq, src_tok: Tokenizer, tgt_tok: Tokenizer, meta: dict[str, Any],
               weights: str = WEIGHTS, dtype: torch.dtype = torch.float32) -> None:
    """Write config.json, the tokenizers and one weights file into `out` (created if needed)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, "version": VERSION, **meta, "model": asdict(model.cfg)}
    atomic_write(out / "src.model", src_tok.proto)
    atomic_write(out / "tgt.model", tgt_tok.proto)
    atomic_write(out / weights, weights_bytes(model, dtype))
    # last: a directory with a config.json has its other files too, even after a kill in the middle of this
    atomic_write(out / "config.json", json.dumps(config, indent=2, ensure_ascii=False).encode())


def read_config(model_dir: Path) -> dict[str, Any]:
    """Parse and check config.json: our format, our version, a valid model section."""
    path = Path(model_dir) / "config.json"
    if not Path(model_dir).is_dir():
        raise UserError(f"model directory not found: {model_dir}" if not Path(model_dir).exists() else
                        f"{model_dir} is not a model directory (a model is a directory holding config.json)")
    if not path.exists():
        raise UserError(f"{model_dir} is not a model directory: no config.json (a training run writes it at its "
                        "first save)")
    try:
        meta = json.loads(read_regular(path, MAX_CONFIG_BYTES).decode("utf-8"))
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror or err}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{path}: not a {FORMAT} model (format {meta.get('format') if isinstance(meta, dict) else '?'!r})")
    if meta.get("version") != VERSION:
        raise UserError(f"{path}: format version {meta.get('version')!r} is not supported (this program reads {VERSION})")
    if not isinstance(meta.get("model"), dict):
        raise UserError(f"{path}: missing the model section")
    return meta


def read_weights(path: Path, model: Seq2Seq) -> dict[str, torch.Tensor]:
    """Load safetensors and check that names and shapes match the model (which may live on the meta device)."""
    if not path.exists():
        hint = f" (only {LAST}: the run has not been evaluated yet)" if (path.parent / LAST).exists() else ""
        raise UserError(f"weights not found: {path}{hint}")
    if not path.is_file():
        raise UserError(f"{path} is not a valid safetensors file: not a regular file")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"{path} is not a valid safetensors file: {err}") from None
    if model.cfg.tie_embeddings and "tgt_embed.weight" in state:
        state["out.weight"] = state["tgt_embed.weight"]
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected != got:
        bad = sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
        raise UserError(f"{path} does not match config.json: {bad[0]} expected {expected.get(bad[0])}, "
                        f"found {got.get(bad[0])}" + (f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""))
    return {k: v.float() for k, v in state.items()}


def load_model(model_dir: Path, weights: str = WEIGHTS, device: str | torch.device = "cpu") -> LoadedModel:
    """The one loader used by the CLI, the app and the tests; any defect is a one-line UserError."""
    model_dir = Path(model_dir)
    meta = read_config(model_dir)
    where = f"{model_dir / 'config.json'} [model]"
    cfg = build_in_range(ModelConfig, meta["model"], where)
    src_tok, tgt_tok = Tokenizer.load(model_dir / "src.model"), Tokenizer.load(model_dir / "tgt.model")
    if (len(src_tok), len(tgt_tok)) != (cfg.src_vocab, cfg.tgt_vocab):
        raise UserError(f"{model_dir}: tokenizer sizes {len(src_tok)}/{len(tgt_tok)} do not match config.json "
                        f"{cfg.src_vocab}/{cfg.tgt_vocab}")
    try:
        with torch.device("meta"):  # shapes only: sizes in config.json cannot make us allocate before they are checked
            skeleton = Seq2Seq(cfg)
    except (ValueError, RuntimeError, OverflowError) as err:
        raise UserError(f"{model_dir / 'config.json'}: invalid model settings: {err}") from None
    state = read_weights(model_dir / weights, skeleton)
    model = Seq2Seq(cfg)
    model.load_state_dict(state)
    return LoadedModel(model.to(device).eval(), src_tok, tgt_tok, meta)


def load_averaged(model_dir: Path, weights: list[str]) -> LoadedModel:
    """The model with the element-wise mean of several weights files of one directory (checkpoint averaging)."""
    models = [load_model(model_dir, name) for name in weights]
    states = [m.model.state_dict() for m in models]
    mean = {k: sum(s[k].float() for s in states) / len(states) for k in states[0]}
    models[0].model.load_state_dict(mean)
    return models[0]


def save_train_state(out: Path, state: dict[str, Any]) -> None:
    """Atomically write the resume file (tensors and plain containers only)."""
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(Path(out) / STATE, buf.getvalue())


def load_train_state(out: Path) -> dict[str, Any]:
    """Read the resume file without unpickling arbitrary objects."""
    path = Path(out) / STATE
    if path.exists() and not path.is_file():
        raise UserError(f"cannot resume from {path}: not a regular file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"nothing to resume: {path} not found") from None
    except pickle.UnpicklingError:  # weights_only refused it: it would have built objects other than tensors
        raise UserError(f"cannot resume from {path}: not a training state written by hien") from None
    except Exception as err:  # noqa: BLE001 (a corrupt or foreign file: torch raises several types)
        raise UserError(f"cannot resume from {path}: {str(err).splitlines()[0]}") from None
