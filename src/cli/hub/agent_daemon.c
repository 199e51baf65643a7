/*
 * agent_daemon.c - `trackday agent --hub URL --device-token T --data DIR [--sim WORLD.json |
 * --camera /dev/videoN]`: the device agent as a daemon (agent.h, docs/agent.md), and
 * `trackday agent register`, which prints the signed registration request a hub's
 * POST /api/v1/devices/register takes. Reached from agent.c (the bundle store's command).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cli/cli.h"
#include "cli/hub/hubcli.h"
#include "trackday/agent.h"

#ifdef TD_AGENT_NO_SIM
#define DRIVE_USAGE "[--camera DEV]"
#define DRIVE_FROM  "from a camera (this build, trackday-car, has no simulator)"
#else
#define DRIVE_USAGE "[--sim WORLD.json | --camera DEV]"
#define DRIVE_FROM  "in a simulated world or from a camera"
#endif

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void log_line(void *user, const char *line)
{
    int quiet = *(int *)user;
    char ts[32];
    time_t t = time(NULL);
    struct tm tm;
    if (quiet)
        return;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
    printf("%s %s\n", ts, line);
    fflush(stdout);
}

int td__cli_agent_daemon(int argc, char **argv)
{
    const char *hub = NULL, *token = NULL, *data = NULL, *name = NULL, *key = NULL;
    const char *sim = NULL, *camera = NULL, *shift = NULL, *track = NULL;
    double hz = 15, speedup = 1, heartbeat_s = 0, window_s = 60, run_s = 0;
    int buffer_mb = 16, quiet = 0;
    const td__cli_opt opts[] = {
        TD_CLI_REQUIRED_STRING(NULL, "--hub", &hub, "URL", "the hub (http://HOST:PORT)"),
        TD_CLI_STRING(NULL, "--device-token", &token, "T",
                      "the enrollment token the car registers with (trackday fleet enroll); "
                      "needed on the first start only"),
        TD_CLI_REQUIRED_STRING(NULL, "--data", &data, "DIR",
                               "the car's data directory: its key, its registration, the bundle "
                               "store, the disk buffer"),
        TD_CLI_STRING(NULL, "--name", &name, "NAME", "the device's name (default: the host name)"),
        TD_CLI_STRING(NULL, "--key", &key, "KEY.pub",
                      "trust bundles signed by this key (default: the hub's signing key, "
                      "pinned at registration)"),
        TD_CLI_SECTION("driving"),
#ifndef TD_AGENT_NO_SIM
        TD_CLI_STRING(NULL, "--sim", &sim, "WORLD.json",
                      "drive in this simulated world (a track and its domain shift; "
                      "docs/agent.md)"),
        TD_CLI_STRING(NULL, "--shift", &shift, "SPEC",
                      "more shift on top of the world's: KEY=VALUE[,KEY=VALUE...]"),
        TD_CLI_STRING(NULL, "--track", &track, "TRACK",
                      "the simulated world's track (default oval)"),
#endif
        TD_CLI_STRING(NULL, "--camera", &camera, "DEV", "drive from this V4L2 camera"),
        TD_CLI_DOUBLE("--hz", &hz, 1, 100, "HZ", "control steps per second (default 15)"),
#ifndef TD_AGENT_NO_SIM
        TD_CLI_DOUBLE("--speedup", &speedup, 0.1, 100, "X",
                      "simulated seconds per second of the wall clock (default 1)"),
#endif
        TD_CLI_SECTION("reporting"),
        TD_CLI_DOUBLE("--heartbeat-s", &heartbeat_s, 0.05, 3600, "S",
                      "heartbeat period (default: what the hub says, 10 s)"),
        TD_CLI_DOUBLE("--window-s", &window_s, 0.5, 3600, "S", "telemetry window (default 60 s)"),
        TD_CLI_INT("--buffer-mb", &buffer_mb, 1, 4096, "MB",
                   "what waits for the hub on disk, at most (default 16; the oldest telemetry "
                   "goes first)"),
        TD_CLI_DOUBLE("--run-s", &run_s, 0, 1e9, "S", "stop after this long (default: never)"),
        TD_CLI_FLAG("--quiet", &quiet, "print nothing but errors"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "agent",
        .about = "The device agent: registers the car's key with the hub, heartbeats, installs "
                 "the bundle a deployment gives it (signature, hashes, not older unless it is a "
                 "rollback, health check, atomic switch), reports, goes back to the previous "
                 "bundle when told, and drives the active bundle's model " DRIVE_FROM
                 ". What it sends waits on disk while the hub cannot be "
                 "reached. Stops on SIGINT or SIGTERM.",
        .opts = opts,
        .usage = "--hub URL --data DIR [--device-token T] " DRIVE_USAGE " [options]",
    };
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    if (sim && camera)
        return td__cli_usage_error("--sim and --camera exclude each other");
    if (camera) {
        /* Checked now, so a wrong device is an error at start, not a line in the log. */
        td_agent_camera *cam = NULL;
        td_err cerr;
        int crc = td_agent_camera_open(&cam, camera, 160, 120, &cerr);
        td_agent_camera_close(cam);
        if (crc)
            return td__cli_fail("agent: --camera: %s", cerr.msg);
    }
    td_err err;
