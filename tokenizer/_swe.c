/* Compiled core of the SWE encoder: the whole of encode in one call, and the decoder.
 *
 * Core.encode(text, clean) applies every step of tokenizer/encoder.py (preprocess, then the
 * matching rule) to the string's own code points, without intermediate Python strings:
 *
 *  1. whitespace and dash replacement (' ', U+3000 -> <SP>; \r\n, \n, \r -> <BR>; tab ->
 *     <TAB>; U+2014, U+2212 -> U+30FC) into a UCS4 buffer, refusing lone surrogates;
 *  2. emoji: every occurrence of every key is found in one scan (a trie of the keys); the
 *     occurrences are then taken key by key in file order, each key left to right, skipping
 *     those that overlap one taken before.  This is what str.replace key by key does, because
 *     no key can match text that overlaps an inserted class token (the Python side checks this
 *     when it builds the core; for a table where it fails it passes a fallback that does this
 *     step with str.replace);
 *  3. clean=True: the text is cut at characters that none of the tag expressions can match
 *     (the alphabet comes from tokenizer/clean.py).  A piece without a sequence every match
 *     needs ("://", '@' and [-_0-9A-Za-z], seven ASCII digits, an ASCII digit before '/', '-'
 *     or U+6708, U+5186, U+30C9 U+30EB, U+30E6 U+30FC U+30ED) cannot change and is copied; the
 *     others go through the Python clean function (clean_tags).  Then box-drawing and block
 *     characters become <BLOCK>, runs of <BLOCK> collapsed to one;
 *  4. the matching rule: at each position the vocabulary spellings among the next 1-3 code
 *     points are candidates and the smallest id wins (ties: the longer); at '<' the longest
 *     spelling longer than two code points within maxlen+1 wins outright.  Characters without
 *     a candidate become <KIGOU>, <U2000U2BFF> or UTF-8 byte tokens.
 *
 * Single BMP characters are looked up in an array; 2-code-point prefixes of spellings in a
 * hash table keyed by the two code points, 3-code-point spellings in one keyed by their
 * prefix's slot and the third code point.  Spellings starting with '<' live in a trie whose
 * edges are kept in a table keyed by (node, code point); the emoji keys in a second trie.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Open-addressing hash tables with one 64-bit word per slot: a key of at most 42 bits (never
 * 0) above a 22-bit value + 1 (0 = empty slot), so that a probe reads one word. */
#define VAL_BITS 22
#define VAL_MASK ((1ULL << VAL_BITS) - 1)

typedef struct {
    uint64_t *slot;
    size_t mask;
    int shift;
    size_t used;
} HTable;

static int ht_init(HTable *t, size_t expected) {
    size_t cap = 16;
    int bits = 4;
    while (cap < expected * 2 + 16) { cap <<= 1; bits++; }
    t->slot = (uint64_t *)PyMem_Calloc(cap, sizeof(uint64_t));
    if (!t->slot) return -1;
    t->mask = cap - 1;
    t->shift = 64 - bits;
    t->used = 0;
    return 0;
}

static void ht_free(HTable *t) {
    PyMem_Free(t->slot);
    t->slot = NULL;
}

static inline size_t ht_home(const HTable *t, uint64_t key) {
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> t->shift);
}

/* Slot index of key, or -1. */
static inline Py_ssize_t ht_find(const HTable *t, uint64_t key) {
    size_t i = ht_home(t, key);
    for (;;) {
        uint64_t w = t->slot[i];
        if ((w >> VAL_BITS) == key) return (Py_ssize_t)i;
        if (w == 0) return -1;
        i = (i + 1) & t->mask;
    }
}

static inline int32_t ht_get(const HTable *t, uint64_t key) {
    size_t i = ht_home(t, key);
    for (;;) {
        uint64_t w = t->slot[i];
        if ((w >> VAL_BITS) == key) return (int32_t)(w & VAL_MASK) - 1;
        if (w == 0) return -1;
        i = (i + 1) & t->mask;
    }
}

/* Insert or overwrite (0 <= val < 2^22 - 1).  The table is sized up front, so it never fills;
 * a key keeps its slot once inserted. */
static void ht_put(HTable *t, uint64_t key, int32_t val) {
    size_t i = ht_home(t, key);
    uint64_t w = (key << VAL_BITS) | (uint64_t)(val + 1);
    for (;;) {
        uint64_t k = t->slot[i];
        if ((k >> VAL_BITS) == key) { t->slot[i] = w; return; }
        if (k == 0) { t->slot[i] = w; t->used++; return; }
        i = (i + 1) & t->mask;
    }
}

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

#define PACK1(c) ((uint64_t)(c) + 1)
#define EDGE(node, c) ((((uint64_t)(node) + 1) << 21) | (uint64_t)(c))
#define V_HAS3 (1u << 21)   /* pairs value flag: some 3-code-point spelling extends this pair */
#define MAX_VOCAB (1 << 20)          /* ids + 1 and the V_HAS3 flag fit in a value */
#define MAX_SPELLINGS ((1 << 19) - 16)   /* pairs keeps under 2^20 slots: a triples key fits */

/* per-BMP-character flags */
#define F_HAS2 1     /* some 2- or 3-code-point spelling starts with this character */
#define F_EFIRST 2   /* some emoji key starts with it */
#define F_ALPHA 4    /* a tag expression of clean can match it */
#define F_WS 8       /* replaced in step 1 */
#define F_SURR 16    /* a surrogate code point */
#define F_BOX 32     /* box drawing or block element: <BLOCK> under clean */

/* growable buffers: code points and ids */
typedef struct {
    Py_UCS4 *p;
    Py_ssize_t n, cap;
} UBuf;

typedef struct {
    int32_t *p;
    Py_ssize_t n, cap;
} IBuf;

static int ubuf_reserve(UBuf *b, Py_ssize_t extra) {
    if (b->n + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra) cap *= 2;
    Py_UCS4 *q = (Py_UCS4 *)PyMem_Realloc(b->p, sizeof(Py_UCS4) * (size_t)cap);
    if (!q) { PyErr_NoMemory(); return -1; }
    b->p = q;
    b->cap = cap;
    return 0;
}

static int ibuf_reserve(IBuf *b, Py_ssize_t extra) {
    if (b->n + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra) cap *= 2;
    int32_t *q = (int32_t *)PyMem_Realloc(b->p, sizeof(int32_t) * (size_t)cap);
    if (!q) { PyErr_NoMemory(); return -1; }
    b->p = q;
    b->cap = cap;
    return 0;
}

static inline void ubuf_put(UBuf *b, const Py_UCS4 *s, Py_ssize_t n) {   /* room reserved */
    memcpy(b->p + b->n, s, sizeof(Py_UCS4) * (size_t)n);
    b->n += n;
}

