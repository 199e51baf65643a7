// The model page's tabs: [path, label, render(panel, model)].
import { versionsTab } from './model.js';

export const tabs = [['versions', 'Versions', (p, m) => versionsTab(p, m)]];
