/*
 * look.c - the colours and lighting of the rendered world, and domain randomization
 * (DeepRacer's ENABLE_DOMAIN_RANDOMIZATION): each episode may draw a perturbed copy of the
 * default look so a camera policy does not overfit one exact shade of road or sky.
 */
#include <string.h>

#include "trackday/sensors.h"

static void set_rgb(uint8_t *c, uint8_t r, uint8_t g, uint8_t b)
{
    c[0] = r;
    c[1] = g;
    c[2] = b;
}

void td_look_default(td_look *look)
{
    memset(look, 0, sizeof(*look));
    /* DeepRacer's physical track spec: black road, white borders, orange dashed centre line,
     * green off-track surface. The sky is a hazy light blue-grey. */
    set_rgb(look->road, 38, 38, 42);
    set_rgb(look->border, 238, 238, 238);
    set_rgb(look->center, 245, 170, 35);
    set_rgb(look->grass, 72, 128, 58);
    set_rgb(look->sky, 178, 196, 214);
    set_rgb(look->obstacle, 225, 225, 220);
    set_rgb(look->car, 175, 32, 45);
    look->brightness = 1.0;
    look->contrast = 1.0;
}

static uint8_t clamp_u8(double v)
{
    if (v <= 0.0)
        return 0;
    if (v >= 255.0)
        return 255;
    return (uint8_t)(v + 0.5);
}

/* Scales a colour by a common factor (lightness) and jitters each channel (hue). */
static void jitter(uint8_t *c, td_rng *rng, double scale, double shift)
{
    double k = 1.0 + td_rng_range(rng, -scale, scale);
    for (int i = 0; i < 3; i++)
        c[i] = clamp_u8(c[i] * k + td_rng_range(rng, -shift, shift));
}

void td_look_randomize(td_look *look, td_rng *rng)
{
    /*
     * Perturbations stay within what a real room and printed track vary by: lighting
     * +-30 %, contrast +-25 %, each surface's lightness +-20 % and its channels +-18 levels
     * (enough to tint white or shift orange towards yellow, never to swap road and grass).
     * The number and order of draws is fixed, so a seed always gives the same look.
     */
    jitter(look->road, rng, 0.20, 10.0);
    jitter(look->border, rng, 0.12, 18.0);
    jitter(look->center, rng, 0.20, 18.0);
    jitter(look->grass, rng, 0.20, 18.0);
    jitter(look->sky, rng, 0.20, 18.0);
    jitter(look->obstacle, rng, 0.20, 18.0);
    jitter(look->car, rng, 0.20, 18.0);
    look->brightness *= td_rng_range(rng, 0.70, 1.30);
    look->contrast *= td_rng_range(rng, 0.75, 1.25);
}
