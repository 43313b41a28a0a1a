/* Compiled core of the SWE encoder: the matching loop and the decoder.
 *
 * The Python side (tokenizer/encoder.py) does the textual steps (whitespace, emoji,
 * clean) and hands the result to Core.encode, which applies the reference's matching
 * rule: at each position the vocabulary spellings among the next 1-3 code points are
 * candidates and the smallest id wins (ties: the longer); at '<' the longest spelling
 * longer than two code points within maxlen+1 wins outright.  Characters without a
 * candidate become <KIGOU>, <U2000U2BFF> or UTF-8 byte tokens.
 *
 * Spellings of at most 3 code points live in an open-addressing hash table keyed by the
 * code points packed into 63 bits; spellings starting with '<' live in a trie whose edges
 * are kept in a second table keyed by (node, code point).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint64_t *keys;   /* 0 = empty slot */
    int32_t *vals;
    size_t mask;
    size_t used;
} HTable;

static uint64_t mix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static int ht_init(HTable *t, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2 + 16) cap <<= 1;
    t->keys = (uint64_t *)PyMem_Calloc(cap, sizeof(uint64_t));
    t->vals = (int32_t *)PyMem_Calloc(cap, sizeof(int32_t));
    if (!t->keys || !t->vals) return -1;
    t->mask = cap - 1;
    t->used = 0;
    return 0;
}

static void ht_free(HTable *t) {
    PyMem_Free(t->keys);
    PyMem_Free(t->vals);
    t->keys = NULL;
    t->vals = NULL;
}

static inline int32_t ht_get(const HTable *t, uint64_t key) {
    size_t i = (size_t)mix64(key) & t->mask;
    for (;;) {
        uint64_t k = t->keys[i];
        if (k == key) return t->vals[i];
        if (k == 0) return -1;
        i = (i + 1) & t->mask;
    }
}

/* Insert or overwrite.  The table is sized up front, so it never fills. */
static void ht_put(HTable *t, uint64_t key, int32_t val) {
    size_t i = (size_t)mix64(key) & t->mask;
    for (;;) {
        uint64_t k = t->keys[i];
        if (k == key) { t->vals[i] = val; return; }
        if (k == 0) { t->keys[i] = key; t->vals[i] = val; t->used++; return; }
        i = (i + 1) & t->mask;
    }
}

#define PACK1(c) ((uint64_t)(c) + 1)
#define EDGE(node, c) ((((uint64_t)(node) + 1) << 21) | (uint64_t)(c))

#define HAS2 1   /* some 2- or 3-code-point spelling starts with this character */
#define V_HAS3 (1u << 24)   /* table2 value flag: some 3-code-point spelling extends this pair */

typedef struct {
    PyObject_HEAD
    HTable shortt;      /* 1-code-point spellings outside the BMP, and 3-code-point spellings */
    HTable pairs;       /* 2-code-point prefixes: (id + 1) | V_HAS3 */
    int32_t *bmp1;      /* single BMP character -> id or -1 */
    uint8_t *bmpflags;  /* single BMP character -> HAS2 */
    HTable astral_flags;
    PyObject **idobj;   /* cached int objects for every id */
    HTable edges;
    int32_t *term;      /* per trie node: id of the spelling ending there, or -1 */
    Py_ssize_t nnodes;
    Py_ssize_t maxlen;
    int32_t kigou, u2e;
    int32_t byte_ids[256];
    Py_ssize_t nvocab;
    char **blob;
    Py_ssize_t *bloblen;
    uint8_t *is_br;
    HTable firsts;      /* emoji-key first characters -> index into first_start */
    Py_ssize_t nkeys;
    Py_UCS4 **ekey;     /* emoji keys as UCS4, and their lengths */
    Py_ssize_t *ekeylen;
    Py_ssize_t *first_start;  /* keys with first character f: key_order[first_start[f]..first_start[f+1]) */
    int32_t *key_order;
    uint8_t *present;
} Core;

