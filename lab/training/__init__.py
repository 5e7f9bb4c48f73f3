"""JSONL builder and validator (later: OpenAI files, fine-tunes, eval, deploy)."""

from lab.training.examples import ActionStep, PageContext, SelectorChoice, build_example, build_examples, to_jsonl
from lab.training.validate import ValidationReport, validate_example, validate_examples, validate_jsonl_text

__all__ = [
    "ActionStep",
    "PageContext",
    "SelectorChoice",
    "ValidationReport",
    "build_example",
    "build_examples",
    "to_jsonl",
    "validate_example",
    "validate_examples",
    "validate_jsonl_text",
]
