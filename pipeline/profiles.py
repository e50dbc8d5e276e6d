"""Resource profiles: how much CPU and GPU each stage asks Ray for, and how wide pools are.

Nothing in the Ray code hard-codes a resource. `cpu` fits laptops and CI (no GPU asked for,
fractional CPUs so a two-core machine can still run clips side by side); `gpu` packs
several model actors per device (four 0.5-GPU transcribers on two GPUs, speaker scorers at a
quarter GPU, renders at 0.1 GPU for NVENC). A deployment that asks for a GPU on a machine
without one waits forever, so `auto` picks `gpu` only when the cluster reports GPUs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from pipeline.errors import InvalidInput

__all__ = ["PROFILES", "ResourceProfile", "StageResources", "resolve_profile"]


@dataclass(frozen=True)
class StageResources:
    num_cpus: float
    num_gpus: float = 0.0

    def ray_options(self) -> dict[str, float]:
        return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}


@dataclass(frozen=True)
class ResourceProfile:
    """Per-stage resources and pool sizes.

    Attributes:
        transcribers: size of the transcriber actor pool (chunks are spread over it).
        scorers: size of the speaker-scorer actor pool.
        chunk_seconds: target length of audio chunks for parallel transcription; chunks are
            cut at the quietest point near each target, never inside a word.
        whisper_device, whisper_compute_type: where the transcribers run.
        transcribe_backend: "faster-whisper", or "auto" to use WhisperX where it is installed.
        speaker_device: torch device of the speaker scorers.
        speaker_chunks_per_batch: LR-ASD chunks per forward pass (bigger on a GPU).
        video_encoder: ffmpeg video encoder for renders ("libx264", or "h264_nvenc").
    """

    name: str
    transcribe: StageResources
    speakers: StageResources
    faces: StageResources
    render: StageResources
    moments: StageResources = field(default_factory=lambda: StageResources(0.1))
    transcribers: int = 1
    scorers: int = 1
    chunk_seconds: float = 600.0
    whisper_device: str = "cpu"
    whisper_compute_type: str = "int8"
    transcribe_backend: str = "faster-whisper"
    speaker_device: str = "cpu"
    speaker_chunks_per_batch: int = 4
    video_encoder: str = "libx264"


PROFILES: dict[str, ResourceProfile] = {
    "cpu": ResourceProfile(
        name="cpu",
        transcribe=StageResources(num_cpus=1.0),
        speakers=StageResources(num_cpus=0.5),
        faces=StageResources(num_cpus=0.5),
        render=StageResources(num_cpus=0.5),
        transcribers=2,
        scorers=1,
        chunk_seconds=600.0,
    ),
    "gpu": ResourceProfile(
        name="gpu",
        transcribe=StageResources(num_cpus=1.0, num_gpus=0.5),
        speakers=StageResources(num_cpus=1.0, num_gpus=0.25),
        faces=StageResources(num_cpus=1.0),
        render=StageResources(num_cpus=1.0, num_gpus=0.1),
        transcribers=4,
        scorers=2,
        chunk_seconds=300.0,
        whisper_device="cuda",
        whisper_compute_type="float16",
        transcribe_backend="auto",
        speaker_device="cuda",
        speaker_chunks_per_batch=32,
        video_encoder="h264_nvenc",
    ),
}


def resolve_profile(
    name: str, cluster_resources: Mapping[str, float], **overrides: object
) -> ResourceProfile:
    """The named profile; "auto" is "gpu" when the cluster has GPUs, else "cpu"."""
    if name == "auto":
        name = "gpu" if cluster_resources.get("GPU", 0) > 0 else "cpu"
    if name not in PROFILES:
        raise InvalidInput(f"unknown resource profile {name!r}; choose cpu, gpu or auto")
    return replace(PROFILES[name], **overrides) if overrides else PROFILES[name]
