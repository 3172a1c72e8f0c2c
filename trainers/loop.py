"""The training loop, faithful to the reference (`pretrain.py`): the ACT step of trainers.act on a carried batch,
AdamW (0.9, 0.95) for the network, sign-SGD with decoupled weight decay for the rows of the puzzle embedding a batch
touches (the reference's sparse embedding optimizer), warm-up then cosine or constant learning rate, an EMA of the
weights for evaluation and checkpoints, evaluation through engine.inference, and the run directory.

Data parallel (torchrun): each rank builds the same global batch and keeps its slice; gradients are summed with
all_reduce (as the reference does by hand), so N ranks compute what one process computes on the global batch.
Everything random is a function of (seed, step) or (seed, batch index), so a resumed run repeats the same curve.
"""

from __future__ import annotations

import copy
import json
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from engine.architectures import DEFAULT_ARCH, Model, ModelConfig, build_model, config_from_dict
from engine.checkpoint import save_checkpoint
from engine.inference import SolveOptions, pick_device, solve_steps
from engine.losses import IGNORE_LABEL_ID
from engine.model import compile_network
from trainers.act import Carry, StepMetrics, act_step, exploration_min_steps
from trainers.checkpointing import TRAIN_PREFIX, code_version, read_train_checkpoint
from trainers.config import TrainConfig
from trainers.data import EvalSet, Prefetcher, TrainDataset
from trainers.optim import AdamW, sign_sgd_rows_
from trainers.rundir import RunWriter, latest_checkpoint


@dataclass
class TrainResult:
    model: Model  # the raw (optimised) weights
    ema_model: Model  # the EMA weights (== model when EMA is off): what gets evaluated and saved
    step: int
    state: str  # finished | stopped
    last_train: dict | None = None
    last_eval: dict | None = None
    history: list[dict] = field(default_factory=list)  # every metrics row of this process (train and eval)


# ---- schedule -----------------------------------------------------------------------------------------------------
def lr_at(step: int, base: float, cfg: TrainConfig) -> float:
    """The reference's cosine_schedule_with_warmup_lr_lambda (step counts from 1); constant after warm-up if asked."""
    if step < cfg.warmup_steps:
        return base * step / max(1, cfg.warmup_steps)
    if cfg.schedule == "constant":
        return base
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    r = cfg.min_lr_ratio
    return base * (r + max(0.0, (1 - r) * 0.5 * (1.0 + math.cos(math.pi * progress))))


# ---- distributed helpers ------------------------------------------------------------------------------------------
def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _all_reduce_(t: torch.Tensor) -> torch.Tensor:
    if _world()[1] > 1:
        dist.all_reduce(t)
    return t


def _sync_gradients(params: list[torch.nn.Parameter]) -> None:
    if _world()[1] == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


# ---- the model config a dataset implies ---------------------------------------------------------------------------
def resolve_model_config(cfg: TrainConfig, dataset: TrainDataset) -> ModelConfig:
    """The model config: `model.arch` ("trm", the default, or "hrm") picks the architecture, the rest are its
    config's fields; vocabulary, length and puzzle identifiers come from the dataset."""
    data = dict(cfg.model)
    arch = data.pop("arch", DEFAULT_ARCH)
    data["vocab_size"] = dataset.vocab_size
    data["seq_len"] = dataset.seq_len
    if data.get("puzzle_emb_ndim", 0) > 0:
        data["num_puzzle_identifiers"] = max(int(data.get("num_puzzle_identifiers", 1)),
                                             dataset.num_puzzle_identifiers)
    return config_from_dict(arch, data)


