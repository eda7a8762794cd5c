package store

// The document cache of the embedded engine. There this process is the only writer
// of the database (it holds the DATA_DIR lock and does not share the engine), so a document it read or wrote stays
// what it was until this process writes it again: reads of the artifacts and of the
// projections (the read models' heads and buckets, read by every list page, audit
// page, deployable call and projection write) are answered from memory, and a
// conditional write of a document read since its last write needs no second read of
// its version. Every FindOne saved is a whole-document JSON decode inside FerretDB.
//
// Contract:
//
//   - Every document address (collection, _id) maps, by hash, onto one of
//     cacheGens generation counters. Every write of a document moves its counter on
//     (written), after the write, whatever its outcome.
//   - A reader that misses reads the counter, then the database, and offers what it
//     read with the counter it read first (fill). The cache takes it only if the
//     counter has not moved since: a write that raced the read may have landed
//     before or after it, so what was read may already be stale.
//   - An entry is served only while its counter is still the one it was filled or
//     written under. A writer that knows what it stored (the projections) puts the
//     document in with the counter it moved (store).
//   - The cache holds at most maxBytes of raw BSON, least recently used out first;
//     a document larger than a quarter of that is never kept.
//
// On MongoDB other replicas write too, and so may other processes on an embedded
// engine shared with them (Config.SharedEngine): there the store has no cache
// (nil), and every read goes to the database.

import (
	"hash/fnv"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// cacheGens is the number of generation counters. A write moves the counter of
// every address hashing to it, so more counters mean fewer needless misses.
const cacheGens = 1 << 16

// defaultCacheBytes bounds what the embedded engine's cache keeps unless
// Config.CacheBytes says otherwise (raw BSON and decoded heads, see viewCost), and
// maxCachedDocs the number of documents (absent ones included).
const (
	defaultCacheBytes = 128 << 20
	maxCachedDocs     = 1 << 16
)

type cacheKey struct {
	coll string
	id   string
}

// cachedDoc is a document as last read or written; raw nil: there was none. view,
// when set, is the document's payload decoded (of version viewVer) for readers
// that only read it (docs.View), counted as viewBytes; cost is what the entry
// counts against maxBytes.
type cachedDoc struct {
	gen       uint64
	raw       bson.Raw
	view      any
	viewVer   int64
	viewBytes int
	cost      int
}

// viewCost is what a decoded payload counts for, per byte of its (inflated) BSON:
// the decoded heads at 2,500 artifacts a project, once readers decoded what a
// view decodes on demand (the sealed buckets' records, the feed's events), took
// 3.05 (list: a map of counts per sealed bucket), 1.9 (feed) and 1.75 (chan) times
// their BSON on the heap (BenchmarkViewHeap).
const viewCost = 4

type docCache struct {
	mu       sync.Mutex
	gens     [cacheGens]uint64
	lru      *simplelru.LRU[cacheKey, cachedDoc]
	bytes    int
	maxBytes int
	// hits and misses count reads (tests and the benchmark's report).
	hits, misses uint64
}

func newDocCache(maxBytes int) *docCache {
	c := &docCache{maxBytes: maxBytes}
	// The LRU is bounded by bytes below, and by count for the absent documents.
	c.lru, _ = simplelru.NewLRU[cacheKey, cachedDoc](maxCachedDocs, func(_ cacheKey, d cachedDoc) { c.bytes -= d.cost })
	return c
}

func genIndex(k cacheKey) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(k.coll))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(k.id))
	return h.Sum32() % cacheGens
}

// gen is the current generation of k's counter.
func (c *docCache) gen(k cacheKey) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gens[genIndex(k)]
}

// get returns k's document when the cache holds it current (nil: there is none).
func (c *docCache) get(k cacheKey) (bson.Raw, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.lru.Get(k)
	if ok && d.gen == c.gens[genIndex(k)] {
		c.hits++
		return d.raw, true
	}
	if ok {
		c.lru.Remove(k)
	}
	c.misses++
	return nil, false
}

// fill offers raw, k's document as read from the database (nil: none) by a reader
// that read the counter as gen before it: it is kept only if no write of the counter came
// since.
func (c *docCache) fill(k cacheKey, raw bson.Raw, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens[genIndex(k)] == gen {
		c.add(k, cachedDoc{gen: gen, raw: raw})
	}
}

// written records a write of k (landed or not): what the cache held of it, or
// of any address sharing its counter, is no longer served.
func (c *docCache) written(k cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gens[genIndex(k)]++
	c.lru.Remove(k)
}

// store records a write of k that stored raw: the counter moves on, and raw is
// what k now holds.
func (c *docCache) store(k cacheKey, raw bson.Raw) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := genIndex(k)
	c.gens[i]++
	c.add(k, cachedDoc{gen: c.gens[i], raw: raw})
}

// add keeps d for k and evicts the least recently used documents beyond maxBytes.
// The caller holds mu.
func (c *docCache) add(k cacheKey, d cachedDoc) {
	c.lru.Remove(k)
	d.cost = len(d.raw)
	if d.view != nil {
		d.cost += d.viewBytes
	}
	if d.cost > c.maxBytes/4 {
		return
	}
	c.lru.Add(k, d)
	c.bytes += d.cost
	for c.bytes > c.maxBytes {
		c.lru.RemoveOldest()
	}
}

// view returns k's decoded payload and its version when the cache holds one of
// k's current document.
func (c *docCache) view(k cacheKey) (any, int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.lru.Get(k)
	if !ok || d.view == nil || d.gen != c.gens[genIndex(k)] {
		c.misses++
		return nil, 0, false
	}
	c.hits++
	return d.view, d.viewVer, true
}

// keepView keeps v, k's payload of version ver decoded by a reader that read the
// counter as gen before it read the document, beside k's raw document, counted as
// bytes: only if no write of the counter came since and the cache holds that
// document.
func (c *docCache) keepView(k cacheKey, gen uint64, v any, ver int64, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.lru.Peek(k)
	if !ok || d.raw == nil || d.gen != gen || c.gens[genIndex(k)] != gen {
		return
	}
	d.view, d.viewVer, d.viewBytes = v, ver, bytes
	c.add(k, d)
}

// clear drops every document the cache holds (the generations stay).
func (c *docCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Purge()
}

// stats returns the hits and misses so far and the bytes held.
func (c *docCache) stats() (hits, misses uint64, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses, c.bytes
}
