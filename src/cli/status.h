/*
 * status.h - the status line of the `trackday` command: what a long-running command is
 * doing, on stderr (status.c). On a terminal it is one line redrawn in place, cut to the
 * terminal's width; otherwise a line every interval seconds (default 10), the first once an
 * activity has lasted 1.5 s, so short commands print nothing extra. A ticker thread keeps it
 * alive during long calls: no command is silent for more than two seconds while it works.
 *
 *     td__cli_status("calibrating: %d of %d observations", i, n);   // as often as you like
 *     ...
 *     td__cli_status_done();         // erase it before printing results
 */
#ifndef TD_CLI_STATUS_H
#define TD_CLI_STATUS_H

/* quiet: show nothing; interval_s (> 0): seconds between lines when stderr is not a
 * terminal. */
void td__cli_status_config(int quiet, double interval_s);

/* 1 when the status line is drawn in place (stderr is a terminal, TERM is not "dumb"). */
int td__cli_status_is_tty(void);

/* Sets what the command is doing now (redrawn at most every 0.1 s on a terminal). */
void td__cli_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The activity is over: the terminal line is erased. */
void td__cli_status_done(void);

/* A permanent message on stderr (a line of its own), above the status line. */
void td__cli_status_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* From a signal handler: writes msg on a line of its own (async-signal-safe). */
void td__cli_status_signal_note(const char *msg);

#endif
