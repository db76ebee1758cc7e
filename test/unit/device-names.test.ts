import { describe, expect, it } from 'vitest';
import { isSparePortName, sparePortName } from '../../src/dataplane/names.js';

describe('sparePortName', () => {
  it('gives names that fit a Linux device name and that the plugin recognises as its spares', () => {
    for (let i = 0; i < 200; i++) {
      const name = sparePortName();
      expect(isSparePortName(name)).toBe(true);
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(15);
    }
  });

  it('never repeats itself and uses every hex digit in every place (no fixed UUID version digit)', () => {
    const names = Array.from({ length: 5000 }, sparePortName);
    expect(new Set(names).size).toBe(names.length);
    for (let place = 4; place < 15; place++) {
      const digits = new Set(names.map((n) => n[place]));
      expect(digits.size, `place ${place}`).toBe(16);
    }
  });
});
