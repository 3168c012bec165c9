"""The baseline a user would write first: LangChain's text splitter, Chroma top 4, a generic prompt, no checking.

Everything but the recipe itself is shared with hubchat, so the comparison isolates the recipe: the same article
texts (read by the same corpus reader), the same embedder, the same Chroma backend and the same chat model (or,
on the `extractive` backend, the same extractive composer over the recipe's four chunks). Its answers are run
through hubchat's citation checker only to be measured; what the reader would see is the model's text as it came.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hubchat.checking.citations import check_citations
from hubchat.config import Settings
from hubchat.eval.answer_metrics import CitedPassage
from hubchat.eval.datasets import EvalCase
from hubchat.eval.set_index import collection_name, set_dir, with_section
from hubchat.eval.systems import SystemAnswer, cited_numbers, looks_like_refusal, numbered
from hubchat.generation.generator import Generator, Usage
from hubchat.generation.prompts import Prompts
from hubchat.index.chroma_client import make_chroma_client
from hubchat.index.embedder import Embedder
from hubchat.ingest.corpus import read_corpus
from hubchat.text.markdown import read_blocks
from hubchat.types import FLAGGED_VERDICTS, Chunk, Passage

CHUNK_CHARS = 1000
CHUNK_OVERLAP = 200
TOP_K = 4
_ADD_BATCH = 256

ProgressFn = Callable[[str, int, int], None]


def sections_over(text: str, start: int, end: int) -> str:
    """The headings a chunk of a Markdown article lies under or contains, joined with " > ".

    The recipe's chunks know only their offset; the measures need their section to tell whether a cited chunk
    is on a gold section (hubchat's chunks carry their heading path already).
    """
    path: list[tuple[int, str]] = []
    inside: list[str] = []
    for block in read_blocks(text):
        if block.kind != "heading":
            continue
        title = text[block.body_start : block.body_end].strip()
        if block.start < start:
            path = [(level, t) for level, t in path if level < block.level] + [(block.level, title)]
        elif block.start < end:
            inside.append(title)
    return " > ".join([t for _, t in path] + inside)


class LangChainBaseline:
    """The plain recipe, over one evaluation set's corpus folder.

    Args:
        settings: the set's settings (its corpus folder, the Chroma backend, the chat backend).
        embeddings: the embedder hubchat uses.
        prompts: the templates (the recipe's generic prompt is `prompts/baseline.txt`; refusal for measuring).
        generator: hubchat's generator for this backend; the recipe uses its chat model, or, for the
            `extractive` backend, the generator itself over the recipe's chunks.
        embed: texts -> unit vectors, for the measuring-only citation check.
        set_name: the evaluation set, which names the baseline's own collection.
    """

    name = "langchain-baseline"

    def __init__(
        self,
        settings: Settings,
        embeddings: Embedder,
        prompts: Prompts,
        generator: Generator,
        embed: Callable[[list[str]], np.ndarray],
        set_name: str,
    ):
        self.settings = settings
        self.embeddings = embeddings
        self.prompts = prompts
        self.generator = generator
        self.embed = embed
        self.set_name = set_name
        self._store = None
        self._model = None
        self._texts: dict[str, str] = {}

    # ---- the index ---------------------------------------------------------------------------------------------

    def build(self, progress: ProgressFn | None = None) -> int:
        """Split and embed the corpus into the baseline's own collection, unless it already holds this corpus.

        Returns:
            The number of chunks the collection holds.
        """
        from langchain_chroma import Chroma
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        articles, _ = read_corpus(Path(self.settings.corpus.path), self.settings.corpus.max_file_bytes)
        self._texts = {a.id: a.text for a in articles}
        recipe = {"chunk": CHUNK_CHARS, "overlap": CHUNK_OVERLAP, "embedder": self.embeddings.name,
                  "articles": sorted((a.id, a.source_hash) for a in articles)}
        fingerprint = hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:16]
        client = make_chroma_client(with_section(self.settings, "index", dir=set_dir(self.settings, self.set_name) / "baseline"))
        name = collection_name(self.set_name, "-baseline")
        existing = {c.name: c for c in client.list_collections()}
        if name in existing and (existing[name].metadata or {}).get("fingerprint") == fingerprint:
            self._store = Chroma(collection_name=name, client=client, embedding_function=self.embeddings)
            return existing[name].count()
        if name in existing:
            client.delete_collection(name)
        store = Chroma(collection_name=name, client=client, embedding_function=self.embeddings,
                       collection_metadata={"fingerprint": "building"})
        splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_CHARS, chunk_overlap=CHUNK_OVERLAP, add_start_index=True)
        docs = splitter.split_documents(
            [Document(a.text, metadata={"article_id": a.id, "title": a.title}) for a in articles]
        )
        for start in range(0, len(docs), _ADD_BATCH):
            batch = docs[start : start + _ADD_BATCH]
            store.add_documents(batch, ids=[f"{d.metadata['article_id']}#{d.metadata['start_index']}" for d in batch])
            if progress:
                progress("baseline index", min(start + _ADD_BATCH, len(docs)), len(docs))
        # Marked complete only now: a run killed while building leaves "building", which the next run rebuilds.
        client.get_collection(name).modify(metadata={"fingerprint": fingerprint})
        self._store = store
        return len(docs)

    # ---- answering ---------------------------------------------------------------------------------------------

    def _passages(self, question: str) -> list[Passage]:
        if self._store is None:
            raise RuntimeError("call build() before answering")
        passages = []
        for doc, distance in self._store.similarity_search_with_score(question, k=TOP_K):
            start = int(doc.metadata.get("start_index", 0))
            chunk = Chunk(
                id=f"{doc.metadata['article_id']}#{start}", article_id=doc.metadata["article_id"], ordinal=0,
                text=doc.page_content, start=start, end=start + len(doc.page_content), title=doc.metadata.get("title", ""),
            )
            passages.append(Passage(chunk, score=-float(distance)))
        return passages

    def _generate(self, question: str, passages: list[Passage], usage: Usage):
        if self.settings.chat.backend == "extractive":
            yield from self.generator.stream(question, passages, usage)
            return
        from langchain_core.messages import HumanMessage

        from hubchat.generation.backends import build_chat_model, slot_options
        from hubchat.generation.failures import backend_errors

        context = "\n\n".join(f"[{i}] {p.chunk.title}\n{p.chunk.text}" for i, p in enumerate(passages, 1))
        message = HumanMessage(self.prompts.render("baseline", context=context, question=question))
        if self._model is None:
            self._model = build_chat_model(self.settings.chat)
        with backend_errors(self.settings.chat):
            # The recipe's calls stay out of the slot hubchat answers in, so neither evicts the other's prefix.
            for chunk in self._model.bind(**slot_options(self.settings.chat, "side")).stream([message]):
                usage.update_from(chunk.usage_metadata)
                if chunk.content:
                    yield str(chunk.content)

    def answer(self, case: EvalCase) -> SystemAnswer:
        """The recipe answers the question alone: a first recipe has no conversation memory."""
        started = time.perf_counter()
        passages = self._passages(case.question)
        usage = Usage()
        first = None
        pieces = []
        for piece in self._generate(case.question, passages, usage):
            first = first if first is not None else time.perf_counter() - started
            pieces.append(piece)
        total = time.perf_counter() - started
        text = "".join(pieces).strip()
        shown = tuple(
            CitedPassage(i, p.chunk.article_id, p.chunk.text, sections_over(self._texts.get(p.chunk.article_id, ""), p.chunk.start, p.chunk.end))
            for i, p in enumerate(passages, 1)
        )
        refusal = self.prompts.refusal
        report = check_citations(text, passages, embed=self.embed, refusal_text=refusal)
        verdicts = tuple(s.verdict for s in report.sentences)
        return SystemAnswer(
            text=text,
            refused=looks_like_refusal(text, refusal),
            cited=numbered(shown, cited_numbers(text, len(shown))),
            shown=shown,
            verdict=report.verdict,
            sentence_verdicts=verdicts,
            flagged=sum(v in FLAGGED_VERDICTS for v in verdicts),
            first_token_s=first,
            total_s=total,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_prompt_tokens=usage.cached_prompt_tokens,
            standalone_question=case.question,
        )