# ---- evaluation ---------------------------------------------------------------------------------------------------
def evaluate(model: Model, eval_set: EvalSet, *, batch_size: int = 256, device: torch.device | str = "cpu",
             max_steps: int | None = None) -> dict:
    """Exact/cell accuracy after every supervision step (through engine.inference, as the GUI and CLI solve),
    halting accuracy (q_halt >= 0 agrees with "exactly right" at the last step), mean halting step (first step with
    q_halt > 0, else the last) and the exact accuracy when each puzzle stops at its halting step."""
    steps = max_steps or model.cfg.halt_max_steps
    n = len(eval_set)
    exact_per_step = torch.zeros(steps)
    cell_final = 0.0
    halt_right = 0
    halt_step_sum = 0
    exact_at_halt = torch.zeros(n, dtype=torch.bool)
    exact_final = torch.zeros(n, dtype=torch.bool)
    valid_final = torch.zeros(n, dtype=torch.bool)
    was_training = model.training
    model.eval()
    opts = SolveOptions(max_steps=steps, halt_threshold=None, device=str(device))
    for start in range(0, n, batch_size):
        inputs = eval_set.inputs[start : start + batch_size]
        labels = eval_set.labels[start : start + batch_size]
        ids = eval_set.puzzle_ids[start : start + batch_size]
        valid = labels != IGNORE_LABEL_ID
        B = inputs.shape[0]
        halt_at = torch.full((B,), steps, dtype=torch.long)
        at_halt = torch.zeros(B, dtype=torch.bool)
        decided = torch.zeros(B, dtype=torch.bool)
        for step in solve_steps(model, inputs, ids, opts):
            right = valid & (step.tokens == labels)
            exact = right.sum(-1) == valid.sum(-1)
            exact_per_step[step.index - 1] += exact.sum()
            newly = (step.halt_prob > 0.5) & ~decided
            halt_at[newly] = step.index
            at_halt[newly] = exact[newly]
            decided |= newly
            last = step
        at_halt[~decided] = exact[~decided]
        halt_right += int(((last.halt_prob >= 0.5) == exact).sum())
        halt_step_sum += int(halt_at.sum())
        cell_final += float((right.sum(-1) / valid.sum(-1).clamp_min(1)).sum())
        exact_final[start : start + B] = exact
        if eval_set.judge is not None:
            for i in range(B):
                valid_final[start + i] = bool(exact[i]) or eval_set.judge(inputs[i].numpy(), last.tokens[i].numpy())
        exact_at_halt[start : start + B] = at_halt
    model.train(was_training)
    row = {
        "split": "eval",
        "count": n,
        "exact_accuracy": float(exact_final.float().mean()),
        "accuracy": cell_final / n,
        "exact_accuracy_per_step": [round(float(v) / n, 6) for v in exact_per_step],
        "exact_accuracy_at_halt": float(exact_at_halt.float().mean()),
        "halt_accuracy": halt_right / n,
        "mean_halt_step": halt_step_sum / n,
    }
    if eval_set.judge is not None:
        row["valid_accuracy"] = float(valid_final.float().mean())  # right by the rules (e.g. any shortest path)
    if eval_set.tiers:
        tiers: dict[str, dict] = {}
        for name in sorted(set(eval_set.tiers)):
            idx = torch.tensor([t == name for t in eval_set.tiers])
            tiers[name] = {"count": int(idx.sum()), "exact_accuracy": float(exact_final[idx].float().mean())}
        row["tiers"] = tiers
    return row


