"""OpenVLA at full size with random weights: parameters, peak memory, latency per action, and
how far that latency is from the memory-bandwidth bound of the GPU.

    python plugins/openvla/benchmarks/bench_openvla.py --device cuda --dtype bfloat16

One action is a prefill over [BOS, 256 patches, ~25 prompt tokens] that also runs both vision
towers and the projector, then 6 single-token decode steps (7 tokens in all). At batch 1 each
step streams every weight it uses from GPU memory, so a lower bound on one action is

    (vision + projector bytes + 7 x LLM bytes + KV-cache reads) / memory bandwidth

(the token-embedding table is gathered, not streamed, and is left out). The prefill is also
bounded by compute (2 x params x tokens FLOPs); the bound printed per phase is the larger.
Measured latencies come from the same ``openvla`` policy ``bench run`` uses
(``weights=random``), timed with CUDA synchronisation. On a CPU the 7B model needs ~15 GB
(bfloat16) of RAM and minutes per action, so it runs only with ``--cpu-full``;
``--checkpoint DIR`` profiles the architecture of another checkpoint (e.g. a tiny test one).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch
from vla_bench_openvla.checkpoint import resolve
from vla_bench_openvla.config import OpenVLAConfig, load_config, shipped_architecture
from vla_bench_openvla.inputs import WordTokenizer
from vla_bench_openvla.model import OpenVLAModel
from vla_bench_openvla.policy import OpenVLAPolicy

from harness.contract import EE_DELTA_7D, EpisodeSpec, PolicyConfig, TaskSpec

GPU_BANDWIDTH_GBS = {
    # name fragment (torch.cuda.get_device_name) -> HBM bandwidth, GB/s (vendor data sheets)
    "H200": 4800.0,
    "H100 NVL": 3900.0,
    "H100 PCIe": 2000.0,
    "H100": 3350.0,  # SXM5, HBM3 (reported as "NVIDIA H100 80GB HBM3")
    "A100-SXM4-80GB": 2039.0,
    "A100": 1555.0,
}
GPU_BF16_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0}
"""Dense bf16 tensor-core peaks (no sparsity), TFLOP/s."""
H100_SXM = ("H100", 3350.0, 989.0)

TASK = TaskSpec(
    name="bench",
    version="1",
    suite="bench",
    instruction="pick up the red block and put it in the bowl",
    control_hz=10.0,
    max_steps=1,
    action_space=EE_DELTA_7D,
    state_fields=(),
    cameras={"front": (224, 224)},
)


def component_bytes(config: OpenVLAConfig, dtype: torch.dtype) -> dict[str, int]:
    """Bytes of each component's weights at ``dtype`` (built on the meta device)."""
    with torch.device("meta"):
        model = OpenVLAModel(config)
    size = torch.empty((), dtype=dtype).element_size()

    def total(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters()) * size

    embed = model.llm.model.embed_tokens.weight.numel() * size
    return {
        "vision": total(model.featurizer),
        "projector": total(model.projector),
        "llm_streamed": total(model.llm) - embed,
        "embedding_table": embed,
    }