static void Core_dealloc(Core *self) {
    ht_free(&self->shortt);
    ht_free(&self->edges);
    PyMem_Free(self->term);
    if (self->blob) {
        for (Py_ssize_t i = 0; i < self->nvocab; i++) PyMem_Free(self->blob[i]);
    }
    PyMem_Free(self->blob);
    PyMem_Free(self->bloblen);
    PyMem_Free(self->is_br);
    ht_free(&self->firsts);
    ht_free(&self->pairs);
    ht_free(&self->astral_flags);
    PyMem_Free(self->bmp1);
    PyMem_Free(self->bmpflags);
    if (self->idobj) {
        for (Py_ssize_t i = 0; i < self->nvocab; i++) Py_XDECREF(self->idobj[i]);
    }
    PyMem_Free(self->idobj);
    if (self->ekey) {
        for (Py_ssize_t i = 0; i < self->nkeys; i++) PyMem_Free(self->ekey[i]);
    }
    PyMem_Free(self->ekey);
    PyMem_Free(self->ekeylen);
    PyMem_Free(self->first_start);
    PyMem_Free(self->key_order);
    PyMem_Free(self->present);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Emoji keys grouped by first character, each group in key order. */
static int init_emoji(Core *self, PyObject *ekeys) {
    Py_ssize_t nk = PyList_GET_SIZE(ekeys);
    self->nkeys = nk;
    self->ekey = (Py_UCS4 **)PyMem_Calloc((size_t)nk + 1, sizeof(Py_UCS4 *));
    self->ekeylen = (Py_ssize_t *)PyMem_Calloc((size_t)nk + 1, sizeof(Py_ssize_t));
    self->key_order = (int32_t *)PyMem_Calloc((size_t)nk + 1, sizeof(int32_t));
    self->first_start = (Py_ssize_t *)PyMem_Calloc((size_t)nk + 2, sizeof(Py_ssize_t));
    self->present = (uint8_t *)PyMem_Calloc((size_t)nk + 1, 1);
    int32_t *fidx = (int32_t *)PyMem_Calloc((size_t)nk + 1, sizeof(int32_t));
    Py_ssize_t *count = (Py_ssize_t *)PyMem_Calloc((size_t)nk + 2, sizeof(Py_ssize_t));
    int rc = -1;
    if (!self->ekey || !self->ekeylen || !self->key_order || !self->first_start || !self->present ||
        !fidx || !count || ht_init(&self->firsts, (size_t)nk) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    int32_t nf = 0;
    for (Py_ssize_t k = 0; k < nk; k++) {
        PyObject *key = PyList_GET_ITEM(ekeys, k);
        if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) == 0) {
            PyErr_SetString(PyExc_ValueError, "emoji keys must be non-empty str");
            goto done;
        }
        if (!(self->ekey[k] = PyUnicode_AsUCS4Copy(key))) goto done;
        self->ekeylen[k] = PyUnicode_GET_LENGTH(key);
        uint64_t fk = PACK1(self->ekey[k][0]);
        int32_t f = ht_get(&self->firsts, fk);
        if (f < 0) { f = nf++; ht_put(&self->firsts, fk, f); }
        fidx[k] = f;
        count[f + 1]++;
    }
    for (int32_t f = 0; f < nf; f++) count[f + 1] += count[f];
    for (int32_t f = 0; f <= nf; f++) self->first_start[f] = count[f];
    for (Py_ssize_t k = 0; k < nk; k++) self->key_order[count[fidx[k]]++] = (int32_t)k;
    rc = 0;
done:
    PyMem_Free(fidx);
    PyMem_Free(count);
    return rc;
}

static int Core_init(Core *self, PyObject *args, PyObject *kwds) {
    PyObject *keys, *ids, *byte_ids, *blobs, *br_ids, *ekeys;
    Py_ssize_t maxlen;
    int kigou, u2e;
    if (!PyArg_ParseTuple(args, "O!O!niiO!O!O!O!", &PyList_Type, &keys, &PyList_Type, &ids,
                          &maxlen, &kigou, &u2e, &PyList_Type, &byte_ids, &PyList_Type,
                          &blobs, &PyList_Type, &br_ids, &PyList_Type, &ekeys))
        return -1;
    if (init_emoji(self, ekeys) < 0) return -1;
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
    if (ht_init(&self->shortt, (size_t)n) < 0 || ht_init(&self->edges, (size_t)trie_chars + 1) < 0 ||
        ht_init(&self->pairs, (size_t)n) < 0 || ht_init(&self->astral_flags, (size_t)n) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    self->bmp1 = (int32_t *)PyMem_Malloc(sizeof(int32_t) * 65536);
    self->bmpflags = (uint8_t *)PyMem_Calloc(65536, 1);
    if (!self->bmp1 || !self->bmpflags) { PyErr_NoMemory(); return -1; }
    for (int i = 0; i < 65536; i++) self->bmp1[i] = -1;
    self->term = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)(trie_chars + 1));
    if (!self->term) { PyErr_NoMemory(); return -1; }
    self->term[0] = -1;
    self->nnodes = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = PyList_GET_ITEM(keys, i);
        int32_t id = (int32_t)PyLong_AsLong(PyList_GET_ITEM(ids, i));
        Py_ssize_t len = PyUnicode_GET_LENGTH(k);
        if (len == 0) continue;
        if (len <= 3) {
            Py_UCS4 c0 = PyUnicode_READ_CHAR(k, 0);
            uint64_t key = 0;
            for (Py_ssize_t j = 0; j < len; j++)
                key |= PACK1(PyUnicode_READ_CHAR(k, j)) << (21 * j);
            if (len == 1) {
                if (c0 < 65536) self->bmp1[c0] = id;
                else ht_put(&self->shortt, key, id);
            } else {
                if (c0 < 65536) self->bmpflags[c0] |= HAS2;
                else ht_put(&self->astral_flags, PACK1(c0), HAS2);
                uint64_t pk = key & ((1ULL << 42) - 1);
                int32_t old = ht_get(&self->pairs, pk);
                uint32_t v = old < 0 ? 0 : (uint32_t)old;
                if (len == 2) v = (v & V_HAS3) | (uint32_t)(id + 1);
                else { v |= V_HAS3; ht_put(&self->shortt, key, id); }
                ht_put(&self->pairs, pk, (int32_t)v);
            }
        }
        if (PyUnicode_READ_CHAR(k, 0) == '<') {
            int32_t node = 0;
            for (Py_ssize_t j = 0; j < len; j++) {
                Py_UCS4 c = PyUnicode_READ_CHAR(k, j);
                int32_t child = ht_get(&self->edges, EDGE(node, c));
                if (child < 0) {
                    child = (int32_t)self->nnodes++;
                    self->term[child] = -1;
                    ht_put(&self->edges, EDGE(node, c), child);
                }
                node = child;
            }
            self->term[node] = id;
        }
    }
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

