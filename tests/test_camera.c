/*
 * test_camera.c - the agent's V4L2 capture (src/agent/camera.c) against a camera: this
 * machine has none and its kernel can load no vivid or v4l2loopback, so the test links
 * tests/fake_v4l2.c, a device in user space answering open, ioctl, mmap, poll and close for
 * one path as a driver does (its own comment says how). The capture code is the agent's,
 * unchanged: format negotiation, memory-mapped streaming, the luma of YUYV or GREY frames
 * scaled to the model's input, timeouts, refusals.
 */
#include <stdlib.h>
#include <string.h>

#include "td_test.h"
#include "trackday/agent.h"

static void camera(const char *size, const char *format, const char *fps)
{
    setenv("FAKE_V4L2_DEVICE", "/dev/video-fake", 1);
    setenv("FAKE_V4L2_SIZE", size, 1);
    setenv("FAKE_V4L2_FORMAT", format, 1);
    setenv("FAKE_V4L2_FPS", fps, 1);
    unsetenv("FAKE_V4L2_CAPS");
}

/* Rows 1.. of a frame hold (x + 2y) mod 256 at the camera's resolution; row 0 the frame's
 * number. Checks a grey frame of w x h scaled from the camera's cw x ch. */
static void check_pattern(const uint8_t *g, int w, int h, int cw, int ch)
{
    for (int y = 1; y < h; y++)
        for (int x = 0; x < w; x++) {
            int sx = x * cw / w, sy = y * ch / h;
            if (sy == 0)
                continue; /* the camera's row 0: the frame number */
            if (g[y * w + x] != (uint8_t)(sx + 2 * sy))
                TD_FAIL("pixel (%d, %d) is %d, not the camera's luma %d", x, y, g[y * w + x],
                        (uint8_t)(sx + 2 * sy));
        }
}

/* Opens the fake camera for a w x h input (w * h <= 160 * 120), grabs one frame and checks
 * it against the camera's cw x ch pattern. */
static void grab_one(int w, int h, int cw, int ch)
{
    td_agent_camera *c = NULL;
    td_err err;
    uint8_t g[160 * 120];
    TD_ASSERT_OK(td_agent_camera_open(&c, "/dev/video-fake", w, h, &err));
    TD_ASSERT_OK(td_agent_camera_grab(c, g, 2.0, &err));
    check_pattern(g, w, h, cw, ch);
    td_agent_camera_close(c);
}

TD_TEST(yuyv_frames_are_scaled_to_the_model_input)
{
    td_agent_camera *c = NULL;
    td_err err;
    uint8_t g[160 * 120];
    camera("640x480", "YUYV", "200");
    TD_ASSERT_OK(td_agent_camera_open(&c, "/dev/video-fake", 160, 120, &err));
    int last = -1;
    for (int i = 0; i < 5; i++) {
        memset(g, 0xee, sizeof(g));
        TD_ASSERT_OK(td_agent_camera_grab(c, g, 2.0, &err));
        check_pattern(g, 160, 120, 640, 480);
        /* Frames come in order, each one new. */
        TD_ASSERT_MSG(g[0] != last, "frame %d repeated the previous one (%d)", i, last);
        for (int x = 1; x < 160; x++)
            TD_ASSERT_EQ_INT(g[x], g[0]);
        last = g[0];
    }
    td_agent_camera_close(c);
    /* The device can be opened again once closed (the agent reopens it per bundle). */
    grab_one(80, 60, 640, 480);
}

TD_TEST(grey_frames_and_odd_sizes)
{
    camera("320x200", "GREY", "200");
    grab_one(160, 120, 320, 200);
    /* A camera smaller than the model's input: pixels repeat. */
    camera("64x48", "YUYV", "200");
    grab_one(160, 120, 64, 48);
}

TD_TEST(a_camera_that_sends_nothing_times_out)
{
    td_agent_camera *c = NULL;
    td_err err;
    uint8_t g[160 * 120];
    camera("640x480", "YUYV", "0");
    TD_ASSERT_OK(td_agent_camera_open(&c, "/dev/video-fake", 160, 120, &err));
    TD_ASSERT_ERR(td_agent_camera_grab(c, g, 0.2, &err), TD_ETIMEOUT, &err,
                  "the camera sent no frame in 0.2 s");
    td_agent_camera_close(c);
}

TD_TEST(cameras_the_agent_cannot_read_are_refused)
{
    td_agent_camera *c = NULL, *c2 = NULL;
    td_err err;
    camera("640x480", "MJPG", "30");
    TD_ASSERT_ERR(td_agent_camera_open(&c, "/dev/video-fake", 160, 120, &err), TD_EUNSUPPORTED,
                  &err, "/dev/video-fake: delivers neither YUYV nor GREY frames");
    td_agent_camera_close(c);
    camera("640x480", "YUYV", "30");
    setenv("FAKE_V4L2_CAPS", "output", 1);
    TD_ASSERT_ERR(td_agent_camera_open(&c, "/dev/video-fake", 160, 120, &err), TD_EUNSUPPORTED,
                  &err, "/dev/video-fake: not a streaming capture device");
    td_agent_camera_close(c);
    /* A camera another program holds. */
    camera("640x480", "YUYV", "30");
    TD_ASSERT_OK(td_agent_camera_open(&c, "/dev/video-fake", 160, 120, &err));
    TD_ASSERT_ERR(td_agent_camera_open(&c2, "/dev/video-fake", 160, 120, &err), TD_EIO, &err,
                  "/dev/video-fake: Device or resource busy");
    td_agent_camera_close(c2);
    td_agent_camera_close(c);
}