def bound_per_action(
    config: OpenVLAConfig,
    dtype: torch.dtype,
    prompt_tokens: int,
    bandwidth_gbs: float,
    tflops: float,
) -> dict[str, float]:
    """Memory-bandwidth (and, for the prefill, compute) lower bounds on one action, seconds."""
    parts = component_bytes(config, dtype)
    size = torch.empty((), dtype=dtype).element_size()
    text = config.text
    kv_per_token = (
        2
        * text["num_hidden_layers"]
        * text["num_key_value_heads"]
        * (text["hidden_size"] // text["num_attention_heads"])
        * size
    )
    prefill_tokens = config.num_patches + prompt_tokens
    bw = bandwidth_gbs * 1e9
    prefill_bytes = parts["vision"] + parts["projector"] + parts["llm_streamed"]
    llm_params = parts["llm_streamed"] / size
    vision_params = (parts["vision"] + parts["projector"]) / size
    prefill_flops = 2 * llm_params * prefill_tokens + 2 * vision_params * config.num_patches
    decode_steps = 6
    decode_bytes = sum(
        parts["llm_streamed"] + kv_per_token * (prefill_tokens + i) for i in range(decode_steps)
    )
    prefill_s = max(prefill_bytes / bw, prefill_flops / (tflops * 1e12))
    return {
        "bytes_per_action": float(prefill_bytes + decode_bytes),
        "prefill_bytes": float(prefill_bytes),
        "decode_bytes_per_token": float(parts["llm_streamed"]),
        "prefill_flops": float(prefill_flops),
        "prefill_bound_s": prefill_s,
        "decode_bound_s_per_token": decode_bytes / decode_steps / bw,
        "action_bound_s": prefill_s + decode_bytes / bw,
        "bandwidth_only_bound_s": (prefill_bytes + decode_bytes) / bw,
    }


def gpu_figures(name: str) -> tuple[str, float, float]:
    """(matched name, GB/s, bf16 TFLOP/s) for a CUDA device name; H100 SXM if unknown."""
    for fragment, bandwidth in GPU_BANDWIDTH_GBS.items():
        if fragment in name:
            tflops = next((t for f, t in GPU_BF16_TFLOPS.items() if f in name), 989.0)
            return fragment, bandwidth, tflops
    return H100_SXM


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (linear interpolation)."""
    return float(np.percentile(np.asarray(values), q))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures (and a JSON line for scripts)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="cuda, cuda:N, cpu or auto")
    parser.add_argument("--dtype", default=None, help="bfloat16 (GPU default), float16, float32")
    parser.add_argument("--arch", default="openvla-7b")
    parser.add_argument("--checkpoint", help="profile this checkpoint's architecture instead")
    parser.add_argument("--iters", type=int, default=30, help="timed actions")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--cpu-full", action="store_true", help="allow the 7B model on a CPU")
    parser.add_argument("--bandwidth-gbs", type=float, help="override the GPU's memory bandwidth")
    args = parser.parse_args(argv)

    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    dtype_name = args.dtype or ("bfloat16" if device.type == "cuda" else "float32")
    dtype = getattr(torch, dtype_name)
    if args.checkpoint:
        config = load_config(resolve(args.checkpoint))
        policy_args, name = f"checkpoint={args.checkpoint},weights=random", args.checkpoint
    else:
        config = shipped_architecture(args.arch)
        policy_args, name = f"weights=random,arch={args.arch}", args.arch
    policy_args += f",device={device},dtype={dtype_name}"
    if device.type == "cuda":
        gpu = torch.cuda.get_device_name(device)
        matched, bandwidth, tflops = gpu_figures(gpu)
    else:
        gpu, (matched, bandwidth, tflops) = "none", H100_SXM
    bandwidth = args.bandwidth_gbs or bandwidth
    parts = component_bytes(config, torch.bfloat16)
    print(f"OpenVLA {name}, random weights; device {device} ({gpu}), dtype {dtype_name}")
    print(
        f"weights (bf16): vision {parts['vision'] / 1e9:.2f} GB, projector "
        f"{parts['projector'] / 1e9:.3f} GB, LLM streamed per token "
        f"{parts['llm_streamed'] / 1e9:.2f} GB, embedding table "
        f"{parts['embedding_table'] / 1e9:.2f} GB"
    )

    def print_bound(prompt_tokens: int) -> dict[str, float]:
        bound = bound_per_action(config, torch.bfloat16, prompt_tokens, bandwidth, tflops)
        print(
            f"bound on {matched} ({bandwidth:.0f} GB/s, {tflops:.0f} bf16 TFLOP/s), one action "
            f"= prefill of {config.num_patches + prompt_tokens} tokens + 6 decode steps: "
            f"{bound['bytes_per_action'] / 1e9:.1f} GB read -> "
            f"{bound['bandwidth_only_bound_s'] * 1e3:.1f} ms from bandwidth alone; prefill "
            f"{bound['prefill_flops'] / 1e12:.2f} TFLOP -> {bound['prefill_bound_s'] * 1e3:.1f} "
            f"ms, decode {bound['decode_bound_s_per_token'] * 1e3:.2f} ms/token; "
            f"action >= {bound['action_bound_s'] * 1e3:.1f} ms"
        )
        return bound

    if device.type == "cpu" and not args.checkpoint and not args.cpu_full:
        # What the random-weights policy would feed the model (see inputs.WordTokenizer).
        print_bound(len(WordTokenizer().encode(TASK.instruction)))
        print(
            "skipped the measured part: the 7B model on a CPU needs ~15 GB of RAM in bfloat16 "
            "(~30 GB in float32) and minutes per action; pass --cpu-full to run it anyway, "
            "or --device cuda"
        )
        return 0

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    policy = OpenVLAPolicy(PolicyConfig.parse_args("openvla", policy_args))
    build_s = time.perf_counter() - start
    policy.reset(TASK, EpisodeSpec(0, 0), None)
    frame = np.random.default_rng(0).integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
    obs: dict[str, Any] = {"images": {"front": frame}, "instruction": TASK.instruction}
    n_params = policy.model.num_parameters()
    print(f"parameters: {n_params:,} ({n_params / 1e9:.2f} B), built in {build_s:.1f} s")
    for _ in range(args.warmup):
        policy.act(obs)
    act_s, model_s = [], []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        chunk = policy.act(obs)
        act_s.append(time.perf_counter() - t0)
        model_s.append(float(chunk.model_time_s or 0.0))

    # Split one action into prefill (generate 1 token) and decode (the 6 more), model only.
    pixels = torch.from_numpy(policy.transform(frame))[None].to(device, dtype)
    ids = policy._prompt_ids(TASK.instruction)

    def timed(n: int) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        policy.model.generate(pixels, ids, n)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0

    bound = print_bound(int(ids.shape[1]))
    prefill = statistics.median(timed(1) for _ in range(max(3, args.iters // 3)))
    full = statistics.median(timed(7) for _ in range(max(3, args.iters // 3)))
    peak = (
        torch.cuda.max_memory_allocated(device)
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    p50, p95 = percentile(act_s, 50), percentile(act_s, 95)
    print(
        f"prompt {ids.shape[1]} tokens; per action (7 tokens), {args.iters} runs: act() p50 "
        f"{p50 * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms; model p50 "
        f"{percentile(model_s, 50) * 1e3:.1f} ms"
    )
    print(
        f"model only: prefill + 1st token {prefill * 1e3:.1f} ms, 6 more tokens "
        f"{(full - prefill) * 1e3:.1f} ms ({(full - prefill) / 6 * 1e3:.2f} ms/token)"
    )
    print(
        f"peak memory ({'GPU allocated' if device.type == 'cuda' else 'process RSS'}): "
        f"{peak / 2**30:.2f} GiB"
    )
    result: dict[str, Any] = {
        "device": str(device),
        "gpu": gpu,
        "dtype": dtype_name,
        "parameters": n_params,
        "peak_memory_bytes": peak,
        "act_p50_s": p50,
        "act_p95_s": p95,
        "model_p50_s": percentile(model_s, 50),
        "prefill_s": prefill,
        "decode_s_per_token": (full - prefill) / 6,
        "bound": bound,
    }
    if device.type == "cuda":
        print(
            f"measured p50 / bound: {p50 / bound['action_bound_s']:.2f}x the roofline bound "
            f"({bound['action_bound_s'] * 1e3:.1f} ms), "
            f"{p50 / bound['bandwidth_only_bound_s']:.2f}x the bandwidth-only bound; decode "
            f"{(full - prefill) / 6 / bound['decode_bound_s_per_token']:.2f}x its bound"
        )
        result["p50_over_bound"] = p50 / bound["action_bound_s"]
    print(json.dumps(result))
    policy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
