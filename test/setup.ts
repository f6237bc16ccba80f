// Runs before each test file (vitest.config.ts): its temp dirs go once all of its tests and their
// own after-hooks are done (unmounts, stopped processes), so that runs do not fill the temp dir.
import { afterAll } from 'vitest';
import { removeTempDirs } from './helpers.js';

afterAll(removeTempDirs);
