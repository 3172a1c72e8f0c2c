"""Engine speed on this machine: the matmul peak, then inference on the paper and CPU configs (a script, not a test).

For each config, dtype and batch it runs the engine's own step iterator (`engine.inference.solve_steps`) and
reports ms per supervision step, puzzles/s for a full 16-step solve, the achieved GFLOP/s from a FLOP count of the
matrix products, and that as a % of the measured matmul peak for the dtype. Then it measures what the engine's
speed levers bought, each against the variant without it. Run: `.venv/bin/python bench/engine.py [--quick]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import model as model_module  # noqa: E402
from engine.config import TRMConfig  # noqa: E402
from engine.inference import CPU_MICRO_BATCH, SolveOptions, recurse_in_chunks, runtime_model, solve_steps  # noqa: E402
from engine.model import TRM, swiglu_width  # noqa: E402

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}

PAPER = dict(hidden_size=512, num_heads=8, expansion=4.0, L_layers=2, H_cycles=3, puzzle_emb_ndim=512,
             puzzle_emb_len=16)
CONFIGS = {
    # name: (config, {batch: supervision steps to run; 0 = time one of the T cycles and multiply by T})
    "sudoku-paper (mlp_t)": (TRMConfig(vocab_size=11, seq_len=81, mixer="mlp", pos_encodings="none", L_cycles=6,
                                       **PAPER), {1: 5, 64: 1}),
    "maze-paper (attn 30x30)": (TRMConfig(vocab_size=6, seq_len=900, mixer="attention", pos_encodings="rope",
                                          L_cycles=4, **PAPER), {1: 2, 64: 0}),
    "sudoku9-cpu (mlp_t 128)": (TRMConfig(vocab_size=11, seq_len=81, hidden_size=128, num_heads=4, expansion=2.0,
                                          H_cycles=2, L_cycles=3, mixer="mlp", pos_encodings="none"), {1: 12, 64: 6}),
    "maze15-cpu (attn 64)": (TRMConfig(vocab_size=6, seq_len=225, hidden_size=64, num_heads=4, expansion=2.0,
                                       H_cycles=2, L_cycles=3, mixer="attention", pos_encodings="rope"),
                             {1: 12, 64: 6}),
    "maze15-cpu (attn 64, relative2d)": (TRMConfig(vocab_size=6, seq_len=225, hidden_size=64, num_heads=4,
                                                   expansion=2.0, H_cycles=2, L_cycles=3, mixer="attention",
                                                   pos_encodings="relative2d"), {1: 12, 64: 6}),
}


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 5) -> float:
    """Best GFLOP/s of an n x n x n matrix product."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = min(_time(lambda: a @ b) for _ in range(reps))
    return 2 * n**3 / best / 1e9


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def step_flops(cfg: TRMConfig, batch: int) -> float:
    """Multiply-adds x 2 of the matrix products in one supervision step (elementwise work is not counted)."""
    S, D = cfg.total_len, cfg.hidden_size
    inter = swiglu_width(D, cfg.expansion)
    channel = 2 * S * D * 3 * inter  # gate_up (D -> 2I) and down (I -> D)
    if cfg.mixer == "mlp":
        mixing = 2 * D * S * 3 * swiglu_width(S, cfg.expansion)
    else:
        mixing = 2 * S * D * 4 * D + 2 * 2 * S * S * D  # qkv + o projections, QK^T and AV
    per_net = cfg.L_layers * (channel + mixing)
    heads = 2 * cfg.seq_len * D * cfg.vocab_size + 2 * D * 2
    return batch * (cfg.H_cycles * (cfg.L_cycles + 1) * per_net + heads)


def time_steps(model: TRM, batch: int, steps: int, dtype: str) -> list[float]:
    """Seconds per supervision step as the iterator yields them (the first step includes embedding the input)."""
    cfg = model.cfg
    inputs = torch.randint(1, cfg.vocab_size, (batch, cfg.seq_len))
    ids = torch.zeros(batch, dtype=torch.long) if cfg.prefix_len else None
    times, last = [], time.perf_counter()
    for _ in solve_steps(model, inputs, ids, SolveOptions(max_steps=steps, device="cpu", dtype=dtype)):
        now = time.perf_counter()
        times.append(now - last)
        last = now
    return times


def time_one_cycle(model: TRM, batch: int, dtype: str) -> list[float]:
    """One latent recursion (a third of a paper step) timed and scaled by T: keeps the largest runs in budget."""
    cfg = model.cfg
    net = runtime_model(model, torch.device("cpu"), DTYPES[dtype])
    inputs = torch.randint(1, cfg.vocab_size, (batch, cfg.seq_len))
    ids = torch.zeros(batch, dtype=torch.long) if cfg.prefix_len else None
    with torch.inference_mode():
        x = net.embed(inputs, ids)
        y, z = net.initial_state(batch)
        return [_time(lambda: net.latent_recursion(x, y, z)) * cfg.H_cycles]


