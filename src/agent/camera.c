/*
 * camera.c - frames from a V4L2 camera for the agent (`trackday agent --camera /dev/videoN`,
 * agent.h): the device is asked for YUYV (or GREY) frames by memory-mapped streaming, and each
 * frame's luma is scaled (nearest neighbour) to the model's grey input. Built when the Linux
 * V4L2 header exists; elsewhere td_agent_camera_open says it is not available.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trackday/agent.h"

#if defined(__linux__) && defined(__has_include)
#if __has_include(<linux/videodev2.h>)
#define TD_HAVE_V4L2 1
#endif
#endif

#ifdef TD_HAVE_V4L2
#include <fcntl.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define NBUF 4

struct td_agent_camera {
    int fd;
    int width, height; /* what the device delivers */
    uint32_t format;   /* V4L2_PIX_FMT_YUYV or V4L2_PIX_FMT_GREY */
    uint32_t stride;
    int out_w, out_h;
    void *buf[NBUF];
    size_t len[NBUF];
    int nbuf, streaming;
};

static int xioctl(int fd, unsigned long req, void *arg)
{
    int r;
    do
        r = ioctl(fd, req, arg);
    while (r < 0 && errno == EINTR);
    return r;
}

int td_agent_camera_open(td_agent_camera **out, const char *dev, int out_w, int out_h, td_err *err)
{
    struct v4l2_capability cap;
    struct v4l2_format fmt;
    struct v4l2_requestbuffers req;
    *out = NULL;
    if (out_w <= 0 || out_h <= 0)
        return td_err_set(err, TD_EINVAL, "%s: the model has no camera input", dev);
    td_agent_camera *c = td_calloc(1, sizeof(*c));
    if (!c)
        return td_err_set(err, TD_ENOMEM, "out of memory");
    *out = c;
    c->out_w = out_w;
    c->out_h = out_h;
    c->fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (c->fd < 0)
        return td_err_set(err, TD_EIO, "%s: %s", dev, strerror(errno));
    if (xioctl(c->fd, VIDIOC_QUERYCAP, &cap) < 0)
        return td_err_set(err, TD_EINVAL, "%s: not a V4L2 device (%s)", dev, strerror(errno));
    if (!(cap.capabilities & V4L2_CAP_VIDEO_CAPTURE) || !(cap.capabilities & V4L2_CAP_STREAMING))
        return td_err_set(err, TD_EUNSUPPORTED, "%s: not a streaming capture device", dev);
    /* Ask for the model's size in YUYV, then GREY; the device answers with what it can. */
    uint32_t want[2] = {V4L2_PIX_FMT_YUYV, V4L2_PIX_FMT_GREY};
    int ok = 0;
    for (int i = 0; i < 2 && !ok; i++) {
        memset(&fmt, 0, sizeof(fmt));
        fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        fmt.fmt.pix.width = (uint32_t)out_w;
        fmt.fmt.pix.height = (uint32_t)out_h;
        fmt.fmt.pix.pixelformat = want[i];
        fmt.fmt.pix.field = V4L2_FIELD_NONE;
        ok = xioctl(c->fd, VIDIOC_S_FMT, &fmt) == 0 && fmt.fmt.pix.pixelformat == want[i];
    }
    if (!ok)
        return td_err_set(err, TD_EUNSUPPORTED, "%s: delivers neither YUYV nor GREY frames", dev);
    c->width = (int)fmt.fmt.pix.width;
    c->height = (int)fmt.fmt.pix.height;
    c->format = fmt.fmt.pix.pixelformat;
    c->stride = fmt.fmt.pix.bytesperline
                    ? fmt.fmt.pix.bytesperline
                    : (uint32_t)c->width * (c->format == V4L2_PIX_FMT_YUYV ? 2 : 1);
    memset(&req, 0, sizeof(req));
    req.count = NBUF;
    req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    req.memory = V4L2_MEMORY_MMAP;
    if (xioctl(c->fd, VIDIOC_REQBUFS, &req) < 0 || req.count < 2)
        return td_err_set(err, TD_EIO, "%s: cannot get capture buffers", dev);
    for (unsigned i = 0; i < req.count && i < NBUF; i++) {
        struct v4l2_buffer b;
        memset(&b, 0, sizeof(b));
        b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        b.memory = V4L2_MEMORY_MMAP;
        b.index = i;
        if (xioctl(c->fd, VIDIOC_QUERYBUF, &b) < 0)
            return td_err_set(err, TD_EIO, "%s: cannot query buffer %u", dev, i);
        c->buf[i] = mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, b.m.offset);
        if (c->buf[i] == MAP_FAILED) {
            c->buf[i] = NULL;
            return td_err_set(err, TD_EIO, "%s: cannot map buffer %u", dev, i);
        }
        c->len[i] = b.length;
        c->nbuf++;
        if (xioctl(c->fd, VIDIOC_QBUF, &b) < 0)
            return td_err_set(err, TD_EIO, "%s: cannot queue buffer %u", dev, i);
    }
    enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (xioctl(c->fd, VIDIOC_STREAMON, &type) < 0)
        return td_err_set(err, TD_EIO, "%s: cannot start streaming (%s)", dev, strerror(errno));
    c->streaming = 1;
    return 0;
}