/* Scratch space of one encode call: two code-point buffers that the steps write in turn,
 * and the ids.  A core keeps one set between calls (kept only while it stays small). */
typedef struct {
    UBuf a, b;
    IBuf ids;
} Work;

static void work_free(Work *w) {
    PyMem_Free(w->a.p);
    PyMem_Free(w->b.p);
    PyMem_Free(w->ids.p);
    memset(w, 0, sizeof(*w));
}

#define KEEP_SCRATCH (1 << 20)   /* code points (or ids) a core keeps allocated between calls */

typedef struct {
    PyObject_HEAD
    HTable shortt;      /* 1-code-point spellings outside the BMP */
    HTable pairs;       /* 2-code-point prefixes: (id + 1, or 0) | V_HAS3 */
    HTable triples;     /* 3-code-point spellings, by (slot of their prefix in pairs, 3rd) */
    int32_t *bmp1;      /* single BMP character -> id or -1 */
    uint8_t *cflags;    /* BMP character -> F_* */
    HTable astral_has2;
    PyObject **idobj;   /* cached int objects for every id */
    HTable edges;       /* the '<' trie */
    int32_t *term;      /* per '<' trie node: id of the spelling ending there, or -1 */
    Py_ssize_t nnodes;
    Py_ssize_t maxlen;
    int32_t kigou, u2e;
    int32_t byte_ids[256];
    Py_ssize_t nvocab;
    char **blob;
    Py_ssize_t *bloblen;
    uint8_t *is_br;
    /* emoji */
    Py_ssize_t nkeys;
    Py_ssize_t *ekeylen;
    Py_UCS4 **eval;     /* class token of each key, as UCS4 */
    Py_ssize_t *evallen;
    HTable eedges;      /* the emoji-key trie */
    int32_t *eterm;     /* per node: index of the key ending there, or -1 */
    Py_ssize_t enodes;
    int ws_emoji;       /* a key starts with a character that step 1 writes */
    PyObject *emoji_fallback;   /* None, or str -> str doing step 2 (keys not inert) */
    /* clean */
    PyObject *clean_fn;
    HTable alpha_astral;        /* astral characters of the clean alphabet (besides digits) */
    PyObject *error_cls;
    Work work;
    int busy;
} Core;

static void Core_dealloc(Core *self) {
    ht_free(&self->shortt);
    ht_free(&self->edges);
    ht_free(&self->pairs);
    ht_free(&self->triples);
    ht_free(&self->astral_has2);
    ht_free(&self->eedges);
    ht_free(&self->alpha_astral);
    PyMem_Free(self->term);
    PyMem_Free(self->eterm);
    if (self->blob) {
        for (Py_ssize_t i = 0; i < self->nvocab; i++) PyMem_Free(self->blob[i]);
    }
    PyMem_Free(self->blob);
    PyMem_Free(self->bloblen);
    PyMem_Free(self->is_br);
    PyMem_Free(self->bmp1);
    PyMem_Free(self->cflags);
    if (self->idobj) {
        for (Py_ssize_t i = 0; i < self->nvocab; i++) Py_XDECREF(self->idobj[i]);
    }
    PyMem_Free(self->idobj);
    if (self->eval) {
        for (Py_ssize_t i = 0; i < self->nkeys; i++) PyMem_Free(self->eval[i]);
    }
    PyMem_Free(self->eval);
    PyMem_Free(self->evallen);
    PyMem_Free(self->ekeylen);
    Py_XDECREF(self->emoji_fallback);
    Py_XDECREF(self->clean_fn);
    Py_XDECREF(self->error_cls);
    work_free(&self->work);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Adds key to a trie: edges maps (node, code point) to the child node, term holds each node's
 * value (-1: none; node 0 is the root, *nnodes counts the nodes); term[key's node] = value. */
static void trie_put(HTable *edges, int32_t *term, Py_ssize_t *nnodes, PyObject *key,
                     int32_t value) {
    int32_t node = 0;
    for (Py_ssize_t j = 0; j < PyUnicode_GET_LENGTH(key); j++) {
        Py_UCS4 c = PyUnicode_READ_CHAR(key, j);
        int32_t child = ht_get(edges, EDGE(node, c));
        if (child < 0) {
            child = (int32_t)(*nnodes)++;
            term[child] = -1;
            ht_put(edges, EDGE(node, c), child);
        }
        node = child;
    }
    term[node] = value;
}

/* The emoji keys in a trie (nodes numbered from 1; 0 is the root), and their class tokens. */
static int init_emoji(Core *self, PyObject *ekeys, PyObject *evals) {
    Py_ssize_t nk = PyList_GET_SIZE(ekeys), chars = 0;
    if (PyList_GET_SIZE(evals) != nk) {
        PyErr_SetString(PyExc_ValueError, "Core: emoji keys and values differ in length");
        return -1;
    }
    for (Py_ssize_t k = 0; k < nk; k++) {
        PyObject *key = PyList_GET_ITEM(ekeys, k), *val = PyList_GET_ITEM(evals, k);
        if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) == 0 || !PyUnicode_Check(val)) {
            PyErr_SetString(PyExc_ValueError, "emoji keys must be non-empty str, values str");
            return -1;
        }
        chars += PyUnicode_GET_LENGTH(key);
    }
    self->nkeys = nk;
    self->ekeylen = (Py_ssize_t *)PyMem_Calloc((size_t)nk + 1, sizeof(Py_ssize_t));
    self->eval = (Py_UCS4 **)PyMem_Calloc((size_t)nk + 1, sizeof(Py_UCS4 *));
    self->evallen = (Py_ssize_t *)PyMem_Calloc((size_t)nk + 1, sizeof(Py_ssize_t));
    if (chars >= (1 << 20)) {
        PyErr_SetString(PyExc_OverflowError, "the compiled core holds emoji keys of at most "
                        "2^20 characters in all");
        return -1;
    }
    self->eterm = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)(chars + 1));
    if (!self->ekeylen || !self->eval || !self->evallen || !self->eterm ||
        ht_init(&self->eedges, (size_t)chars + 1) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    self->eterm[0] = -1;
    self->enodes = 1;
    for (Py_ssize_t k = 0; k < nk; k++) {
        PyObject *key = PyList_GET_ITEM(ekeys, k), *val = PyList_GET_ITEM(evals, k);
        Py_ssize_t len = PyUnicode_GET_LENGTH(key);
        self->ekeylen[k] = len;
        if (!(self->eval[k] = PyUnicode_AsUCS4Copy(val))) return -1;
        self->evallen[k] = PyUnicode_GET_LENGTH(val);
        /* a repeated key: the later one (as a dict) */
        trie_put(&self->eedges, self->eterm, &self->enodes, key, (int32_t)k);
        Py_UCS4 c0 = PyUnicode_READ_CHAR(key, 0);
        if (c0 < 65536) self->cflags[c0] |= F_EFIRST;
        if (c0 == '<' || c0 == '>' || c0 == 'S' || c0 == 'P' || c0 == 'B' || c0 == 'R' ||
            c0 == 'T' || c0 == 'A' || c0 == 0x30FC)
            self->ws_emoji = 1;
    }
    return 0;
}

