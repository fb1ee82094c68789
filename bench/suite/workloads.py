"""What the suite sends: small requests (acceptance) and the seed's workload — documents to
summarise under one shared system prompt, long enough to be cached."""
from __future__ import annotations

import json
from importlib import resources
from typing import Any

from app.llm.models import min_cacheable_tokens
from app.llm.rate_limiter import CHARS_PER_TOKEN
from bench.harness import requests as small_requests

__all__ = ["DOCUMENT_MODEL", "SYSTEM_PROMPT", "documents", "small_requests"]

#: Sonnet 4.5: $3 / $15 per million tokens; prompts from 1,024 tokens can be cached.
DOCUMENT_MODEL = "claude-sonnet-4-5"

_RULES = (
    "Write for a busy reader who will act on the summary.",
    "Lead with the decision, outcome or number that matters most.",
    "Name people, teams and organisations exactly as the document does.",
    "Keep every figure, date and amount as written; never round or convert them.",
    "Say who owns each follow-up action and by when, if the document says so.",
    "Leave out greetings, filler, speculation and anything the document does not state.",
    "Prefer plain words: use 'use' not 'utilise', 'about' not 'approximately'.",
    "Use the active voice and the past tense for what happened.",
    "Flag risks, disagreements and open questions in a final short sentence.",
    "Never add advice, opinions or facts from outside the document.",
)


def _system_prompt() -> str:
    """An editorial guide just over the model's minimum cacheable length."""
    wanted = (min_cacheable_tokens(DOCUMENT_MODEL) + 100) * CHARS_PER_TOKEN
    lines = ["You summarise internal documents for the weekly digest. House style:"]
    section = 0
    while sum(len(line) + 1 for line in lines) < wanted:
        section += 1
        lines.append(f"Section {section}.")
        lines.extend(f"{section}.{i}. {rule}" for i, rule in enumerate(_RULES, 1))
    return "\n".join(lines)


SYSTEM_PROMPT = _system_prompt()


def _bundled_documents() -> list[dict[str, str]]:
    text = resources.files("app.demo").joinpath("documents.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def documents(count: int, *, offset: int = 0) -> list[dict[str, Any]]:
    """``count`` distinct summarisation requests (the demo's documents, numbered), all with
    the same system prompt."""
    docs = _bundled_documents()
    out = []
    for i in range(offset, offset + count):
        doc = docs[i % len(docs)]
        out.append({"custom_id": f"doc-{i}", "params": {
            "model": DOCUMENT_MODEL, "max_tokens": 300, "system": SYSTEM_PROMPT,
            "messages": [{"role": "user", "content":
                          f"Document {i}: {doc['title']}\n\n{doc['text']}"}]}})
    return out
