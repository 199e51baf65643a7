/*
 * fake_v4l2.c - a V4L2 capture device in user space for tests and benchmarks, loaded with
 * LD_PRELOAD (this machine's kernel has no media support and loads no modules, so neither
 * vivid nor v4l2loopback can exist here). It answers open, ioctl, mmap, poll and close for one
 * device path as a camera driver does, so the agent's capture code (src/agent/camera.c) runs
 * unchanged: VIDIOC_QUERYCAP, S_FMT (the camera's own size whatever is asked, as a real
 * camera), REQBUFS, QUERYBUF, memory-mapped buffers, QBUF, DQBUF, STREAMON, STREAMOFF, and
 * poll that waits for the next frame at the camera's rate. Everything else goes to libc.
 *
 *   FAKE_V4L2_DEVICE  the path it answers for (required; the file need not exist)
 *   FAKE_V4L2_SIZE    WxH the camera delivers (640x480)
 *   FAKE_V4L2_FORMAT  YUYV, GREY or MJPG (YUYV; MJPG: a camera the agent cannot read)
 *   FAKE_V4L2_FPS     frames per second (30; 0: a camera that never sends a frame)
 *   FAKE_V4L2_CAPS    "output": a device that does not capture
 *
 * Frames: luma Y(x, y) = (x + 2y) mod 256 on rows 1.., row 0 holds the frame number (mod
 * 256) in every pixel; chroma bytes are 0x11, so a reader that takes chroma for luma is seen.
 * The pattern is written once per buffer and only row 0 per frame, so the fake costs the
 * process it is loaded into almost no CPU, as a camera's DMA costs none.
 * Under AddressSanitizer run with ASAN_OPTIONS=verify_asan_link_order=0.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define NBUF_MAX 8

static struct {
    int fd; /* the open device (a descriptor of /dev/null), -1 when closed */
    int w, h;
    uint32_t format;
    double fps;
    int output_only;
    int nbuf;
    size_t len;
    void *buf[NBUF_MAX];
    int queued[NBUF_MAX];
    int streaming;
    double t0;
    uint32_t next_frame;
} cam = {.fd = -1};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *real(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        fprintf(stderr, "fake_v4l2: no %s in libc\n", name);
        abort();
    }
    return f;
}

static int is_device(const char *path)
{
    const char *dev = getenv("FAKE_V4L2_DEVICE");
    return path && dev && *dev && !strcmp(path, dev);
}

static int open_device(void)
{
    const char *size = getenv("FAKE_V4L2_SIZE");
    const char *fmt = getenv("FAKE_V4L2_FORMAT");
    const char *fps = getenv("FAKE_V4L2_FPS");
    const char *caps = getenv("FAKE_V4L2_CAPS");
    if (cam.fd >= 0) {
        errno = EBUSY; /* one opener at a time, as most cameras */
        return -1;
    }
    int (*ropen)(const char *, int, ...) = real("open");
    int fd = ropen("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    memset(&cam, 0, sizeof(cam));
    cam.fd = fd;
    cam.w = 640;
    cam.h = 480;
    if (size && sscanf(size, "%dx%d", &cam.w, &cam.h) != 2)
        cam.w = 640, cam.h = 480;
    cam.format = V4L2_PIX_FMT_YUYV;
    if (fmt && !strcmp(fmt, "GREY"))
        cam.format = V4L2_PIX_FMT_GREY;
    else if (fmt && !strcmp(fmt, "MJPG"))
        cam.format = V4L2_PIX_FMT_MJPEG;
    cam.fps = fps ? strtod(fps, NULL) : 30;
    cam.output_only = caps && !strcmp(caps, "output");
    return fd;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    int mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, int) : 0;
    va_end(ap);
    if (is_device(path))
        return open_device();
    int (*ropen)(const char *, int, ...) = real("open");
    return ropen(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    int mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, int) : 0;
    va_end(ap);
    if (is_device(path))
        return open_device();
    int (*ropen)(const char *, int, ...) = real("open64");
    return ropen(path, flags, mode);
}

static size_t bytes_per_line(void)
{
    return (size_t)cam.w * (cam.format == V4L2_PIX_FMT_YUYV ? 2 : 1);
}

/* The pattern of rows 1..h-1, written once per buffer. */
static void paint(uint8_t *p)
{
    size_t bpl = bytes_per_line();
    for (int y = 0; y < cam.h; y++)
        for (int x = 0; x < cam.w; x++) {
            uint8_t v = (uint8_t)(x + 2 * y);
            if (cam.format == V4L2_PIX_FMT_YUYV) {
                p[(size_t)y * bpl + 2 * (size_t)x] = v;
                p[(size_t)y * bpl + 2 * (size_t)x + 1] = 0x11;
            } else {
                p[(size_t)y * bpl + (size_t)x] = v;
            }
        }
}

static uint32_t frames_due(void)
{
    if (!cam.streaming || cam.fps <= 0)
        return 0;
    return (uint32_t)((now_s() - cam.t0) * cam.fps) + 1;
}