static int init_clean(Core *self, PyObject *alphabet) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(alphabet);
    if (ht_init(&self->alpha_astral, 16) < 0) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ_CHAR(alphabet, i);
        if (c < 65536) self->cflags[c] |= F_ALPHA;
        else if (self->alpha_astral.used < 8) ht_put(&self->alpha_astral, PACK1(c), 1);
        else {
            PyErr_SetString(PyExc_ValueError, "Core: at most 8 astral characters in the alphabet");
            return -1;
        }
    }
    for (Py_UCS4 c = 128; c < 65536; c++)
        if (Py_UNICODE_ISDECIMAL(c)) self->cflags[c] |= F_ALPHA;   /* re's \d */
    for (Py_UCS4 c = 0x2500; c <= 0x259F; c++) self->cflags[c] |= F_BOX;
    return 0;
}

/* The spelling tables.  A longer candidate is looked up only where it can win: F_HAS2 (and
 * astral_has2) mark the characters that begin a 2- or 3-code-point spelling whose id is at most
 * the character's own (smaller id wins; the same id, the longer), and V_HAS3 the prefixes
 * extended by a 3-code-point spelling whose id is at most those of the prefix and its first
 * character. */
static inline uint64_t pair_key(PyObject *k) {
    return PACK1(PyUnicode_READ_CHAR(k, 0)) | (PACK1(PyUnicode_READ_CHAR(k, 1)) << 21);
}

static inline int32_t single_id(const Core *self, Py_UCS4 c) {
    return c < 65536 ? self->bmp1[c] : ht_get(&self->shortt, PACK1(c));
}

static inline int beats(int32_t longer, int32_t shorter) {   /* both may be -1 (none) */
    return longer >= 0 && (shorter < 0 || longer <= shorter);
}

static int init_spellings(Core *self, PyObject *keys, PyObject *ids, Py_ssize_t nvocab) {
    Py_ssize_t n = PyList_GET_SIZE(keys);
    HTable min_multi = {0}, min3 = {0};   /* first character -> least id of its longer spellings; pair -> of its triples */
    int rc = -1;
    if (ht_init(&min_multi, (size_t)n) < 0 || ht_init(&min3, (size_t)n) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = PyList_GET_ITEM(keys, i);
        int32_t id = (int32_t)PyLong_AsLong(PyList_GET_ITEM(ids, i));
        Py_ssize_t len = PyUnicode_GET_LENGTH(k);
        if (len == 0) continue;
        if (id < 0 || id >= nvocab) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "Core: an id is out of range");
            goto done;
        }
        Py_UCS4 c0 = PyUnicode_READ_CHAR(k, 0);
        if (c0 == '<') {          /* matched with the trie */
            trie_put(&self->edges, self->term, &self->nnodes, k, id);
        } else if (len == 1) {
            if (c0 < 65536) self->bmp1[c0] = id;
            else ht_put(&self->shortt, PACK1(c0), id);
        } else if (len <= 3) {
            int32_t m = ht_get(&min_multi, PACK1(c0));
            if (m < 0 || id < m) ht_put(&min_multi, PACK1(c0), id);
            uint64_t pk = pair_key(k);
            int32_t old = ht_get(&self->pairs, pk);
            if (len == 2) ht_put(&self->pairs, pk, id + 1);
            else {
                if (old < 0) ht_put(&self->pairs, pk, 0);
                m = ht_get(&min3, pk);
                if (m < 0 || id < m) ht_put(&min3, pk, id);
            }
        }
    }
    for (size_t i = 0; i <= min_multi.mask; i++) {
        uint64_t w = min_multi.slot[i];
        if (!w) continue;
        Py_UCS4 c0 = (Py_UCS4)((w >> VAL_BITS) - 1);
        if (!beats((int32_t)(w & VAL_MASK) - 1, single_id(self, c0))) continue;
        if (c0 < 65536) self->cflags[c0] |= F_HAS2;
        else ht_put(&self->astral_has2, PACK1(c0), 1);
    }
    for (size_t i = 0; i <= self->pairs.mask; i++) {
        uint64_t w = self->pairs.slot[i];
        if (!w) continue;
        uint64_t pk = w >> VAL_BITS;
        int32_t id2 = (int32_t)(w & VAL_MASK) - 2;   /* stored id + 1, plus the table's 1 */
        int32_t id1 = single_id(self, (Py_UCS4)((pk & 0x1FFFFF) - 1));
        int32_t lower = id2 < 0 ? id1 : (id1 < 0 || id2 < id1 ? id2 : id1);
        if (beats(ht_get(&min3, pk), lower))
            self->pairs.slot[i] = (pk << VAL_BITS) | ((uint64_t)((id2 + 1) | V_HAS3) + 1);
    }
    /* 3-code-point spellings, keyed by their prefix's slot in pairs (slots never move) */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = PyList_GET_ITEM(keys, i);
        if (PyUnicode_GET_LENGTH(k) != 3 || PyUnicode_READ_CHAR(k, 0) == '<') continue;
        Py_ssize_t slot = ht_find(&self->pairs, pair_key(k));
        ht_put(&self->triples, ((uint64_t)(slot + 1) << 21) | PACK1(PyUnicode_READ_CHAR(k, 2)),
               (int32_t)PyLong_AsLong(PyList_GET_ITEM(ids, i)));
    }
    rc = 0;
done:
    ht_free(&min_multi);
    ht_free(&min3);
    return rc;
}

