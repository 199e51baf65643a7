/*
 * openloop.c - open-loop replay: a car driven by a list of logged actions from a logged
 * pose, with the actions that came before it setting its response (delays and lags). It is
 * how `trackday drive --actions` checks the physics against any log and what `trackday
 * calibrate` fits the car with. Also the CSV reader for actions files (DeepRacer simtraces
 * included).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

void td_car_set_speed(const td_car_config *cfg, td_car_state *s, double speed)
{
    (void)cfg;
    s->speed = speed;
    s->n_cmd = TD_CAR_HIST;
    for (int j = 0; j < TD_CAR_HIST; j++) {
        s->cmd_tan[j] = 0.0;
        s->cmd_speed[j] = speed;
        s->cmd_dt[j] = 1.0 / TD_SIM_HZ;
    }
}

void td_car_replay(const td_car_config *cfg, td_car_state *s, const td_car_action *a, int n,
                   int n_hist, td_car_state *out)
{
    for (int i = 0; i < n; i++) {
        if (i < n_hist) {
            td_car_respond(cfg, s, a[i].steer_deg, a[i].speed, a[i].dt);
        } else {
            td_car_step(cfg, s, a[i].steer_deg, a[i].speed, a[i].dt);
            if (out)
                out[i - n_hist] = *s;
        }
    }
}

/* ---- actions CSV ---------------------------------------------------------------------------- */

#define MAX_COLS 256

/*
 * Splits one CSV line (without its newline) into fields in place: commas separate, double
 * quotes protect commas ("[1.0, 2.0]") and "" is a literal quote. Returns the field count
 * or -1 when there are more than max.
 */
static int split_csv(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max)
            return -1;
        while (*p == ' ' || *p == '\t')
            p++;
        char *w = p, *start = p;
        int quoted = *p == '"';
        if (quoted)
            p++;
        while (*p) {
            if (quoted && *p == '"') {
                if (p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                    continue;
                }
                quoted = 0;
                p++;
                continue;
            }
            if (!quoted && *p == ',')
                break;
            *w++ = *p++;
        }
        int more = *p == ',';
        *w = '\0';
        while (w > start && (w[-1] == ' ' || w[-1] == '\t' || w[-1] == '\r'))
            *--w = '\0';
        fields[n++] = start;
        if (!more)
            return n;
        p++;
    }
}

static int find_col(char **names, int n, const char *a, const char *b)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], a) == 0 || (b && strcmp(names[i], b) == 0))
            return i;
    return -1;
}

static int parse_field(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int td_car_actions_parse(const char *text, size_t len, const char *what, td_car_action **out,
                         int *n, td_err *err)
{
    *out = NULL;
    *n = 0;
    char *buf = td_malloc(len + 1);
    char **fields = td_malloc(sizeof(char *) * MAX_COLS);
    char **header = td_malloc(sizeof(char *) * MAX_COLS);
    char *hcopy = NULL;
    td_car_action *acts = NULL;
    int rc = 0, cap = 0, count = 0;
    if (!buf || !fields || !header) {
        rc = td_err_set(err, TD_ENOMEM, "%s: out of memory", what);
        goto done;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    int nh = -1, c_steer = -1, c_speed = -1, c_t = -1, lineno = 0;
    double t_prev = 0;
    char *p = buf;
    while (*p) {
        char *line = p;
        char *nl = strchr(p, '\n');
        if (nl) {
            *nl = '\0';
            p = nl + 1;
        } else {
            p += strlen(p);
        }
        lineno++;
        size_t ll = strlen(line);
        while (ll && (line[ll - 1] == '\r' || line[ll - 1] == ' '))
            line[--ll] = '\0';
        if (!ll)
            continue;
        if (nh < 0) {
            hcopy = line;
            nh = split_csv(hcopy, header, MAX_COLS);
            if (nh < 0) {
                rc = td_err_set(err, TD_EFORMAT, "%s:%d: more than %d columns", what, lineno,
                                MAX_COLS);
                goto done;
            }
            c_steer = find_col(header, nh, "steer", "steering_angle");
            c_speed = find_col(header, nh, "throttle", "speed");
            c_t = find_col(header, nh, "tstamp", NULL);
            if (c_steer < 0 || c_speed < 0) {
                rc = td_err_set(err, TD_EFORMAT,
                                "%s:%d: the header needs a 'steer' (degrees) and a 'throttle' "
                                "(m/s) column",
                                what, lineno);
                goto done;
            }
            continue;
        }
        int nf = split_csv(line, fields, MAX_COLS);
        if (nf != nh) {
            rc = td_err_set(err, TD_EFORMAT, "%s:%d: %d fields, the header has %d", what, lineno,
                            nf < 0 ? MAX_COLS + 1 : nf, nh);
            goto done;
        }
        td_car_action a = {0, 0, 1.0 / TD_SIM_HZ};
        const int cols[3] = {c_steer, c_speed, c_t};
        double *dst[3] = {&a.steer_deg, &a.speed, &a.dt};
        double t = 0;
        for (int k = 0; k < 3; k++) {
            if (cols[k] < 0)
                continue;
            if (parse_field(fields[cols[k]], k == 2 ? &t : dst[k])) {
                rc = td_err_set(err, TD_EFORMAT, "%s:%d: column '%s': '%s' is not a number", what,
                                lineno, header[cols[k]], fields[cols[k]]);
                goto done;
            }
        }
        if (c_t >= 0 && count > 0) {
            a.dt = t - t_prev;
            if (a.dt < 0 || a.dt > TD_CAR_MAX_STEP_S) {
                rc = td_err_set(err, TD_ERANGE,
                                "%s:%d: tstamp %g is %g s after the previous row's; a step must "
                                "last 0 to %g s",
                                what, lineno, t, a.dt, TD_CAR_MAX_STEP_S);
                goto done;
            }
        }
        t_prev = t;
        if (count == cap) {
            int nc = cap ? cap * 2 : 256;
            if (nc > TD_CAR_MAX_ACTIONS)
                nc = TD_CAR_MAX_ACTIONS;
            if (count == nc) {
                rc = td_err_set(err, TD_ERANGE, "%s:%d: more than %d actions", what, lineno,
                                TD_CAR_MAX_ACTIONS);
                goto done;
            }
            td_car_action *g = td_realloc(acts, sizeof(*acts) * (size_t)nc);
            if (!g) {
                rc = td_err_set(err, TD_ENOMEM, "%s: out of memory", what);
                goto done;
            }
            acts = g;
            cap = nc;
        }
        acts[count++] = a;
    }
    if (nh < 0) {
        rc = td_err_set(err, TD_EFORMAT, "%s: empty (no header line)", what);
        goto done;
    }
done:
    if (rc) {
        td_free(acts);
    } else {
        *out = acts;
        *n = count;
    }
    td_free(buf);
    td_free(fields);
    td_free(header);
    return rc;
}