static int fake_ioctl(unsigned long req, void *arg)
{
    switch (req) {
    case VIDIOC_QUERYCAP: {
        struct v4l2_capability *c = arg;
        memset(c, 0, sizeof(*c));
        snprintf((char *)c->driver, sizeof(c->driver), "fake_v4l2");
        snprintf((char *)c->card, sizeof(c->card), "trackday test camera");
        c->capabilities = cam.output_only ? V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_STREAMING
                                          : V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
        c->device_caps = c->capabilities;
        return 0;
    }
    case VIDIOC_S_FMT: {
        struct v4l2_format *f = arg;
        if (f->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || cam.nbuf) {
            errno = cam.nbuf ? EBUSY : EINVAL;
            return -1;
        }
        /* The camera's own size and format, whatever was asked. */
        f->fmt.pix.width = (uint32_t)cam.w;
        f->fmt.pix.height = (uint32_t)cam.h;
        f->fmt.pix.pixelformat = cam.format;
        f->fmt.pix.field = V4L2_FIELD_NONE;
        f->fmt.pix.bytesperline = (uint32_t)bytes_per_line();
        f->fmt.pix.sizeimage = (uint32_t)(bytes_per_line() * (size_t)cam.h);
        return 0;
    }
    case VIDIOC_REQBUFS: {
        struct v4l2_requestbuffers *r = arg;
        if (r->memory != V4L2_MEMORY_MMAP || r->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) {
            errno = EINVAL;
            return -1;
        }
        cam.nbuf = r->count > NBUF_MAX ? NBUF_MAX : (int)r->count;
        r->count = (uint32_t)cam.nbuf;
        cam.len = bytes_per_line() * (size_t)cam.h;
        return 0;
    }
    case VIDIOC_QUERYBUF:
    case VIDIOC_QBUF: {
        struct v4l2_buffer *b = arg;
        if (b->index >= (uint32_t)cam.nbuf || b->memory != V4L2_MEMORY_MMAP) {
            errno = EINVAL;
            return -1;
        }
        b->length = (uint32_t)cam.len;
        b->m.offset = b->index * 4096u * 1024u;
        if (req == VIDIOC_QBUF)
            cam.queued[b->index] = 1;
        return 0;
    }
    case VIDIOC_DQBUF: {
        struct v4l2_buffer *b = arg;
        if (cam.next_frame >= frames_due()) {
            errno = EAGAIN;
            return -1;
        }
        for (int i = 0; i < cam.nbuf; i++)
            if (cam.queued[i] && cam.buf[i]) {
                cam.queued[i] = 0;
                memset(cam.buf[i], 0, bytes_per_line()); /* row 0: the frame number */
                for (int x = 0; x < cam.w; x++)
                    ((uint8_t *)cam.buf[i])[cam.format == V4L2_PIX_FMT_YUYV ? 2 * x : x] =
                        (uint8_t)cam.next_frame;
                b->index = (uint32_t)i;
                b->bytesused = (uint32_t)cam.len;
                b->sequence = cam.next_frame;
                b->length = (uint32_t)cam.len;
                /* A camera that falls behind drops frames; the reader gets the newest. */
                cam.next_frame = frames_due();
                return 0;
            }
        errno = EAGAIN;
        return -1;
    }
    case VIDIOC_STREAMON:
        cam.streaming = 1;
        cam.t0 = now_s();
        cam.next_frame = 0;
        return 0;
    case VIDIOC_STREAMOFF:
        cam.streaming = 0;
        return 0;
    default:
        errno = ENOTTY;
        return -1;
    }
}

int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (fd >= 0 && fd == cam.fd)
        return fake_ioctl(req, arg);
    int (*rioctl)(int, unsigned long, ...) = real("ioctl");
    return rioctl(fd, req, arg);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *(*rmmap)(void *, size_t, int, int, int, off_t) = real("mmap");
    if (fd < 0 || fd != cam.fd)
        return rmmap(addr, len, prot, flags, fd, off);
    int i = (int)(off / (4096 * 1024));
    if (i < 0 || i >= cam.nbuf || len != cam.len || cam.buf[i]) {
        errno = EINVAL;
        return MAP_FAILED;
    }
    void *p = rmmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
        cam.buf[i] = p;
        paint(p);
    }
    return p;
}

int poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    int (*rpoll)(struct pollfd *, nfds_t, int) = real("poll");
    if (n != 1 || fds[0].fd < 0 || fds[0].fd != cam.fd)
        return rpoll(fds, n, timeout_ms);
    /* Ready when the next frame is due; else wait for it, at most timeout_ms. */
    double deadline = now_s() + timeout_ms / 1000.0;
    for (;;) {
        if (cam.streaming && cam.next_frame < frames_due()) {
            fds[0].revents = POLLIN;
            return 1;
        }
        double t = now_s();
        if (timeout_ms >= 0 && t >= deadline) {
            fds[0].revents = 0;
            return 0;
        }
        double due = cam.streaming && cam.fps > 0 ? cam.t0 + cam.next_frame / cam.fps : t + 0.05;
        double wait = due - t;
        if (timeout_ms >= 0 && deadline - t < wait)
            wait = deadline - t;
        if (wait > 0.05)
            wait = 0.05;
        if (wait > 0) {
            struct timespec ts = {0, (long)(wait * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
}

int close(int fd)
{
    int (*rclose)(int) = real("close");
    if (fd >= 0 && fd == cam.fd) {
        /* The buffers stay mapped until the reader unmaps them (munmap is libc's). */
        cam.fd = -1;
        cam.nbuf = 0;
        cam.streaming = 0;
        memset(cam.buf, 0, sizeof(cam.buf));
    }
    return rclose(fd);
}