# ---- the loop -----------------------------------------------------------------------------------------------------
class _StopFlag:
    """Set by SIGTERM/SIGINT (or by code): the loop finishes its step, checkpoints, and returns `stopped`."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._old: dict = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._old[sig] = signal.signal(sig, lambda *_: self.event.set())

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


@dataclass
class TrainState:
    """What the loop carries from step to step (one object instead of closures over its locals)."""

    config: TrainConfig
    dataset: TrainDataset
    model: Model
    ema_model: Model
    fwd: Model  # the model's forward (compiled when asked)
    optimizer: AdamW
    emb_optimizer: AdamW | None  # the puzzle embedding's, when it is AdamW rather than the reference's sign-SGD
    ema: list[torch.Tensor] | None
    emb_params: list[torch.nn.Parameter]
    net_params: list[torch.nn.Parameter]
    device: torch.device
    rank: int
    world: int
    writer: RunWriter | None
    prefetch: Prefetcher
    result: TrainResult
    run_dir: Path | None
    eval_set: EvalSet | None
    on_metrics: Callable[[dict], None] | None
    autocast: object | None
    step: int = 0
    # The ACT carry of each batch stream, by cells per puzzle: one, or one per canvas (data.canvases)
    carries: dict[int, Carry] = field(default_factory=dict)
    carry_state: dict[int, dict] = field(default_factory=dict)  # resumed carries, applied at each stream's first batch
    prior_wall: float = 0.0
    sums: StepMetrics = field(default_factory=StepMetrics)
    interval_steps: int = 0
    t_start: float = field(default_factory=time.perf_counter)
    t_interval: float = field(default_factory=time.perf_counter)
    cpu_start: float = field(default_factory=time.process_time)  # the budget's clock: this process's CPU seconds
    message: str = ""

    @property
    def local_b(self) -> int:
        return self.config.batch_size // self.world


def train(config: TrainConfig, dataset: TrainDataset, run_dir: str | Path | None = None, *,
          eval_set: EvalSet | None = None, budget_s: float | None = None, budget_clock: str = "cpu",
          on_metrics: Callable[[dict], None] | None = None, resume: bool = False,
          init_model: Model | None = None, stop_event: threading.Event | None = None,
          handle_signals: bool = True) -> TrainResult:
    """Train on `dataset` (see trainers.data.TrainDataset) for `config.steps` steps or until this process has used
    `budget_s` CPU seconds (all its threads, data included; CPU rather than wall time, so two runs matched on a
    loaded machine get the same compute however the scheduler shares it; budget_clock="wall" counts wall seconds).

    run_dir: write the run directory of docs/formats.md there (None = in memory only). resume: continue from the
    newest complete checkpoint in run_dir. init_model: start from these weights (fine-tuning) instead of a fresh model.
    on_metrics(row): called on rank 0 with every train/eval metrics row. stop_event (anything with `is_set()`): set
    it to stop like SIGTERM; checked before every step, so a request made before the first step runs none.
    """
    s = _start(config, dataset, run_dir, eval_set, on_metrics, resume, init_model)
    stop = _StopFlag()
    if handle_signals:
        stop.install()
    requests = [stop.event] + ([stop_event] if stop_event is not None else [])
    try:
        stop_now = _stopping(s, requests, budget_s, budget_clock)
        while s.step < config.steps and not stop_now:
            _optimise(s)
            stop_now = _stopping(s, requests, budget_s, budget_clock)
            last = stop_now or s.step == config.steps
            if _every(s.step, config.log_every) or last or _log_due(s):
                _log_train(s)
            if _every(s.step, config.eval_every) or (config.eval_every and s.step == config.steps):
                _run_eval(s)
            if _every(s.step, config.checkpoint_every) or last:
                _checkpoint(s)
        state = "finished"
        if stop_now and not s.message:  # a request, not the budget (which finishes, saying so in the message)
            state, s.message = "stopped", "stopped on request"
        return _finish(s, state)
    except BaseException as exc:
        if s.writer:
            s.writer.set_status("failed", step=s.step, total_steps=config.steps, message=f"{type(exc).__name__}: {exc}")
            s.writer.log(f"failed at step {s.step}: {exc!r}")
        raise
    finally:
        s.prefetch.close()
        stop.restore()


def _start(config: TrainConfig, dataset: TrainDataset, run_dir, eval_set, on_metrics, resume: bool,
           init_model: Model | None) -> TrainState:
    """Model, optimizer, EMA and data position: fresh, fine-tuned from `init_model`, or resumed from run_dir."""
    rank, world = _world()
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by the {world} ranks")
    device = pick_device(config.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", torch.cuda.current_device())
    if config.threads:
        torch.set_num_threads(config.threads)
    model_cfg = resolve_model_config(config, dataset) if init_model is None else init_model.cfg
    torch.manual_seed(config.seed)
    model = build_model(model_cfg) if init_model is None else copy.deepcopy(init_model)
    model.to(device).train()
    names = [name for name, _ in model.named_parameters()]
    if unknown := [f for f in config.freeze if not any(n.startswith(f) for n in names)]:
        raise ValueError(f"freeze: the model has no parameter named {', '.join(unknown)}...")
    for name, p in model.named_parameters():
        if name.startswith(tuple(config.freeze)):
            p.requires_grad_(False)
    emb_params = [model.puzzle_emb.weight] if hasattr(model, "puzzle_emb") else []
    net_params = [p for p in model.parameters() if p.requires_grad and all(p is not e for e in emb_params)]
    if config.freeze_weights:  # the reference's freeze_weights: only the puzzle embedding learns
        if not emb_params:
            raise ValueError("freeze_weights needs a model with a puzzle embedding to train")
        for p in net_params:
            p.requires_grad_(False)
    betas = (config.beta1, config.beta2)
    optimizer = AdamW([] if config.freeze_weights else net_params, betas=betas, weight_decay=config.weight_decay)
    emb_optimizer = (AdamW(emb_params, betas=betas, weight_decay=config.puzzle_emb_weight_decay)
                     if emb_params and config.puzzle_emb_optimizer == "adamw" else None)
    ema = [p.detach().clone() for p in model.parameters()] if config.ema else None
    step, data_index, carry_state, prior_wall = 0, 0, {}, 0.0
    if resume:
        ckpt = latest_checkpoint(run_dir) if run_dir is not None else None
        if ckpt is None:
            raise FileNotFoundError(f"{run_dir}: no complete checkpoint to resume from")
        step, data_index, carry_state, prior_wall = _restore(ckpt, model, optimizer, emb_optimizer, ema, device)
    elif world > 1:
        for p in model.parameters():
            dist.broadcast(p.data, 0)
    if ema is not None and not resume:
        ema = [p.detach().clone() for p in model.parameters()]
    ema_model = copy.deepcopy(model) if ema is not None else model
    writer = RunWriter(run_dir) if (run_dir is not None and rank == 0) else None
    if writer:
        writer.write_config(config.to_json())
        writer.set_status("running", step=step, total_steps=config.steps, message="resumed" if resume else "started")
        writer.log(f"{'resume' if resume else 'start'} at step {step}/{config.steps} on {device} x{world}; "
                   f"model {model_cfg.to_json()}")
    prefetch = Prefetcher(dataset, config.batch_size, data_index, getattr(getattr(config, "data", None),
                                                                               "prefetch", 8))
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16)
                if device.type == "cuda" and torch.cuda.is_bf16_supported() else None)
    return TrainState(config, dataset, model, ema_model, compile_network(model) if config.compile else model, optimizer,
                      emb_optimizer, ema, emb_params, net_params, device, rank, world, writer, prefetch,
                      TrainResult(model, ema_model, step, "running"), None if run_dir is None else Path(run_dir),
                      eval_set, on_metrics, autocast, step=step, carry_state=carry_state, prior_wall=prior_wall)


def _optimise(s: TrainState) -> None:
    """One optimizer step: the ACT step of this rank's slice of the next global batch, then the EMA."""
    config, model, b = s.config, s.model, s.local_b
    _, global_batch = s.prefetch.get()
    batch = global_batch.slice(s.rank * b, (s.rank + 1) * b).to(s.device)
    cells = batch.inputs.shape[1]
    if cells not in s.carries:
        s.carries[cells] = carry = Carry.empty(model, batch)
        if saved := s.carry_state.pop(cells, None):  # resumed: this rank's slots of the saved carry
            for name in Carry.FIELDS:
                setattr(carry, name, saved[name][s.rank * b : (s.rank + 1) * b].to(s.device))
    s.step += 1
    min_steps = None
    if model.cfg.halt_max_steps > 1:  # drawn for the global batch from (seed, step): the same on every rank
        gen = torch.Generator().manual_seed((config.seed * 1_000_003 + s.step * 7919 + 11) % (1 << 62))
        min_steps = exploration_min_steps(gen, config.batch_size, model.cfg.halt_max_steps,
                                          model.cfg.halt_exploration_prob)[s.rank * b : (s.rank + 1) * b]
    s.carries[cells], metrics = act_step(model, s.carries[cells], batch, loss=config.loss,
                                         q_loss_weight=config.q_loss_weight, min_steps=min_steps,
                                         grad_scale=1 / config.batch_size, micro_batch=config.micro_batch, fwd=s.fwd,
                                         autocast=s.autocast, relabel=getattr(s.dataset, "relabel", None))
    _sync_gradients(list(model.parameters()))
    if config.grad_clip:
        torch.nn.utils.clip_grad_norm_(s.net_params, config.grad_clip)
    s.optimizer.step(lr_at(s.step, config.lr, config))
    emb_lr = lr_at(s.step, config.puzzle_emb_lr, config)
    if s.emb_optimizer is not None:
        s.emb_optimizer.step(emb_lr)
        s.emb_optimizer.zero_grad()
    else:
        for p in s.emb_params:
            sign_sgd_rows_(p, emb_lr, config.puzzle_emb_weight_decay)
            p.grad = None
    s.optimizer.zero_grad()
    if s.ema is not None:
        with torch.no_grad():
            for e, p in zip(s.ema, model.parameters(), strict=True):
                e.mul_(config.ema).add_(p.detach(), alpha=1 - config.ema)
    s.sums += metrics
    s.interval_steps += 1


