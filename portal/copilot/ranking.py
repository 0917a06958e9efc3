"""The copilot's three articles: the chat's ranking, re-read sentence by sentence.

A ticket says more than a chat message: a subject, then a description that tells the
problem in several sentences, quotes an error, says what was tried. One embedding of the
whole text averages all of it, while the article that answers is often close to two or
three of those sentences and far from the rest. So the chat's best articles (its
retrieval, unchanged) are ordered again by their score plus how close the ticket's best
sentences come to the article: for each sentence its nearest chunk of the article, and the
mean of the three nearest sentences.

A ticket also quotes codes a meaning cannot carry: an error code, a fix pack, a CVE number
(letters and digits in one token). The few articles of the KB that name one of them exactly
join those the chat found, wherever the chat ranked them, and an article gains for each
such code it names.

Measured with `portal eval` on the TechQA dev set, the weight chosen on one half and checked
on the other (docs/copilot.md#evaluation).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from portal.chat.services import Retrieval, Source, section_passages
from portal.kb import services as kb_services

log = logging.getLogger(__name__)

# Only the head of the chat's list is re-read: on the dev set every gold article the
# re-reading lifted into the top three was among the chat's first ten.
RERANKED_ARTICLES = 10
MATCHED_SENTENCES = 3
# In units of the chat's article score: sentences 0.1 nearer are worth 0.8 of it. Chosen on
# one half of the TechQA dev set (the middle of the range, 5-12, that ranked best there; the
# other half's range was the same), see docs/copilot.md.
SENTENCE_WEIGHT = 8.0
# A code counts when at most this many articles name it ("8.5" or "db2" name a product, not
# the problem), and at most this many articles naming the ticket's codes join the chat's.
RARE_CODE_ARTICLES = 3
CODE_ARTICLES = 3
# In units of the chat's article score, for an article naming every rare code the ticket
# quotes. On the TechQA dev set any weight from 0.4 to 3.2 ranked best on the half with such
# a ticket and none changed the other half; 1 is the middle of that range, see docs/copilot.md.
CODE_WEIGHT = 1.0
# Bounds what a long description (a pasted log) costs in embeddings; its first lines
# state the problem.
MAX_SENTENCES = 12
MIN_SENTENCE_WORDS = 3


def ticket_sentences(text: str) -> list[str]:
    """The ticket's sentences and lines worth matching, first ones first, each once."""
    found = kb_services.sentence_pieces([text], min_words=MIN_SENTENCE_WORDS, max_words=None)
    return list(dict.fromkeys(found))[:MAX_SENTENCES] or ([text.strip()] if text.strip()
                                                          else [])


def is_code(term: str) -> bool:
    """An error code, a fix pack, a CVE number or a version written with letters ("v8.5"; a
    bare "8.5" is not one): letters and digits in one token."""
    return any(c.isdigit() for c in term) and any(c.isalpha() for c in term)


def ticket_codes(text: str) -> set[str]:
    """The ticket's codes (`is_code`), in `kb.search_terms` form, as the index counts them."""
    return {w for w in kb_services.search_terms(text) if is_code(w)}


def reranked(text: str, found: Retrieval,
             audiences: Sequence[str] = kb_services.STAFF_AUDIENCES) -> list[Source]:
    """The retrieval's sources, the first `RERANKED_ARTICLES` and the articles naming the
    ticket's rare codes ordered again; the chat's order when the index or the model cannot be
    read (the suggestions still show)."""
    sources = list(found.sources)
    sentences = ticket_sentences(text)
    if not sources or not sentences or found.degraded:
        return sources
    try:
        codes = ticket_codes(text)
        named = _naming_rare_codes(codes)
        head = sources[:RERANKED_ARTICLES]
        head += _sources_for([slug for slug in list(named)[:CODE_ARTICLES]
                              if slug not in {s.slug for s in head}], sources, audiences, codes)
        if len(head) < 2:
            return sources
        nearest = kb_services.nearest_chunk_cosines(kb_services.embed_texts(sentences),
                                                    [s.slug for s in head])
    except (kb_services.EngineUnavailable, kb_services.EmbeddingUnavailable,
            kb_services.EngineApiError):
        log.warning("copilot: articles left in the chat's order", exc_info=True)
        return sources
    head.sort(key=lambda s: s.score + SENTENCE_WEIGHT * closeness(nearest.get(s.slug, []))
              + CODE_WEIGHT * named.get(s.slug, 0.0), reverse=True)
    taken = {s.slug for s in head}
    return head + [s for s in sources if s.slug not in taken]


def _naming_rare_codes(codes: set[str]) -> dict[str, float]:
    """The articles naming the ticket's rare codes, with the share of those codes each
    names, most first."""
    holders = {code: slugs for code, slugs in kb_services.articles_holding(codes).items()
               if 0 < len(slugs) <= RARE_CODE_ARTICLES}
    share: dict[str, float] = {}
    for slugs in holders.values():
        for slug in slugs:
            share[slug] = share.get(slug, 0.0) + 1 / len(holders)
    return dict(sorted(share.items(), key=lambda item: (-item[1], item[0])))


def _sources_for(slugs: list[str], sources: list[Source], audiences: Sequence[str],
                 codes: set[str]) -> list[Source]:
    """Sources for articles beyond the chat's head: the chat's own when it retrieved the
    article, else read from the database with the sections naming a code first, scored as
    the chat's last article (the chat ranked it lower still)."""
    found = {s.slug: s for s in sources}
    floor = sources[-1].score
    out = []
    for slug in slugs:
        if slug in found:
            out.append(found[slug])
            continue
        article = kb_services.get_article(slug, audiences=audiences)
        if article is None:
            continue
        naming = [n for n, (_a, heading, body) in enumerate(article.sections)
                  if codes & set(kb_services.search_terms(f"{heading} {body}"))]
        out.append(Source(slug=slug, title=article.title, category=article.category,
                          score=floor, url=article.url,
                          passages=tuple(section_passages(article, [floor] * 4, naming))))
    return out


def closeness(sentence_cosines: Sequence[float]) -> float:
    """The mean of the `MATCHED_SENTENCES` best of the ticket's sentences' cosines to their
    nearest chunk of one article."""
    best = sorted(sentence_cosines, reverse=True)[:MATCHED_SENTENCES]
    return sum(best) / len(best) if best else 0.0