static int Core_init(Core *self, PyObject *args, PyObject *kwds) {
    PyObject *keys, *ids, *byte_ids, *blobs, *br_ids, *ekeys, *evals, *efallback, *clean_fn,
        *alphabet, *error_cls;
    Py_ssize_t maxlen;
    int kigou, u2e;
    if (!PyArg_ParseTuple(args, "O!O!niiO!O!O!O!O!OOUO", &PyList_Type, &keys, &PyList_Type, &ids,
                          &maxlen, &kigou, &u2e, &PyList_Type, &byte_ids, &PyList_Type,
                          &blobs, &PyList_Type, &br_ids, &PyList_Type, &ekeys, &PyList_Type,
                          &evals, &efallback, &clean_fn, &alphabet, &error_cls))
        return -1;
    if (self->bmp1) {
        PyErr_SetString(PyExc_RuntimeError, "Core is initialised once");
        return -1;
    }
    Py_INCREF(efallback);
    self->emoji_fallback = efallback;
    Py_INCREF(clean_fn);
    self->clean_fn = clean_fn;
    Py_INCREF(error_cls);
    self->error_cls = error_cls;
    self->bmp1 = (int32_t *)PyMem_Malloc(sizeof(int32_t) * 65536);
    self->cflags = (uint8_t *)PyMem_Calloc(65536, 1);
    if (!self->bmp1 || !self->cflags) { PyErr_NoMemory(); return -1; }
    for (int i = 0; i < 65536; i++) self->bmp1[i] = -1;
    static const Py_UCS4 ws[] = {' ', 0x3000, '\r', '\n', '\t', 0x2014, 0x2212};
    for (size_t i = 0; i < sizeof(ws) / sizeof(ws[0]); i++) self->cflags[ws[i]] |= F_WS;
    for (Py_UCS4 c = 0xD800; c <= 0xDFFF; c++) self->cflags[c] |= F_SURR;
    if (init_emoji(self, ekeys, evals) < 0 || init_clean(self, alphabet) < 0) return -1;
    Py_ssize_t n = PyList_GET_SIZE(keys);
    if (PyList_GET_SIZE(ids) != n || PyList_GET_SIZE(byte_ids) != 255) {
        PyErr_SetString(PyExc_ValueError, "Core: keys/ids length mismatch or byte ids != 255");
        return -1;
    }
    self->maxlen = maxlen;
    self->kigou = kigou;
    self->u2e = u2e;
    for (int b = 0; b < 255; b++) {
        self->byte_ids[b] = (int32_t)PyLong_AsLong(PyList_GET_ITEM(byte_ids, b));
    }
    self->byte_ids[255] = -1;
    Py_ssize_t trie_chars = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = PyList_GET_ITEM(keys, i);
        if (!PyUnicode_Check(k)) { PyErr_SetString(PyExc_TypeError, "keys must be str"); return -1; }
        if (PyUnicode_GET_LENGTH(k) > 0 && PyUnicode_READ_CHAR(k, 0) == '<')
            trie_chars += PyUnicode_GET_LENGTH(k);
    }
    if (PyList_GET_SIZE(blobs) >= MAX_VOCAB || n > MAX_SPELLINGS || trie_chars >= (1 << 20)) {
        PyErr_Format(PyExc_OverflowError, "the compiled core holds at most %d ids and %d "
                     "spellings of 1-3 characters", MAX_VOCAB - 1, MAX_SPELLINGS);
        return -1;
    }
    if (ht_init(&self->shortt, (size_t)n) < 0 || ht_init(&self->edges, (size_t)trie_chars + 1) < 0 ||
        ht_init(&self->pairs, (size_t)n) < 0 || ht_init(&self->triples, (size_t)n) < 0 ||
        ht_init(&self->astral_has2, (size_t)n) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    self->term = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)(trie_chars + 1));
    if (!self->term) { PyErr_NoMemory(); return -1; }
    self->term[0] = -1;
    self->nnodes = 1;
    if (init_spellings(self, keys, ids, PyList_GET_SIZE(blobs)) < 0) return -1;
    /* decoding tables */
    Py_ssize_t nv = PyList_GET_SIZE(blobs);
    self->nvocab = nv;
    self->blob = (char **)PyMem_Calloc((size_t)nv, sizeof(char *));
    self->bloblen = (Py_ssize_t *)PyMem_Calloc((size_t)nv, sizeof(Py_ssize_t));
    self->is_br = (uint8_t *)PyMem_Calloc((size_t)nv + 1, 1);
    if (!self->blob || !self->bloblen || !self->is_br) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < nv; i++) {
        PyObject *b = PyList_GET_ITEM(blobs, i);
        char *p;
        Py_ssize_t l;
        if (PyBytes_AsStringAndSize(b, &p, &l) < 0) return -1;
        self->blob[i] = (char *)PyMem_Malloc((size_t)l + 1);
        if (!self->blob[i]) { PyErr_NoMemory(); return -1; }
        memcpy(self->blob[i], p, (size_t)l);
        self->bloblen[i] = l;
    }
    self->idobj = (PyObject **)PyMem_Calloc((size_t)nv, sizeof(PyObject *));
    if (!self->idobj) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < nv; i++)
        if (!(self->idobj[i] = PyLong_FromSsize_t(i))) return -1;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(br_ids); i++) {
        long b = PyLong_AsLong(PyList_GET_ITEM(br_ids, i));
        if (b >= 0 && b < nv) self->is_br[b] = 1;
    }
    if (PyErr_Occurred()) return -1;
    return 0;
}

/* ---------------------------------------------------------------- step 1: whitespace */

static const Py_UCS4 T_SP[] = {'<', 'S', 'P', '>'};
static const Py_UCS4 T_BR[] = {'<', 'B', 'R', '>'};
static const Py_UCS4 T_TAB[] = {'<', 'T', 'A', 'B', '>'};
static const Py_UCS4 T_BLOCK[] = {'<', 'B', 'L', 'O', 'C', 'K', '>'};

static inline int emoji_first(const Core *self, Py_UCS4 c) {
    return c < 65536 ? (self->cflags[c] & F_EFIRST) != 0
                     : ht_get(&self->eedges, EDGE(0, c)) >= 0;
}

/* Writes step 1's text into o (emptied first); *emoji tells whether an emoji key may occur.
 * The loop is written once per string kind so that each reads its own code unit width. */
#define WS_LOOP(T)                                                                             \
    do {                                                                                       \
        const T *s = (const T *)data;                                                          \
        for (Py_ssize_t i = 0; i < n; i++) {                                                   \
            Py_UCS4 c = s[i];                                                                  \
            uint8_t f = c < 65536 ? flags[c] : (uint8_t)(emoji_first(self, c) ? F_EFIRST : 0);  \
            if (!(f & (F_WS | F_SURR))) {                                                      \
                p[w++] = c;                                                                    \
                em |= f;                                                                       \
                continue;                                                                      \
            }                                                                                  \
            if (f & F_SURR) {                                                                  \
                char cp[16];                                                                   \
                snprintf(cp, sizeof(cp), "%04X", (unsigned)c);                                 \
                PyErr_Format(self->error_cls, "lone surrogate U+%s at position %zd: text must " \
                             "be valid Unicode", cp, i);                                       \
                return -1;                                                                     \
            }                                                                                  \
            o->n = w;                                                                          \
            if (ubuf_reserve(o, 5 + (n - i)) < 0) return -1;                                   \
            p = o->p;                                                                          \
            em |= self->ws_emoji ? F_EFIRST : 0;                                               \
            switch (c) {                                                                       \
                case ' ': case 0x3000: memcpy(p + w, T_SP, sizeof(T_SP)); w += 4; break;        \
                case '\r':                                                                     \
                    if (i + 1 < n && s[i + 1] == '\n') i++;                                    \
                    /* fall through */                                                         \
                case '\n': memcpy(p + w, T_BR, sizeof(T_BR)); w += 4; break;                    \
                case '\t': memcpy(p + w, T_TAB, sizeof(T_TAB)); w += 5; break;                  \
                default: p[w++] = 0x30FC; break;                                               \
            }                                                                                  \
        }                                                                                      \
    } while (0)

