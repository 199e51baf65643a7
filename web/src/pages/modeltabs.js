// The model page's tabs: [path, label, render(panel, model)].
import { versionsTab } from './model.js';
import { rewardTab } from './reward.js';

export const tabs = [
    ['versions', 'Versions', (p, m) => versionsTab(p, m)],
    ['reward', 'Reward', (p, m) => rewardTab(p, m)],
];
