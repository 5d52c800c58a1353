"""Choosing where to train: --device auto picks CUDA, then MPS, then the CPU."""
from __future__ import annotations

import os
import platform

import torch

from gan_core.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for but no CUDA GPU is available here (use --device auto or cpu)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device mps was asked for but Apple's MPS is not available here (use --device auto or cpu)")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {name!r}; choose auto, cpu, cuda or mps")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """A human name for the device: the GPU's model, or the CPU's."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {cpu} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def describe_auto() -> tuple[str, str]:
    """(device type, name) that --device auto would use — shown on the Train page before starting."""
    d = resolve_device("auto")
    return d.type, device_name(d)


def gpu_count() -> int:
    """CUDA GPUs on this machine (how many training processes torchrun can give one each)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0
