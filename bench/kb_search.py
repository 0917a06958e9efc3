"""Knowledge-base benchmark on a generated KB of 10,000 articles.

Measures: full sync (keyword index only: the chatbot's chunk embeddings are
skipped, see --help), a re-sync with nothing changed, editor save -> searchable
latency, and /kb/search over HTTP on the running portal (gunicorn with gthread workers in
its own process, as deployed) against the same queries sent straight to Meilisearch (the
ratio the issue asks for). Requests to the portal reuse a kept-alive connection, as a
browser's as-you-type requests do and as the raw side's requests to Meilisearch do; each
figure is also given with a fresh connection per request (the earlier stops' figures).

    .venv/bin/python bench/kb_search.py [--articles 10000] [--queries 300] [--with-chunks]

With --with-chunks the sync also embeds every passage (slow: minutes per thousand
articles on two cores) and natural-language questions are measured as well, against
Meilisearch's own hybrid search. The passages' vectors are kept in --vector-cache (the
generated articles are the same every run), so only the first run pays for them;
--stand-in-vectors gives passages hashed bag-of-words vectors instead of the model's, for
quick iterations on latency (questions are still embedded by the model; ranking quality
means nothing then).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.kb import chunks, editing, search_index, sentences, sync  # noqa: E402
from portal.kb.embedding import DIMENSIONS, get_embedder, text_hash  # noqa: E402
from portal.kb.engine import get_engine  # noqa: E402
from portal.kb.meili_binary import locate_binary  # noqa: E402
from portal.kb.meili_process import ManagedMeilisearch  # noqa: E402

CATEGORIES = ["account", "billing", "orders-shipping", "using-hearthly", "troubleshooting",
              "integrations", "security-privacy", "installation", "energy", "devices"]
VOCABULARY = """thermostat heating boiler schedule sensor puck hub wifi router firmware update
battery display blank offline pairing bluetooth matter zigbee account password email invoice
refund subscription plan upgrade downgrade cancel payment card receipt shipping delivery
return warranty replacement order tracking customs tax discount student annual household
member invite permission security privacy export delete data token webhook api automation
routine voice assistant alexa google solar demand response eco away vacation temperature
humidity calibration offset reading wrong radiator valve zone room vent airflow furnace
compressor heat pump cooling fan filter reminder notification alert error code reset factory
restart reboot install wiring wire cwire power adapter transformer breaker fuse mounting wall
plate bracket screw level app crash android iphone tablet browser login sign verification
code authenticator backup recovery session device trusted location geofence presence energy
report usage monthly weekly cost tariff peak offpeak savings estimate graph chart
history""".split()
QUERIES = ["thermostat offline", "reset password", "pasword", "refund", "invoice", "wifi",
           "firmware update", "battery", "heat pump", "schedule", "eco mode", "webhook",
           "two factor", "delete account", "shipping", "warranty claim", "error code",
           "calibration", "matter pairing", "solar", "thermostst", "recieve invoice",
           "cancel subscription", "hub pairing fails", "display blank", "temperature wrong",
           "api token", "household member", "export data", "voice assistant"]
# Questions as people type them: ranked by meaning (the bot's retrieval), measured only
# with --with-chunks, since they need the passages' embeddings.
NATURAL_QUERIES = [
    "how do I reset the password on my account", "my thermostat keeps going offline at night",
    "why is the display blank after the firmware update", "can I get a refund for my order",
    "how do I invite a household member to control the heating",
    "the temperature reading is wrong by a few degrees", "where do I find my invoice",
    "what happens to my data when I delete my account", "how do I pair the hub over bluetooth",
    "is there a student discount on the annual plan", "the heat pump will not start in eco mode",
    "how long does shipping take and can I track my order", "my battery drains very quickly",
    "how do I set up a webhook for energy reports", "the app crashes on my android tablet",
    "can the voice assistant change the schedule", "how do I cancel my subscription",
    "what does this error code on the thermostat mean", "wifi router changed and now offline",
    "how do I calibrate the sensor offset",
]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def describe(values_ms: list[float]) -> str:
    return (f"p50 {percentile(values_ms, .5):6.2f} ms  p95 {percentile(values_ms, .95):6.2f} ms"
            f"  p99 {percentile(values_ms, .99):6.2f} ms  (n={len(values_ms)})")


def generate(root: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for n in range(count):
        category = CATEGORIES[n % len(CATEGORIES)]
        words = rng.sample(VOCABULARY, 6)
        title = f"{words[0].capitalize()} {words[1]} {words[2]} guide {n}"
        parts = [f"Intro about {' '.join(rng.choices(VOCABULARY, k=30))}."]
        for h in range(rng.randint(3, 5)):
            parts.append(f"## {rng.choice(VOCABULARY).capitalize()} step {h + 1}")
            for _ in range(rng.randint(2, 4)):
                parts.append(" ".join(rng.choices(VOCABULARY, k=rng.randint(25, 45))) + ".")
        folder = root / category
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"article-{n:05d}.md").write_text(
            f"---\ntitle: {title}\ntags: [{words[3]}, {words[4]}]\n"
            f"summary: How to handle {words[0]} and {words[5]}.\nupdated: 2026-01-01\n---\n\n"
            + "\n\n".join(parts) + "\n",
            encoding="utf-8",
        )


class PassageVectors:
    """The passage embedder for the sync: vectors kept on disk by text hash across runs,
    missing ones from the model (or, as stand-ins, hashed bag-of-words vectors)."""

    def __init__(self, path: Path, stand_in: bool) -> None:
        self.path, self.stand_in = path, stand_in
        self.vectors: dict[str, np.ndarray] = {}
        if path.is_file() and not stand_in:
            with np.load(path) as saved:
                self.vectors = dict(zip(saved["keys"].tolist(), saved["vectors"], strict=True))
        self.added = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        keys = [text_hash(t) for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self.vectors]
        if missing:
            made = (np.stack([stand_in_vector(texts[i]) for i in missing]) if self.stand_in
                    else get_embedder().encode([texts[i] for i in missing]))
            for row, i in enumerate(missing):
                self.vectors[keys[i]] = made[row]
            self.added += len(missing)
        return np.stack([self.vectors[k] for k in keys])

    def save(self) -> None:
        if self.stand_in or not self.added:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.vectors)
        np.savez(self.path, keys=np.array(keys),
                 vectors=np.stack([self.vectors[k] for k in keys]).astype(np.float32))


def stand_in_vector(text: str) -> np.ndarray:
    vector = np.zeros(DIMENSIONS, dtype=np.float32)
    for word in text.lower().split():
        vector[zlib.crc32(word.encode()) % DIMENSIONS] += 1.0
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--with-chunks", action="store_true",
                        help="also run the chatbot's chunk embedding during sync (slow)")
    parser.add_argument("--vector-cache", type=Path,
                        default=REPO / "instance" / "bench-passage-vectors.npz",
                        help="passage vectors kept across runs (default: %(default)s)")
    parser.add_argument("--stand-in-vectors", action="store_true",
                        help="hashed bag-of-words passage vectors instead of the model's")
    parser.add_argument("--work", type=Path,
                        help="work in this folder and reuse what an earlier run left there "
                             "(articles, database, indexes): the sync finds nothing to do")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="kb-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    binary = locate_binary(os.environ.get("MEILI_BIN", ""), REPO / "instance")
    if binary is None:
        sys.exit("No Meilisearch binary: run `make meili` first.")
    meili = ManagedMeilisearch(work / "meili-home", meili_bin=str(binary))
    endpoint = meili.ensure_running()
    content = work / "content"
    if not content.is_dir():
        print(f"Generating {args.articles:,} articles in {content} …")
        generate(content, args.articles)
    (content / "_synonyms.yml").write_text("password: [passcode, credentials]\n")

    settings = {
        "PORTAL_ENV": "testing", "SECRET_KEY": "bench-" + "x" * 40,
        "DATABASE_URL": f"sqlite:///{work / 'bench.db'}", "INSTANCE_DIR": str(work / "instance"),
        "CONTENT_DIR": str(content), "MEILI_URL": endpoint.url,
        "MEILI_MASTER_KEY": endpoint.master_key, "MEILI_INDEX_PREFIX": "bench",
        "KB_SYNC_CHUNKS": str(args.with_chunks).lower(), "KB_EDITOR_CHUNKS": "false",
    }
    app = create_app({
        "ENV": "testing", "SECRET_KEY": settings["SECRET_KEY"],
        "DATABASE_URL": settings["DATABASE_URL"], "INSTANCE_DIR": settings["INSTANCE_DIR"],
        "CONTENT_DIR": str(content), "MEILI_URL": endpoint.url,
        "MEILI_MASTER_KEY": endpoint.master_key, "MEILI_INDEX_PREFIX": "bench",
        "KB_SYNC_CHUNKS": args.with_chunks, "KB_EDITOR_CHUNKS": False,
        "WTF_CSRF_ENABLED": False,
    })
    try:
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            db.create_all()
            run(app, content, args, settings)
    finally:
        meili.stop()


def start_portal(settings: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """The portal as deployed: gunicorn, one gthread worker, in its own process (so the
    load generator here never competes with it for the GIL)."""
    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi:app", "--bind", f"127.0.0.1:{port}",
         "--worker-class", "gthread", "--workers", "1", "--threads", "4", "--log-level",
         # Kept-alive connections stay open between the bench's phases (as `portal serve`).
         "warning", "--keep-alive", "75"],
        env={**os.environ, **settings}, cwd=REPO,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):  # noqa: S310
                return server, base
        except urllib.error.HTTPError:
            return server, base  # up, whatever /healthz thinks of its neighbours
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                sys.exit("The portal did not start under gunicorn.")
            time.sleep(0.2)


def run(app, content: Path, args: argparse.Namespace, settings: dict[str, str]) -> None:
    passages = PassageVectors(args.vector_cache, args.stand_in_vectors)
    chunks.get_embedder = lambda: passages  # type: ignore[assignment] # this process only
    # The chat's sentence store embeds beside the chunks: the same vectors (and stand-ins).
    sentences.get_embedder = lambda: passages  # type: ignore[assignment]
    started = time.perf_counter()
    try:
        report = sync.sync_content(content, wait=True, progress=True)
    finally:
        passages.save()
    full = time.perf_counter() - started
    if args.with_chunks:
        print(f"\nPassages embedded this run: {passages.added:,}"
              f"{' (stand-in vectors)' if args.stand_in_vectors else ''}")
    print(f"\nFull sync of {len(report.added):,} articles (DB + Meilisearch, searchable): "
          f"{full:.1f} s  [target <= 60 s]{'' if args.with_chunks else '  (keyword index only)'}")
    started = time.perf_counter()
    again = sync.sync_content(content, wait=True)
    resync = time.perf_counter() - started
    print(f"Re-sync with nothing changed: {resync:.2f} s ({again.unchanged:,} unchanged)"
          "  [target <= 3 s]")

    # Editor save -> searchable.
    latencies = []
    editor = editing.Editor(None, "bench")
    for n in range(10):
        slug = f"article-{n * 97:05d}"
        form = editing.load_form(slug)
        assert form is not None
        word = f"zebrafish{n}quill"
        form.body += f"\n\nA note about {word}.\n"
        begun = time.perf_counter()
        editing.save_article(slug, form, editor)
        while True:
            hits = get_engine().call(
                lambda c, w=word: c.index(search_index.index_uid()).search(w, {"limit": 1})
            )["hits"]
            if hits:
                break
            time.sleep(0.002)
        latencies.append((time.perf_counter() - begun) * 1000)
    print(f"Editor save -> searchable: {describe(latencies)}  [target <= 1000 ms]")

    # HTTP: the portal's /kb/search under gunicorn vs the same queries to Meilisearch.
    server, base = start_portal(settings)
    rng = random.Random(3)
    queries = [rng.choice(QUERIES) for _ in range(args.queries)]

    address = urllib.parse.urlsplit(base)
    kept = threading.local()

    def portal_query(query: str, fragment: bool = True, fresh: bool = False) -> float:
        path = f"/kb/search?{urllib.parse.urlencode({'q': query})}"
        headers = {"HX-Request": "true", "HX-Target": "search-results"} if fragment else {}
        connection = None if fresh else getattr(kept, "connection", None)
        begun = time.perf_counter()
        if connection is None:
            connection = http.client.HTTPConnection(address.hostname or "127.0.0.1",
                                                    address.port)
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        elapsed = (time.perf_counter() - begun) * 1000
        assert response.status == 200
        if fresh:
            connection.close()
        else:
            kept.connection = connection
        return elapsed

    engine = get_engine()
    uid = search_index.index_uid()

    def raw_query(query: str) -> float:
        # The same request body the portal sends, over the same kind of pooled connection.
        body = {
            "q": query, "filter": search_index.visibility_filter(("public",), None),
            "limit": 10, "offset": 0, "attributesToRetrieve": search_index.RETRIEVE,
            "attributesToHighlight": ["title", "summary", "body"],
            "attributesToCrop": [f"body:{search_index.CROP_WORDS}"], "cropMarker": "…",
            "highlightPreTag": search_index.HIGHLIGHT_PRE,
            "highlightPostTag": search_index.HIGHLIGHT_POST, "facets": ["category"],
        }
        begun = time.perf_counter()
        engine.post_json(f"indexes/{uid}/search", body)
        return (time.perf_counter() - begun) * 1000

    for query in QUERIES:  # warm both paths
        portal_query(query)
        raw_query(query)
    raw = [raw_query(q) for q in queries]
    fragment = [portal_query(q) for q in queries]
    fresh_connections = [portal_query(q, fresh=True) for q in queries]
    page = [portal_query(q, fragment=False) for q in queries[:100]]
    print(f"\nMeilisearch direct (same request):     {describe(raw)}")
    print(f"/kb/search over HTTP (htmx fragment): {describe(fragment)}"
          "  [target p50 <= 15, p95 <= 40]")
    print(f"  the same, a fresh connection each:  {describe(fresh_connections)}"
          f" ({percentile(fresh_connections, .5) / percentile(raw, .5):.2f}x raw at p50)")
    print(f"/kb/search over HTTP (whole page):    {describe(page)}")
    print(f"Ratio portal/Meilisearch: p50 {percentile(fragment, .5) / percentile(raw, .5):.2f}x,"
          f" p95 {percentile(fragment, .95) / percentile(raw, .95):.2f}x  [target <= 2.5x]")

    if args.with_chunks:
        natural_queries(portal_query, rng, args.queries)

    begun = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(portal_query, queries))
    elapsed = time.perf_counter() - begun
    print(f"4 concurrent clients: {len(queries) / elapsed:.0f} requests/s, {describe(concurrent)}")
    server.terminate()
    server.wait(30)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"Peak memory of the gunicorn worker: {peak:.0f} MB")


QUESTION_OPENERS = ["how do I fix the", "why does my", "what should I do when the",
                    "can I change the", "is it normal that the", "where do I set the",
                    "my", "help, the"]
QUESTION_ENDINGS = ["after the update", "every night", "since yesterday", "on the app",
                    "when I am away", "in the spare room", "after a power cut", "for my plan"]


def fresh_questions(rng: random.Random, count: int) -> list[str]:
    """Questions never asked before in the run (the portal remembers a question's vector)."""
    questions: dict[str, None] = {}
    while len(questions) < count:
        first, second = rng.sample(VOCABULARY, 2)
        questions[f"{rng.choice(QUESTION_OPENERS)} {first} {second} "
                  f"{rng.choice(QUESTION_ENDINGS)}"] = None
    return list(questions)


def natural_queries(portal_query, rng: random.Random, count: int) -> None:
    """Questions over HTTP (query embedding, keyword + vector search, reranking, spelling)
    against one hybrid request straight to Meilisearch's chunk index, given the vector:
    questions asked for the first time, then the same 20 asked again and again."""
    from portal.kb import chunks, searching

    engine = get_engine()
    uid = engine.index_name(chunks.INDEX)
    fresh = fresh_questions(rng, count)
    warm_up = fresh_questions(random.Random(11), 20)
    assert all(searching.is_natural_query(q) for q in NATURAL_QUERIES + fresh + warm_up)
    vectors = dict(zip(NATURAL_QUERIES + fresh + warm_up,
                       get_embedder().encode(NATURAL_QUERIES + fresh + warm_up).tolist(),
                       strict=True))

    def raw_hybrid(query: str) -> float:
        body = {"q": query, "vector": vectors[query], "limit": 10,
                "hybrid": {"embedder": chunks.EMBEDDER, "semanticRatio": 0.5},
                "filter": "audience IN [public]"}
        begun = time.perf_counter()
        engine.post_json(f"indexes/{uid}/search", body)
        return (time.perf_counter() - begun) * 1000

    embedder = get_embedder()

    def embedding(query: str) -> float:
        # The portal's own path for a question (single-thread session), never asked before
        # in this process: the vectors above came from the batch session.
        begun = time.perf_counter()
        embedder.encode_query(query)
        return (time.perf_counter() - begun) * 1000

    for query in warm_up:  # warm both paths with questions not measured
        portal_query(query)
        raw_hybrid(query)
        embedding(query)
    raw = [raw_hybrid(q) for q in fresh]
    embedded = [embedding(q) for q in fresh]
    first = [portal_query(q) for q in fresh]
    # Other questions, never asked either: a question asked twice skips the model.
    unseen = [q for q in fresh_questions(random.Random(23), count) if q not in vectors][:count]
    first_fresh_connections = [portal_query(q, fresh=True) for q in unseen]
    # What any hybrid search of a typed question needs: its embedding, then the request.
    needed = [e + r for e, r in zip(embedded, raw, strict=True)]
    print(f"\nNatural-language questions, each asked for the first time ({count} requests)")
    print(f"Meilisearch hybrid direct (vector given): {describe(raw)}")
    print(f"Query embedding alone (MiniLM, 1 thread): {describe(embedded)}")
    print(f"Embedding + Meilisearch hybrid:           {describe(needed)}")
    print(f"/kb/search over HTTP (htmx fragment):    {describe(first)}"
          "  [target p50 <= 15, p95 <= 40]")
    print(f"  other new questions, a fresh connection each: {describe(first_fresh_connections)}"
          f" ({percentile(first_fresh_connections, .5) / percentile(needed, .5):.2f}x"
          " embedding + raw at p50)")
    print(f"Ratio portal/Meilisearch: p50 {percentile(first, .5) / percentile(raw, .5):.2f}x,"
          f" p95 {percentile(first, .95) / percentile(raw, .95):.2f}x  [target <= 2x]")
    print(f"Ratio portal/(embedding + Meilisearch): p50 "
          f"{percentile(first, .5) / percentile(needed, .5):.2f}x, "
          f"p95 {percentile(first, .95) / percentile(needed, .95):.2f}x")
    for query in NATURAL_QUERIES:
        portal_query(query)
    again = [rng.choice(NATURAL_QUERIES) for _ in range(count)]
    raw = [raw_hybrid(q) for q in again]
    repeated = [portal_query(q) for q in again]
    print(f"The same {len(NATURAL_QUERIES)} questions asked again ({count} requests)")
    print(f"Meilisearch hybrid direct (vector given): {describe(raw)}")
    print(f"/kb/search over HTTP (htmx fragment):    {describe(repeated)}")
    print(f"Ratio portal/Meilisearch: p50 {percentile(repeated, .5) / percentile(raw, .5):.2f}x,"
          f" p95 {percentile(repeated, .95) / percentile(raw, .95):.2f}x")


if __name__ == "__main__":
    main()