static int step_ws(Core *self, PyObject *text, UBuf *o, int *emoji) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), w = 0;
    const void *data = PyUnicode_DATA(text);
    const uint8_t *flags = self->cflags;
    uint8_t em = 0;
    o->n = 0;
    if (ubuf_reserve(o, n + 16) < 0) return -1;
    Py_UCS4 *p = o->p;
    switch (PyUnicode_KIND(text)) {
        case PyUnicode_1BYTE_KIND: WS_LOOP(Py_UCS1); break;
        case PyUnicode_2BYTE_KIND: WS_LOOP(Py_UCS2); break;
        default: WS_LOOP(Py_UCS4); break;
    }
    o->n = w;
    *emoji = (em & F_EFIRST) != 0;
    return 0;
}

/* ---------------------------------------------------------------- step 2: emoji */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Text through a Python function str -> str, appended to o. */
static int through_python(PyObject *fn, const Py_UCS4 *s, Py_ssize_t n, UBuf *o) {
    PyObject *in = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, s, n);
    if (!in) return -1;
    PyObject *res = PyObject_CallOneArg(fn, in);
    Py_DECREF(in);
    if (!res) return -1;
    if (!PyUnicode_Check(res)) {
        Py_DECREF(res);
        PyErr_SetString(PyExc_TypeError, "Core: a text step returned a non-str");
        return -1;
    }
    Py_ssize_t m = PyUnicode_GET_LENGTH(res);
    if (ubuf_reserve(o, m) < 0 || !PyUnicode_AsUCS4(res, o->p + o->n, m, 0)) {
        Py_DECREF(res);
        return -1;
    }
    o->n += m;
    Py_DECREF(res);
    return 0;
}

/* Replaces the emoji keys of in, writing out; *changed = 0 leaves out untouched. */
static int step_emoji(Core *self, const UBuf *in, UBuf *out, int *changed) {
    const Py_UCS4 *s = in->p;
    Py_ssize_t n = in->n, nm = 0, capm = 0;
    uint64_t *m = NULL;   /* occurrences: key << 40 | position */
    int rc = -1;
    *changed = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!emoji_first(self, s[i])) continue;
        int32_t node = 0;
        for (Py_ssize_t j = i; j < n; j++) {
            node = ht_get(&self->eedges, EDGE(node, s[j]));
            if (node < 0) break;
            if (self->eterm[node] < 0) continue;
            if (nm == capm) {
                capm = capm ? capm * 2 : 64;
                uint64_t *q = (uint64_t *)PyMem_Realloc(m, sizeof(uint64_t) * (size_t)capm);
                if (!q) { PyErr_NoMemory(); goto done; }
                m = q;
            }
            m[nm++] = ((uint64_t)self->eterm[node] << 40) | (uint64_t)i;
        }
    }
    if (nm == 0) { rc = 0; goto done; }
    *changed = 1;
    out->n = 0;
    if (self->emoji_fallback != Py_None) {
        rc = through_python(self->emoji_fallback, s, n, out);
        goto done;
    }
    qsort(m, (size_t)nm, sizeof(uint64_t), cmp_u64);
    /* taken[i]: 0 free, 1 inside a taken occurrence, 2 + key where one starts */
    int32_t *taken = (int32_t *)PyMem_Calloc((size_t)n + 1, sizeof(int32_t));
    if (!taken) { PyErr_NoMemory(); goto done; }
    Py_ssize_t grow = 0;
    for (Py_ssize_t a = 0; a < nm;) {
        int32_t key = (int32_t)(m[a] >> 40);
        Py_ssize_t len = self->ekeylen[key];
        for (; a < nm && (int32_t)(m[a] >> 40) == key; a++) {   /* left to right */
            Py_ssize_t pos = (Py_ssize_t)(m[a] & ((1ULL << 40) - 1)), t = 0;
            while (t < len && taken[pos + t] == 0) t++;
            if (t < len) continue;       /* overlaps one taken (of this key or an earlier) */
            taken[pos] = 2 + key;
            for (t = 1; t < len; t++) taken[pos + t] = 1;
            grow += self->evallen[key];
        }
    }
    if (ubuf_reserve(out, n + grow) < 0) { PyMem_Free(taken); goto done; }
    for (Py_ssize_t i = 0; i < n;) {
        int32_t t = taken[i];
        if (t >= 2) {
            ubuf_put(out, self->eval[t - 2], self->evallen[t - 2]);
            i += self->ekeylen[t - 2];
        } else {
            out->p[out->n++] = s[i++];
        }
    }
    PyMem_Free(taken);
    rc = 0;
done:
    PyMem_Free(m);
    return rc;
}

/* ---------------------------------------------------------------- step 3: clean */

static inline int is_alpha(const Core *self, Py_UCS4 c) {
    if (c < 65536) return (self->cflags[c] & F_ALPHA) != 0;
    return Py_UNICODE_ISDECIMAL(c) || ht_get(&self->alpha_astral, PACK1(c)) >= 0;
}

static inline int email_char(Py_UCS4 c) {
    return c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
           (c >= 'a' && c <= 'z');
}

/* Does s[0..n) hold a sequence that some tag expression's every match contains? */
static int may_match(const Py_UCS4 *s, Py_ssize_t n) {
    int digits = 0;
    for (Py_ssize_t j = 0; j < n; j++) {
        Py_UCS4 c = s[j], nx = j + 1 < n ? s[j + 1] : 0, nx2 = j + 2 < n ? s[j + 2] : 0;
        if (c >= '0' && c <= '9') {
            if (++digits >= 7 || nx == '/' || nx == '-' || nx == 0x6708) return 1;   /* TEL, DATE */
        } else if (c == ':') {
            if (nx == '/' && nx2 == '/') return 1;                                   /* URL */
        } else if (c == '@') {
            if (email_char(nx)) return 1;                                            /* EMAIL */
        } else if (c == 0x5186 || (c == 0x30C9 && nx == 0x30EB) ||
                   (c == 0x30E6 && nx == 0x30FC && nx2 == 0x30ED)) {
            return 1;                                                                /* PRICE */
        }
    }
    return 0;
}

