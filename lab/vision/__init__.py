"""Vision intent of key screenshots: OpenAI vision (cached by image hash) or, without a key, a labelled DOM analyzer."""

from lab.vision.analyze import IntentReader, VisionStats, intent_reader
from lab.vision.cache import VisionCache, image_sha256
from lab.vision.dom import dom_intent
from lab.vision.intent import DOM_HEURISTIC_SOURCE, ScreenInput, ScreenIntent, intent_json_schema
from lab.vision.openai_vision import OpenAIScreenAnalyzer, VisionAnswerError

__all__ = [
    "DOM_HEURISTIC_SOURCE",
    "IntentReader",
    "OpenAIScreenAnalyzer",
    "ScreenInput",
    "ScreenIntent",
    "VisionAnswerError",
    "VisionCache",
    "VisionStats",
    "dom_intent",
    "image_sha256",
    "intent_json_schema",
    "intent_reader",
]
