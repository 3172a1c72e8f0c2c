"""The recursive architectures the engine runs: TRM and its predecessor HRM, by the name a checkpoint stores.

Both expose the same interface (`embed`, `initial_state`, `latent_recursion`, `updates`, `forward`, `read_out`,
`cfg` with `seq_len`, `vocab_size`, `H_cycles`, `L_cycles`, `halt_max_steps`, `prefix_len`, `no_ACT_continue`), so
inference, training and the window take either. A checkpoint without an `arch` field is TRM.
"""

from __future__ import annotations

from engine.config import TRMConfig
from engine.hrm import HRM, HRMConfig
from engine.model import TRM

Model = TRM | HRM
ModelConfig = TRMConfig | HRMConfig
ARCHITECTURES: dict[str, tuple[type, type]] = {"trm": (TRMConfig, TRM), "hrm": (HRMConfig, HRM)}
DEFAULT_ARCH = "trm"


def arch_of(model_or_config) -> str:
    """"trm" or "hrm" for a model or a config."""
    cfg = getattr(model_or_config, "cfg", model_or_config)
    return "hrm" if isinstance(cfg, HRMConfig) else "trm"


def config_class(arch: str) -> type:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r} (known: {', '.join(ARCHITECTURES)})")
    return ARCHITECTURES[arch][0]


def config_from_dict(arch: str, data: dict) -> ModelConfig:
    return config_class(arch).from_dict(data)


def build_model(cfg: ModelConfig) -> Model:
    """A freshly initialised model of the config's architecture."""
    return ARCHITECTURES[arch_of(cfg)][1](cfg)


def describe(cfg: ModelConfig) -> str:
    """One line for people: `hrm, hidden 512, H 4 x2 / L 4 x2` or `trm mlp, hidden 64, T=2 n=3`."""
    if isinstance(cfg, HRMConfig):
        return (f"hrm, hidden {cfg.hidden_size}, H {cfg.H_layers} layers x{cfg.H_cycles}, "
                f"L {cfg.L_layers} layers x{cfg.L_cycles}")
    return f"trm {cfg.mixer}, hidden {cfg.hidden_size}, T={cfg.H_cycles} n={cfg.L_cycles}"
