/*
 * printlog.h - what a reward function prints, captured (printlog.c). DeepRacer sends a reward
 * function's print() to the training log, not to the console; trackday does the same: the
 * sandboxed reward processes write into a pipe, a thread copies it into a log file of the
 * model directory (at most TD__PRINT_LOG_MAX_BYTES) and shows the first few lines on stderr,
 * then one note naming the file.
 *
 *     td__print_log *pl = td__print_log_in("m", "reward-print.log", 0, 10);  // before the run
 *     ...                                                                  // train
 *     td__print_log_stop(pl);                 // after the reward processes have ended
 */
#ifndef TD_CLI_PRINTLOG_H
#define TD_CLI_PRINTLOG_H

#include "trackday/core.h"

/* The most a log keeps (the rest is counted, not written). */
#define TD__PRINT_LOG_MAX_BYTES ((long long)16 << 20)

typedef struct td__print_log td__print_log;

/*
 * Opens path (append: keep what is there, else start it afresh), points the reward processes
 * started afterwards at a pipe (td_reward_set_print_fd) and starts the thread that copies it.
 * show: lines shown on stderr at most (0: none). Returns 0 or an error code.
 */
int td__print_log_start(td__print_log **out, const char *path, int append, int show, td_err *err);

/*
 * td__print_log_start on DIR/logs/FILE (every command that runs a model's reward function:
 * train, eval, replay --redrive). When it cannot start, says so on stderr (the reward
 * function's print() then goes to stderr) and returns NULL.
 */
td__print_log *td__print_log_in(const char *dir, const char *file, int append, int show);

/*
 * Copies what is left, stops the thread, restores td_reward_set_print_fd and, if anything was
 * printed, says on stderr how many lines and where they are. Frees l (NULL is a no-op).
 */
void td__print_log_stop(td__print_log *l);

#endif
