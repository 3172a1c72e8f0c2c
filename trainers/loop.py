"""The training loop, faithful to the reference (`pretrain.py`, `ACTLossHead`, the ACT wrapper of `trm.py`).

One optimizer step = one supervision step of the *carried* batch: every batch slot keeps its puzzle and its (y, z)
across steps until it halts, then takes the puzzle in the same slot of the next data batch and starts from the
initial state. During training a slot halts when q_halt > 0 (or q_halt > q_continue), with probability 0.1 not before
a random minimum step in [2, halt_max_steps], and always at halt_max_steps. Loss per slot: cross-entropy (stablemax
or softmax) averaged over the cells of its puzzle, plus 0.5 * BCE(q_halt, "answer exactly right"); summed over the
global batch and divided by its size. AdamW (0.9, 0.95) for the network; sign-SGD with decoupled weight decay for
the rows of the puzzle embedding a batch touches (the reference's sparse embedding optimizer); warm-up then cosine
or constant learning rate; EMA of the weights for evaluation and checkpoints.

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
import torch.nn.functional as F

from engine.checkpoint import save_checkpoint
from engine.config import TRMConfig
from engine.inference import SolveOptions, pick_device, solve_steps
from engine.losses import IGNORE_LABEL_ID, LOSSES
from engine.model import TRM, compile_network
from trainers.checkpointing import TRAIN_PREFIX, code_version, read_train_checkpoint
from trainers.config import TrainConfig
from trainers.data import Batch, EvalSet, Prefetcher, TrainDataset
from trainers.optim import AdamW, sign_sgd_rows_
from trainers.rundir import RunWriter, latest_checkpoint


@dataclass
class TrainResult:
    model: TRM  # the raw (optimised) weights
    ema_model: TRM  # the EMA weights (== model when EMA is off): what gets evaluated and saved
    step: int
    state: str  # finished | stopped
    last_train: dict | None = None
    last_eval: dict | None = None
    history: list[dict] = field(default_factory=list)  # every metrics row of this process (train and eval)


@dataclass
class Carry:
    """The ACT carry of this rank's batch slots."""

    y: torch.Tensor
    z: torch.Tensor
    steps: torch.Tensor  # (B,) int32 supervision steps taken on the current puzzle
    halted: torch.Tensor  # (B,) bool: take a new puzzle at the next step
    inputs: torch.Tensor
    labels: torch.Tensor
    puzzle_ids: torch.Tensor

    FIELDS = ("y", "z", "steps", "halted", "inputs", "labels", "puzzle_ids")

    @classmethod
    def empty(cls, model: TRM, batch: Batch) -> Carry:
        y, z = model.initial_state(batch.inputs.shape[0])
        B = batch.inputs.shape[0]
        dev = batch.inputs.device
        return cls(y, z, torch.zeros(B, dtype=torch.int32, device=dev), torch.ones(B, dtype=torch.bool, device=dev),
                   torch.zeros_like(batch.inputs), torch.zeros_like(batch.labels), torch.zeros_like(batch.puzzle_ids))


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
def resolve_model_config(cfg: TrainConfig, dataset: TrainDataset) -> TRMConfig:
    data = dict(cfg.model)
    data["vocab_size"] = dataset.vocab_size
    data["seq_len"] = dataset.seq_len
    if data.get("puzzle_emb_ndim", 0) > 0:
        data["num_puzzle_identifiers"] = max(int(data.get("num_puzzle_identifiers", 1)),
                                             dataset.num_puzzle_identifiers)
    return TRMConfig.from_dict(data)