def _every(step: int, interval: int) -> bool:
    return bool(interval) and step % interval == 0


def _log_due(s: TrainState) -> bool:
    """A row every `log_every_s` seconds as well (progress shown by time, whatever a step costs)."""
    return bool(s.config.log_every_s) and time.perf_counter() - s.t_interval >= s.config.log_every_s


def _stopping(s: TrainState, requests: list, budget_s: float | None, clock: str) -> bool:
    """A stop request (SIGTERM, stop_event: anything with `is_set()`) or the budget (CPU or wall seconds); every rank
    agrees."""
    stopping = any(r.is_set() for r in requests)
    used = time.process_time() - s.cpu_start if clock == "cpu" else time.perf_counter() - s.t_start
    if budget_s is not None and used >= budget_s:
        stopping, s.message = True, f"{'CPU' if clock == 'cpu' else 'wall'}-time budget of {budget_s:g} s reached"
    if s.world > 1:
        flag = torch.tensor([1.0 if stopping else 0.0])
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        stopping = bool(flag.item())
    return stopping


def _publish(s: TrainState, row: dict) -> None:
    s.result.history.append(row)
    if s.rank == 0:
        if s.writer:
            s.writer.append_metrics(row)
        if s.on_metrics:
            s.on_metrics(row)


def _log_train(s: TrainState) -> None:
    sums = StepMetrics.from_tensor(_all_reduce_(s.sums.to_tensor()))
    now = time.perf_counter()
    row = _train_row(sums, s.step, s.config, s.dataset, lr_at(s.step, s.config.lr, s.config), s.interval_steps,
                     now - s.t_interval, now - s.t_start)
    row["cpu_s"] = round(time.process_time() - s.cpu_start, 3)
    s.result.last_train = row
    _publish(s, row)
    if s.writer:
        s.writer.set_status("running", step=s.step, total_steps=s.config.steps, message=s.message)
    s.sums, s.interval_steps, s.t_interval = StepMetrics(), 0, time.perf_counter()