typedef struct {
    int32_t *p;
    Py_ssize_t n, cap;
} IBuf;

static int ibuf_push(IBuf *b, int32_t v) {
    if (b->n == b->cap) {
        Py_ssize_t cap = b->cap ? b->cap * 2 : 64;
        int32_t *q = (int32_t *)PyMem_Realloc(b->p, sizeof(int32_t) * (size_t)cap);
        if (!q) return -1;
        b->p = q;
        b->cap = cap;
    }
    b->p[b->n++] = v;
    return 0;
}

static int is_kigou(Py_UCS4 c) {
    return (c >= 0xA1 && c <= 0xBF) || (c >= 0x1C0 && c <= 0x1C3) ||
           (c >= 0x2B9 && c <= 0x2FF) || (c >= 0x300 && c <= 0x362);
}

static int push_fallback(Core *self, IBuf *out, Py_UCS4 c) {
    if (is_kigou(c)) return ibuf_push(out, self->kigou);
    if (c >= 0x2000 && c <= 0x2BFF) return ibuf_push(out, self->u2e);
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
    for (int i = 0; i < n; i++)
        if (ibuf_push(out, self->byte_ids[u[i]]) < 0) return -1;
    return 0;
}

/* Better candidate: smaller id, or the same id and longer. */
#define TAKE(id, len) do { if ((id) >= 0 && (best < 0 || (id) < best)) { best = (id); blen = (len); } } while (0)

static int match_all(Core *self, PyObject *text, IBuf *out) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t pos = 0;
    while (pos < n) {
        Py_UCS4 c = PyUnicode_READ(kind, data, pos);
        int32_t best = -1;
        Py_ssize_t blen = 0;
        if (c == '<') {
            Py_ssize_t lim = pos + self->maxlen + 1;
            if (lim > n) lim = n;
            int32_t node = 0, longid = -1, id1 = -1, id2 = -1;
            Py_ssize_t longlen = 0;
            for (Py_ssize_t e = pos; e < lim; e++) {
                int32_t child = ht_get(&self->edges, EDGE(node, PyUnicode_READ(kind, data, e)));
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
            if (c < 65536) { id1 = self->bmp1[c]; multi = self->bmpflags[c]; }
            else { id1 = ht_get(&self->shortt, PACK1(c)); multi = ht_get(&self->astral_flags, PACK1(c)) > 0; }
            if (multi && pos + 1 < n) {
                uint64_t k = PACK1(c) | (PACK1(PyUnicode_READ(kind, data, pos + 1)) << 21);
                int32_t v = ht_get(&self->pairs, k);
                if (v > 0) {
                    id2 = (int32_t)((uint32_t)v & 0xFFFFFF) - 1;
                    if (((uint32_t)v & V_HAS3) && pos + 2 < n) {
                        k |= PACK1(PyUnicode_READ(kind, data, pos + 2)) << 42;
                        id3 = ht_get(&self->shortt, k);
                    }
                }
            }
            TAKE(id3, 3); TAKE(id2, 2); TAKE(id1, 1);
        }
        if (best >= 0) {
            if (ibuf_push(out, best) < 0) return -1;
            pos += blen;
        } else {
            if (push_fallback(self, out, c) < 0) return -1;
            pos += 1;
        }
    }
    return 0;
}