#ifdef TD_AGENT_NO_SIM
    /* The car-only build (trackday-car) has no simulator: it drives from --camera. */
    int have_world = 0;
    td_agent_world world = {.shift = NULL};
    (void)sim, (void)shift, (void)track;
#else
    td_agent_world world;
    int have_world = sim || shift || track;
    td_agent_world_init(&world);
    if (sim && td_agent_world_load(&world, sim, &err) != 0) {
        td_agent_world_free(&world);
        return td__cli_fail("agent: %s", err.msg);
    }
    if (track)
        snprintf(world.track, sizeof(world.track), "%s", track);
    if (shift && td_agent_world_shift(&world, shift, &err) != 0) {
        td_agent_world_free(&world);
        return td__cli_fail("agent: %s", err.msg);
    }
    if (have_world && td__cli_track_path(world.track, world.track_path, sizeof(world.track_path))) {
        td_agent_world_free(&world);
        return 1;
    }
#endif
#ifdef __GLIBC__
    /* A car runs for months with little memory: buffers of a megabyte or more (a bundle read
     * whole, a model's weights) are mapped and go back to the system when freed. Without a
     * fixed threshold glibc raises it to the largest block freed, and a 30 MB bundle read
     * once for its health check would stay in the heap for good (bench/fleet measured it). */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
    umask(077); /* the device key and token are secrets */
    td_agent_options o;
    td_agent_options_default(&o);
    o.hub_url = hub;
    o.enroll_token = token;
    o.data_dir = data;
    o.name = name;
    o.key_path = key;
    o.world = have_world ? &world : NULL;
    o.camera = camera;
    o.hz = hz;
    o.speedup = speedup;
    o.heartbeat_s = heartbeat_s;
    o.window_s = window_s;
    o.outbox_bytes = (size_t)buffer_mb << 20;
    o.run_s = run_s;
    o.stop = &stop_requested;
    o.log = log_line;
    o.log_user = &quiet;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int rc = td_agent_run(&o, &err);
#ifndef TD_AGENT_NO_SIM
    td_agent_world_free(&world);
#endif
    if (rc)
        return td__cli_fail("agent: %s", err.msg);
    return 0;
}

int td__cli_agent_register(int argc, char **argv)
{
    const char *data = NULL, *name = NULL;
    const td__cli_opt opts[] = {
        TD_CLI_REQUIRED_STRING(NULL, "--data", &data, "DIR",
                               "the car's data directory (its key is made there when missing)"),
        TD_CLI_REQUIRED_STRING(NULL, "--name", &name, "NAME", "the device's name"),
        TD_CLI_END,
    };
    const td__cli_spec spec = {
        .name = "agent register",
        .about = "Prints the registration request of this car (its name, its public key and "
                 "the key's signature over them) as the JSON body of the hub's "
                 "POST /api/v1/devices/register. The daemon sends it itself; this is for "
                 "provisioning tools and for reading the protocol.",
        .opts = opts,
    };
    int prc = td__cli_parse(&spec, argc, argv);
    if (prc != TD_CLI_RUN)
        return prc;
    td_err err;
    umask(077);
    json_t *body = td_agent_register_body(data, name, &err);
    if (!body)
        return td__cli_fail("agent register: %s", err.msg);
    char *text = json_dumps(body, JSON_COMPACT);
    printf("%s\n", text);
    free(text);
    json_decref(body);
    return 0;
}