def _run_eval(s: TrainState) -> None:
    if s.eval_set is None or s.rank != 0:
        return
    _load_ema(s.ema_model, s.ema)
    row = evaluate(s.ema_model, s.eval_set, batch_size=s.config.eval_batch_size, device=s.device)
    row.update(step=s.step, time=time.time())
    s.result.last_eval = row
    _publish(s, row)
    if s.writer:
        s.writer.log(f"eval step {s.step}: exact {row['exact_accuracy']:.4f} cell {row['accuracy']:.4f} "
                     f"halt-step {row['mean_halt_step']:.2f}"
                     + (f" valid {row['valid_accuracy']:.4f}" if "valid_accuracy" in row else "")
                     + (f" tiers {row['tiers']}" if "tiers" in row else ""))


def _checkpoint(s: TrainState) -> None:
    if s.run_dir is None:
        return
    gathered = {cells: _gather_carry(c) for cells, c in sorted(s.carries.items())}  # every rank takes part
    if s.rank == 0 and s.writer:
        _load_ema(s.ema_model, s.ema)
        path = s.writer.checkpoint_path(s.step)
        _save(path, s.model, s.ema_model, (s.optimizer, s.emb_optimizer), gathered, s.config, s.dataset, s.step,
              s.prefetch.next_index, s.prior_wall + time.perf_counter() - s.t_start, s.result)
        s.writer.mark_latest(path, s.step, keep=s.config.keep_checkpoints)
    if s.world > 1:
        dist.barrier()


def _finish(s: TrainState, state: str) -> TrainResult:
    s.result.step, s.result.state = s.step, state
    _load_ema(s.ema_model, s.ema)
    if s.writer:
        s.writer.set_status(state, step=s.step, total_steps=s.config.steps, message=s.message)
        s.writer.log(f"{state} at step {s.step}: {s.message}")
    return s.result


def _train_row(sums: StepMetrics, step: int, config: TrainConfig, dataset: TrainDataset, lr: float,
               interval_steps: int, dt: float, elapsed: float) -> dict:
    c, slots = max(sums.halted, 1.0), max(sums.slots, 1.0)
    per_step = dt / max(interval_steps, 1)
    epoch_len = getattr(dataset, "examples_per_epoch", None)
    return {
        "split": "train",
        "step": step,
        "total_steps": config.steps,
        "epoch": round(step * config.batch_size / epoch_len, 4) if epoch_len else 0,
        "loss": sums.loss / slots,
        "lm_loss": sums.lm_loss / slots,
        "q_halt_loss": sums.q_halt_loss / slots,
        "accuracy": sums.accuracy / c,
        "exact_accuracy": sums.exact / c,
        "q_halt_accuracy": sums.q_halt_right / c,
        "mean_steps": sums.steps / c,
        "halted": int(sums.halted),
        "lr": lr,
        "samples_per_s": sums.slots / max(dt, 1e-9),
        "eta_s": per_step * (config.steps - step),
        "elapsed_s": round(elapsed, 3),
        "time": time.time(),
    }