def run_table(names: list[str], batches: list[int], dtypes: list[str], peaks: dict[str, float]) -> None:
    print(f"\n{'config':<25} {'dtype':<9} {'batch':>5} {'ms/step':>10} {'puzzles/s (16 steps)':>21} "
          f"{'GFLOP/s':>8} {'% peak':>7}  steps timed")
    for name in names:
        cfg, plan = CONFIGS[name]
        model = TRM(cfg).eval()
        for dtype in dtypes:
            time_steps(model, 1, 1, dtype)  # warm up: the runtime copy in this dtype, kernels, allocator
            for batch in batches:
                steps = plan.get(batch, 2)
                times = time_steps(model, batch, steps, dtype) if steps else time_one_cycle(model, batch, dtype)
                timed = times[1:] if len(times) > 1 else times
                step_s = statistics.median(timed)
                gflops = step_flops(cfg, batch) / step_s / 1e9
                print(f"{name:<25} {dtype:<9} {batch:>5} {step_s * 1e3:>10.1f} {batch / (16 * step_s):>21.3f} "
                      f"{gflops:>8.1f} {100 * gflops / peaks[dtype]:>6.0f}%  {len(timed) if steps else '1/T'}",
                      flush=True)


@contextmanager
def patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _matmul_sequence_mlp(self, h):  # the variant before: torch.matmul(W, h) copies through a transpose
    gate, up = torch.matmul(self.gate_up_proj.weight, h).chunk(2, dim=-2)
    return torch.matmul(self.down_proj.weight, torch.nn.functional.silu(gate) * up)


def _unhoisted_latent_recursion(self, x, y, z):  # the variant before: x + y recomputed for every z update
    for _ in range(self.cfg.L_cycles):
        z = self.net(z, y + x, self.rotary)
    return self.net(y, z, self.rotary), z


def _plain_residual_norm(h, delta, eps, dim=-1):  # the variant before: a new sum, then square, mean, rsqrt, multiply
    wide = (h + delta).to(torch.promote_types(h.dtype, torch.float32))
    return (wide * torch.rsqrt(wide.square().mean(dim, keepdim=True) + eps)).to(h.dtype)


def run_levers(batch: int, reps: int) -> None:
    """Each lever against the variant without it, on the paper Sudoku config, float32, one supervision step."""
    cfg, _ = CONFIGS["sudoku-paper (mlp_t)"]
    model = TRM(cfg).eval()
    inputs = torch.randint(1, cfg.vocab_size, (batch, cfg.seq_len))

    def step_time(context) -> float:
        best = float("inf")
        with context():
            x = model.embed(inputs)
            y, z = model.initial_state(batch)
            model(x, y, z)
            for _ in range(reps):
                best = min(best, _time(lambda: model(x, y, z)))
        return best

    base = step_time(torch.inference_mode)
    rows = [("no_grad instead of inference_mode", step_time(torch.no_grad))]
    if batch > CPU_MICRO_BATCH:  # the engine's iterator runs CPU batches 8 puzzles at a time
        with torch.inference_mode():
            x_all = model.embed(inputs)
            y_all, z_all = model.initial_state(batch)

            def chunked():
                y, z = y_all, z_all
                for _ in range(cfg.H_cycles):
                    y, z = recurse_in_chunks(model, x_all, y, z, CPU_MICRO_BATCH)
                model.read_out(y)

            chunked()
            in_chunks = min(_time(chunked) for _ in range(reps))
        saved = 100 * (1 - in_chunks / base)
        print(f"\nsudoku-paper float32 batch {batch}: whole batch {base * 1e3:.1f} ms/step, micro-batches of "
              f"{CPU_MICRO_BATCH} {in_chunks * 1e3:.1f} ms/step -> micro-batching saves {saved:.1f}%")
    with patched(model_module.SequenceMLP, "forward", _matmul_sequence_mlp):
        rows.append(("matmul(W, h) instead of bmm(W.expand, h)", step_time(torch.inference_mode)))
    with patched(model_module.TRM, "latent_recursion", _unhoisted_latent_recursion):
        rows.append(("x + y inside the n-loop", step_time(torch.inference_mode)))
    with patched(model_module, "residual_norm", _plain_residual_norm):
        rows.append(("plain residual + RMSNorm", step_time(torch.inference_mode)))
    print(f"\nlevers, sudoku-paper float32 batch {batch}, best of {reps}: engine {base * 1e3:.1f} ms/step")
    for label, t in rows:
        print(f"  without ({label}): {t * 1e3:8.1f} ms/step  -> the lever saves {100 * (1 - base / t):5.1f}%")


SHIMS = {  # only what the reference's model files use, for a venv without pydantic/einops
    "einops": "def rearrange(t, pattern):\n    assert pattern in ('B S H D -> B H S D', 'B H S D -> B S H D')\n"
              "    return t.transpose(1, 2)\n",
    "pydantic": "class BaseModel:\n    def __init__(self, **kw):\n        self.__dict__.update(kw)\n",
}


