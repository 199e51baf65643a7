/*
 * hubcli.h - what the hub's commands share: where the hub keeps its data by default, and
 * reading a password from standard input without echo.
 */
#ifndef TD_CLI_HUBCLI_H
#define TD_CLI_HUBCLI_H

#include <stddef.h>

/* The data directory: arg if given, else $XDG_DATA_HOME/trackday/hub or
 * ~/.local/share/trackday/hub. */
const char *td__cli_hub_data_dir(const char *arg);

/*
 * Reads a password: from a terminal with a prompt and no echo, else the first line of standard
 * input. Returns 0, or 1 with a message printed.
 */
int td__cli_read_password(const char *prompt, char *out, size_t cap);

#endif
