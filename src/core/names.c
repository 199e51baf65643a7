/*
 * names.c - "did you mean" for names a user typed: an edit distance between two names and
 * the closest of a list, used for unknown keys in configuration files and unknown track
 * names.
 */
#include <ctype.h>
#include <string.h>

#include "trackday/core.h"

#define NAME_MAX_LEN 127

int td_name_distance(const char *a, const char *b)
{
    /* Optimal string alignment distance on three rows of the dynamic-programming table. */
    int rows[3][NAME_MAX_LEN + 1];
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > NAME_MAX_LEN)
        la = NAME_MAX_LEN;
    if (lb > NAME_MAX_LEN)
        lb = NAME_MAX_LEN;
    int *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (int j = 0; j <= lb; j++)
        prev[j] = j;
    for (int i = 1; i <= la; i++) {
        int ca = tolower((unsigned char)a[i - 1]);
        cur[0] = i;
        for (int j = 1; j <= lb; j++) {
            int cb = tolower((unsigned char)b[j - 1]);
            int best = prev[j - 1] + (ca != cb);
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1;
            cur[j] = best;
        }
        int *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

const char *td_closest_name(const char *name, const char *const *names, int n, int *dist)
{
    const char *best = NULL;
    int best_d = 1 << 30;
    for (int i = 0; i < n; i++) {
        int d = td_name_distance(name, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    int len = (int)strlen(name);
    int limit = len / 3 > 2 ? len / 3 : 2;
    if (!best || best_d > limit)
        return NULL;
    if (dist)
        *dist = best_d;
    return best;
}