/* Pieces closer than this (in code points) go to clean_tags in one call: a call costs about
 * as much as cleaning a dozen code points in Python, and the calls stay at most n / 16. */
#define JOIN_GAP 16

/* The tag replacements: out = clean_tags(in), applied to the stretches that hold pieces where
 * a match is possible (a stretch starts and ends at a piece's ends, so the result is the
 * same as for the whole text). */
static int step_tags(Core *self, const UBuf *in, UBuf *out) {
    const Py_UCS4 *s = in->p;
    Py_ssize_t n = in->n, copied = 0, from = -1, to = 0;
    out->n = 0;
    if (ubuf_reserve(out, n + 16) < 0) return -1;
    for (Py_ssize_t i = 0; i <= n;) {
        Py_ssize_t e = i;
        if (i < n) {
            if (!is_alpha(self, s[i])) { i++; continue; }
            while (e < n && is_alpha(self, s[e])) e++;
            if (!may_match(s + i, e - i)) { i = e; continue; }
            if (from >= 0 && i - to < JOIN_GAP) { to = e; i = e; continue; }
        }
        if (from >= 0) {   /* the stretch [from, to) is complete */
            ubuf_put(out, s + copied, from - copied);
            if (through_python(self->clean_fn, s + from, to - from, out) < 0) return -1;
            if (ubuf_reserve(out, n - to + 16) < 0) return -1;
            copied = to;
        }
        if (i == n) break;
        from = i;
        to = e;
        i = e;
    }
    ubuf_put(out, s + copied, n - copied);
    return 0;
}

static inline int block_at(const Core *self, const Py_UCS4 *s, Py_ssize_t i, Py_ssize_t n) {
    Py_UCS4 c = s[i];
    if (c < 65536 && (self->cflags[c] & F_BOX)) return 1;
    if (c == '<' && i + 7 <= n && memcmp(s + i, T_BLOCK, sizeof(T_BLOCK)) == 0) return 7;
    return 0;
}

/* Box and block characters -> <BLOCK>, and every run of <BLOCK> (written or literal) -> one.
 * *changed = 0 when nothing is to be done (out untouched). */
static int step_blocks(Core *self, const UBuf *in, UBuf *out, int *changed) {
    const Py_UCS4 *s = in->p;
    Py_ssize_t n = in->n, first = -1;
    *changed = 0;
    for (Py_ssize_t i = 0; i < n && first < 0;) {
        int k = block_at(self, s, i, n);
        if (k == 1 || (k == 7 && i + 7 < n && block_at(self, s, i + 7, n))) first = i;
        i += k ? k : 1;
    }
    if (first < 0) return 0;
    *changed = 1;
    out->n = 0;
    if (ubuf_reserve(out, n + 16) < 0) return -1;
    ubuf_put(out, s, first);
    for (Py_ssize_t i = first; i < n;) {
        int k = block_at(self, s, i, n);
        if (!k) {
            out->p[out->n++] = s[i++];
            continue;
        }
        while (i < n && (k = block_at(self, s, i, n))) i += k;
        if (ubuf_reserve(out, 7 + (n - i)) < 0) return -1;
        ubuf_put(out, T_BLOCK, 7);
    }
    return 0;
}

/* ---------------------------------------------------------------- step 4: matching */

static int is_kigou(Py_UCS4 c) {
    return (c >= 0xA1 && c <= 0xBF) || (c >= 0x1C0 && c <= 0x1C3) ||
           (c >= 0x2B9 && c <= 0x2FF) || (c >= 0x300 && c <= 0x362);
}

static inline void push_fallback(const Core *self, IBuf *out, Py_UCS4 c) {  /* room for 4 */
    if (is_kigou(c)) { out->p[out->n++] = self->kigou; return; }
    if (c >= 0x2000 && c <= 0x2BFF) { out->p[out->n++] = self->u2e; return; }
    unsigned char u[4];
    int n;
    if (c < 0x80) { u[0] = (unsigned char)c; n = 1; }
    else if (c < 0x800) { u[0] = 0xC0 | (c >> 6); u[1] = 0x80 | (c & 0x3F); n = 2; }
    else if (c < 0x10000) {
        u[0] = 0xE0 | (c >> 12); u[1] = 0x80 | ((c >> 6) & 0x3F); u[2] = 0x80 | (c & 0x3F); n = 3;
    } else {
        u[0] = 0xF0 | (c >> 18); u[1] = 0x80 | ((c >> 12) & 0x3F);
        u[2] = 0x80 | ((c >> 6) & 0x3F); u[3] = 0x80 | (c & 0x3F); n = 4;
    }
    for (int i = 0; i < n; i++) out->p[out->n++] = self->byte_ids[u[i]];
}

/* Better candidate: smaller id, or the same id and longer. */
#define TAKE(id, len) do { if ((id) >= 0 && (best < 0 || (id) < best)) { best = (id); blen = (len); } } while (0)