# ---- evaluation ---------------------------------------------------------------------------------------------------
def evaluate(model: TRM, eval_set: EvalSet, *, batch_size: int = 256, device: torch.device | str = "cpu",
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


def train(config: TrainConfig, dataset: TrainDataset, run_dir: str | Path | None = None, *,
          eval_set: EvalSet | None = None, budget_s: float | None = None,
          on_metrics: Callable[[dict], None] | None = None, resume: bool = False,
          init_model: TRM | None = None, stop_event: threading.Event | None = None,
          handle_signals: bool = True) -> TrainResult:
    """Train on `dataset` (see trainers.data.TrainDataset) for `config.steps` steps or until `budget_s` seconds pass.

    run_dir: write the run directory of docs/formats.md there (None = in memory only). resume: continue from the newest
    complete checkpoint in run_dir. init_model: start from these weights (fine-tuning) instead of a fresh model.
    on_metrics(row): called on rank 0 with every train/eval metrics row. stop_event: set it to stop like SIGTERM.
    """
    rank, world = _world()
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by the {world} ranks")
    local_b = config.batch_size // world
    device = pick_device(config.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", torch.cuda.current_device())
    if config.threads:
        torch.set_num_threads(config.threads)
    model_cfg = resolve_model_config(config, dataset) if init_model is None else init_model.cfg
    torch.manual_seed(config.seed)
    model = TRM(model_cfg) if init_model is None else copy.deepcopy(init_model)
    model.to(device).train()
    writer = RunWriter(run_dir) if (run_dir is not None and rank == 0) else None

    emb_params = [model.puzzle_emb.weight] if hasattr(model, "puzzle_emb") else []
    emb_ids = {id(p) for p in emb_params}
    net_params = [p for p in model.parameters() if id(p) not in emb_ids]
    optimizer = AdamW(net_params, betas=(config.beta1, config.beta2), weight_decay=config.weight_decay)
    ema = [p.detach().clone() for p in model.parameters()] if config.ema else None

    step, data_index, carry_state, prior_wall = 0, 0, None, 0.0
    if resume:
        ckpt = latest_checkpoint(run_dir) if run_dir is not None else None
        if ckpt is None:
            raise FileNotFoundError(f"{run_dir}: no complete checkpoint to resume from")
        step, data_index, carry_state, prior_wall = _restore(ckpt, model, optimizer, ema, device)
    elif world > 1:
        for p in model.parameters():
            dist.broadcast(p.data, 0)
    if ema is not None and not resume:
        ema = [p.detach().clone() for p in model.parameters()]

    ema_model = copy.deepcopy(model) if ema is not None else model
    loss_fn = LOSSES[config.loss]
    fwd = compile_network(model) if config.compile else model
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16)
                if device.type == "cuda" and torch.cuda.is_bf16_supported() else None)
    max_steps = model_cfg.halt_max_steps

    stop = _StopFlag()
    if handle_signals:
        stop.install()
    external_stop = stop_event or threading.Event()
    if writer:
        writer.write_config(config.to_json())
        writer.set_status("running", step=step, total_steps=config.steps,
                          message="resumed" if resume else "started")
        writer.log(f"{'resume' if resume else 'start'} at step {step}/{config.steps} on {device} x{world}; "
                   f"model {model_cfg.to_json()}")

    prefetch = Prefetcher(dataset, config.batch_size, data_index, getattr(getattr(config, "data", None),
                                                                               "prefetch", 8))
    carry: Carry | None = None
    result = TrainResult(model, ema_model, step, "running")
    sums = torch.zeros(9, dtype=torch.float64)  # loss, lm, q_halt, count, acc, exact, q_acc, steps, slots
    t_interval = time.perf_counter()
    t_start = t_interval
    interval_steps = 0
    state = "finished"
    message = ""

    def publish(row: dict) -> None:
        result.history.append(row)
        if rank == 0:
            if writer:
                writer.append_metrics(row)
            if on_metrics:
                on_metrics(row)

    def run_eval() -> None:
        if eval_set is None or rank != 0:
            return
        _load_ema(ema_model, ema)
        row = evaluate(ema_model, eval_set, batch_size=config.eval_batch_size, device=device)
        row.update(step=step, time=time.time())
        result.last_eval = row
        publish(row)
        if writer:
            writer.log(f"eval step {step}: exact {row['exact_accuracy']:.4f} cell {row['accuracy']:.4f} "
                       f"halt-step {row['mean_halt_step']:.2f}"
                       + (f" valid {row['valid_accuracy']:.4f}" if "valid_accuracy" in row else "")
                       + (f" tiers {row['tiers']}" if "tiers" in row else ""))

    def save() -> None:
        if run_dir is None:
            return
        gathered = _gather_carry(carry) if carry is not None else None  # every rank takes part
        if rank == 0 and writer:
            _load_ema(ema_model, ema)
            path = writer.checkpoint_path(step)
            _save(path, model, ema_model, optimizer, gathered, config, dataset, step, prefetch.next_index,
                  prior_wall + time.perf_counter() - t_start, result)
            writer.mark_latest(path, step, keep=config.keep_checkpoints)
        if world > 1:
            dist.barrier()

    try:
        while step < config.steps:
            index, global_batch = prefetch.get()
            batch = global_batch.slice(rank * local_b, (rank + 1) * local_b).to(device)
            if carry is None:
                carry = Carry.empty(model, batch)
                if carry_state is not None:
                    for name in Carry.FIELDS:
                        t = carry_state[name]
                        setattr(carry, name, t[rank * local_b : (rank + 1) * local_b].to(device))
                    carry_state = None
            step += 1
            lr = lr_at(step, config.lr, config)
            emb_lr = lr_at(step, config.puzzle_emb_lr, config)
            carry, metrics = _train_step(model, fwd, carry, batch, optimizer, emb_params, net_params, loss_fn,
                                         config, step, lr, emb_lr, max_steps, rank, local_b, autocast,
                                         getattr(dataset, "relabel", None))
            if ema is not None:
                with torch.no_grad():
                    for e, p in zip(ema, model.parameters(), strict=True):
                        e.mul_(config.ema).add_(p.detach(), alpha=1 - config.ema)
            sums += metrics
            interval_steps += 1

            stopping = stop.event.is_set() or external_stop.is_set()
            if budget_s is not None and time.perf_counter() - t_start >= budget_s:
                stopping, message = True, f"time budget of {budget_s:g} s reached"
            if world > 1:
                flag = torch.tensor([1.0 if stopping else 0.0])
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                stopping = bool(flag.item())

            if (config.log_every and step % config.log_every == 0) or step == config.steps or stopping:
                _all_reduce_(sums)
                now = time.perf_counter()
                row = _train_row(sums, step, config, dataset, lr, interval_steps, now - t_interval, now - t_start)
                result.last_train = row
                publish(row)
                if writer:
                    writer.set_status("running", step=step, total_steps=config.steps, message=message)
                sums.zero_()
                interval_steps, t_interval = 0, time.perf_counter()
            if config.eval_every and (step % config.eval_every == 0 or step == config.steps):
                run_eval()
            if (config.checkpoint_every and step % config.checkpoint_every == 0) or step == config.steps or stopping:
                save()
            if stopping:
                if budget_s is None or not message:
                    state, message = "stopped", "stopped on request"
                break
        result.step, result.state = step, state
        _load_ema(ema_model, ema)
        if writer:
            writer.set_status(state, step=step, total_steps=config.steps, message=message)
            writer.log(f"{state} at step {step}: {message}")
        return result
    except BaseException as exc:
        if writer:
            writer.set_status("failed", step=step, total_steps=config.steps, message=f"{type(exc).__name__}: {exc}")
            writer.log(f"failed at step {step}: {exc!r}")
        raise
    finally:
        prefetch.close()
        stop.restore()


