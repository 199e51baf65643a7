/*
 * xml_check.h - a minimal XML well-formedness checker for the picture tests: balanced and
 * properly nested tags, quoted attributes without '<', text and attribute values whose '&'
 * starts a known entity, one root element. Also small helpers counting substrings. Enough to
 * catch what an SVG writer gets wrong (unescaped text, unclosed elements), not a full parser.
 */
#ifndef TD_XML_CHECK_H
#define TD_XML_CHECK_H

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int xml__entity_ok(const char *p)
{
    static const char *ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (int i = 0; i < 5; i++)
        if (strncmp(p, ents[i], strlen(ents[i])) == 0)
            return 1;
    if (p[1] == '#') {
        const char *q = p + 2;
        if (*q == 'x')
            q++;
        while (isxdigit((unsigned char)*q))
            q++;
        return *q == ';' && q > p + 2;
    }
    return 0;
}

/* Returns NULL if doc is well-formed, else a static description of the first problem. */
static const char *xml_check(const char *doc)
{
    static char why[256];
    char stack[64][64];
    int depth = 0, roots = 0;
    const char *p = doc;
    while (*p) {
        if (*p == '<') {
            if (strncmp(p, "<?", 2) == 0) {
                const char *e = strstr(p, "?>");
                if (!e)
                    return "unterminated <?...?>";
                p = e + 2;
                continue;
            }
            if (strncmp(p, "<!--", 4) == 0) {
                const char *e = strstr(p, "-->");
                if (!e)
                    return "unterminated comment";
                p = e + 3;
                continue;
            }
            int closing = p[1] == '/';
            const char *n = p + 1 + closing;
            const char *ne = n;
            while (isalnum((unsigned char)*ne) || *ne == '-' || *ne == '_' || *ne == ':')
                ne++;
            if (ne == n) {
                snprintf(why, sizeof(why), "bad tag name at offset %ld", (long)(p - doc));
                return why;
            }
            size_t nl = (size_t)(ne - n);
            if (nl >= 64)
                return "tag name too long";
            const char *q = ne;
            if (closing) {
                while (isspace((unsigned char)*q))
                    q++;
                if (*q != '>')
                    return "bad closing tag";
                if (depth == 0 || strlen(stack[depth - 1]) != nl ||
                    strncmp(stack[depth - 1], n, nl) != 0) {
                    snprintf(why, sizeof(why), "closing </%.*s> does not match <%s> at offset %ld",
                             (int)nl, n, depth ? stack[depth - 1] : "(none)", (long)(p - doc));
                    return why;
                }
                depth--;
                p = q + 1;
                continue;
            }
            /* Attributes: name="value" or name='value'. */
            int self_close = 0;
            while (1) {
                while (isspace((unsigned char)*q))
                    q++;
                if (*q == '>') {
                    q++;
                    break;
                }
                if (q[0] == '/' && q[1] == '>') {
                    self_close = 1;
                    q += 2;
                    break;
                }
                const char *an = q;
                while (isalnum((unsigned char)*q) || *q == '-' || *q == '_' || *q == ':')
                    q++;
                if (q == an) {
                    snprintf(why, sizeof(why), "bad attribute in <%.*s> at offset %ld", (int)nl, n,
                             (long)(q - doc));
                    return why;
                }
                if (*q != '=')
                    return "attribute without value";
                q++;
                char quote = *q;
                if (quote != '"' && quote != '\'') {
                    snprintf(why, sizeof(why), "unquoted attribute value at offset %ld",
                             (long)(q - doc));
                    return why;
                }
                q++;
                while (*q && *q != quote) {
                    if (*q == '<')
                        return "'<' in an attribute value";
                    if (*q == '&' && !xml__entity_ok(q))
                        return "bare '&' in an attribute value";
                    q++;
                }
                if (!*q)
                    return "unterminated attribute value";
                q++;
            }
            if (!self_close) {
                if (depth == 64)
                    return "nesting too deep";
                if (depth == 0)
                    roots++;
                memcpy(stack[depth], n, nl);
                stack[depth][nl] = '\0';
                depth++;
            } else if (depth == 0) {
                roots++;
            }
            p = q;
        } else {
            if (*p == '&' && !xml__entity_ok(p)) {
                snprintf(why, sizeof(why), "bare '&' in text at offset %ld", (long)(p - doc));
                return why;
            }
            if (*p == '>') {
                snprintf(why, sizeof(why), "'>' in text at offset %ld", (long)(p - doc));
                return why;
            }
            if (depth == 0 && !isspace((unsigned char)*p))
                return "text outside the root element";
            p++;
        }
    }
    if (depth != 0) {
        snprintf(why, sizeof(why), "unclosed <%s>", stack[depth - 1]);
        return why;
    }
    if (roots != 1)
        return "not exactly one root element";
    return NULL;
}

/* Number of non-overlapping occurrences of needle in hay. */
static int count_str(const char *hay, const char *needle)
{
    int n = 0;
    size_t l = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += l)
        n++;
    return n;
}

/* Runs Python's XML parser on a file when /usr/bin/python3 exists: 0 ok, 1 parse error,
 * -1 no python. An independent second opinion on well-formedness. */
static int xml_check_python(const char *path)
{
    if (access("/usr/bin/python3", X_OK) != 0)
        return -1;
    char cmd[4200];
    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 -c \"import sys, xml.dom.minidom as m; m.parse(sys.argv[1])\" "
             "'%s' 2>/dev/null",
             path);
    return system(cmd) == 0 ? 0 : 1;
}

#endif