/* Appends the ids of s[0..n) to out; every position gives at most 4 ids. */
static int match(const Core *self, const Py_UCS4 *s, Py_ssize_t n, IBuf *out) {
    if (ibuf_reserve(out, 4 * n + 4) < 0) return -1;
    Py_ssize_t pos = 0;
    while (pos < n) {
        Py_UCS4 c = s[pos];
        int32_t best = -1;
        Py_ssize_t blen = 0;
        if (c == '<') {
            Py_ssize_t lim = pos + self->maxlen + 1;
            if (lim > n) lim = n;
            int32_t node = 0, longid = -1, id1 = -1, id2 = -1;
            Py_ssize_t longlen = 0;
            for (Py_ssize_t e = pos; e < lim; e++) {
                int32_t child = ht_get(&self->edges, EDGE(node, s[e]));
                if (child < 0) break;
                node = child;
                int32_t t = self->term[node];
                if (t >= 0) {
                    Py_ssize_t L = e - pos + 1;
                    if (L > 2) { longid = t; longlen = L; }
                    else if (L == 1) id1 = t;
                    else id2 = t;
                }
            }
            if (longid >= 0) { best = longid; blen = longlen; }
            else { TAKE(id2, 2); TAKE(id1, 1); }
        } else {
            int32_t id1, id2 = -1, id3 = -1;
            int multi;
            /* the next token starts one or two code points on: fetch its pair's slot now */
            if (pos + 3 < n) {
                PREFETCH(&self->pairs.slot[ht_home(&self->pairs,
                                                   PACK1(s[pos + 1]) | (PACK1(s[pos + 2]) << 21))]);
                PREFETCH(&self->pairs.slot[ht_home(&self->pairs,
                                                   PACK1(s[pos + 2]) | (PACK1(s[pos + 3]) << 21))]);
            }
            if (c < 65536) { id1 = self->bmp1[c]; multi = self->cflags[c] & F_HAS2; }
            else { id1 = ht_get(&self->shortt, PACK1(c)); multi = ht_get(&self->astral_has2, PACK1(c)) > 0; }
            if (multi && pos + 1 < n) {
                Py_ssize_t slot = ht_find(&self->pairs, PACK1(c) | (PACK1(s[pos + 1]) << 21));
                if (slot >= 0) {
                    uint32_t v = (uint32_t)(self->pairs.slot[slot] & VAL_MASK) - 1;
                    id2 = (int32_t)(v & (V_HAS3 - 1)) - 1;
                    if ((v & V_HAS3) && pos + 2 < n)
                        id3 = ht_get(&self->triples,
                                     ((uint64_t)(slot + 1) << 21) | PACK1(s[pos + 2]));
                }
            }
            TAKE(id3, 3); TAKE(id2, 2); TAKE(id1, 1);
        }
        if (best >= 0) {
            out->p[out->n++] = best;
            pos += blen;
        } else {
            push_fallback(self, out, c);
            pos += 1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- encode */

/* Steps 1-3 of text; *final points to the buffer of w that holds the result. */
static int preprocess(Core *self, PyObject *text, int clean, Work *w, UBuf **final) {
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "encode takes str, not %.100s", Py_TYPE(text)->tp_name);
        return -1;
    }
    int emoji = 0, changed = 0;
    UBuf *cur = &w->a, *other = &w->b, *t;
    if (step_ws(self, text, cur, &emoji) < 0) return -1;
    if (emoji) {
        if (step_emoji(self, cur, other, &changed) < 0) return -1;
        if (changed) { t = cur; cur = other; other = t; }
    }
    if (clean) {
        if (step_tags(self, cur, other) < 0) return -1;
        t = cur; cur = other; other = t;
        if (step_blocks(self, cur, other, &changed) < 0) return -1;
        if (changed) { t = cur; cur = other; other = t; }
    }
    *final = cur;
    return 0;
}

/* Runs f with the core's scratch space, or a fresh one when a call is already using it (a
 * Python step that encodes again). */
static Work *work_take(Core *self, Work *local) {
    if (self->busy) {
        memset(local, 0, sizeof(*local));
        return local;
    }
    self->busy = 1;
    self->work.ids.n = 0;
    return &self->work;
}

static void work_give(Core *self, Work *w) {
    if (w != &self->work) { work_free(w); return; }
    if (w->a.cap > KEEP_SCRATCH || w->b.cap > KEEP_SCRATCH || w->ids.cap > KEEP_SCRATCH)
        work_free(w);
    self->busy = 0;
}

/* The ids of text appended to w->ids. */
static int encode_into(Core *self, PyObject *text, int clean, Work *w) {
    UBuf *final;
    if (preprocess(self, text, clean, w, &final) < 0) return -1;
    return match(self, final->p, final->n, &w->ids);
}

static PyObject *ids_list(const Core *self, const int32_t *p, Py_ssize_t n) {
    PyObject *list = PyList_New(n);
    if (!list) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = self->idobj[p[i]];
        Py_INCREF(v);
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

/* A Core made without __init__ (Core.__new__(Core)) has no tables. */
static int not_ready(const Core *self) {
    if (self->bmp1 && self->blob) return 0;
    PyErr_SetString(PyExc_RuntimeError, "Core is not initialised");
    return 1;
}

static int parse_text_clean(Core *self, PyObject *args, PyObject **text, int *clean) {
    PyObject *c = Py_False;
    if (not_ready(self)) return -1;
    if (!PyArg_ParseTuple(args, "O|O", text, &c)) return -1;
    *clean = PyObject_IsTrue(c);
    return *clean < 0 ? -1 : 0;
}

static PyObject *Core_encode(Core *self, PyObject *args) {
    PyObject *text, *res = NULL;
    int clean;
    if (parse_text_clean(self, args, &text, &clean) < 0) return NULL;
    Work local, *w = work_take(self, &local);
    if (encode_into(self, text, clean, w) == 0) res = ids_list(self, w->ids.p, w->ids.n);
    work_give(self, w);
    return res;
}

/* Token ids as little-endian uint16 bytes, a bytearray (for shards; the vocabulary must fit). */
static PyObject *Core_encode_u16(Core *self, PyObject *args) {
    PyObject *text, *res = NULL;
    int clean;
    if (parse_text_clean(self, args, &text, &clean) < 0) return NULL;
    Work local, *w = work_take(self, &local);
    if (encode_into(self, text, clean, w) == 0 &&
        (res = PyByteArray_FromStringAndSize(NULL, w->ids.n * 2))) {   /* writable for numpy */
        unsigned char *q = (unsigned char *)PyByteArray_AS_STRING(res);
        for (Py_ssize_t i = 0; i < w->ids.n; i++) {
            q[2 * i] = (unsigned char)(w->ids.p[i] & 0xFF);
            q[2 * i + 1] = (unsigned char)((w->ids.p[i] >> 8) & 0xFF);
        }
    }
    work_give(self, w);
    return res;
}

/* A list of id lists, one per text of a sequence. */
static PyObject *Core_encode_batch(Core *self, PyObject *args) {
    PyObject *texts, *seq, *res = NULL;
    int clean;
    if (parse_text_clean(self, args, &texts, &clean) < 0) return NULL;
    /* a tuple of its own: the Python steps may let another thread change a list */
    if (!(seq = PySequence_Tuple(texts))) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "encode_batch takes an iterable of str, not %.100s",
                         Py_TYPE(texts)->tp_name);
        }
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    PyObject **items = &PyTuple_GET_ITEM(seq, 0);
    Work local, *w = work_take(self, &local);
    /* The lists made here hold only ints; collecting while they are made would walk the
     * whole heap again and again (a full collection every few thousand texts). */
    int gc_was_on = PyGC_Disable();
    if (!(res = PyList_New(n))) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        w->ids.n = 0;
        PyObject *one;
        if (encode_into(self, items[i], clean, w) < 0 ||
            !(one = ids_list(self, w->ids.p, w->ids.n))) {
            Py_CLEAR(res);
            goto done;
        }
        PyList_SET_ITEM(res, i, one);
    }
done:
    if (gc_was_on) PyGC_Enable();
    work_give(self, w);
    Py_DECREF(seq);
    return res;
}