static PyObject *Core_encode(Core *self, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "encode takes str");
        return NULL;
    }
    IBuf out = {NULL, 0, 0};
    if (match_all(self, text, &out) < 0) { PyMem_Free(out.p); return PyErr_NoMemory(); }
    PyObject *list = PyList_New(out.n);
    if (!list) { PyMem_Free(out.p); return NULL; }
    for (Py_ssize_t i = 0; i < out.n; i++) {
        PyObject *v = self->idobj[out.p[i]];
        Py_INCREF(v);
        PyList_SET_ITEM(list, i, v);
    }
    PyMem_Free(out.p);
    return list;
}

/* Token ids as little-endian uint16 bytes (for shards; the vocabulary must fit). */
static PyObject *Core_encode_u16(Core *self, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "encode takes str");
        return NULL;
    }
    IBuf out = {NULL, 0, 0};
    if (match_all(self, text, &out) < 0) { PyMem_Free(out.p); return PyErr_NoMemory(); }
    PyObject *res = PyBytes_FromStringAndSize(NULL, out.n * 2);
    if (!res) { PyMem_Free(out.p); return NULL; }
    unsigned char *q = (unsigned char *)PyBytes_AS_STRING(res);
    for (Py_ssize_t i = 0; i < out.n; i++) {
        q[2 * i] = (unsigned char)(out.p[i] & 0xFF);
        q[2 * i + 1] = (unsigned char)((out.p[i] >> 8) & 0xFF);
    }
    PyMem_Free(out.p);
    return res;
}

static PyObject *Core_find_surrogate(Core *self, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "expected str");
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    if (kind == PyUnicode_1BYTE_KIND) return PyLong_FromLong(-1);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0xD800 && c <= 0xDFFF) return PyLong_FromSsize_t(i);
    }
    return PyLong_FromLong(-1);
}

/* Indices (ascending) of the emoji keys that occur in text as substrings. */
static PyObject *Core_emoji_present(Core *self, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "expected str");
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_ssize_t found = 0;
    memset(self->present, 0, (size_t)self->nkeys + 1);
    for (Py_ssize_t i = 0; i < n; i++) {
        int32_t f = ht_get(&self->firsts, PACK1(PyUnicode_READ(kind, data, i)));
        if (f < 0) continue;
        for (Py_ssize_t j = self->first_start[f]; j < self->first_start[f + 1]; j++) {
            int32_t k = self->key_order[j];
            if (self->present[k]) continue;
            Py_ssize_t L = self->ekeylen[k];
            if (i + L > n) continue;
            const Py_UCS4 *key = self->ekey[k];
            Py_ssize_t t = 1;
            while (t < L && PyUnicode_READ(kind, data, i + t) == key[t]) t++;
            if (t == L) { self->present[k] = 1; found++; }
        }
    }
    PyObject *res = PyList_New(found);
    if (!res) return NULL;
    for (Py_ssize_t k = 0, o = 0; k < self->nkeys && o < found; k++)
        if (self->present[k]) {
            PyObject *v = PyLong_FromSsize_t(k);
            if (!v) { Py_DECREF(res); return NULL; }
            PyList_SET_ITEM(res, o++, v);
        }
    return res;
}

static int range_error(Core *self, long long id) {
    PyErr_Format(PyExc_ValueError, "token id %lld is out of range for a vocabulary of %zd tokens",
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
            int ok = strchr("bBhHiIlLqQ", *f) != NULL && f[1] == 0 &&
                     (isz == 1 || isz == 2 || isz == 4 || isz == 8);
            if (!ok) {
                PyBuffer_Release(&view);
                PyErr_Format(PyExc_TypeError, "token ids must be integers, got buffer format '%s'",
                             view.format ? view.format : "?");
                return NULL;
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
    PyObject *seq = PySequence_Fast(ids, "token ids must be a sequence of int");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    v = (int32_t *)PyMem_Malloc(sizeof(int32_t) * (size_t)(n + 1));
    if (!v) { Py_DECREF(seq); PyErr_NoMemory(); return NULL; }
    for (Py_ssize_t i = 0; i < n; i++) {
        long long x = PyLong_AsLongLong(items[i]);
        if (x == -1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            PyMem_Free(v);
            if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_ValueError, "token id at index %zd is not an integer", i);
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
    if (!PyArg_ParseTuple(args, "Os#", &ids, &br, &brlen)) return NULL;
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
    {"encode", (PyCFunction)Core_encode, METH_O, "Match preprocessed text; return ids (list)."},
    {"encode_u16", (PyCFunction)Core_encode_u16, METH_O, "Match preprocessed text; ids as uint16 LE bytes."},
    {"find_surrogate", (PyCFunction)Core_find_surrogate, METH_O, "Index of the first lone surrogate, or -1."},
    {"emoji_present", (PyCFunction)Core_emoji_present, METH_O, "Indices of the emoji keys occurring in text."},
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
