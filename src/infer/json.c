/*
 * json.c - a minimal recursive-descent JSON reader for the model header, so the device
 * runtime needs no JSON library. Two modes share one parser: counting (how many nodes and
 * string bytes a document needs, so the arena can be sized first) and building (into
 * caller-provided node and string pools). RFC 8259 strictly: no comments, no trailing
 * commas, no NaN; \u escapes including surrogate pairs become UTF-8.
 */
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer_internal.h"

#define MAX_DEPTH 64

typedef struct parser {
    const char *s;
    size_t len, pos;
    tdi_json *nodes; /* NULL when counting */
    int cap_nodes, n_nodes;
    char *pool;
    size_t pool_cap, pool_used;
    char *msg;
    size_t msglen;
    int depth;
} parser;

static int perr(parser *p, const char *why)
{
    if (p->msg && p->msglen)
        snprintf(p->msg, p->msglen, "at byte %lu: %s", (unsigned long)p->pos, why);
    return TD_INFER_EJSON;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int new_node(parser *p, int type)
{
    int i = p->n_nodes++;
    if (p->nodes) {
        tdi_json *n;
        if (i >= p->cap_nodes)
            return -1;
        n = &p->nodes[i];
        memset(n, 0, sizeof(*n));
        n->type = type;
        n->first = -1;
        n->next = -1;
        n->src_begin = p->pos;
    }
    return i;
}

/* Appends bytes to the string pool (or only counts them). */
static void pool_put(parser *p, const char *b, size_t n)
{
    if (p->pool && p->pool_used + n <= p->pool_cap)
        memcpy(p->pool + p->pool_used, b, n);
    p->pool_used += n;
}

static int hex4(parser *p, unsigned *out)
{
    unsigned v = 0;
    int i;
    if (p->pos + 4 > p->len)
        return perr(p, "truncated \\u escape");
    for (i = 0; i < 4; i++) {
        char c = p->s[p->pos + i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return perr(p, "bad hex digit in \\u escape");
    }
    p->pos += 4;
    *out = v;
    return 0;
}

/* Parses a string at p->pos (the opening quote) into the pool; *str / *slen receive it. */
static int parse_string(parser *p, const char **str, size_t *slen)
{
    size_t start = p->pool_used;
    p->pos++; /* opening quote */
    for (;;) {
        unsigned char c;
        if (p->pos >= p->len)
            return perr(p, "unterminated string");
        c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return perr(p, "control character in string");
        if (c != '\\') {
            pool_put(p, (const char *)&c, 1);
            p->pos++;
            continue;
        }
        p->pos++;
        if (p->pos >= p->len)
            return perr(p, "unterminated escape");
        c = (unsigned char)p->s[p->pos++];
        switch (c) {
        case '"':
        case '\\':
        case '/':
            pool_put(p, (const char *)&c, 1);
            break;
        case 'b':
            pool_put(p, "\b", 1);
            break;
        case 'f':
            pool_put(p, "\f", 1);
            break;
        case 'n':
            pool_put(p, "\n", 1);
            break;
        case 'r':
            pool_put(p, "\r", 1);
            break;
        case 't':
            pool_put(p, "\t", 1);
            break;
        case 'u': {
            unsigned cp, lo;
            char u[4];
            size_t n;
            int rc = hex4(p, &cp);
            if (rc)
                return rc;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                    return perr(p, "lone high surrogate in \\u escape");
                p->pos += 2;
                if ((rc = hex4(p, &lo)) != 0)
                    return rc;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return perr(p, "bad low surrogate in \\u escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return perr(p, "lone low surrogate in \\u escape");
            }
            if (cp == 0)
                return perr(p, "\\u0000 is not allowed in the model header");
            if (cp < 0x80) {
                u[0] = (char)cp;
                n = 1;
            } else if (cp < 0x800) {
                u[0] = (char)(0xC0 | (cp >> 6));
                u[1] = (char)(0x80 | (cp & 0x3F));
                n = 2;
            } else if (cp < 0x10000) {
                u[0] = (char)(0xE0 | (cp >> 12));
                u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                u[2] = (char)(0x80 | (cp & 0x3F));
                n = 3;
            } else {
                u[0] = (char)(0xF0 | (cp >> 18));
                u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                u[3] = (char)(0x80 | (cp & 0x3F));
                n = 4;
            }
            pool_put(p, u, n);
            break;
        }
        default:
            p->pos--;
            return perr(p, "unknown escape in string");
        }
    }
    pool_put(p, "", 1); /* NUL terminator */
    if (p->pool && p->pool_used <= p->pool_cap) {
        *str = p->pool + start;
        *slen = p->pool_used - start - 1;
    } else {
        *str = NULL;
        *slen = p->pool_used - start - 1;
    }
    return 0;
}

static int parse_number(parser *p, double *out)
{
    size_t start = p->pos;
    char buf[64];
    size_t n;
    if (p->pos < p->len && p->s[p->pos] == '-')
        p->pos++;
    if (p->pos >= p->len)
        return perr(p, "truncated number");
    if (p->s[p->pos] == '0') {
        p->pos++;
    } else if (p->s[p->pos] >= '1' && p->s[p->pos] <= '9') {
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    } else {
        return perr(p, "bad number");
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            return perr(p, "digit expected after decimal point");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            return perr(p, "digit expected in exponent");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    n = p->pos - start;
    if (n >= sizeof(buf))
        return perr(p, "number too long");
    memcpy(buf, p->s + start, n);
    buf[n] = '\0';
    {
        /* strtod reads the locale's decimal point; JSON's is always '.'. */
        const char *dp = localeconv()->decimal_point;
        size_t i;
        if (dp && dp[0] && dp[0] != '.' && dp[1] == '\0')
            for (i = 0; i < n; i++)
                if (buf[i] == '.')
                    buf[i] = dp[0];
    }
    *out = strtod(buf, NULL);
    return 0;
}

static int parse_value(parser *p, int *idx);

static int parse_container(parser *p, int self, int is_obj)
{
    char close = is_obj ? '}' : ']';
    int prev = -1, count = 0, rc;
    if (++p->depth > MAX_DEPTH)
        return perr(p, "nesting too deep");
    p->pos++; /* opening bracket */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return 0;
    }
    for (;;) {
        const char *key = NULL;
        size_t keylen = 0;
        int child;
        skip_ws(p);
        if (is_obj) {
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return perr(p, "member name (a string) expected");
            if ((rc = parse_string(p, &key, &keylen)) != 0)
                return rc;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return perr(p, "':' expected after member name");
            p->pos++;
            skip_ws(p);
        }
        if ((rc = parse_value(p, &child)) != 0)
            return rc;
        if (p->nodes) {
            p->nodes[child].key = key;
            if (prev < 0)
                p->nodes[self].first = child;
            else
                p->nodes[prev].next = child;
        }
        prev = child;
        count++;
        skip_ws(p);
        if (p->pos >= p->len)
            return perr(p, is_obj ? "unterminated object" : "unterminated array");
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == close) {
            p->pos++;
            break;
        }
        return perr(p, is_obj ? "',' or '}' expected" : "',' or ']' expected");
    }
    if (p->nodes)
        p->nodes[self].n = count;
    p->depth--;
    return 0;
}

static int parse_value(parser *p, int *idx)
{
    int rc = 0, self;
    char c;
    skip_ws(p);
    if (p->pos >= p->len)
        return perr(p, "value expected, found the end");
    c = p->s[p->pos];
    switch (c) {
    case '{':
        self = new_node(p, TDI_OBJ);
        break;
    case '[':
        self = new_node(p, TDI_ARR);
        break;
    case '"':
        self = new_node(p, TDI_STR);
        break;
    case 't':
        self = new_node(p, TDI_TRUE);
        break;
    case 'f':
        self = new_node(p, TDI_FALSE);
        break;
    case 'n':
        self = new_node(p, TDI_NULL);
        break;
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            self = new_node(p, TDI_NUM);
            break;
        }
        return perr(p, "unexpected character");
    }
    if (self < 0)
        return perr(p, "too many values (node pool exhausted)");
    if (c == '{' || c == '[') {
        rc = parse_container(p, self, c == '{');
    } else if (c == '"') {
        const char *s = NULL;
        size_t n = 0;
        rc = parse_string(p, &s, &n);
        if (!rc && p->nodes) {
            p->nodes[self].str = s;
            p->nodes[self].len = n;
        }
    } else if (c == 't' || c == 'f' || c == 'n') {
        const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
        size_t n = strlen(word);
        if (p->pos + n > p->len || memcmp(p->s + p->pos, word, n) != 0)
            return perr(p, "bad literal (true, false or null expected)");
        p->pos += n;
    } else {
        double v = 0;
        rc = parse_number(p, &v);
        if (!rc && p->nodes)
            p->nodes[self].num = v;
    }
    if (!rc && p->nodes)
        p->nodes[self].src_end = p->pos;
    *idx = self;
    return rc;
}

