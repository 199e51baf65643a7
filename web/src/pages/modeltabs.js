// The model page's tabs: [path, label, render(panel, model)].
import { versionsTab } from './model.js';
import { rewardTab } from './reward.js';
import { trainTab } from './train.js';
import { evaluateTab } from './evaluate.js';
import { compareTab } from './compare.js';

export const tabs = [
    ['versions', 'Versions', (p, m) => versionsTab(p, m)],
    ['reward', 'Reward', (p, m) => rewardTab(p, m)],
    ['train', 'Train', (p, m) => trainTab(p, m)],
    ['evaluate', 'Evaluate', (p, m) => evaluateTab(p, m)],
    ['compare', 'Compare', (p, m) => compareTab(p, m)],
];