def _train_step(model, fwd, carry: Carry, batch: Batch, optimizer, emb_params, net_params, loss_fn,
                config: TrainConfig, step: int, lr: float, emb_lr: float, max_steps: int, rank: int, local_b: int,
                autocast, relabel=None) -> tuple[Carry, torch.Tensor]:
    cfg = model.cfg
    h = carry.halted
    # Halted slots take the next puzzle of their slot and restart from the initial state.
    y0, z0 = model.initial_state(local_b)
    y = torch.where(h[:, None, None], y0, carry.y)
    z = torch.where(h[:, None, None], z0, carry.z)
    steps = torch.where(h, torch.zeros_like(carry.steps), carry.steps)
    inputs = torch.where(h[:, None], batch.inputs, carry.inputs)
    labels = torch.where(h[:, None], batch.labels, carry.labels)
    pids = torch.where(h, batch.puzzle_ids, carry.puzzle_ids)

    ctx = autocast if autocast is not None else _nullcontext()
    with ctx:
        x = model.embed(inputs, pids)
        out = fwd(x, y, z)
    logits, q_halt, q_cont = out.logits, out.q_halt.float(), out.q_continue.float()

    with torch.no_grad():
        if relabel is not None:  # puzzles with several right answers: train towards the one nearest the logits
            labels = relabel(inputs, labels, logits)
        steps = steps + 1
        halted = steps >= max_steps
        if max_steps > 1:
            halted |= (q_halt > 0) if cfg.no_ACT_continue else (q_halt > q_cont)
            gen = torch.Generator().manual_seed((config.seed * 1_000_003 + step * 7919 + 11) % (1 << 62))
            explore = torch.rand(config.batch_size, generator=gen) < cfg.halt_exploration_prob
            min_steps = torch.randint(2, max_steps + 1, (config.batch_size,), generator=gen) * explore
            sl = slice(rank * local_b, (rank + 1) * local_b)
            halted &= steps >= min_steps[sl].to(steps.device)
        valid = labels != IGNORE_LABEL_ID
        counts = valid.sum(-1)
        right = valid & (logits.argmax(-1) == labels)
        seq_right = right.sum(-1) == counts

    divisor = counts.clamp_min(1).unsqueeze(-1)
    lm_loss = (loss_fn(logits, labels) / divisor).sum()
    q_halt_loss = F.binary_cross_entropy_with_logits(q_halt, seq_right.float(), reduction="sum")
    q_cont_loss = torch.zeros((), device=q_halt.device)
    if not cfg.no_ACT_continue:
        with torch.no_grad(), ctx:
            nxt = fwd(x, out.y, out.z)
            nh, nc = nxt.q_halt.float(), nxt.q_continue.float()
            target = torch.sigmoid(torch.where(steps >= max_steps, nh, torch.maximum(nh, nc)))
        q_cont_loss = F.binary_cross_entropy_with_logits(q_cont, target, reduction="sum")
    loss = lm_loss + config.q_loss_weight * (q_halt_loss + q_cont_loss)
    (loss / config.batch_size).backward()

    _sync_gradients(list(model.parameters()))
    if config.grad_clip:
        torch.nn.utils.clip_grad_norm_(net_params, config.grad_clip)
    optimizer.step(lr)
    for p in emb_params:
        sign_sgd_rows_(p, emb_lr, config.puzzle_emb_weight_decay)
        p.grad = None
    optimizer.zero_grad()

    with torch.no_grad():
        done = halted & (counts > 0)
        metrics = torch.stack([
            loss.detach().double(), lm_loss.detach().double(), q_halt_loss.detach().double(),
            done.sum().double(),
            torch.where(done, right.sum(-1) / divisor.squeeze(-1), 0).sum().double(),
            (done & seq_right).sum().double(),
            (done & ((q_halt >= 0) == seq_right)).sum().double(),
            torch.where(done, steps, 0).sum().double(),
            torch.tensor(float(local_b), dtype=torch.float64),
        ]).cpu()
    new = Carry(out.y, out.z, steps, halted, inputs, labels, pids)
    return new, metrics


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _train_row(sums: torch.Tensor, step: int, config: TrainConfig, dataset: TrainDataset, lr: float,
               interval_steps: int, dt: float, elapsed: float) -> dict:
    loss, lm, qh, count, acc, exact, qacc, steps_sum, slots = sums.tolist()
    c = max(count, 1.0)
    per_step = dt / max(interval_steps, 1)
    epoch_len = getattr(dataset, "examples_per_epoch", None)
    return {
        "split": "train",
        "step": step,
        "epoch": round(step * config.batch_size / epoch_len, 4) if epoch_len else 0,
        "loss": loss / max(slots, 1.0),
        "lm_loss": lm / max(slots, 1.0),
        "q_halt_loss": qh / max(slots, 1.0),
        "accuracy": acc / c,
        "exact_accuracy": exact / c,
        "q_halt_accuracy": qacc / c,
        "mean_steps": steps_sum / c,
        "halted": int(count),
        "lr": lr,
        "samples_per_s": slots / max(dt, 1e-9),
        "eta_s": per_step * (config.steps - step),
        "elapsed_s": round(elapsed, 3),
        "time": time.time(),
    }