/* Steps 1-3 as a str: the text the matching rule sees (SWEEncoder.preprocess, dropout). */
static PyObject *Core_preprocess(Core *self, PyObject *args) {
    PyObject *text, *res = NULL;
    int clean;
    UBuf *final;
    if (parse_text_clean(self, args, &text, &clean) < 0) return NULL;
    Work local, *w = work_take(self, &local);
    if (preprocess(self, text, clean, w, &final) == 0)
        res = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, final->p, final->n);
    work_give(self, w);
    return res;
}

/* ---------------------------------------------------------------- decode */

static int range_error(Core *self, long long id) {
    PyErr_Format(self->error_cls, "token id %lld is out of range for a vocabulary of %zd tokens",
                 id, self->nvocab);
    return -1;
}

/* Read ids from a buffer (numpy arrays, array.array) or any sequence of ints. */
static int32_t *read_ids(Core *self, PyObject *ids, Py_ssize_t *count) {
    int32_t *v = NULL;
    if (PyObject_CheckBuffer(ids) && !PyBytes_Check(ids) && !PyUnicode_Check(ids)) {
        Py_buffer view;
        if (PyObject_GetBuffer(ids, &view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) == 0) {
            const char *f = view.format ? view.format : "B";
            if (*f == '<' || *f == '=' || *f == '@') f++;
            int sign = (*f == 'b' || *f == 'h' || *f == 'i' || *f == 'l' || *f == 'q');
            Py_ssize_t isz = view.itemsize, n = isz ? view.len / isz : 0;
            int ok = view.ndim <= 1 && *f && strchr("bBhHiIlLqQ", *f) != NULL && f[1] == 0 &&
                     (isz == 1 || isz == 2 || isz == 4 || isz == 8);
            if (!ok) {   /* another layout (big-endian, 2-D, floats): item by item below */
                PyBuffer_Release(&view);
                goto items;
            }
            v = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)(n + 1));
            if (!v) { PyBuffer_Release(&view); PyErr_NoMemory(); return NULL; }
            const char *p = (const char *)view.buf;
            for (Py_ssize_t i = 0; i < n; i++) {
                long long x;
                switch (isz) {
                    case 1: x = sign ? (long long)((const int8_t *)p)[i] : (long long)((const uint8_t *)p)[i]; break;
                    case 2: x = sign ? (long long)((const int16_t *)p)[i] : (long long)((const uint16_t *)p)[i]; break;
                    case 4: x = sign ? (long long)((const int32_t *)p)[i] : (long long)((const uint32_t *)p)[i]; break;
                    default: x = sign ? (long long)((const int64_t *)p)[i] : (long long)((const uint64_t *)p)[i]; break;
                }
                if (x < 0 || x >= self->nvocab) {
                    PyBuffer_Release(&view);
                    PyMem_Free(v);
                    range_error(self, x);
                    return NULL;
                }
                v[i] = (int32_t)x;
            }
            PyBuffer_Release(&view);
            *count = n;
            return v;
        }
        PyErr_Clear();
    }
items:;
    PyObject *seq = PySequence_Fast(ids, "token ids must be a sequence of int");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    v = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)(n + 1));
    if (!v) { Py_DECREF(seq); PyErr_NoMemory(); return NULL; }
    for (Py_ssize_t i = 0; i < n; i++) {
        long long x = PyIndex_Check(items[i]) ? PyLong_AsLongLong(items[i]) : -1;
        if (x == -1 && (PyErr_Occurred() || !PyIndex_Check(items[i]))) {
            Py_DECREF(seq);
            PyMem_Free(v);
            if (!PyIndex_Check(items[i])) {
                PyErr_Clear();
                PyErr_Format(PyExc_TypeError, "token id at index %zd is not an integer", i);
            } else if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
                PyErr_Clear();
                PyErr_Format(self->error_cls, "token id at index %zd is out of range for a "
                             "vocabulary of %zd tokens", i, self->nvocab);
            }
            return NULL;
        }
        if (x < 0 || x >= self->nvocab) {
            Py_DECREF(seq);
            PyMem_Free(v);
            range_error(self, x);
            return NULL;
        }
        v[i] = (int32_t)x;
    }
    Py_DECREF(seq);
    *count = n;
    return v;
}

static PyObject *Core_decode(Core *self, PyObject *args) {
    PyObject *ids;
    const char *br;
    Py_ssize_t brlen;
    if (not_ready(self) || !PyArg_ParseTuple(args, "Os#", &ids, &br, &brlen)) return NULL;
    Py_ssize_t n = 0;
    int32_t *v = read_ids(self, ids, &n);
    if (!v) return NULL;
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        total += self->is_br[v[i]] ? brlen : self->bloblen[v[i]];
    char *buf = (char *)PyMem_Malloc((size_t)total + 1);
    if (!buf) { PyMem_Free(v); return PyErr_NoMemory(); }
    char *q = buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        int32_t id = v[i];
        if (self->is_br[id]) { memcpy(q, br, (size_t)brlen); q += brlen; }
        else {
            Py_ssize_t l = self->bloblen[id];
            if (l == 1) *q++ = self->blob[id][0];
            else { memcpy(q, self->blob[id], (size_t)l); q += l; }
        }
    }
    PyMem_Free(v);
    PyObject *res = PyUnicode_DecodeUTF8(buf, total, "replace");
    PyMem_Free(buf);
    return res;
}

static PyMethodDef Core_methods[] = {
    {"encode", (PyCFunction)Core_encode, METH_VARARGS, "encode(text, clean=False) -> list of ids"},
    {"encode_u16", (PyCFunction)Core_encode_u16, METH_VARARGS, "encode_u16(text, clean=False) -> ids as uint16 LE bytes"},
    {"encode_batch", (PyCFunction)Core_encode_batch, METH_VARARGS, "encode_batch(texts, clean=False) -> list of id lists"},
    {"preprocess", (PyCFunction)Core_preprocess, METH_VARARGS, "preprocess(text, clean=False) -> the text the matching rule sees"},
    {"decode", (PyCFunction)Core_decode, METH_VARARGS, "decode(ids, breakline) -> str"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenizer._swe.Core",
    .tp_basicsize = sizeof(Core),
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Compiled SWE matching loop and decoder.",
    .tp_methods = Core_methods,
    .tp_init = (initproc)Core_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef swemodule = {PyModuleDef_HEAD_INIT, "_swe",
                                       "Compiled core of the SWE encoder.", -1, NULL};

PyMODINIT_FUNC PyInit__swe(void) {
    if (PyType_Ready(&CoreType) < 0) return NULL;
    PyObject *m = PyModule_Create(&swemodule);
    if (!m) return NULL;
    Py_INCREF(&CoreType);
    if (PyModule_AddObject(m, "Core", (PyObject *)&CoreType) < 0) {
        Py_DECREF(&CoreType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