# ---- checkpoints --------------------------------------------------------------------------------------------------
def _load_ema(ema_model: Model, ema: list[torch.Tensor] | None) -> None:
    if ema is None:
        return
    with torch.no_grad():
        for p, e in zip(ema_model.parameters(), ema, strict=True):
            p.copy_(e)


def _save(path: Path, model: Model, ema_model: Model, optimizers: tuple, carries: dict[int, dict], config: TrainConfig,
          dataset: TrainDataset, step: int, data_index: int, wall_s: float, result: TrainResult) -> None:
    extra: dict[str, torch.Tensor] = {}
    for name, p in model.named_parameters():
        # Without EMA the saved model *is* the raw model; safetensors refuses two names for one storage.
        extra[f"{TRAIN_PREFIX}raw/{name}"] = p.detach() if ema_model is not model else p.detach().clone()
    for prefix, optimizer in zip(("opt", "emb_opt"), optimizers, strict=True):
        for k, v in (optimizer.state_tensors() if optimizer is not None else {}).items():
            extra[f"{TRAIN_PREFIX}{prefix}/{k}"] = v
    for cells, carry in carries.items():
        for name, t in carry.items():
            extra[f"{TRAIN_PREFIX}{_carry_key(cells, model.cfg)}/{name}"] = t
    training = {
        "preset": config.preset,
        "dataset": asdict(config.data),
        "steps": step,
        "batch_size": config.batch_size,
        "loss": config.loss,
        "metrics": {"train": result.last_train, "eval": result.last_eval},
        "wall_time_s": round(wall_s, 1),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code_version": code_version(),
    }
    state = {"step": step, "data_index": data_index, "wall_time_s": wall_s}
    save_checkpoint(path, ema_model, encoding=dataset.encoding, training=training, extra_tensors=extra,
                    extra_metadata={"train_state": json.dumps(state)})


def _gather_carry(carry: Carry) -> dict[str, torch.Tensor]:
    out = {}
    rank, world = _world()
    for name in Carry.FIELDS:
        t = getattr(carry, name).detach()
        if world > 1:
            parts = [torch.empty_like(t) for _ in range(world)]
            dist.all_gather(parts, t.contiguous())
            t = torch.cat(parts)
        out[name] = t.cpu()
    return out


def _carry_key(cells: int, cfg) -> str:
    """Where a stream's carry is saved: `carry` for the model's own canvas, `carry@CELLS` for a smaller one."""
    return "carry" if cells == cfg.seq_len else f"carry@{cells}"


def _restore(path: Path, model: Model, optimizer, emb_optimizer, ema: list[torch.Tensor] | None, device
             ) -> tuple[int, int, dict[int, dict], float]:
    ema_state, train, state = read_train_checkpoint(path)
    raw = {k[len("raw/"):]: v for k, v in train.items() if k.startswith("raw/")}
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(raw[name].to(device))
        if ema is not None:
            for e, (name, _) in zip(ema, model.named_parameters(), strict=True):
                e.copy_(ema_state[name].to(device))
    optimizer.load_state_tensors({k[len("opt/"):]: v.to(device) for k, v in train.items() if k.startswith("opt/")})
    emb_state = {k[len("emb_opt/"):]: v.to(device) for k, v in train.items() if k.startswith("emb_opt/")}
    if emb_optimizer is not None and emb_state:  # (a run that switched from sign-SGD starts its moments afresh)
        emb_optimizer.load_state_tensors(emb_state)
    carries: dict[int, dict] = {}
    for key, t in train.items():
        stream, _, name = key.partition("/")
        if stream == "carry" or stream.startswith("carry@"):
            cells = model.cfg.seq_len if stream == "carry" else int(stream[len("carry@"):])
            carries.setdefault(cells, {})[name] = t
    return int(state["step"]), int(state["data_index"]), carries, float(state.get("wall_time_s", 0.0))
