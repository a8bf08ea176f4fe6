"""MelancIA dataset pipeline: corpus and benchmark loaders, builder, validation, splits."""

from data.pipeline.benchmark import load_benchmark
from data.pipeline.corpus import load_corpus
from data.pipeline.loaders import dataset_version, load_split
from data.pipeline.models import (
    Article,
    BenchmarkItem,
    ChatRecord,
    FaqEntry,
    InstructionRecord,
    Message,
    RecordMetadata,
)
from data.pipeline.prompts import SYSTEM_PROMPT

__all__ = [
    "SYSTEM_PROMPT",
    "Article",
    "BenchmarkItem",
    "ChatRecord",
    "FaqEntry",
    "InstructionRecord",
    "Message",
    "RecordMetadata",
    "dataset_version",
    "load_benchmark",
    "load_corpus",
    "load_split",
]