int td_agent_camera_grab(td_agent_camera *c, uint8_t *grey, double timeout_s, td_err *err)
{
    struct pollfd p = {c->fd, POLLIN, 0};
    struct v4l2_buffer b;
    int r = poll(&p, 1, (int)(timeout_s * 1000));
    if (r == 0)
        return td_err_set(err, TD_ETIMEOUT, "the camera sent no frame in %.1f s", timeout_s);
    if (r < 0)
        return td_err_set(err, TD_EIO, "camera: %s", strerror(errno));
    memset(&b, 0, sizeof(b));
    b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    b.memory = V4L2_MEMORY_MMAP;
    if (xioctl(c->fd, VIDIOC_DQBUF, &b) < 0)
        return td_err_set(err, errno == EAGAIN ? TD_ETIMEOUT : TD_EIO, "camera: %s",
                          strerror(errno));
    const uint8_t *src = c->buf[b.index];
    size_t step = c->format == V4L2_PIX_FMT_YUYV ? 2 : 1;
    for (int y = 0; y < c->out_h; y++) {
        size_t sy = (size_t)y * (size_t)c->height / (size_t)c->out_h;
        const uint8_t *row = src + sy * c->stride;
        for (int x = 0; x < c->out_w; x++) {
            size_t sx = (size_t)x * (size_t)c->width / (size_t)c->out_w;
            size_t at = sy * c->stride + sx * step;
            grey[(size_t)y * (size_t)c->out_w + (size_t)x] =
                at < c->len[b.index] ? row[sx * step] : 0;
        }
    }
    if (xioctl(c->fd, VIDIOC_QBUF, &b) < 0)
        return td_err_set(err, TD_EIO, "camera: cannot queue the buffer again");
    return 0;
}

void td_agent_camera_close(td_agent_camera *c)
{
    if (!c)
        return;
    if (c->streaming) {
        enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        xioctl(c->fd, VIDIOC_STREAMOFF, &type);
    }
    for (int i = 0; i < c->nbuf; i++)
        if (c->buf[i])
            munmap(c->buf[i], c->len[i]);
    if (c->fd >= 0)
        close(c->fd);
    td_free(c);
}

#else /* no V4L2 */

struct td_agent_camera {
    int unused;
};

int td_agent_camera_open(td_agent_camera **out, const char *dev, int out_w, int out_h, td_err *err)
{
    (void)out_w;
    (void)out_h;
    *out = NULL;
    return td_err_set(err, TD_EUNSUPPORTED, "%s: this build has no V4L2 capture", dev);
}

int td_agent_camera_grab(td_agent_camera *c, uint8_t *grey, double timeout_s, td_err *err)
{
    (void)c;
    (void)grey;
    (void)timeout_s;
    return td_err_set(err, TD_EUNSUPPORTED, "no V4L2 capture");
}

void td_agent_camera_close(td_agent_camera *c)
{
    (void)c;
}

#endif