# ---- checkpoints --------------------------------------------------------------------------------------------------
def _load_ema(ema_model: TRM, ema: list[torch.Tensor] | None) -> None:
    if ema is None:
        return
    with torch.no_grad():
        for p, e in zip(ema_model.parameters(), ema, strict=True):
            p.copy_(e)


def _save(path: Path, model: TRM, ema_model: TRM, optimizer, carry: dict | None, config: TrainConfig,
          dataset: TrainDataset, step: int, data_index: int, wall_s: float, result: TrainResult) -> None:
    extra: dict[str, torch.Tensor] = {}
    for name, p in model.named_parameters():
        # Without EMA the saved model *is* the raw model; safetensors refuses two names for one storage.
        extra[f"{TRAIN_PREFIX}raw/{name}"] = p.detach() if ema_model is not model else p.detach().clone()
    for k, v in optimizer.state_tensors().items():
        extra[f"{TRAIN_PREFIX}opt/{k}"] = v
    for name, t in (carry or {}).items():
        extra[f"{TRAIN_PREFIX}carry/{name}"] = t
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


def _restore(path: Path, model: TRM, optimizer, ema: list[torch.Tensor] | None, device
             ) -> tuple[int, int, dict | None, float]:
    ema_state, train, state = read_train_checkpoint(path)
    raw = {k[len("raw/"):]: v for k, v in train.items() if k.startswith("raw/")}
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(raw[name].to(device))
        if ema is not None:
            for e, (name, _) in zip(ema, model.named_parameters(), strict=True):
                e.copy_(ema_state[name].to(device))
    optimizer.load_state_tensors({k[len("opt/"):]: v.to(device) for k, v in train.items() if k.startswith("opt/")})
    carry = {k[len("carry/"):]: v for k, v in train.items() if k.startswith("carry/")} or None
    return int(state["step"]), int(state["data_index"]), carry, float(state.get("wall_time_s", 0.0))
