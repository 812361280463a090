/**
 * Runs the volume specs first, in a fresh worker with a small heap: they stream ~100 MB and force GCs to
 * measure memory, which is slow in a worker that has already loaded dozens of suites. The rest keep jest's
 * own order (slowest first once timings are cached).
 */
const Sequencer = require('@jest/test-sequencer').default;

const FIRST = [/audit-export-volume\.e2e-spec\.ts$/];

class VolumeFirstSequencer extends Sequencer {
  sort(tests) {
    const rank = (test) => (FIRST.some((pattern) => pattern.test(test.path)) ? 0 : 1);
    const sorted = super.sort(tests);
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}

module.exports = VolumeFirstSequencer;