int td__infer_json_parse(const char *text, size_t len, tdi_json *nodes, int cap_nodes, char *pool,
                         size_t pool_cap, int *n_nodes, size_t *pool_used, char *msg, size_t msglen)
{
    parser p;
    int root, rc;
    memset(&p, 0, sizeof(p));
    p.s = text;
    p.len = len;
    p.nodes = nodes;
    p.cap_nodes = cap_nodes;
    p.pool = pool;
    p.pool_cap = pool_cap;
    p.msg = msg;
    p.msglen = msglen;
    rc = parse_value(&p, &root);
    if (rc)
        return rc;
    skip_ws(&p);
    if (p.pos != p.len)
        return perr(&p, "unexpected text after the JSON value");
    if (nodes && p.pool_used > pool_cap)
        return perr(&p, "string pool exhausted");
    if (n_nodes)
        *n_nodes = p.n_nodes;
    if (pool_used)
        *pool_used = p.pool_used;
    return 0;
}

int td__infer_json_get(const tdi_json *nodes, int obj, const char *key)
{
    int i;
    if (obj < 0 || nodes[obj].type != TDI_OBJ)
        return -1;
    /* The last duplicate wins, as in most JSON readers. */
    {
        int found = -1;
        for (i = nodes[obj].first; i >= 0; i = nodes[i].next)
            if (strcmp(nodes[i].key, key) == 0)
                found = i;
        return found;
    }
}

int td__infer_json_int(const tdi_json *nodes, int i, long long lo, long long hi, long long *v)
{
    double d;
    if (i < 0 || nodes[i].type != TDI_NUM)
        return 0;
    d = nodes[i].num;
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(long long)d)
        return 0;
    *v = (long long)d;
    return 1;
}
