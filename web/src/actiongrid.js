// The live picture of an action space, as DeepRacer's console drew it: the car at the bottom,
// one arrow per discrete action (its direction the steering angle, its length the speed), or
// for a continuous space the region of steering angles and speeds it may choose from.
import { s } from './dom.js';

const W = 320, H = 190, CX = W / 2, CY = H - 14, R = 160, VMAX = 4;

function polar(angleDeg, speed) {
    // Steering left (positive) points left on the picture.
    const a = (angleDeg * Math.PI) / 180;
    const r = (speed / VMAX) * R;
    return [CX - r * Math.sin(a), CY - r * Math.cos(a)];
}

export function actionGrid(space) {
    const title = space.type === 'discrete'
        ? `${space.actions.length} actions: steering ${space.actions.map((x) => x.steering_angle).filter((v, i, a) => a.indexOf(v) === i).join(', ')} degrees; speeds ${space.actions.map((x) => x.speed).filter((v, i, a) => a.indexOf(v) === i).join(', ')} m/s`
        : `continuous: steering ${space.steerLow} to ${space.steerHigh} degrees, speed ${space.speedLow} to ${space.speedHigh} m/s`;
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'action-grid', role: 'img', 'aria-label': `Action space: ${title}` });
    svg.append(s('title', null, `Action space: ${title}`));
    // Speed rings at 1, 2, 3, 4 m/s and the +-30 degree limits.
    for (let v = 1; v <= VMAX; v++) {
        const [x0, y0] = polar(30, v), [x1, y1] = polar(-30, v);
        svg.append(s('path', { d: `M ${x0} ${y0} A ${(v / VMAX) * R} ${(v / VMAX) * R} 0 0 1 ${x1} ${y1}`, class: 'ring' }));
        svg.append(s('text', { x: x1 + 4, y: y1 + 4, class: 'ring-label' }, `${v} m/s`));
    }
    for (const a of [30, -30]) {
        const [x, y] = polar(a, VMAX);
        svg.append(s('line', { x1: CX, y1: CY, x2: x, y2: y, class: 'ring' }));
    }
    if (space.type === 'discrete') {
        for (const act of space.actions) {
            const [x, y] = polar(act.steering_angle, act.speed);
            svg.append(s('line', { x1: CX, y1: CY, x2: x, y2: y, class: 'action' }));
            svg.append(s('circle', { cx: x, cy: y, r: 4, class: 'action-dot' },
                s('title', null, `action ${act.index}: ${act.steering_angle} degrees, ${act.speed} m/s`)));
        }
    } else {
        const { steerLow: a0, steerHigh: a1, speedLow: v0, speedHigh: v1 } = space;
        const p = [polar(a1, v0), polar(a1, v1), polar(a0, v1), polar(a0, v0)];
        const r0 = (v0 / VMAX) * R, r1 = (v1 / VMAX) * R;
        svg.append(s('path', {
            class: 'action-region',
            d: `M ${p[0][0]} ${p[0][1]} L ${p[1][0]} ${p[1][1]} A ${r1} ${r1} 0 0 1 ${p[2][0]} ${p[2][1]} L ${p[3][0]} ${p[3][1]} A ${r0} ${r0} 0 0 0 ${p[0][0]} ${p[0][1]} Z`,
        }));
    }
    svg.append(s('rect', { x: CX - 6, y: CY - 4, width: 12, height: 16, rx: 2, class: 'car' }));
    return svg;
}