def run_reference_comparison(checkout: Path, batches: list[int], dtypes: list[str], reps: int) -> None:
    """The reference's own model code (a TinyRecursiveModels checkout) against the engine (as `solve_steps` runs it),
    one supervision step each, interleaved so that a busy machine slows both alike. Paper Sudoku config."""
    import importlib.util
    import tempfile

    shim_dir = Path(tempfile.mkdtemp(prefix="trm-ref-shims-"))
    for name, code in SHIMS.items():
        if importlib.util.find_spec(name) is None:
            (shim_dir / f"{name}.py").write_text(code)
    sys.path[:0] = [str(checkout), str(shim_dir)]
    from models.recursive_reasoning.trm import TinyRecursiveReasoningModel_ACTV1

    cfg, _ = CONFIGS["sudoku-paper (mlp_t)"]
    print(f"\nreference ({checkout}) vs engine, sudoku-paper, one step, median of {reps} interleaved pairs")
    for dtype in dtypes:
        ours = runtime_model(TRM(cfg), torch.device("cpu"), DTYPES[dtype])
        for batch in batches:
            arch = dict(batch_size=batch, seq_len=cfg.seq_len, puzzle_emb_ndim=512, num_puzzle_identifiers=1,
                        vocab_size=cfg.vocab_size, H_cycles=3, L_cycles=6, H_layers=0, L_layers=2, hidden_size=512,
                        expansion=4, num_heads=8, pos_encodings="none", halt_max_steps=16, halt_exploration_prob=0.1,
                        forward_dtype=dtype, mlp_t=True, puzzle_emb_len=16, no_ACT_continue=True)
            ref = TinyRecursiveReasoningModel_ACTV1(arch).eval()
            data = {"inputs": torch.randint(1, cfg.vocab_size, (batch, cfg.seq_len)),
                    "labels": torch.randint(1, cfg.vocab_size, (batch, cfg.seq_len)),
                    "puzzle_identifiers": torch.zeros(batch, dtype=torch.int32)}

            def ref_step(ref=ref, data=data):
                with torch.inference_mode():  # as the reference's evaluate() runs
                    ref(ref.initial_carry(data), data)

            def our_step(ours=ours, data=data, batch=batch):
                with torch.inference_mode():  # as solve_steps runs a step on CPU
                    x = ours.embed(data["inputs"])
                    y, z = ours.initial_state(batch)
                    for _ in range(cfg.H_cycles):
                        y, z = recurse_in_chunks(ours, x, y, z, CPU_MICRO_BATCH)
                    ours.read_out(y)

            if batch < 32:  # warm-up; a large batch's one-time costs are noise against its step
                ref_step()
                our_step()
            pairs = [(_time(ref_step), _time(our_step)) for _ in range(reps)]
            r, o = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
            flops = step_flops(cfg, batch)
            print(f"  {dtype:<9} batch {batch:>3}: reference {r * 1e3:9.1f} ms/step ({flops / r / 1e9:6.1f} GFLOP/s)"
                  f"   engine {o * 1e3:9.1f} ms/step ({flops / o / 1e9:6.1f} GFLOP/s)   engine/ref speed {r / o:.2f}x",
                  flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CPU configs only, and the paper Sudoku at batch 1")
    parser.add_argument("--configs", nargs="*", choices=list(CONFIGS), help="only these configs")
    parser.add_argument("--batches", nargs="*", type=int, default=[1, 64])
    parser.add_argument("--dtypes", nargs="*", choices=list(DTYPES), default=list(DTYPES))
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--no-levers", action="store_true")
    parser.add_argument("--reference", type=Path, metavar="CHECKOUT",
                        help="also time the reference model code from this TinyRecursiveModels checkout")
    parser.add_argument("--reference-only", action="store_true", help="only the reference comparison")
    parser.add_argument("--reference-reps", type=int, default=3, help="interleaved pairs per comparison")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {' '.join(f'{v:.1f}' for v in _loadavg())} at start")
    peaks = {name: matmul_peak(dt) for name, dt in DTYPES.items() if name in args.dtypes}
    for name, value in peaks.items():
        print(f"matmul peak {name}: {value:.1f} GFLOP/s (2048^3, best of 5)")
    names = args.configs or list(CONFIGS)
    if args.reference:
        run_reference_comparison(args.reference, args.batches, args.dtypes, args.reference_reps)
    if args.reference_only:
        return 0
    if args.quick:
        run_table([n for n in names if "cpu" in n], args.batches, args.dtypes, peaks)
        run_table(["sudoku-paper (mlp_t)"], [1], args.dtypes, peaks)
    else:
        run_table(names, args.batches, args.dtypes, peaks)
    if not args.no_levers:
        run_levers(1, 3)
        if not args.quick:
            run_levers(16, 2)
    print(f"\ntotal {time.perf_counter() - started:.0f} s, load average {' '.join(f'{v:.1f}' for v in _loadavg())}")
    return 0


def _loadavg() -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ()


if __name__ == "__main__":
    sys.exit(main())
